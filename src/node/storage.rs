//! The storage a node serves: opened once at start and held, proved writable every few
//! seconds, and proved to still be the same storage.
//!
//! A shared storage can vanish under a running node (an NFS mount lost, unmounted, or
//! remounted elsewhere). The path then shows an empty local folder: a node that kept serving
//! would show users empty homes and write their uploads to its local disk. So the node records
//! the storage's identity when it starts (`.sftpha/storage-id`, made once by the first node,
//! and the folder's device and inode) and checks it with every storage check; if it changed,
//! `/healthz` answers 503 (`storage_changed`) and no home is opened or created until it is
//! back. A storage remounted at the same path with the same identity is taken up again.
//!
//! With the cluster's identity known (node.toml `storage_id_file`, kept by `sftpha
//! provision`, read at every check), the node also proves it is on the cluster's storage: a
//! storage with another identity or none (a local folder where the shared one should be
//! mounted, on a host whose mount is missing or points elsewhere) is `storage_not_shared`,
//! and the node makes no identity of its own.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::STATE_DIR;

/// What the last storage check learnt about the storage (for `/healthz`).
#[derive(Debug, Clone, Default)]
pub struct StorageFacts {
    /// The identity of the storage (`.sftpha/storage-id`): the same on every node that
    /// really shares it, so `assess --probe` can tell without logging in.
    pub id: Option<String>,
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
}

/// The storage folder held open, with what identifies it.
pub struct Root {
    pub dir: Dir,
    dev: u64,
    ino: u64,
}

pub struct Storage {
    pub path: PathBuf,
    root: RwLock<Arc<Root>>,
    /// The identity read (or made) at start; `None` if the id file was damaged then.
    id_at_start: Option<String>,
    /// The file with the cluster's storage identity (node.toml `storage_id_file`).
    expected_file: Option<PathBuf>,
    writable: AtomicBool,
    same: AtomicBool,
    /// False while the storage is found not to be the cluster's (`expected`).
    shared: AtomicBool,
    facts: Mutex<StorageFacts>,
}

/// Why the storage is out of service.
#[derive(Debug)]
pub enum Fault {
    /// The folder at the path is not the storage the node started with.
    Changed(String),
    /// The folder at the path is not the cluster's storage (node.toml `storage_id_file`).
    NotShared(String),
    /// The storage does not take writes.
    NotWritable(io::Error),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Changed(why) => write!(f, "the storage changed under the node: {why}"),
            Fault::NotShared(why) => write!(
                f,
                "this is not the cluster's shared storage: {why} (is the shared storage mounted here?)"
            ),
            Fault::NotWritable(e) => write!(f, "the storage is not writable: {e}"),
        }
    }
}

fn open_root(path: &Path) -> io::Result<Root> {
    let dir = Dir::open_ambient_dir(path, ambient_authority())?;
    let meta = std::fs::metadata(path)?;
    Ok(Root {
        dir,
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

impl Storage {
    /// Opens the storage at `path` and records its identity, making one if the storage is new
    /// and the cluster's identity is not known (in `expected_file`): with one known, a
    /// storage without it is not the cluster's, and gets none.
    pub fn open(path: &Path, expected_file: Option<&Path>) -> io::Result<Storage> {
        let meta = std::fs::metadata(path)?;
        if !meta.is_dir() {
            return Err(io::Error::other("not a directory"));
        }
        let root = open_root(path)?;
        let state = path.join(STATE_DIR);
        std::fs::create_dir_all(&state)?;
        let expected = expected_file.and_then(read_id);
        let id_at_start = match expected {
            Some(_) => existing_id(&state),
            None => storage_id(&state)
                .map_err(|e| tracing::warn!("no storage identity for assess --probe: {e}"))
                .ok(),
        };
        let shared = expected.is_none() || id_at_start == expected;
        Ok(Storage {
            path: path.to_owned(),
            root: RwLock::new(Arc::new(root)),
            id_at_start,
            expected_file: expected_file.map(Path::to_owned),
            writable: AtomicBool::new(false),
            same: AtomicBool::new(true),
            shared: AtomicBool::new(shared),
            facts: Mutex::new(StorageFacts::default()),
        })
    }

    /// The storage folder held open.
    pub fn root(&self) -> Arc<Root> {
        self.root.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// True when the last check wrote to the storage, and it is still the same storage.
    pub fn writable(&self) -> bool {
        self.writable.load(Relaxed)
    }

    /// False once the folder at the path is found not to be the storage the node started with.
    pub fn same(&self) -> bool {
        self.same.load(Relaxed)
    }

    /// False while the folder at the path is found not to be the cluster's storage.
    pub fn shared(&self) -> bool {
        self.shared.load(Relaxed)
    }

    /// A check that did not finish in time: the storage is taken for not writable.
    pub fn timed_out(&self) {
        self.writable.store(false, Relaxed);
    }

    pub fn facts(&self) -> StorageFacts {
        self.facts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Checks identity and writability once (blocking: run it off the async threads).
    /// `node` names this node's health file.
    pub fn check(&self, node: &str) -> Result<(), Fault> {
        let result = self.check_inner(node);
        match &result {
            Ok(()) => {
                self.same.store(true, Relaxed);
                self.shared.store(true, Relaxed);
                self.writable.store(true, Relaxed);
            }
            Err(Fault::NotShared(_)) => {
                self.shared.store(false, Relaxed);
                self.writable.store(false, Relaxed);
            }
            Err(Fault::Changed(_)) => {
                self.same.store(false, Relaxed);
                self.writable.store(false, Relaxed);
            }
            // A check that could not finish says nothing about which storage this is.
            Err(Fault::NotWritable(_)) => self.writable.store(false, Relaxed),
        }
        result
    }

    fn check_inner(&self, node: &str) -> Result<(), Fault> {
        let state = self.path.join(STATE_DIR);
        // Only what proves the storage is another one counts as a change: a folder or an id
        // that is not there. Any other error (out of descriptors, an I/O error, a hung NFS
        // server) makes the check fail, which is not the same thing.
        let meta = std::fs::metadata(&self.path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Fault::Changed(format!("`{}` is gone", self.path.display())),
            _ => Fault::NotWritable(e),
        })?;
        let id_now = match std::fs::read_to_string(state.join("storage-id")) {
            Ok(text) => Some(text.trim().to_owned()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(Fault::NotWritable(e)),
        };
        let root = self.root();
        let moved = meta.dev() != root.dev || meta.ino() != root.ino;
        if let Some(expected) = self.expected_file.as_deref().and_then(read_id) {
            if id_now.as_deref() != Some(expected.as_str()) {
                // /healthz shows which storage this is.
                self.facts.lock().unwrap_or_else(|e| e.into_inner()).id = id_now.clone();
            }
            match &id_now {
                Some(now) if *now == expected => {}
                Some(now) => {
                    return Err(Fault::NotShared(format!(
                        "its identity is `{now}`, the cluster's is `{expected}`"
                    )))
                }
                None => {
                    return Err(Fault::NotShared(format!(
                        "`{}` is missing, the cluster's identity is `{expected}`",
                        state.join("storage-id").display()
                    )))
                }
            }
        }
        match (&self.id_at_start, &id_now) {
            (Some(start), Some(now)) if start == now => {}
            (Some(start), Some(now)) => {
                return Err(Fault::Changed(format!(
                    "its identity is `{now}`, the node started with `{start}`"
                )))
            }
            (Some(_), None) => {
                return Err(Fault::Changed(format!(
                    "`{}` is gone (unmounted?)",
                    state.join("storage-id").display()
                )))
            }
            // No identity at start (damaged file): the folder itself must not have changed.
            (None, _) if moved => {
                return Err(Fault::Changed(
                    "the folder is another one than at start (unmounted or remounted?)".into(),
                ))
            }
            (None, _) => {}
        }
        if moved {
            // The same storage, mounted again: serve the new mount.
            let fresh = open_root(&self.path).map_err(|e| {
                Fault::Changed(format!("cannot open `{}`: {e}", self.path.display()))
            })?;
            *self.root.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
            tracing::info!(storage = %self.path.display(), "the storage was mounted again: serving the new mount");
        }
        let facts = write_health(&state, node).map_err(Fault::NotWritable)?;
        *self.facts.lock().unwrap_or_else(|e| e.into_inner()) = StorageFacts {
            id: id_now.filter(|id| id.len() == 32),
            ..facts
        };
        Ok(())
    }

    /// Opens `home` (made if missing, with `mode`), refusing while the storage is not the one
    /// the node started with: a vanished storage must never get homes on the local disk.
    pub fn open_home(&self, home: &Path, mode: u32) -> io::Result<Dir> {
        if !self.same() {
            return Err(io::Error::other(
                "the storage is not the one this node started with (unmounted or replaced): no home is opened until it is back",
            ));
        }
        if !self.shared() {
            return Err(io::Error::other(
                "the storage is not the cluster's shared storage (node.toml storage_id): no home is opened until it is",
            ));
        }
        let root = self.root();
        let mut builder = cap_std::fs::DirBuilder::new();
        builder.recursive(true);
        cap_std::fs::DirBuilderExt::mode(&mut builder, mode);
        match root.dir.create_dir_with(home, &builder) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        root.dir.open_dir(home)
    }
}

fn write_health(state: &Path, node: &str) -> io::Result<StorageFacts> {
    use std::io::Write;
    let dir = state.join("health");
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let mut f = std::fs::File::create(dir.join(node))?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    writeln!(f, "{}", now.as_secs())?;
    f.sync_all()?;
    let space = rustix::fs::statvfs(state).ok();
    Ok(StorageFacts {
        id: None,
        free_bytes: space.as_ref().map(|s| s.f_bavail * s.f_frsize),
        total_bytes: space.as_ref().map(|s| s.f_blocks * s.f_frsize),
    })
}

/// The storage's identity, if it has a well-formed one.
fn existing_id(state: &Path) -> Option<String> {
    read_id(&state.join("storage-id"))
}

/// A storage identity from `file` (32 hex digits), if it holds one.
fn read_id(file: &Path) -> Option<String> {
    let id = std::fs::read_to_string(file).ok()?;
    let id = id.trim();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

/// Reads the storage's identity, creating it if this node is the first to look. Two nodes
/// racing on a fresh shared storage agree: only one create succeeds (O_EXCL), the other
/// reads the winner's.
fn storage_id(state: &Path) -> io::Result<String> {
    use std::io::Write;
    let path = state.join("storage-id");
    for _ in 0..20 {
        match std::fs::read_to_string(&path) {
            Ok(id) if id.trim().len() == 32 => return Ok(id.trim().to_owned()),
            // Being written by the node that created it: look again shortly.
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 16];
                getrandom::fill(&mut bytes).map_err(io::Error::other)?;
                let id = crate::checksum::hex(&bytes);
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                {
                    Ok(mut f) => {
                        f.write_all(format!("{id}\n").as_bytes())?;
                        f.sync_all()?;
                        return Ok(id);
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "`{}` is not a storage identity (32 hex digits)",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_storage_is_caught_and_gets_no_homes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("storage");
        std::fs::create_dir(&path).unwrap();
        let storage = Storage::open(&path, None).unwrap();
        storage.check("n1").unwrap();
        assert!(storage.writable() && storage.same());
        storage.open_home(Path::new("alice"), 0o700).unwrap();

        // The mount goes away: an empty folder takes its place.
        std::fs::rename(&path, dir.path().join("gone")).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(matches!(storage.check("n1"), Err(Fault::Changed(_))));
        assert!(!storage.writable() && !storage.same());
        assert!(storage.open_home(Path::new("bob"), 0o700).is_err());
        assert!(!path.join("bob").exists() && !path.join(STATE_DIR).exists());

        // The same storage comes back (mounted again): served again.
        std::fs::remove_dir(&path).unwrap();
        std::fs::rename(dir.path().join("gone"), &path).unwrap();
        storage.check("n1").unwrap();
        assert!(storage.same());
        storage.open_home(Path::new("bob"), 0o700).unwrap();
        assert!(path.join("bob").is_dir());
    }

    #[test]
    fn a_storage_that_is_not_the_clusters_gets_no_identity_and_no_homes() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, local) = (dir.path().join("shared"), dir.path().join("local"));
        std::fs::create_dir(&shared).unwrap();
        std::fs::create_dir(&local).unwrap();
        // The cluster's storage, named by the first node.
        let first = Storage::open(&shared, None).unwrap();
        first.check("n1").unwrap();
        let id = existing_id(&shared.join(STATE_DIR)).unwrap();
        let expected = dir.path().join("expected-id");
        std::fs::write(&expected, format!("{id}\n")).unwrap();

        // A node whose mount is missing: a local folder with no identity. It makes none.
        let stray = Storage::open(&local, Some(&expected)).unwrap();
        assert!(!stray.shared());
        assert!(matches!(stray.check("n2"), Err(Fault::NotShared(_))));
        assert!(!stray.writable() && !stray.shared());
        assert!(stray.open_home(Path::new("alice"), 0o700).is_err());
        assert!(!local.join("alice").exists());
        assert!(!local.join(STATE_DIR).join("storage-id").exists());
        // Another storage with an identity of its own: not the cluster's either, and /healthz
        // shows which it is.
        std::fs::write(
            local.join(STATE_DIR).join("storage-id"),
            format!("{}\n", "0".repeat(32)),
        )
        .unwrap();
        assert!(matches!(stray.check("n2"), Err(Fault::NotShared(_))));
        assert_eq!(stray.facts().id.as_deref(), Some("0".repeat(32).as_str()));

        // The right storage at the path: served.
        let good = Storage::open(&shared, Some(&expected)).unwrap();
        assert!(good.shared());
        good.check("n3").unwrap();
        good.open_home(Path::new("alice"), 0o700).unwrap();
        // No expected identity written yet: a node takes what it finds, as before.
        let free = Storage::open(&local, Some(&dir.path().join("absent"))).unwrap();
        free.check("n2").unwrap();
    }

    #[test]
    fn homes_get_the_mode_asked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), None).unwrap();
        storage.open_home(Path::new("a/b"), 0o700).unwrap();
        let mode = std::fs::metadata(dir.path().join("a/b"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
