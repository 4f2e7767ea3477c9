//! The SFTP requests of one session: decoded, checked against the user's rights, carried out
//! in the user's [`Jail`], and answered. Runs on the session's own thread, synchronously, so a
//! slow disk stalls only this session.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File as StdFile, FileTimes};
use std::io::{self, Read, Seek};
use std::os::unix::fs::{FileExt, PermissionsExt as _};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt};
use russh_sftp::protocol::{
    Attrs, File as NameEntry, FileAttributes, Name, Packet, StatusCode, Version,
};
use serde_json::json;

use super::codec::{self, Fields, MAX_IO, MAX_PACKET};
use crate::node::jail::{self, Jail, JailPath};
use crate::node::metrics::Metrics;
use crate::node::SessionContext;
use crate::node_config::UploadMode;
use crate::users::Permission;

const FXF_READ: u32 = 0x01;
const FXF_WRITE: u32 = 0x02;
const FXF_APPEND: u32 = 0x04;
const FXF_CREAT: u32 = 0x08;
const FXF_TRUNC: u32 = 0x10;
const FXF_EXCL: u32 = 0x20;

/// Entries in one READDIR reply (as OpenSSH's sftp-server).
const READDIR_BATCH: usize = 100;

/// The extensions announced in the VERSION reply, with their versions.
const EXTENSIONS: [(&str, &str); 8] = [
    ("posix-rename@openssh.com", "1"),
    ("statvfs@openssh.com", "2"),
    ("fstatvfs@openssh.com", "2"),
    ("hardlink@openssh.com", "1"),
    ("fsync@openssh.com", "1"),
    ("lsetstat@openssh.com", "1"),
    ("limits@openssh.com", "1"),
    ("expand-path@openssh.com", "1"),
];

/// A failed request: the status code and message the client gets.
#[derive(Debug)]
pub struct Fail(pub StatusCode, pub String);

impl Fail {
    fn bad() -> Self {
        Fail(StatusCode::BadMessage, "malformed packet".into())
    }
    fn denied(what: Permission) -> Self {
        Fail(
            StatusCode::PermissionDenied,
            format!("permission denied: the `{}` right is missing", what.name()),
        )
    }
    fn no_handle() -> Self {
        Fail(StatusCode::Failure, "invalid handle".into())
    }
    fn failure(msg: impl Into<String>) -> Self {
        Fail(StatusCode::Failure, msg.into())
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        let code = match e.kind() {
            io::ErrorKind::NotFound => StatusCode::NoSuchFile,
            io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
            _ => StatusCode::Failure,
        };
        // OS errors display without a path ("No such file or directory (os error 2)"), so
        // nothing about the host's layout reaches the client.
        let msg = e.to_string();
        let msg = msg.split(" (os error").next().unwrap_or(&msg).to_owned();
        Fail(code, msg)
    }
}

impl From<codec::Malformed> for Fail {
    fn from(_: codec::Malformed) -> Self {
        Fail::bad()
    }
}

type Reply = Result<Bytes, Fail>;

enum Handle {
    File(FileHandle),
    Dir(DirHandle),
}

struct FileHandle {
    file: StdFile,
    path: JailPath,
    readable: bool,
    writable: bool,
    upload: Option<Upload>,
    bytes_read: u64,
    bytes_written: u64,
    _open: OpenFile,
}

struct DirHandle {
    entries: cap_std::fs::ReadDir,
    path: JailPath,
}

/// Counts an open file in the node's `open_files` gauge for as long as it lives.
struct OpenFile(Arc<Metrics>);

impl OpenFile {
    fn new(metrics: &Arc<Metrics>) -> Self {
        metrics.open_files.fetch_add(1, Relaxed);
        OpenFile(metrics.clone())
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.0.open_files.fetch_sub(1, Relaxed);
    }
}

/// An atomic upload in progress: a hidden temporary file beside its final name. Dropped
/// without [`Upload::commit`], it removes the temporary file, so an upload that never closed
/// leaves nothing behind.
struct Upload {
    parent: Dir,
    temp: PathBuf,
    final_name: OsString,
    exclusive: bool,
    /// The first write error: an upload that lost data is never published.
    failed: Option<String>,
    committed: bool,
    metrics: Arc<Metrics>,
}

impl Upload {
    fn commit(&mut self) -> io::Result<()> {
        let flags = if self.exclusive {
            rustix::fs::RenameFlags::NOREPLACE
        } else {
            rustix::fs::RenameFlags::empty()
        };
        rustix::fs::renameat_with(
            &self.parent,
            &self.temp,
            &self.parent,
            &self.final_name,
            flags,
        )?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.parent.remove_file(&self.temp);
            Metrics::inc(&self.metrics.uploads_aborted_total);
        }
    }
}

pub struct Session {
    ctx: Arc<SessionContext>,
    jail: Jail,
    handles: HashMap<u32, Handle>,
    next_handle: u32,
    initialized: bool,
}

impl Session {
    pub fn new(ctx: Arc<SessionContext>, jail: Jail) -> Self {
        Session {
            ctx,
            jail,
            handles: HashMap::new(),
            next_handle: 0,
            initialized: false,
        }
    }

    /// Open file and directory handles.
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }

    fn metrics(&self) -> &Metrics {
        &self.ctx.shared.metrics
    }

    fn audit(&self, event: &str, fields: serde_json::Value) {
        self.ctx.shared.audit.log(
            event,
            Some(&self.ctx.user.name),
            self.ctx.client,
            self.ctx.id,
            fields,
        );
    }

    fn allow(&self, right: Permission) -> Result<(), Fail> {
        if self.ctx.user.permissions.allows(right) {
            Ok(())
        } else {
            Err(Fail::denied(right))
        }
    }

    /// Answers one request packet (type byte first). Never panics on client input.
    pub fn handle(&mut self, packet: Bytes) -> Bytes {
        let kind = packet.first().copied().unwrap_or(0);
        let id = packet
            .get(1..5)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0);
        Metrics::inc(&self.metrics().operations_total);
        let result = match kind {
            codec::SSH_FXP_INIT => self.init(),
            _ if !self.initialized => Err(Fail(
                StatusCode::BadMessage,
                "SSH_FXP_INIT must come first".into(),
            )),
            codec::SSH_FXP_READ => self.read(packet),
            codec::SSH_FXP_WRITE => self.write(packet),
            _ => match Packet::try_from(&mut packet.clone()) {
                Ok(request) => self.dispatch(request),
                Err(_) => Err(Fail(
                    StatusCode::OpUnsupported,
                    format!("unsupported or malformed request type {kind}"),
                )),
            },
        };
        match result {
            Ok(reply) => reply,
            Err(Fail(code, msg)) => {
                if code != StatusCode::Eof {
                    Metrics::inc(&self.metrics().errors_total);
                }
                codec::status(id, code, &msg)
            }
        }
    }

    fn init(&mut self) -> Reply {
        if self.initialized {
            return Err(Fail(
                StatusCode::BadMessage,
                "SSH_FXP_INIT sent twice".into(),
            ));
        }
        self.initialized = true;
        let version = Version {
            version: 3,
            extensions: EXTENSIONS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        encode(Packet::Version(version))
    }

    fn dispatch(&mut self, request: Packet) -> Reply {
        match request {
            Packet::Open(o) => self.open(o.id, &o.filename, o.pflags.bits(), &o.attrs),
            Packet::Close(c) => self.close(c.id, &c.handle),
            Packet::Lstat(s) => self.stat(s.id, &s.path, false),
            Packet::Stat(s) => self.stat(s.id, &s.path, true),
            Packet::Fstat(s) => self.fstat(s.id, &s.handle),
            Packet::SetStat(s) => self.setstat(s.id, &s.path, &s.attrs, true),
            Packet::FSetStat(s) => self.fsetstat(s.id, &s.handle, &s.attrs),
            Packet::OpenDir(o) => self.opendir(o.id, &o.path),
            Packet::ReadDir(r) => self.readdir(r.id, &r.handle),
            Packet::Remove(r) => self.remove(r.id, &r.filename),
            Packet::MkDir(m) => self.mkdir(m.id, &m.path, &m.attrs),
            Packet::RmDir(r) => self.rmdir(r.id, &r.path),
            Packet::RealPath(r) => self.realpath(r.id, &r.path),
            Packet::Rename(r) => self.rename(r.id, &r.oldpath, &r.newpath, false),
            Packet::ReadLink(r) => self.readlink(r.id, &r.path),
            // OpenSSH (and so every client) sends the target first and the new link second,
            // the reverse of the draft's field names that russh-sftp uses.
            Packet::Symlink(s) => self.symlink(s.id, &s.linkpath, &s.targetpath),
            Packet::Extended(e) => self.extended(e.id, &e.request, e.data),
            other => Err(Fail(
                StatusCode::OpUnsupported,
                format!(
                    "request {:?} is not supported",
                    std::mem::discriminant(&other)
                ),
            )),
        }
    }

    /// Parses a client path; the hidden files of uploads in progress do not exist for clients.
    fn path(&self, client: &str) -> Result<JailPath, Fail> {
        let path = JailPath::parse(client)?;
        if path.touches_temp() {
            return Err(Fail(
                StatusCode::NoSuchFile,
                "No such file or directory".into(),
            ));
        }
        Ok(path)
    }

    fn add_handle(&mut self, handle: Handle, id: u32) -> Reply {
        if self.handles.len() >= self.ctx.shared.config.file.max_handles {
            return Err(Fail::failure(format!(
                "too many open handles (limit {})",
                self.ctx.shared.config.file.max_handles
            )));
        }
        loop {
            self.next_handle = self.next_handle.wrapping_add(1);
            if !self.handles.contains_key(&self.next_handle) {
                break;
            }
        }
        self.handles.insert(self.next_handle, handle);
        Ok(codec::handle(id, &self.next_handle.to_string()))
    }

    fn file_handle(&mut self, handle: &[u8]) -> Result<&mut FileHandle, Fail> {
        match parse_handle(handle).and_then(|h| self.handles.get_mut(&h)) {
            Some(Handle::File(f)) => Ok(f),
            _ => Err(Fail::no_handle()),
        }
    }

    fn open(&mut self, id: u32, filename: &str, flags: u32, attrs: &FileAttributes) -> Reply {
        let path = self.path(filename)?;
        // A client that asks to create a file means to write it (paramiko's "x" mode sends
        // CREAT|EXCL without WRITE), so creating implies write access and the Write right.
        let writable = flags & (FXF_WRITE | FXF_APPEND | FXF_CREAT) != 0;
        let readable = flags & FXF_READ != 0 || !writable;
        if readable {
            self.allow(Permission::Read)?;
        }
        if writable {
            self.allow(Permission::Write)?;
        }
        if path.is_root() {
            return Err(Fail::failure("is a directory"));
        }
        let mode = attrs.permissions.map(jail::safe_mode).unwrap_or(0o666);
        let existing = self.jail.metadata(&path).ok();
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(Fail::failure("is a directory"));
        }
        let atomic = self.ctx.shared.config.file.upload_mode == UploadMode::Atomic;
        let new_content = flags & FXF_TRUNC != 0 || existing.is_none();
        if writable && atomic && flags & FXF_CREAT != 0 && new_content {
            return self.open_upload(id, path, flags, mode, readable, existing.is_some());
        }
        if writable && atomic && existing.is_some() {
            return Err(Fail::failure(
                "changing an existing file in place (append, resume) is disabled: the node runs with upload_mode = \"atomic\"",
            ));
        }
        let mut options = OpenOptions::new();
        options
            .read(readable)
            .write(writable)
            .append(flags & FXF_APPEND != 0)
            .truncate(writable && flags & FXF_TRUNC != 0)
            .mode(mode);
        if flags & FXF_CREAT != 0 {
            if flags & FXF_EXCL != 0 {
                options.create_new(true);
            } else {
                options.create(true);
            }
        }
        let file = self.jail.open_file(&path, &options)?.into_std();
        if file.metadata()?.is_dir() {
            return Err(Fail::failure("is a directory"));
        }
        let handle = FileHandle {
            file,
            path,
            readable,
            writable,
            upload: None,
            bytes_read: 0,
            bytes_written: 0,
            _open: OpenFile::new(&self.ctx.shared.metrics),
        };
        self.add_handle(Handle::File(handle), id)
    }

    /// Starts an atomic upload: a hidden temporary file in the target's directory.
    fn open_upload(
        &mut self,
        id: u32,
        path: JailPath,
        flags: u32,
        mode: u32,
        readable: bool,
        exists: bool,
    ) -> Reply {
        if flags & FXF_EXCL != 0 && exists {
            return Err(Fail::failure("File exists"));
        }
        let (parent, final_name) = self.jail.parent_of(&path)?;
        let final_name = final_name.to_owned();
        let unique = self.ctx.shared.upload_counter.fetch_add(1, Relaxed);
        let temp = jail::temp_name(&final_name, &self.ctx.shared.config.file.name, unique);
        let mut options = OpenOptions::new();
        options
            .read(readable)
            .write(true)
            .create_new(true)
            .mode(mode);
        let file = parent.open_with(&temp, &options)?.into_std();
        let handle = FileHandle {
            file,
            path,
            readable,
            writable: true,
            upload: Some(Upload {
                parent,
                temp,
                final_name,
                exclusive: flags & FXF_EXCL != 0,
                failed: None,
                committed: false,
                metrics: self.ctx.shared.metrics.clone(),
            }),
            bytes_read: 0,
            bytes_written: 0,
            _open: OpenFile::new(&self.ctx.shared.metrics),
        };
        self.add_handle(Handle::File(handle), id)
    }

    fn close(&mut self, id: u32, handle: &str) -> Reply {
        let key = parse_handle(handle.as_bytes()).ok_or_else(Fail::no_handle)?;
        let handle = self.handles.remove(&key).ok_or_else(Fail::no_handle)?;
        let Handle::File(mut file) = handle else {
            return ok(id);
        };
        if let Some(upload) = &mut file.upload {
            if let Some(error) = upload.failed.take() {
                return Err(Fail::failure(format!(
                    "upload not saved: an earlier write failed ({error})"
                )));
            }
            let size = file.file.metadata()?.len();
            if self.ctx.shared.config.file.fsync_uploads {
                file.file.sync_all()?;
            }
            upload.commit()?;
            Metrics::inc(&self.metrics().uploads_total);
            self.audit(
                "upload",
                json!({"path": file.path.display(), "bytes": size, "mode": "atomic"}),
            );
        } else if file.writable && file.bytes_written > 0 {
            Metrics::inc(&self.metrics().uploads_total);
            let size = file.file.metadata().map(|m| m.len()).unwrap_or(0);
            self.audit(
                "upload",
                json!({"path": file.path.display(), "bytes": size, "written": file.bytes_written, "mode": "in-place"}),
            );
        }
        if file.readable && file.bytes_read > 0 {
            Metrics::inc(&self.metrics().downloads_total);
            self.audit(
                "download",
                json!({"path": file.path.display(), "bytes": file.bytes_read}),
            );
        }
        ok(id)
    }

    fn read(&mut self, packet: Bytes) -> Reply {
        let mut f = Fields::new(packet.slice(1..));
        let id = f.u32()?;
        let handle = f.bytes()?;
        let offset = f.u64()?;
        let len = (f.u32()? as usize).min(MAX_IO);
        let file = self.file_handle(&handle)?;
        if !file.readable {
            return Err(Fail(
                StatusCode::PermissionDenied,
                "handle not open for reading".into(),
            ));
        }
        // Seek and read into uninitialised capacity: no zeroing of the reply buffer. The
        // handle's descriptor is used by this session's thread alone, so seeking is safe.
        let mut buf = codec::data_buffer(len);
        file.file.seek(io::SeekFrom::Start(offset))?;
        (&file.file).take(len as u64).read_to_end(&mut buf)?;
        let got = buf.len() - codec::DATA_HEADER;
        if got == 0 && len > 0 {
            return Err(Fail(StatusCode::Eof, "end of file".into()));
        }
        file.bytes_read += got as u64;
        Metrics::add(&self.metrics().bytes_out_total, got as u64);
        Ok(codec::finish_data(buf, id))
    }

    fn write(&mut self, packet: Bytes) -> Reply {
        let mut f = Fields::new(packet.slice(1..));
        let id = f.u32()?;
        let handle = f.bytes()?;
        let offset = f.u64()?;
        let data = f.bytes()?;
        let file = self.file_handle(&handle)?;
        if !file.writable {
            return Err(Fail(
                StatusCode::PermissionDenied,
                "handle not open for writing".into(),
            ));
        }
        if let Err(e) = file.file.write_all_at(&data, offset) {
            if let Some(upload) = &mut file.upload {
                upload
                    .failed
                    .get_or_insert_with(|| Fail::from(io::Error::from(e.kind())).1);
            }
            return Err(e.into());
        }
        file.bytes_written += data.len() as u64;
        Metrics::add(&self.metrics().bytes_in_total, data.len() as u64);
        ok(id)
    }

    fn stat(&mut self, id: u32, path: &str, follow: bool) -> Reply {
        let path = self.path(path)?;
        let meta = if follow {
            self.jail.metadata(&path)?
        } else {
            self.jail.symlink_metadata(&path)?
        };
        encode(Packet::Attrs(Attrs {
            id,
            attrs: attributes(&meta),
        }))
    }

    fn fstat(&mut self, id: u32, handle: &str) -> Reply {
        let key = parse_handle(handle.as_bytes()).ok_or_else(Fail::no_handle)?;
        let attrs = match self.handles.get(&key) {
            Some(Handle::File(f)) => attributes(&cap_std::fs::Metadata::from_just_metadata(
                f.file.metadata()?,
            )),
            Some(Handle::Dir(d)) => attributes(&self.jail.metadata(&d.path)?),
            None => return Err(Fail::no_handle()),
        };
        encode(Packet::Attrs(Attrs { id, attrs }))
    }

    fn setstat(&mut self, id: u32, path: &str, attrs: &FileAttributes, follow: bool) -> Reply {
        self.allow(Permission::Write)?;
        let path = self.path(path)?;
        let meta = if follow {
            self.jail.metadata(&path)?
        } else {
            self.jail.symlink_metadata(&path)?
        };
        check_owner(attrs, meta.uid(), meta.gid())?;
        if let Some(size) = attrs.size {
            let file = self.jail.open_file(&path, OpenOptions::new().write(true))?;
            file.set_len(size)?;
        }
        if let Some(mode) = attrs.permissions {
            if meta.is_symlink() {
                return Err(Fail(
                    StatusCode::OpUnsupported,
                    "symlinks have no mode of their own".into(),
                ));
            }
            self.jail.set_mode(&path, mode)?;
        }
        if let (Some(atime), Some(mtime)) = (attrs.atime, attrs.mtime) {
            if follow {
                self.jail.set_times(&path, atime, mtime)?;
            } else {
                use cap_fs_ext::DirExt;
                self.jail.root().set_symlink_times(
                    path.rel(),
                    Some(jail::time_spec(atime)),
                    Some(jail::time_spec(mtime)),
                )?;
            }
        }
        self.audit(
            "setstat",
            json!({"path": path.display(), "attrs": attrs_json(attrs)}),
        );
        ok(id)
    }

    fn fsetstat(&mut self, id: u32, handle: &str, attrs: &FileAttributes) -> Reply {
        self.allow(Permission::Write)?;
        let key = parse_handle(handle.as_bytes()).ok_or_else(Fail::no_handle)?;
        let path = match self.handles.get(&key) {
            Some(Handle::File(f)) => {
                let meta = f.file.metadata()?;
                check_owner(
                    attrs,
                    std::os::unix::fs::MetadataExt::uid(&meta),
                    std::os::unix::fs::MetadataExt::gid(&meta),
                )?;
                if let Some(size) = attrs.size {
                    f.file.set_len(size)?;
                }
                if let Some(mode) = attrs.permissions {
                    f.file
                        .set_permissions(std::fs::Permissions::from_mode(jail::safe_mode(mode)))?;
                }
                if let (Some(atime), Some(mtime)) = (attrs.atime, attrs.mtime) {
                    f.file.set_times(
                        FileTimes::new()
                            .set_accessed(unix_time(atime))
                            .set_modified(unix_time(mtime)),
                    )?;
                }
                f.path.clone()
            }
            Some(Handle::Dir(d)) => {
                let path = d.path.clone();
                return self.setstat(id, &path.display(), attrs, true);
            }
            None => return Err(Fail::no_handle()),
        };
        self.audit(
            "setstat",
            json!({"path": path.display(), "attrs": attrs_json(attrs)}),
        );
        ok(id)
    }

    fn opendir(&mut self, id: u32, path: &str) -> Reply {
        self.allow(Permission::List)?;
        let path = self.path(path)?;
        let entries = self.jail.open_dir(&path)?.entries()?;
        self.add_handle(Handle::Dir(DirHandle { entries, path }), id)
    }

    fn readdir(&mut self, id: u32, handle: &str) -> Reply {
        let key = parse_handle(handle.as_bytes()).ok_or_else(Fail::no_handle)?;
        let Some(Handle::Dir(dir)) = self.handles.get_mut(&key) else {
            return Err(Fail::no_handle());
        };
        let now = SystemTime::now();
        let mut files = Vec::new();
        let mut bytes = 0usize;
        while files.len() < READDIR_BATCH && bytes < MAX_PACKET / 2 {
            let Some(entry) = dir.entries.next() else {
                break;
            };
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            if jail::is_temp_name(&name) {
                continue;
            }
            // Entries can vanish between listing and stat (another node removed them).
            let Ok(meta) = entry.metadata() else { continue };
            let filename = name.to_string_lossy().into_owned();
            let attrs = attributes(&meta);
            let longname = long_name(&filename, &meta, now);
            bytes += filename.len() + longname.len() + 64;
            files.push(NameEntry {
                filename,
                longname,
                attrs,
            });
        }
        if files.is_empty() {
            return Err(Fail(StatusCode::Eof, "no more entries".into()));
        }
        encode(Packet::Name(Name { id, files }))
    }

    fn remove(&mut self, id: u32, path: &str) -> Reply {
        self.allow(Permission::Delete)?;
        let path = self.path(path)?;
        self.jail.remove_file(&path)?;
        self.audit("remove", json!({"path": path.display()}));
        ok(id)
    }

    fn mkdir(&mut self, id: u32, path: &str, attrs: &FileAttributes) -> Reply {
        self.allow(Permission::Mkdir)?;
        let path = self.path(path)?;
        let mode = attrs.permissions.map(jail::safe_mode).unwrap_or(0o777);
        self.jail.create_dir(&path, mode)?;
        self.audit("mkdir", json!({"path": path.display()}));
        ok(id)
    }

    fn rmdir(&mut self, id: u32, path: &str) -> Reply {
        self.allow(Permission::Delete)?;
        let path = self.path(path)?;
        self.jail.remove_dir(&path)?;
        self.audit("rmdir", json!({"path": path.display()}));
        ok(id)
    }

    fn realpath(&mut self, id: u32, path: &str) -> Reply {
        let path = JailPath::parse(path)?;
        name_reply(id, path.display())
    }

    fn rename(&mut self, id: u32, from: &str, to: &str, replace: bool) -> Reply {
        self.allow(Permission::Rename)?;
        let from = self.path(from)?;
        let to = self.path(to)?;
        self.jail.rename(&from, &to, replace)?;
        self.audit(
            "rename",
            json!({"path": from.display(), "to": to.display(), "replace": replace}),
        );
        ok(id)
    }

    fn readlink(&mut self, id: u32, path: &str) -> Reply {
        self.allow(Permission::Read)?;
        let path = self.path(path)?;
        let target = self.jail.read_link(&path)?;
        name_reply(id, target.to_string_lossy().into_owned())
    }

    fn symlink(&mut self, id: u32, target: &str, link: &str) -> Reply {
        self.allow(Permission::Write)?;
        let link = self.path(link)?;
        self.jail.symlink(target, &link)?;
        self.audit("symlink", json!({"path": link.display(), "target": target}));
        ok(id)
    }

    fn extended(&mut self, id: u32, request: &str, data: Vec<u8>) -> Reply {
        let mut f = Fields::new(Bytes::from(data));
        match request {
            "posix-rename@openssh.com" => {
                let (from, to) = (f.string()?, f.string()?);
                self.rename(id, &from, &to, true)
            }
            "hardlink@openssh.com" => {
                self.allow(Permission::Write)?;
                let from = self.path(&f.string()?)?;
                let to = self.path(&f.string()?)?;
                self.jail.hard_link(&from, &to)?;
                self.audit(
                    "hardlink",
                    json!({"path": to.display(), "target": from.display()}),
                );
                ok(id)
            }
            "statvfs@openssh.com" => {
                let path = self.path(&f.string()?)?;
                statvfs_reply(id, &self.jail.statvfs(&path)?)
            }
            "fstatvfs@openssh.com" => {
                let handle = f.bytes()?;
                let stat = match parse_handle(&handle).and_then(|h| self.handles.get(&h)) {
                    Some(Handle::File(file)) => {
                        rustix::fs::fstatvfs(&file.file).map_err(io::Error::from)?
                    }
                    Some(Handle::Dir(dir)) => self.jail.statvfs(&dir.path)?,
                    None => return Err(Fail::no_handle()),
                };
                statvfs_reply(id, &stat)
            }
            "fsync@openssh.com" => {
                let handle = f.bytes()?;
                let file = self.file_handle(&handle)?;
                file.file.sync_all()?;
                ok(id)
            }
            "lsetstat@openssh.com" => {
                let path = f.string()?;
                let mut rest = f.rest();
                let attrs: FileAttributes =
                    russh_sftp::de::from_bytes(&mut rest).map_err(|_| Fail::bad())?;
                self.setstat(id, &path, &attrs, false)
            }
            "limits@openssh.com" => Ok(codec::extended_reply(
                id,
                &codec::u64s(&[
                    MAX_PACKET as u64,
                    MAX_IO as u64,
                    MAX_IO as u64,
                    self.ctx.shared.config.file.max_handles as u64,
                ]),
            )),
            "expand-path@openssh.com" => {
                let path = f.string()?;
                let path = match path.strip_prefix('~') {
                    Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
                    _ => path,
                };
                name_reply(id, JailPath::parse(&path)?.display())
            }
            other => Err(Fail(
                StatusCode::OpUnsupported,
                format!("extension `{other}` is not supported"),
            )),
        }
    }
}

fn encode(packet: Packet) -> Reply {
    Bytes::try_from(packet).map_err(|e| Fail::failure(format!("could not encode reply: {e}")))
}

fn ok(id: u32) -> Reply {
    Ok(codec::status(id, StatusCode::Ok, "Success"))
}

fn name_reply(id: u32, name: String) -> Reply {
    encode(Packet::Name(Name {
        id,
        files: vec![NameEntry {
            longname: name.clone(),
            filename: name,
            attrs: FileAttributes::empty(),
        }],
    }))
}

fn statvfs_reply(id: u32, s: &rustix::fs::StatVfs) -> Reply {
    let flags = s.f_flag.bits();
    // ST_RDONLY = 1, ST_NOSUID = 2, as OpenSSH reports them.
    let flags = (flags & 1) | (flags & 2);
    Ok(codec::extended_reply(
        id,
        &codec::u64s(&[
            s.f_bsize,
            s.f_frsize,
            s.f_blocks,
            s.f_bfree,
            s.f_bavail,
            s.f_files,
            s.f_ffree,
            s.f_favail,
            s.f_fsid,
            flags,
            s.f_namemax,
        ]),
    ))
}

fn parse_handle(handle: &[u8]) -> Option<u32> {
    std::str::from_utf8(handle).ok()?.parse().ok()
}

/// Changing the owner is refused (files on shared storage belong to the service user); a
/// setstat that repeats the current owner, as some clients send, is accepted.
fn check_owner(attrs: &FileAttributes, uid: u32, gid: u32) -> Result<(), Fail> {
    if attrs.uid.is_some_and(|u| u != uid) || attrs.gid.is_some_and(|g| g != gid) {
        return Err(Fail(
            StatusCode::PermissionDenied,
            "changing the owner is not allowed".into(),
        ));
    }
    Ok(())
}

fn unix_time(secs: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.into())
}

fn attrs_json(a: &FileAttributes) -> serde_json::Value {
    json!({
        "size": a.size,
        "mode": a.permissions.map(|p| format!("{:o}", p & 0o7777)),
        "atime": a.atime,
        "mtime": a.mtime,
    })
}

fn clamp_time(secs: i64) -> u32 {
    secs.clamp(0, u32::MAX as i64) as u32
}

fn attributes(meta: &cap_std::fs::Metadata) -> FileAttributes {
    FileAttributes {
        size: Some(meta.size()),
        uid: Some(meta.uid()),
        user: None,
        gid: Some(meta.gid()),
        group: None,
        permissions: Some(meta.mode()),
        atime: Some(clamp_time(meta.atime())),
        mtime: Some(clamp_time(meta.mtime())),
    }
}

/// The `ls -l` line OpenSSH's sftp prints for a directory entry.
fn long_name(name: &str, meta: &cap_std::fs::Metadata, now: SystemTime) -> String {
    let mode = meta.mode();
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut perms = String::with_capacity(10);
    perms.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        perms.push(if bits & 4 != 0 { 'r' } else { '-' });
        perms.push(if bits & 2 != 0 { 'w' } else { '-' });
        perms.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    let mtime = clamp_time(meta.mtime()) as u64;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let recent = mtime + 182 * 86400 > now_secs && mtime <= now_secs + 86400;
    let date = format_ls_date(mtime, recent);
    format!(
        "{perms} {:>3} {:<8} {:<8} {:>8} {date} {name}",
        meta.nlink(),
        meta.uid(),
        meta.gid(),
        meta.size()
    )
}

fn format_ls_date(secs: u64, recent: bool) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let stamp = crate::node::audit::format_rfc3339(secs, 0);
    // "YYYY-MM-DDTHH:MM:SS.mmmZ"
    let year = &stamp[0..4];
    let month: usize = stamp[5..7].parse().unwrap_or(1);
    let day: u32 = stamp[8..10].parse().unwrap_or(1);
    let month = MONTHS[(month - 1).min(11)];
    if recent {
        format!("{month} {day:>2} {}", &stamp[11..16])
    } else {
        format!("{month} {day:>2}  {year}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_dates() {
        assert_eq!(format_ls_date(1_795_000_000, true), "Nov 18 11:06");
        assert_eq!(format_ls_date(0, false), "Jan  1  1970");
    }

    #[test]
    fn io_errors_map_to_status_codes_without_paths() {
        let f = Fail::from(io::Error::from_raw_os_error(2));
        assert_eq!(f.0, StatusCode::NoSuchFile);
        assert_eq!(f.1, "No such file or directory");
        let f = Fail::from(io::Error::from_raw_os_error(28));
        assert_eq!(f.0, StatusCode::Failure);
        assert_eq!(f.1, "No space left on device");
        assert_eq!(
            Fail::from(io::Error::from_raw_os_error(13)).0,
            StatusCode::PermissionDenied
        );
    }
}
