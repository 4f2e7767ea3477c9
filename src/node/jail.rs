//! A user's jail: every filesystem operation of an SFTP session, confined to the user's home.
//!
//! Two layers keep a user inside. Client paths are first cleaned lexically (`..` cannot climb
//! above `/`, which is the home). Then every operation goes through a cap-std [`Dir`] opened
//! on the home, which resolves each component beneath it (openat2 `RESOLVE_BENEATH` where the
//! kernel has it) and refuses any symlink, absolute or relative, that would lead outside.
//! Symlinks that a user creates are also checked when made, so that nothing else reading the
//! shared storage (backups, downstream jobs) can be led out of the home by them.

use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use cap_fs_ext::{DirExt, SystemTimeSpec};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, File, Metadata, OpenOptions, Permissions, PermissionsExt};

/// Marks the hidden temporary files of atomic uploads; see [`temp_name`].
const TEMP_MARK: &str = ".sftpha-";
const TEMP_SUFFIX: &str = ".part";

pub struct Jail {
    root: Dir,
}

/// A path inside the jail, relative to its root, without `.`, `..` or empty components.
/// The root itself is the empty path.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The hidden name an atomic upload is written under until it is closed.
pub fn temp_name(final_name: &OsStr, node: &str, unique: u64) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(final_name);
    name.push(format!(
        "{TEMP_MARK}{node}-{}-{unique}{TEMP_SUFFIX}",
        std::process::id()
    ));
    PathBuf::from(name)
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
    /// Opens (and creates, if missing) `home` below `storage`.
    pub fn open(storage: &Path, home: &Path) -> io::Result<Jail> {
        let storage = Dir::open_ambient_dir(storage, ambient_authority())?;
        match storage.create_dir_all(home) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        Ok(Jail {
            root: storage.open_dir(home)?,
        })
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
    /// with `replace` true it replaces it atomically (posix-rename@openssh.com).
    pub fn rename(&self, from: &JailPath, to: &JailPath, replace: bool) -> io::Result<()> {
        if from.is_root() || to.is_root() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "the home directory cannot be renamed",
            ));
        }
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

    /// Creates a symlink at `link` pointing to `target` as the client wrote it. An absolute
    /// target (from the client's `/`, the home) is stored relative to the link, and a target
    /// that would lead outside the home is refused.
    pub fn symlink(&self, target: &str, link: &JailPath) -> io::Result<()> {
        let stored = symlink_target(target, link)?;
        self.root.symlink(&stored, link.rel())
    }

    pub fn read_link(&self, path: &JailPath) -> io::Result<PathBuf> {
        self.root.read_link_contents(path.rel())
    }

    pub fn hard_link(&self, from: &JailPath, to: &JailPath) -> io::Result<()> {
        let meta = self.root.symlink_metadata(from.rel())?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "directories cannot be hard-linked",
            ));
        }
        self.root.hard_link(from.rel(), &self.root, to.rel())
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

/// The target to store for a symlink at `link` that the client asked to point at `target`.
fn symlink_target(target: &str, link: &JailPath) -> io::Result<PathBuf> {
    let escape = || {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            "symlink target leads outside the home",
        )
    };
    if target.is_empty() || target.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty or invalid symlink target",
        ));
    }
    let link_parent = link.parent();
    let link_dir: Vec<_> = link_parent.0.components().collect();
    if target.starts_with('/') {
        // Relative to the client's root, which is the home: make it relative to the link.
        let absolute = JailPath::parse(target)?;
        let mut rel = PathBuf::new();
        for _ in &link_dir {
            rel.push("..");
        }
        rel.push(absolute.rel());
        return Ok(rel);
    }
    // Resolve lexically from the link's directory; refuse if it climbs above the home.
    let mut depth = link_dir.len() as isize;
    for part in Path::new(target).components() {
        match part {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(escape()),
        }
        if depth < 0 {
            return Err(escape());
        }
    }
    Ok(PathBuf::from(target))
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

    #[test]
    fn symlink_targets_stay_inside() {
        let link = JailPath::parse("/d1/d2/link").unwrap();
        assert_eq!(symlink_target("x", &link).unwrap(), PathBuf::from("x"));
        assert_eq!(
            symlink_target("../../top", &link).unwrap(),
            PathBuf::from("../../top")
        );
        assert!(symlink_target("../../../out", &link).is_err());
        assert!(symlink_target("a/../../../../out", &link).is_err());
        assert_eq!(
            symlink_target("/etc/passwd", &link).unwrap(),
            PathBuf::from("../../etc/passwd")
        );
        assert_eq!(
            symlink_target("/../../x", &JailPath::parse("/l").unwrap()).unwrap(),
            PathBuf::from("x")
        );
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
