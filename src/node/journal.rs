//! The upload journal: where every node process notes the temporary files of its uploads in
//! progress, so that the files a crashed node leaves behind are found without walking the
//! storage.
//!
//! Each process appends one line per upload to its own log in `STORAGE/.sftpha/uploads/`,
//! before the temporary file is made (`NODE.PID.START.log`). Every [`HEARTBEAT`] it rewrites
//! the log with just the uploads still open, which also refreshes its mtime. The janitor of
//! every node reads that folder (one log per running node process, a few lines each) and
//! removes what the logs of dead processes list:
//! - a log of its own node name whose process is gone from this host (the node restarted):
//!   at once;
//! - any other log not rewritten for [`STALE`] (its node crashed, or lost the storage): the
//!   files it lists that were not written for as long.
//!
//! So the cost of the janitor is the number of uploads in flight, not the size of the storage,
//! and what a crashed node left lingers at most `STALE` + one janitor interval.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cap_std::fs::Dir;

use super::jail;
use super::STATE_DIR;

/// The journal's folder inside the storage's state folder.
pub const DIR: &str = "uploads";
/// How often a process rewrites its log (which proves it alive).
pub const HEARTBEAT: Duration = Duration::from_secs(300);
/// A log not rewritten for this long belongs to a process that is gone or cut off.
pub const STALE: Duration = Duration::from_secs(1200);

/// This process's log.
pub struct Journal {
    dir: PathBuf,
    /// The storage as the kernel names it (symlinks resolved), to read folders' paths back.
    storage: PathBuf,
    node: String,
    name: String,
    state: Mutex<State>,
    /// The last record failed (said once).
    failing: AtomicBool,
}

struct State {
    /// Open for appending; None until the folder could be made (an unwritable storage).
    file: Option<File>,
    /// The uploads in progress.
    open: HashMap<u64, Upload>,
    /// Lines appended since the log was last rewritten.
    appended: usize,
}

/// One upload in progress: where its temporary file is, and its folder held open.
struct Upload {
    home: PathBuf,
    parent: PathBuf,
    temp: PathBuf,
    /// The folder's descriptor, owned by the upload, which gives up its [`Entry`] before it
    /// closes the folder: while the entry is here, the descriptor is that folder's. A folder
    /// renamed during the upload is found again through it (`/proc/self/fd`) when the log is
    /// rewritten.
    folder: RawFd,
}

impl Upload {
    fn line(&self) -> String {
        format!(
            "{} {} {}\n",
            hex(self.home.as_os_str()),
            hex(self.parent.as_os_str()),
            hex(self.temp.as_os_str())
        )
    }
}

/// A log is rewritten once this many lines were appended since the last time (and more than
/// four times the uploads in progress), not only on the heartbeat: many small uploads cannot
/// grow it without bound.
const COMPACT_AFTER: usize = 4096;
/// What a sweep reads of one log at most, and of one line (a log planted by someone with
/// access to the storage must not exhaust the node's memory).
const MAX_LOG_BYTES: u64 = 256 << 20;
const MAX_LINE_BYTES: usize = 64 << 10;

/// One upload's line in the journal; dropped, the upload is no longer in progress.
pub struct Entry {
    journal: Arc<Journal>,
    id: u64,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.journal.lock().open.remove(&self.id);
    }
}

impl Journal {
    /// The journal of this process on `storage`; its log is made on the first upload.
    pub fn new(storage: &Path, node: &str) -> Journal {
        let started = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Journal {
            dir: storage.join(STATE_DIR).join(DIR),
            storage: std::fs::canonicalize(storage).unwrap_or_else(|_| storage.to_owned()),
            node: node.to_owned(),
            name: format!("{node}.{}.{started}.log", std::process::id()),
            state: Mutex::new(State {
                file: None,
                open: HashMap::new(),
                appended: 0,
            }),
            failing: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that upload `id` writes `temp` in the folder `parent` of the home `home`
    /// (both relative to the storage). Called before the file is made: a crash between the
    /// two leaves a line without a file, never a file without a line.
    /// A journal that cannot be written is said once (until it works again) and does not stop
    /// the upload: what it would have noted is then only found by hand.
    pub fn record(
        self: &Arc<Self>,
        id: u64,
        home: &Path,
        (parent, folder): (&Path, RawFd),
        temp: &Path,
    ) -> Option<Entry> {
        let upload = Upload {
            home: home.to_owned(),
            parent: parent.to_owned(),
            temp: temp.to_owned(),
            folder,
        };
        match self.try_record(id, upload) {
            Ok(entry) => {
                self.failing.store(false, Relaxed);
                Some(entry)
            }
            Err(e) => {
                if !self.failing.swap(true, Relaxed) {
                    tracing::warn!(journal = %self.dir.display(), "cannot note an upload in the journal: {e}; an upload interrupted by a crash of this node now leaves its temporary file behind");
                }
                None
            }
        }
    }

    fn try_record(self: &Arc<Self>, id: u64, upload: Upload) -> io::Result<Entry> {
        let mut state = self.lock();
        if state.file.is_none() {
            state.file = Some(self.open_log()?);
        }
        let file = state.file.as_mut().expect("opened above");
        file.write_all(upload.line().as_bytes())?;
        state.open.insert(id, upload);
        state.appended += 1;
        if state.appended > COMPACT_AFTER && state.appended > 4 * state.open.len() {
            self.rewrite(&mut state)?;
        }
        Ok(Entry {
            journal: self.clone(),
            id,
        })
    }

    fn open_log(&self) -> io::Result<File> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(&self.name))
    }

    /// Rewrites the log with the uploads still in progress (which also shows this process
    /// alive); with none, and no log yet, writes nothing.
    pub fn heartbeat(&self) -> io::Result<()> {
        let mut state = self.lock();
        if state.file.is_none() && state.open.is_empty() {
            return Ok(());
        }
        self.rewrite(&mut state)
    }

    fn rewrite(&self, state: &mut State) -> io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{}", self.name));
        let mut text = String::new();
        for upload in state.open.values_mut() {
            self.follow(upload);
            text.push_str(&upload.line());
        }
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.dir.join(&self.name))?;
        state.file = Some(self.open_log()?);
        state.appended = 0;
        Ok(())
    }

    /// Where the upload's folder is now (it may have been renamed since the upload began),
    /// read from its descriptor; unchanged when that path is not inside the home.
    fn follow(&self, upload: &mut Upload) {
        let Ok(now) = std::fs::read_link(format!("/proc/self/fd/{}", upload.folder)) else {
            return;
        };
        let home = self.storage.join(&upload.home);
        if let Ok(parent) = now.strip_prefix(&home) {
            upload.parent = parent.to_owned();
        }
    }

    /// Removes what the logs of dead processes list (blocking: run it off the async threads).
    pub fn sweep(&self, storage: &Dir) -> Swept {
        let mut swept = Swept::default();
        use io::ErrorKind::{InvalidInput, NotFound, PermissionDenied};
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return swept;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(owner) = Owner::parse(&name) else {
                continue;
            };
            if name.as_bytes() == self.name.as_bytes() {
                continue;
            }
            swept.logs += 1;
            let age = |m: io::Result<std::fs::Metadata>| {
                m.ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| now.duration_since(t).ok())
                    .unwrap_or_default()
            };
            // The same node name with a pid that is gone, or that is this process's own (an
            // earlier process in another pid namespace: a container's node is always pid 1).
            let restarted = owner.node == self.node
                && (owner.pid == std::process::id() as i32 || !process_alive(owner.pid));
            let stale = age(entry.metadata()) > STALE;
            if !restarted && !stale {
                continue;
            }
            // A log is a regular file (not a link, a FIFO or a device someone put there).
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let Ok(file) = File::open(entry.path()) else {
                continue;
            };
            let mut kept = 0;
            let lines = BufReader::new(file.take(MAX_LOG_BYTES)).split(b'\n');
            for line in lines {
                let Ok(line) = line else { break };
                if line.len() > MAX_LINE_BYTES {
                    continue;
                }
                let Some((home, parent, temp)) =
                    std::str::from_utf8(&line).ok().and_then(parse_line)
                else {
                    continue;
                };
                swept.listed += 1;
                match remove_temp(storage, &home, &parent, &temp, restarted, now) {
                    Ok(true) => swept.removed += 1,
                    Ok(false) => kept += 1,
                    // Gone already, or a line that names no upload's file in a home: done.
                    Err(e) if matches!(e.kind(), NotFound | PermissionDenied | InvalidInput) => {}
                    // The storage failing: tried again next time.
                    Err(e) => {
                        tracing::debug!(log = %entry.path().display(), "cannot remove an abandoned upload: {e}");
                        kept += 1;
                    }
                }
            }
            // A temporary file still written to is kept, and so is the log that names it.
            if kept == 0 && std::fs::remove_file(entry.path()).is_ok() {
                swept.logs_removed += 1;
            }
        }
        swept
    }
}

/// What a sweep saw and did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Logs of other processes read.
    pub logs: usize,
    pub logs_removed: usize,
    /// Uploads the logs of dead processes listed.
    pub listed: usize,
    /// Temporary files removed.
    pub removed: usize,
}

/// The node and process a log belongs to, from its name.
struct Owner {
    node: String,
    pid: i32,
}

impl Owner {
    fn parse(name: &OsStr) -> Option<Owner> {
        let name = name.to_str()?.strip_suffix(".log")?;
        let mut parts = name.rsplitn(3, '.');
        let _started: u128 = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let node = parts.next()?.to_owned();
        (!node.is_empty() && !node.starts_with('.')).then_some(Owner { node, pid })
    }
}

/// A process that exists but is another user's (EPERM) counts as alive: only a pid nobody
/// has proves the earlier process gone.
/// A zombie (killed, not yet reaped by its parent) is dead too.
fn process_alive(pid: i32) -> bool {
    let exists = rustix::process::Pid::from_raw(pid).is_some_and(|pid| {
        !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        )
    });
    let zombie = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| rest.starts_with('Z')))
            .unwrap_or(false)
    };
    exists && !zombie()
}

/// Removes one temporary file, inside its home only (the home is opened as a jail: a `..` or
/// a symlink in the journal cannot lead out), and only if its name is one of an upload's.
/// A file of another node is removed only when it was not written for [`STALE`] either.
fn remove_temp(
    storage: &Dir,
    home: &Path,
    parent: &Path,
    temp: &Path,
    restarted: bool,
    now: SystemTime,
) -> io::Result<bool> {
    if !jail::is_temp_name(temp.as_os_str()) || temp.components().count() != 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an upload's temporary file",
        ));
    }
    let home = storage.open_dir(home)?;
    let dir = if parent.as_os_str().is_empty() {
        home
    } else {
        home.open_dir(parent)?
    };
    if !restarted {
        let written = dir.symlink_metadata(temp)?.modified()?.into_std();
        if now.duration_since(written).unwrap_or_default() <= STALE {
            return Ok(false);
        }
    }
    dir.remove_file(temp)?;
    Ok(true)
}

fn parse_line(line: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let mut f = line.split(' ');
    let home = unhex(f.next()?)?;
    let parent = unhex(f.next()?)?;
    let temp = unhex(f.next()?)?;
    f.next().is_none().then_some((home, parent, temp))
}

fn hex(s: &OsStr) -> String {
    if s.is_empty() {
        return "-".to_owned();
    }
    crate::checksum::hex(s.as_bytes())
}

fn unhex(s: &str) -> Option<PathBuf> {
    if s == "-" {
        return Some(PathBuf::new());
    }
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    Some(PathBuf::from(OsStr::from_bytes(&bytes?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    fn open_storage(path: &Path) -> io::Result<Dir> {
        Dir::open_ambient_dir(path, ambient_authority())
    }

    struct Site {
        _dir: tempfile::TempDir,
        storage: PathBuf,
    }

    fn site() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().to_owned();
        std::fs::create_dir_all(storage.join("alice/in")).unwrap();
        Site { _dir: dir, storage }
    }

    fn temp(n: u64) -> PathBuf {
        jail::temp_name(OsStr::new("report.csv"), "n1", n)
    }

    fn make(site: &Site, parent: &str, name: &Path) -> PathBuf {
        let path = site.storage.join("alice").join(parent).join(name);
        std::fs::write(&path, b"partial").unwrap();
        path
    }

    fn age(path: &Path, by: Duration) {
        let then = SystemTime::now() - by;
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(then).unwrap();
    }

    fn dead_log(site: &Site, name: &str, lines: &[(&str, &str, &Path)]) -> PathBuf {
        let dir = site.storage.join(STATE_DIR).join(DIR);
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = lines
            .iter()
            .map(|(h, p, t)| {
                format!(
                    "{} {} {}\n",
                    hex(OsStr::new(h)),
                    hex(OsStr::new(p)),
                    hex(t.as_os_str())
                )
            })
            .collect();
        let log = dir.join(name);
        std::fs::write(&log, text).unwrap();
        log
    }

    /// A pid no process has (above the kernel's limit).
    const GONE: i32 = 1 << 30;

    #[test]
    fn a_restarted_node_removes_what_its_earlier_process_left_at_once() {
        let s = site();
        let a = make(&s, "", &temp(1));
        let b = make(&s, "in", &temp(2));
        let log = dead_log(
            &s,
            &format!("n1.{GONE}.5.log"),
            &[("alice", "", &temp(1)), ("alice", "in", &temp(2))],
        );
        let journal = Journal::new(&s.storage, "n1");
        let swept = journal.sweep(&open_storage(&s.storage).unwrap());
        assert_eq!(swept.removed, 2, "{swept:?}");
        assert!(!a.exists() && !b.exists() && !log.exists());
    }

    #[test]
    fn an_earlier_process_with_this_processs_pid_is_dead_as_in_a_container() {
        let s = site();
        let a = make(&s, "", &temp(1));
        let me = std::process::id();
        let log = dead_log(&s, &format!("n1.{me}.5.log"), &[("alice", "", &temp(1))]);
        let journal = Journal::new(&s.storage, "n1");
        assert_eq!(journal.sweep(&open_storage(&s.storage).unwrap()).removed, 1);
        assert!(!a.exists() && !log.exists());
    }

    #[test]
    fn another_nodes_files_wait_until_its_log_and_the_file_are_stale() {
        let s = site();
        let file = make(&s, "", &temp(1));
        let log = dead_log(&s, "n2.1.5.log", &[("alice", "", &temp(1))]);
        let journal = Journal::new(&s.storage, "n1");
        let storage = open_storage(&s.storage).unwrap();
        // n2 is alive (its log is fresh): nothing is read.
        assert_eq!(journal.sweep(&storage).listed, 0);
        // n2 stopped writing its log, but the upload was written to lately: kept.
        age(&log, STALE * 2);
        assert_eq!(journal.sweep(&storage).removed, 0);
        assert!(file.exists() && log.exists());
        age(&file, STALE * 2);
        let swept = journal.sweep(&storage);
        assert_eq!((swept.removed, swept.logs_removed), (1, 1), "{swept:?}");
        assert!(!file.exists() && !log.exists());
    }

    #[test]
    fn a_log_cannot_lead_out_of_a_home_or_remove_a_users_file() {
        let s = site();
        let outside = s.storage.join(STATE_DIR).join("storage-id");
        std::fs::create_dir_all(outside.parent().unwrap()).unwrap();
        std::fs::write(&outside, "id").unwrap();
        let users_file = s.storage.join("alice/report.csv");
        std::fs::write(&users_file, "data").unwrap();
        let escape = s.storage.join("escape");
        std::fs::create_dir_all(&escape).unwrap();
        let victim = escape.join(temp(3));
        std::fs::write(&victim, "x").unwrap();
        std::os::unix::fs::symlink(&escape, s.storage.join("alice/link")).unwrap();
        dead_log(
            &s,
            &format!("n1.{GONE}.5.log"),
            &[
                ("alice", "..", Path::new(".sftpha/storage-id")),
                ("alice", "", Path::new("report.csv")),
                ("alice", "../escape", &temp(3)),
                ("alice", "link", &temp(3)),
                ("/", "escape", &temp(3)),
            ],
        );
        let journal = Journal::new(&s.storage, "n1");
        let swept = journal.sweep(&open_storage(&s.storage).unwrap());
        assert_eq!(swept.removed, 0, "{swept:?}");
        assert!(outside.exists() && users_file.exists() && victim.exists());
    }

    #[test]
    fn the_log_holds_only_the_uploads_in_progress_after_a_heartbeat() {
        let s = site();
        let journal = Arc::new(Journal::new(&s.storage, "n1"));
        let log = s.storage.join(STATE_DIR).join(DIR).join(&journal.name);
        journal.heartbeat().unwrap();
        assert!(
            !log.exists(),
            "a node that never took an upload writes no log"
        );
        let folder = |p: &str| std::fs::File::open(s.storage.join("alice").join(p)).unwrap();
        let (top, inner) = (folder(""), folder("in"));
        use std::os::fd::AsRawFd;
        let done = journal
            .record(
                1,
                Path::new("alice"),
                (Path::new(""), top.as_raw_fd()),
                &temp(1),
            )
            .unwrap();
        let _open = journal
            .record(
                2,
                Path::new("alice"),
                (Path::new("in"), inner.as_raw_fd()),
                &temp(2),
            )
            .unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
        drop(done);
        journal.heartbeat().unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            parse_line(text.trim_end()),
            Some(("alice".into(), "in".into(), temp(2)))
        );
        // The folder renamed during the upload: the next rewrite names where it is now.
        std::fs::rename(s.storage.join("alice/in"), s.storage.join("alice/moved")).unwrap();
        journal.heartbeat().unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            parse_line(text.trim_end()),
            Some(("alice".into(), "moved".into(), temp(2)))
        );
        // Its own log is never swept by itself.
        make(&s, "moved", &temp(2));
        assert_eq!(
            journal.sweep(&open_storage(&s.storage).unwrap()),
            Swept::default()
        );
    }
}
