//! A user's jail: every filesystem operation of an SFTP session, confined to the user's home.
//!
//! Two layers keep a user inside. Client paths are first cleaned lexically (`..` cannot climb
//! above `/`, which is the home). Then every operation goes through a cap-std [`Dir`] opened
//! on the home, which resolves each component beneath it (openat2 `RESOLVE_BENEATH` where the
//! kernel has it) and refuses any symlink, absolute or relative, that would lead outside.
//! Symlinks that a user creates are also checked when made, by resolving them the way the
//! kernel will (through every link already in the way), and are stored in a canonical form:
//! a run of `..` that stays inside the home, then plain names. Renames and hard links that
//! would move a link to where it leads out are refused. So nothing else reading the shared
//! storage (backups, downstream jobs) can be led out of the home by what a user made.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use cap_fs_ext::{DirExt, SystemTimeSpec};
use cap_std::fs::{Dir, File, Metadata, OpenOptions, Permissions, PermissionsExt};

/// Marks the hidden temporary files of atomic uploads; see [`temp_name`].
const TEMP_MARK: &str = ".sftpha-";
const TEMP_SUFFIX: &str = ".part";
/// The longest file name the file systems we run on take (`NAME_MAX`).
const NAME_MAX: usize = 255;
/// Symlinks followed while resolving one path (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;
/// Entries a folder moved closer to the home may hold before the move is refused, since each
/// symlink inside must be checked first.
const MAX_MOVE_CHECK: usize = 100_000;

pub struct Jail {
    root: Dir,
    /// The home, relative to the storage (empty for a jail opened by the caller).
    home: PathBuf,
}

/// A path inside the jail, relative to its root, without `.`, `..` or empty components.
/// The root itself is the empty path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JailPath(PathBuf);

impl JailPath {
    /// Cleans a client's path: `/` is the home, `..` stops at `/`, relative paths start at `/`.
    pub fn parse(client: &str) -> io::Result<JailPath> {
        if client.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path contains a NUL byte",
            ));
        }
        let mut parts: Vec<&str> = Vec::new();
        for part in client.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                name => parts.push(name),
            }
        }
        Ok(JailPath(parts.iter().collect()))
    }

    pub fn is_root(&self) -> bool {
        self.0.as_os_str().is_empty()
    }

    /// The path as cap-std wants it: `.` for the root.
    pub fn rel(&self) -> &Path {
        if self.is_root() {
            Path::new(".")
        } else {
            &self.0
        }
    }

    /// The path as the client sees it, starting with `/`.
    pub fn display(&self) -> String {
        format!("/{}", self.0.display())
    }

    pub fn file_name(&self) -> Option<&OsStr> {
        self.0.file_name()
    }

    /// The components, from the home down.
    pub fn names(&self) -> Vec<OsString> {
        self.0
            .components()
            .map(|c| c.as_os_str().to_owned())
            .collect()
    }

    /// A path of resolved components (see [`Jail::resolve`]).
    pub fn from_names(names: &[OsString]) -> JailPath {
        JailPath(names.iter().collect())
    }

    pub fn parent(&self) -> JailPath {
        JailPath(self.0.parent().map(Path::to_owned).unwrap_or_default())
    }

    pub fn join(&self, name: &OsStr) -> JailPath {
        JailPath(self.0.join(name))
    }

    /// True when any component is the hidden temporary file of an upload in progress.
    pub fn touches_temp(&self) -> bool {
        self.0.components().any(|c| is_temp_name(c.as_os_str()))
    }
}

/// The hidden name an atomic upload is written under until it is closed. A long final name
/// is shortened (its start, then a hash of the whole), so that the temporary name still fits
/// in `NAME_MAX` and any name a client can create can also be uploaded.
pub fn temp_name(final_name: &OsStr, node: &str, unique: u64) -> PathBuf {
    let tail = format!(
        "{TEMP_MARK}{node}-{}-{unique}{TEMP_SUFFIX}",
        std::process::id()
    );
    let bytes = final_name.as_encoded_bytes();
    let mut name = Vec::with_capacity(NAME_MAX);
    name.push(b'.');
    if 1 + bytes.len() + tail.len() <= NAME_MAX {
        name.extend_from_slice(bytes);
    } else {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(bytes);
        let hash = crate::checksum::hex(&digest[..6]);
        let room = NAME_MAX.saturating_sub(1 + tail.len() + 1 + hash.len());
        name.extend_from_slice(&bytes[..room.min(bytes.len())]);
        name.push(b'~');
        name.extend_from_slice(hash.as_bytes());
    }
    name.extend_from_slice(tail.as_bytes());
    // On Unix any byte string without `/` and NUL is a name; a cut inside a UTF-8 sequence
    // only makes the hidden name unreadable, never invalid.
    PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(name))
}

pub fn is_temp_name(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.starts_with(b".")
        && name.ends_with(TEMP_SUFFIX.as_bytes())
        && name
            .windows(TEMP_MARK.len())
            .any(|w| w == TEMP_MARK.as_bytes())
}

pub fn is_own_temp_name(name: &OsStr, node: &str) -> bool {
    let needle = format!("{TEMP_MARK}{node}-");
    is_temp_name(name)
        && name
            .as_encoded_bytes()
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

impl Jail {
    /// Opens (and creates, if missing) `home` on `storage`; a home made here gets what the
    /// node's umask leaves of 0777 (0700 by default).
    pub fn open(storage: &crate::node::storage::Storage, home: &Path) -> io::Result<Jail> {
        Ok(Jail {
            root: storage.open_home(home, 0o777)?,
            home: home.to_owned(),
        })
    }

    /// A jail on a folder opened by the caller (tests and fuzzing).
    pub fn on(root: Dir) -> Jail {
        Jail {
            root,
            home: PathBuf::new(),
        }
    }

    /// The home, relative to the storage.
    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn root(&self) -> &Dir {
        &self.root
    }

    pub fn metadata(&self, path: &JailPath) -> io::Result<Metadata> {
        self.root.metadata(path.rel())
    }

    pub fn symlink_metadata(&self, path: &JailPath) -> io::Result<Metadata> {
        self.root.symlink_metadata(path.rel())
    }

    pub fn open_file(&self, path: &JailPath, options: &OpenOptions) -> io::Result<File> {
        self.root.open_with(path.rel(), options)
    }

    pub fn open_dir(&self, path: &JailPath) -> io::Result<Dir> {
        self.root.open_dir(path.rel())
    }

    pub fn create_dir(&self, path: &JailPath, mode: u32) -> io::Result<()> {
        let mut builder = cap_std::fs::DirBuilder::new();
        cap_std::fs::DirBuilderExt::mode(&mut builder, mode);
        self.root.create_dir_with(path.rel(), &builder)
    }

    pub fn remove_file(&self, path: &JailPath) -> io::Result<()> {
        let meta = self.root.symlink_metadata(path.rel())?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory: use rmdir",
            ));
        }
        self.root.remove_file(path.rel())
    }

    pub fn remove_dir(&self, path: &JailPath) -> io::Result<()> {
        if path.is_root() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the home directory cannot be removed",
            ));
        }
        self.root.remove_dir(path.rel())
    }

    /// Renames `from` to `to`; with `replace` false it fails when `to` exists (SFTP v3 rename),
    /// with `replace` true it replaces it atomically (posix-rename@openssh.com). A move that
    /// would make a symlink lead out of the home is refused (see [`Jail::check_move`]).
    pub fn rename(&self, from: &JailPath, to: &JailPath, replace: bool) -> io::Result<()> {
        if from.is_root() || to.is_root() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the home directory cannot be renamed",
            ));
        }
        self.check_move(from, to)?;
        if replace {
            return self.root.rename(from.rel(), &self.root, to.rel());
        }
        let (from_dir, from_name) = self.parent_of(from)?;
        let (to_dir, to_name) = self.parent_of(to)?;
        rustix::fs::renameat_with(
            &from_dir,
            from_name,
            &to_dir,
            to_name,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(io::Error::from)
    }

    /// Opens the directory that holds `path`, and gives the last component, so that a
    /// single-name `*at` call can act on it without resolving anything else.
    pub fn parent_of<'p>(&self, path: &'p JailPath) -> io::Result<(Dir, &'p OsStr)> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the home has no parent"))?;
        Ok((self.open_dir(&path.parent())?, name))
    }

    /// Creates a symlink at `link` to `target` as the client wrote it (an absolute target is
    /// taken from the client's `/`, the home). The target is resolved as the kernel will,
    /// through the links already there, and stored as the shortest relative path from the
    /// link's folder to where it leads: a run of `..` that stays inside the home, then plain
    /// names. A target that leads out, or that climbs out of a part that does not exist yet
    /// (which a later link could redirect), is refused.
    pub fn symlink(&self, target: &str, link: &JailPath) -> io::Result<()> {
        if target.is_empty() || target.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty or invalid symlink target",
            ));
        }
        let parent = self.resolve(&[], &link.parent().names(), true)?;
        let start = if target.starts_with('/') {
            Vec::new()
        } else {
            parent.clone()
        };
        let mut names: Vec<OsString> = target
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .map(OsString::from)
            .collect();
        if target.starts_with('/') {
            // The client's `/` is the top of its world: `/..` is `/`, as in a chroot.
            let leading = names.iter().take_while(|n| *n == "..").count();
            names.drain(..leading);
        }
        let leads_to = self.resolve(&start, &names, true)?;
        self.root.symlink(relative(&parent, &leads_to), link.rel())
    }

    pub fn read_link(&self, path: &JailPath) -> io::Result<PathBuf> {
        self.root.read_link_contents(path.rel())
    }

    /// Makes `to` a hard link of `from`. A hard link to a symlink is a copy of the link in
    /// another folder, so it is checked like a move.
    pub fn hard_link(&self, from: &JailPath, to: &JailPath) -> io::Result<()> {
        let meta = self.root.symlink_metadata(from.rel())?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "directories cannot be hard-linked",
            ));
        }
        if meta.is_symlink() {
            self.check_link_at(&from.clone(), &to.parent())?;
        }
        self.root.hard_link(from.rel(), &self.root, to.rel())
    }

    /// Resolves `names` from the folder `start` (components below the home, already
    /// resolved) as the kernel would: every existing symlink on the way is followed (the last
    /// one too when `follow_last`), `..` climbs the real folder. The result has no link in it.
    /// Components that do not exist are kept as they are; a `..` after one is refused (what it
    /// means depends on what is made there later). Anything that leads out of the home, an
    /// absolute link, or more than [`MAX_LINKS`] links is an error.
    pub fn resolve(
        &self,
        start: &[OsString],
        names: &[OsString],
        follow_last: bool,
    ) -> io::Result<Vec<OsString>> {
        let escape = || {
            io::Error::new(
                io::ErrorKind::PermissionDenied,
                "symlink target leads outside the home",
            )
        };
        let mut resolved: Vec<OsString> = start.to_vec();
        let mut rest: std::collections::VecDeque<OsString> = names.iter().cloned().collect();
        let mut links = 0;
        let mut missing = false;
        while let Some(name) = rest.pop_front() {
            if name.is_empty() || name == "." {
                continue;
            }
            if name == ".." {
                if missing {
                    return Err(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "symlink target climbs out of a folder that does not exist (what it leads to would depend on what is made there later)",
                    ));
                }
                resolved.pop().ok_or_else(escape)?;
                continue;
            }
            if missing {
                resolved.push(name);
                continue;
            }
            let mut here: PathBuf = resolved.iter().collect();
            here.push(&name);
            match self.root.symlink_metadata(&here) {
                Ok(meta) if meta.is_symlink() && (follow_last || !rest.is_empty()) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::other("too many levels of symbolic links"));
                    }
                    let target = self.root.read_link_contents(&here)?;
                    if target.is_absolute() {
                        return Err(escape());
                    }
                    for part in target.components().rev() {
                        match part {
                            Component::Normal(n) => rest.push_front(n.to_owned()),
                            Component::ParentDir => rest.push_front("..".into()),
                            Component::CurDir => {}
                            Component::RootDir | Component::Prefix(_) => return Err(escape()),
                        }
                    }
                }
                Ok(_) => resolved.push(name),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    missing = true;
                    resolved.push(name);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(resolved)
    }

    /// Checks that moving `from` into the folder of `to` leaves every symlink it carries
    /// leading inside the home: the link itself if `from` is one, and, when a folder moves
    /// closer to the home, every link in it (at most [`MAX_MOVE_CHECK`] entries are looked at).
    fn check_move(&self, from: &JailPath, to: &JailPath) -> io::Result<()> {
        let meta = match self.root.symlink_metadata(from.rel()) {
            Ok(meta) => meta,
            // Let the rename itself report a missing source.
            Err(_) => return Ok(()),
        };
        if meta.is_symlink() {
            return self.check_link_at(from, &to.parent());
        }
        if !meta.is_dir() {
            return Ok(());
        }
        let old_depth = self.resolve(&[], &from.parent().names(), true)?.len();
        let new_depth = self.resolve(&[], &to.parent().names(), true)?.len();
        if new_depth >= old_depth {
            return Ok(());
        }
        // Walk the folder: a link `d` levels below it lands `d + new_depth + 1` deep.
        let mut seen = 0usize;
        let mut stack = vec![(from.rel().to_owned(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            for entry in self.root.read_dir(&dir)? {
                let entry = entry?;
                seen += 1;
                if seen > MAX_MOVE_CHECK {
                    return Err(io::Error::other(format!(
                        "moving a folder of more than {MAX_MOVE_CHECK} entries closer to the home is refused (each symlink in it must be checked first): move its contents in parts"
                    )));
                }
                let kind = entry.file_type()?;
                let path = dir.join(entry.file_name());
                if kind.is_dir() {
                    stack.push((path, depth + 1));
                } else if kind.is_symlink() {
                    let target = self.root.read_link_contents(&path)?;
                    if !stays_inside(&target, new_depth + 1 + depth) {
                        return Err(io::Error::new(
                            io::ErrorKind::PermissionDenied,
                            format!(
                                "the folder holds a symlink (`{}`) that would lead outside the home from there",
                                path.strip_prefix(from.rel()).unwrap_or(&path).display()
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks that the symlink at `link` would still lead inside the home from `folder`.
    fn check_link_at(&self, link: &JailPath, folder: &JailPath) -> io::Result<()> {
        let target = self.root.read_link_contents(link.rel())?;
        if target.is_absolute() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "symlink target leads outside the home",
            ));
        }
        let start = self.resolve(&[], &folder.names(), true)?;
        let names: Vec<OsString> = target
            .components()
            .map(|c| c.as_os_str().to_owned())
            .collect();
        self.resolve(&start, &names, true).map(|_| ())
    }

    pub fn set_mode(&self, path: &JailPath, mode: u32) -> io::Result<()> {
        self.root
            .set_permissions(path.rel(), Permissions::from_mode(safe_mode(mode)))
    }

    pub fn set_times(&self, path: &JailPath, atime: u32, mtime: u32) -> io::Result<()> {
        self.root
            .set_times(path.rel(), Some(time_spec(atime)), Some(time_spec(mtime)))
    }

    pub fn statvfs(&self, path: &JailPath) -> io::Result<rustix::fs::StatVfs> {
        let dir = match self.root.open_dir(path.rel()) {
            Ok(dir) => dir,
            Err(_) => self.open_dir(&path.parent())?,
        };
        rustix::fs::fstatvfs(&dir).map_err(io::Error::from)
    }
}

/// Permission bits a client may set: no setuid, setgid or sticky bits.
pub fn safe_mode(mode: u32) -> u32 {
    mode & 0o777
}

pub fn time_spec(secs: u32) -> SystemTimeSpec {
    SystemTimeSpec::Absolute(cap_std::time::SystemTime::from_std(
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs.into()),
    ))
}

/// The shortest relative path from the folder `from` to `to` (both resolved, from the home).
fn relative(from: &[OsString], to: &[OsString]) -> PathBuf {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for name in &to[common..] {
        path.push(name);
    }
    if path.as_os_str().is_empty() {
        path.push(".");
    }
    path
}

/// Whether a link target read lexically from a folder `depth` levels below the home stays
/// inside it (exact for the canonical links this node makes: `..` first, then names).
fn stays_inside(target: &Path, depth: usize) -> bool {
    let mut depth = depth as isize;
    for part in target.components() {
        match part {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_paths_never_climb_above_the_home() {
        for (client, expected) in [
            ("/", ""),
            ("", ""),
            (".", ""),
            ("../../etc/passwd", "etc/passwd"),
            ("/a/./b/../c/", "a/c"),
            ("a//b", "a/b"),
        ] {
            assert_eq!(JailPath::parse(client).unwrap().0, PathBuf::from(expected));
        }
        assert!(JailPath::parse("a\0b").is_err());
        assert_eq!(JailPath::parse("/a/b").unwrap().display(), "/a/b");
        assert_eq!(JailPath::parse("/").unwrap().display(), "/");
    }

    fn jail() -> (tempfile::TempDir, Jail) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        let root = cap_std::fs::Dir::open_ambient_dir(
            dir.path().join("home"),
            cap_std::ambient_authority(),
        )
        .unwrap();
        (dir, Jail::on(root))
    }

    fn p(s: &str) -> JailPath {
        JailPath::parse(s).unwrap()
    }

    fn stored(jail: &Jail, link: &str) -> String {
        jail.read_link(&p(link)).unwrap().display().to_string()
    }

    #[test]
    fn symlinks_are_stored_as_the_shortest_relative_path() {
        let (_d, jail) = jail();
        for d in ["/a", "/a/b", "/a/b/c", "/a/b/c/d"] {
            jail.create_dir(&p(d), 0o755).unwrap();
        }
        jail.symlink("/a/b/c/d/file", &p("/a/b/c/d/l1")).unwrap();
        assert_eq!(stored(&jail, "/a/b/c/d/l1"), "file");
        jail.symlink("/a/x", &p("/a/b/c/d/l2")).unwrap();
        assert_eq!(stored(&jail, "/a/b/c/d/l2"), "../../../x");
        jail.symlink("../../top", &p("/a/b/l3")).unwrap();
        assert_eq!(stored(&jail, "/a/b/l3"), "../../top");
        jail.symlink("/", &p("/a/l4")).unwrap();
        assert_eq!(stored(&jail, "/a/l4"), "..");
        jail.symlink("/../../x", &p("/l5")).unwrap();
        assert_eq!(stored(&jail, "/l5"), "x");
        assert!(jail.symlink("../../../out", &p("/a/b/l6")).is_err());
        assert!(jail.symlink("a/../../../../out", &p("/a/b/l7")).is_err());
    }

    #[test]
    fn links_through_links_are_resolved_not_read_lexically() {
        let (dir, jail) = jail();
        // `dot` leads to the home itself; through it a lexical check sees depth where there is none.
        jail.symlink(".", &p("/dot")).unwrap();
        assert_eq!(stored(&jail, "/dot"), ".");
        assert!(jail
            .symlink("../../../etc/passwd", &p("/dot/dot/dot/evil"))
            .is_err());
        assert!(jail.symlink("dot/../x", &p("/evil2")).is_err());
        // A part that does not exist yet cannot be climbed out of: a later link would decide.
        assert!(jail.symlink("missing/../x", &p("/evil3")).is_err());
        // Through a link that leads down, the stored form names the real place.
        jail.create_dir(&p("/real"), 0o755).unwrap();
        jail.symlink("real", &p("/alias")).unwrap();
        jail.symlink("alias/f", &p("/l")).unwrap();
        assert_eq!(stored(&jail, "/l"), "real/f");
        // Nothing stored leads out, whatever resolves it.
        let outside = std::fs::canonicalize(dir.path()).unwrap();
        for link in ["dot", "alias", "l"] {
            let target = std::fs::canonicalize(dir.path().join("home").join(link));
            if let Ok(t) = target {
                assert!(
                    t.starts_with(outside.join("home")),
                    "{link} -> {}",
                    t.display()
                );
            }
        }
    }

    #[test]
    fn moves_that_would_lead_a_link_out_are_refused() {
        let (_d, jail) = jail();
        jail.create_dir(&p("/a"), 0o755).unwrap();
        jail.create_dir(&p("/a/b"), 0o755).unwrap();
        jail.symlink("../../x", &p("/a/b/l")).unwrap();
        // The link itself moved up: it would climb out.
        assert!(jail.rename(&p("/a/b/l"), &p("/l"), false).is_err());
        // Its folder moved up: likewise.
        assert!(jail.rename(&p("/a/b"), &p("/b"), false).is_err());
        // Deeper is fine.
        jail.create_dir(&p("/a/b/c"), 0o755).unwrap();
        jail.rename(&p("/a/b/l"), &p("/a/b/c/l"), false).unwrap();
        // A hard link of a symlink is a copy elsewhere: checked the same way.
        assert!(jail.hard_link(&p("/a/b/c/l"), &p("/l2")).is_err());
        jail.symlink("../y", &p("/a/ok")).unwrap();
        jail.rename(&p("/a/ok"), &p("/a/b/ok"), false).unwrap();
    }

    #[test]
    fn long_names_still_get_a_temporary_name_that_fits() {
        let long = "x".repeat(250);
        let name = temp_name(OsStr::new(&long), "node-with-a-long-name", u64::MAX);
        assert!(name.as_os_str().len() <= NAME_MAX, "{}", name.display());
        assert!(is_temp_name(name.as_os_str()));
        let other = temp_name(
            OsStr::new(&format!("{long}y")),
            "node-with-a-long-name",
            u64::MAX,
        );
        assert_ne!(name, other);
        let short = temp_name(OsStr::new("report.csv"), "n1", 7);
        assert!(short
            .display()
            .to_string()
            .starts_with(".report.csv.sftpha-n1-"));
    }

    #[test]
    fn temp_names_are_recognised() {
        let name = temp_name(OsStr::new("report.csv"), "n1", 7);
        assert!(is_temp_name(name.as_os_str()));
        assert!(is_own_temp_name(name.as_os_str(), "n1"));
        assert!(!is_own_temp_name(name.as_os_str(), "n2"));
        assert!(!is_temp_name(OsStr::new("report.csv")));
        assert!(!is_temp_name(OsStr::new(".hidden.part")));
    }
}
