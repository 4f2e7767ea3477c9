//! The SFTP requests of one session: decoded, checked against the user's rights, carried out
//! in the user's [`Jail`], and answered. Runs on the session's own thread, synchronously, so a
//! slow disk stalls only this session.
//!
//! In atomic mode every write goes through an upload of [`super::upload`]: this module keeps
//! the session's uploads by the path the client named, so that the same session finds its file
//! under that name (stat, open, truncate, listing, rename, remove) while others see the old one.

mod paths;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{File as StdFile, FileTimes};
use std::io::{self, Read, Seek};
use std::os::unix::fs::{FileExt, PermissionsExt as _};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use cap_std::fs::{MetadataExt, OpenOptions, OpenOptionsExt};
use russh_sftp::protocol::{
    Attrs, File as NameEntry, FileAttributes, Name, Packet, StatusCode, Version,
};
use serde_json::json;

use super::attrs::{attributes, attrs_json, check_owner, long_name, unix_time};
use super::codec::{self, Fields, MAX_IO, MAX_PACKET};
use super::upload::{self, Kind, Pending};
use crate::config::node::UploadMode;
use crate::config::users::Permission;
use crate::node::jail::{self, Jail, JailPath};
use crate::node::limits::{self, Fds};
use crate::node::metrics::Metrics;
use crate::node::SessionContext;

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
    fn missing() -> Self {
        Fail(StatusCode::NoSuchFile, "No such file or directory".into())
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
    /// The session's upload this handle writes: its key in `Session::pending` and its id
    /// (a later upload to the same name is another one).
    upload: Option<(JailPath, u64)>,
    bytes_read: u64,
    bytes_written: u64,
    _open: OpenFile,
}

struct DirHandle {
    entries: cap_std::fs::ReadDir,
    path: JailPath,
    /// Names of this session's uploads in the folder already listed.
    listed_pending: HashSet<OsString>,
    done: bool,
    _slot: HandleSlot,
}

/// Counts an open file in the node's `open_files` gauge for as long as it lives.
struct OpenFile {
    metrics: Arc<Metrics>,
    _slot: HandleSlot,
}

impl OpenFile {
    fn new(metrics: &Arc<Metrics>, slot: HandleSlot) -> Self {
        metrics.open_files.fetch_add(1, Relaxed);
        OpenFile {
            metrics: metrics.clone(),
            _slot: slot,
        }
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.metrics.open_files.fetch_sub(1, Relaxed);
    }
}

/// A handle's place in its connection's `max_handles`, its user's share and the node's
/// open-file budget.
struct HandleSlot {
    ctx: Arc<SessionContext>,
    fds: Fds,
}

impl Drop for HandleSlot {
    fn drop(&mut self) {
        self.ctx.conn.handles.fetch_sub(1, Relaxed);
        self.ctx
            .shared
            .user_shares
            .give_fds(&self.ctx.user.name, self.fds.count());
    }
}

pub struct Session {
    ctx: Arc<SessionContext>,
    jail: Jail,
    handles: HashMap<u32, Handle>,
    next_handle: u32,
    initialized: bool,
    /// Atomic uploads in progress, by the path the client named.
    pending: HashMap<JailPath, Pending>,
}

impl Session {
    pub fn new(ctx: Arc<SessionContext>, jail: Jail) -> Self {
        Session {
            ctx,
            jail,
            handles: HashMap::new(),
            next_handle: 0,
            initialized: false,
            pending: HashMap::new(),
        }
    }

    /// Open file and directory handles.
    pub fn open_handles(&self) -> usize {
        self.handles.len()
    }

    fn metrics(&self) -> &Metrics {
        &self.ctx.shared.metrics
    }

    fn atomic(&self) -> bool {
        self.ctx.shared.config.file.upload_mode == UploadMode::Atomic
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
            return Err(Fail::missing());
        }
        Ok(path)
    }

    /// A place for one more handle: within the connection's `max_handles` and the node's
    /// open-file budget (`fds` descriptors).
    fn handle_slot(&self, fds: i64) -> Result<HandleSlot, Fail> {
        let max = self.ctx.shared.config.file.max_handles;
        let conn = &self.ctx.conn;
        if conn.handles.fetch_add(1, Relaxed) >= max {
            conn.handles.fetch_sub(1, Relaxed);
            return Err(Fail::failure(format!(
                "too many open handles on this connection (limit {max}): close some"
            )));
        }
        let shares = &self.ctx.shared.user_shares;
        if !shares.take_fds(&self.ctx.user.name, fds) {
            conn.handles.fetch_sub(1, Relaxed);
            return Err(Fail::failure(
                "this user holds its share of the server's open files: close some handles or connections",
            ));
        }
        let Some(fds) = self.ctx.shared.fds.take(fds) else {
            conn.handles.fetch_sub(1, Relaxed);
            shares.give_fds(&self.ctx.user.name, fds);
            return Err(Fail::failure(
                "the server has no file handles to spare right now: close some and try again",
            ));
        };
        Ok(HandleSlot {
            ctx: self.ctx.clone(),
            fds,
        })
    }

    fn add_handle(&mut self, handle: Handle, id: u32) -> Reply {
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
        if self.atomic() && (writable || self.pending.contains_key(&path)) {
            return self.open_upload(id, path, flags, attrs, readable, writable);
        }
        let mode = attrs.permissions.map(jail::safe_mode).unwrap_or(0o666);
        let existing = self.jail.metadata(&path).ok();
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(Fail::failure("is a directory"));
        }
        let slot = self.handle_slot(limits::FDS_FILE)?;
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
            _open: OpenFile::new(&self.ctx.shared.metrics, slot),
        };
        self.add_handle(Handle::File(handle), id)
    }

    /// Opens `path` in atomic mode: a new upload, another handle on one this session already
    /// has, or (read only) the upload itself, which this session sees under the final name.
    fn open_upload(
        &mut self,
        id: u32,
        path: JailPath,
        flags: u32,
        attrs: &FileAttributes,
        readable: bool,
        writable: bool,
    ) -> Reply {
        let append = flags & FXF_APPEND != 0;
        if let Some(pending) = self.pending.get(&path) {
            if flags & FXF_EXCL != 0 {
                return Err(Fail::failure("File exists"));
            }
            let slot = self.handle_slot(limits::FDS_FILE)?;
            let file = if writable {
                pending.reopen(readable, append)?
            } else {
                pending
                    .parent
                    .open_with(&pending.temp, OpenOptions::new().read(true))?
                    .into_std()
            };
            if writable && flags & FXF_TRUNC != 0 {
                file.set_len(0)?;
            }
            let pending = self.pending.get_mut(&path).expect("found above");
            pending.handles += 1;
            let upload = Some((path.clone(), pending.id));
            let handle = FileHandle {
                file,
                path,
                readable,
                writable,
                upload,
                bytes_read: 0,
                bytes_written: 0,
                _open: OpenFile::new(&self.ctx.shared.metrics, slot),
            };
            return self.add_handle(Handle::File(handle), id);
        }
        let existing = self.jail.metadata(&path).ok();
        if existing.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(Fail::failure("is a directory"));
        }
        let kind = match (&existing, flags & FXF_TRUNC != 0) {
            (None, _) if flags & FXF_CREAT == 0 => return Err(Fail::missing()),
            (None, _) => Kind::New,
            (Some(_), _) if flags & FXF_EXCL != 0 => return Err(Fail::failure("File exists")),
            (Some(_), true) => Kind::Replace,
            (Some(_), false) => Kind::Edit,
        };
        if kind == Kind::Edit {
            refuse_hard_linked(existing.as_ref().expect("an edit has a file"))?;
        }
        let slot = self.handle_slot(limits::FDS_FILE)?;
        let Some(parent_fds) = self
            .ctx
            .shared
            .fds
            .take(limits::FDS_UPLOAD - limits::FDS_FILE)
        else {
            return Err(Fail::failure(
                "the server has no file handles to spare right now: close some and try again",
            ));
        };
        let (parent, final_name) = self.jail.parent_of(&path)?;
        let final_name = final_name.to_owned();
        let (unique, temp, noted) = self.new_temp(&path, &parent, &final_name);
        // A new file gets the client's mode; a changed one keeps its own, as with O_TRUNC.
        let mode = match &existing {
            Some(meta) => meta.mode() & 0o777,
            None => attrs.permissions.map(jail::safe_mode).unwrap_or(0o666),
        };
        let file = upload::create_temp(&parent, &temp, mode, readable, append)?;
        let mut pending = Pending::new(
            unique,
            parent,
            temp,
            final_name,
            flags & FXF_EXCL != 0,
            kind,
            self.ctx.shared.metrics.clone(),
            parent_fds,
        );
        pending.journal = noted;
        if let Some(meta) = &existing {
            // The mode asked at creation is narrowed by the umask; a changed file keeps its own.
            file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o777))?;
            if kind == Kind::Edit {
                let current = self
                    .jail
                    .open_file(&path, OpenOptions::new().read(true))?
                    .into_std();
                pending.based_on = Some(upload::Version::of(
                    &cap_std::fs::Metadata::from_just_metadata(current.metadata()?),
                ));
                upload::copy_into(&current, &file, None)?;
            }
        }
        pending.handles = 1;
        self.pending.insert(path.clone(), pending);
        let handle = FileHandle {
            file,
            path: path.clone(),
            readable,
            writable,
            upload: Some((path, unique)),
            bytes_read: 0,
            bytes_written: 0,
            _open: OpenFile::new(&self.ctx.shared.metrics, slot),
        };
        self.add_handle(Handle::File(handle), id)
    }

    /// The temporary name of a new upload to `path` (its folder open as `parent`), noted in
    /// the upload journal before the file is made: its unique number, name and journal entry.
    pub(super) fn new_temp(
        &self,
        path: &JailPath,
        parent: &cap_std::fs::Dir,
        final_name: &std::ffi::OsStr,
    ) -> (u64, std::path::PathBuf, Option<crate::node::journal::Entry>) {
        let shared = &self.ctx.shared;
        let unique = shared.upload_counter.fetch_add(1, Relaxed);
        let temp = jail::temp_name(final_name, &shared.config.file.name, unique);
        let folder = std::os::fd::AsRawFd::as_raw_fd(parent);
        let noted = shared.journal.record(
            unique,
            self.jail.home(),
            (path.parent().rel(), folder),
            &temp,
        );
        (unique, temp, noted)
    }

    fn close(&mut self, id: u32, handle: &str) -> Reply {
        let key = parse_handle(handle.as_bytes()).ok_or_else(Fail::no_handle)?;
        let handle = self.handles.remove(&key).ok_or_else(Fail::no_handle)?;
        let Handle::File(file) = handle else {
            return ok(id);
        };
        if file.readable && file.bytes_read > 0 {
            Metrics::inc(&self.metrics().downloads_total);
            self.audit(
                "download",
                json!({"path": file.path.display(), "bytes": file.bytes_read}),
            );
        }
        if let Some((key, upload_id)) = &file.upload {
            let last = match self.pending.get_mut(key).filter(|p| p.id == *upload_id) {
                Some(pending) => {
                    pending.handles = pending.handles.saturating_sub(1);
                    pending.handles == 0
                }
                // Published early (renamed) or dropped (removed, replaced): nothing to do.
                None => false,
            };
            if last {
                let pending = self.pending.remove(key).expect("found above");
                return self.publish(id, &file, pending);
            }
        } else if file.writable && file.bytes_written > 0 {
            Metrics::inc(&self.metrics().uploads_total);
            let size = file.file.metadata().map(|m| m.len()).unwrap_or(0);
            self.audit(
                "upload",
                json!({"path": file.path.display(), "bytes": size, "written": file.bytes_written, "mode": "in-place"}),
            );
        }
        ok(id)
    }

    /// Publishes an upload whose last handle (`file`) closed.
    fn publish(&mut self, id: u32, file: &FileHandle, mut pending: Pending) -> Reply {
        if let Some(error) = pending.failed.take() {
            return Err(Fail::failure(format!(
                "upload not saved: an earlier write failed ({error})"
            )));
        }
        let size = file.file.metadata()?.len();
        if self.ctx.shared.config.file.fsync_uploads {
            file.file.sync_all()?;
        }
        pending.commit()?;
        Metrics::inc(&self.metrics().uploads_total);
        self.audit(
            "upload",
            json!({"path": file.path.display(), "bytes": size, "mode": "atomic", "kind": pending.kind.name()}),
        );
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
        // With O_APPEND, Linux's pwrite appends whatever the offset, as OpenSSH's write does.
        if let Err(e) = file.file.write_all_at(&data, offset) {
            let upload = file.upload.clone();
            let message = Fail::from(io::Error::from(e.kind())).1;
            if let Some((key, upload_id)) = upload {
                if let Some(pending) = self.pending.get_mut(&key).filter(|p| p.id == upload_id) {
                    pending.failed.get_or_insert(message);
                }
            }
            return Err(e.into());
        }
        file.bytes_written += data.len() as u64;
        Metrics::add(&self.metrics().bytes_in_total, data.len() as u64);
        ok(id)
    }
}

/// An edit in atomic mode copies the file and replaces one of its names: for a file with
/// other hard links that would split it (the other names keep the old content) and let a
/// client multiply its disk use by copying through each link, so it is refused.
fn refuse_hard_linked(meta: &cap_std::fs::Metadata) -> Result<(), Fail> {
    if meta.nlink() > 1 {
        return Err(Fail::failure(
            "the file has other hard links: changing it in place would copy it apart from them (upload_mode = \"atomic\"); replace it whole, or remove the other links first",
        ));
    }
    Ok(())
}

/// Applies size, mode and times to an open file (owner changes were refused before).
fn set_on_file(file: &StdFile, attrs: &FileAttributes) -> Result<(), Fail> {
    if let Some(size) = attrs.size {
        file.set_len(size)?;
    }
    if let Some(mode) = attrs.permissions {
        file.set_permissions(std::fs::Permissions::from_mode(jail::safe_mode(mode)))?;
    }
    if let (Some(atime), Some(mtime)) = (attrs.atime, attrs.mtime) {
        file.set_times(
            FileTimes::new()
                .set_accessed(unix_time(atime))
                .set_modified(unix_time(mtime)),
        )?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

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
