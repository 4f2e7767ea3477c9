//! Atomic uploads (`upload_mode = "atomic"`): whatever a client writes goes to a hidden
//! temporary file beside the final name, which is renamed onto it when the last handle the
//! session has on it closes. Readers elsewhere see the old whole file or the new whole file,
//! never a part.
//!
//! The session that writes sees its file under the final name as it is being written (stat,
//! open for reading, truncate, listing): clients such as sshfs look a file up right after
//! creating it. Changing an existing file (append, resume, an edit in place) copies it to the
//! temporary file first, by reflink where the file system offers one, so it stays atomic.

use std::ffi::OsString;
use std::fs::File as StdFile;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

use crate::node::limits::Fds;
use crate::node::metrics::Metrics;

/// What an upload does to its final name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A file that did not exist.
    New,
    /// An existing file replaced whole (truncated on open).
    Replace,
    /// An existing file changed: copied first, then written to (append, resume, edit).
    Edit,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::New => "new",
            Kind::Replace => "replace",
            Kind::Edit => "edit",
        }
    }
}

/// An upload in progress. Dropped without [`Pending::commit`] it removes its temporary file,
/// so an upload that never closed leaves nothing behind.
pub struct Pending {
    /// Unique in the node: a later upload to the same name is another one.
    pub id: u64,
    pub parent: Dir,
    pub temp: PathBuf,
    pub final_name: OsString,
    /// Opened with O_EXCL: the rename must not replace a file made meanwhile.
    pub exclusive: bool,
    pub kind: Kind,
    /// The first write error: an upload that lost data is never published.
    pub failed: Option<String>,
    /// Handles of the session open on it; published when the last one closes.
    pub handles: usize,
    /// For an edit: the file it started from, which must still be the one at the final name
    /// when the edit is published (else a whole upload of another session would be lost).
    pub based_on: Option<Version>,
    committed: bool,
    metrics: Arc<Metrics>,
    _fds: Fds,
    /// Its line in the upload journal, until it is published or removed.
    pub journal: Option<crate::node::journal::Entry>,
}

impl Pending {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        parent: Dir,
        temp: PathBuf,
        final_name: OsString,
        exclusive: bool,
        kind: Kind,
        metrics: Arc<Metrics>,
        fds: Fds,
    ) -> Pending {
        Pending {
            id,
            parent,
            temp,
            final_name,
            exclusive,
            kind,
            failed: None,
            handles: 0,
            based_on: None,
            committed: false,
            metrics,
            _fds: fds,
            journal: None,
        }
    }

    /// Opens the temporary file again (a second handle of the same session on the upload).
    pub fn reopen(&self, read: bool, append: bool) -> io::Result<StdFile> {
        let mut options = OpenOptions::new();
        options.read(read).write(true).append(append);
        Ok(self.parent.open_with(&self.temp, &options)?.into_std())
    }

    pub fn metadata(&self) -> io::Result<cap_std::fs::Metadata> {
        self.parent.symlink_metadata(&self.temp)
    }

    /// Renames the temporary file onto the final name; an edit whose original was replaced
    /// meanwhile is refused instead.
    pub fn commit(&mut self) -> io::Result<()> {
        if let Some(base) = &self.based_on {
            let now = self
                .parent
                .symlink_metadata(&self.final_name)
                .ok()
                .map(|m| Version::of(&m));
            if now.as_ref() != Some(base) {
                return Err(io::Error::other(
                    "another session replaced or changed the file while this one changed it: this change was not saved (open the file again and redo it)",
                ));
            }
        }
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

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.parent.remove_file(&self.temp);
            Metrics::inc(&self.metrics.uploads_aborted_total);
        }
        // Out of the journal before `parent` closes (the journal reads its descriptor).
        drop(self.journal.take());
    }
}

/// What identifies one version of a file: the same inode, size and modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl Version {
    pub fn of(meta: &cap_std::fs::Metadata) -> Version {
        use cap_std::fs::MetadataExt;
        Version {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

/// Creates the temporary file `temp` in `parent` (mode `mode`, narrowed by the umask).
pub fn create_temp(
    parent: &Dir,
    temp: &PathBuf,
    mode: u32,
    read: bool,
    append: bool,
) -> io::Result<StdFile> {
    let mut options = OpenOptions::new();
    options
        .read(read)
        .write(true)
        .append(append)
        .create_new(true)
        .mode(mode);
    Ok(parent.open_with(temp, &options)?.into_std())
}

/// Copies the first `limit` bytes of `src` (all of it when `None`) into the empty `dst`: a
/// reflink where the file system shares blocks (btrfs, XFS), else `copy_file_range` (done by
/// the server on NFS 4.2), else plain reads and writes. Holes stay holes: only the data
/// extents are copied (SEEK_DATA/SEEK_HOLE), so a sparse file a client made with a huge size
/// costs nothing to edit, where a dense copy would write terabytes of zeros.
pub fn copy_into(src: &StdFile, dst: &StdFile, limit: Option<u64>) -> io::Result<u64> {
    use rustix::fs::SeekFrom;
    let len = src.metadata()?.len();
    let want = limit.map_or(len, |l| l.min(len));
    if want == len && rustix::fs::ioctl_ficlone(dst, src).is_ok() {
        return Ok(len);
    }
    let mut pos = 0u64;
    while pos < want {
        let start = match rustix::fs::seek(src, SeekFrom::Data(pos)) {
            Ok(start) => start,
            // No data after `pos`: the rest is a hole.
            Err(rustix::io::Errno::NXIO) => break,
            // No SEEK_DATA here: everything counts as data.
            Err(_) => pos,
        };
        if start >= want {
            break;
        }
        let end = rustix::fs::seek(src, SeekFrom::Hole(start))
            .unwrap_or(want)
            .min(want);
        copy_range(src, dst, start, end)?;
        pos = end;
    }
    dst.set_len(want)?;
    Ok(want)
}

/// Copies bytes `start..end` of `src` to the same place in `dst`.
fn copy_range(src: &StdFile, dst: &StdFile, start: u64, end: u64) -> io::Result<()> {
    let (mut off_in, mut off_out) = (start, start);
    while off_in < end {
        let chunk = (end - off_in).min(1 << 30) as usize;
        match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), chunk) {
            Ok(0) => return Err(io::Error::other("the file shrank while it was copied")),
            Ok(_) => {}
            // Not across these file systems: the plain way.
            Err(_) if off_in == start => return copy_plainly(src, dst, start, end),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn copy_plainly(src: &StdFile, dst: &StdFile, start: u64, end: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = start;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        let got = src.read_at(&mut buf[..n], at)?;
        if got == 0 {
            return Err(io::Error::other("the file shrank while it was copied"));
        }
        dst.write_all_at(&buf[..got], at)?;
        at += got as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn copies_whole_files_and_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&src_path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let src = std::fs::File::open(&src_path).unwrap();
        for (limit, want) in [
            (None, data.len()),
            (Some(1000), 1000),
            (Some(10 << 20), data.len()),
        ] {
            let dst_path = dir.path().join(format!("dst-{want}-{limit:?}"));
            let dst = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&dst_path)
                .unwrap();
            assert_eq!(copy_into(&src, &dst, limit).unwrap(), want as u64);
            let mut got = Vec::new();
            std::fs::File::open(&dst_path)
                .unwrap()
                .read_to_end(&mut got)
                .unwrap();
            assert_eq!(got, data[..want]);
        }
    }

    #[test]
    fn holes_stay_holes() {
        use std::os::unix::fs::{FileExt, MetadataExt};
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("sparse");
        let src = std::fs::File::create(&src_path).unwrap();
        // A terabyte of nothing with a little data at both ends.
        src.write_all_at(b"head", 0).unwrap();
        src.write_all_at(b"tail", (1 << 40) - 4).unwrap();
        drop(src);
        let src = std::fs::File::open(&src_path).unwrap();
        let dst_path = dir.path().join("copy");
        let dst = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&dst_path)
            .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(copy_into(&src, &dst, None).unwrap(), 1 << 40);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let meta = std::fs::metadata(&dst_path).unwrap();
        assert_eq!(meta.len(), 1 << 40);
        assert!(
            meta.blocks() < 1024,
            "{} blocks: the holes were filled",
            meta.blocks()
        );
        let mut buf = [0u8; 4];
        dst.read_exact_at(&mut buf, (1 << 40) - 4).unwrap();
        assert_eq!(&buf, b"tail");
        dst.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"head");
        // A prefix of it, as a truncate asks.
        let short = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.path().join("short"))
            .unwrap();
        assert_eq!(copy_into(&src, &short, Some(2)).unwrap(), 2);
        assert_eq!(std::fs::read(dir.path().join("short")).unwrap(), b"he");
    }
}
