//! The sftpha binary a cluster's hosts run: read once per command, its SHA-256 taken from a
//! cache when the file is the one hashed before.
//!
//! Every provision, status, users and keys run compares the hosts' binary with the local one.
//! Hashing ~17 MB in software costs tens of milliseconds idle and seconds on a loaded machine,
//! so the digest is kept in `$XDG_CACHE_HOME/sftpha/binary-sha256` (else `~/.cache/...`),
//! keyed by device, inode, size, mtime and ctime: a rebuilt, copied or `touch -r`-ed binary
//! has another inode or ctime (which no user can set) and is hashed again. The cache is only
//! ever an optimisation: unreadable, unwritable or absent, the binary is hashed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

/// Entries kept: one per binary recently used (the installed one, a build tree's, ...).
const CACHE_ENTRIES: usize = 8;

/// The binary and its digest.
#[derive(Debug, Clone)]
pub struct Binary {
    pub bytes: Arc<Vec<u8>>,
    pub sha256: String,
}

impl Binary {
    /// `path`, or the running executable; must be an ELF file.
    pub fn load(path: Option<&PathBuf>) -> Result<Binary> {
        let path = match path {
            Some(p) => p.clone(),
            None => std::env::current_exe()?,
        };
        let read_error = |source| Error::ReadFile {
            path: path.clone(),
            source,
        };
        let before = std::fs::metadata(&path).map_err(read_error)?;
        let bytes = std::fs::read(&path).map_err(read_error)?;
        if !bytes.starts_with(b"\x7fELF") {
            return Err(Error::usage(
                format!("`{}` is not an executable (ELF) file", path.display()),
                Some("--node-binary takes a Linux build of sftpha"),
            ));
        }
        let after = std::fs::metadata(&path).map_err(read_error)?;
        let key = Key::of(&before);
        // Changed while it was read: hash what was read, remember nothing.
        let stable = key == Key::of(&after) && key.size == bytes.len() as u64;
        let cache = cache_file();
        let cached = match (&cache, stable) {
            (Some(file), true) => lookup(file, &key),
            _ => None,
        };
        let sha256 = match cached {
            Some(sha) => sha,
            None => {
                let sha = crate::checksum::sha256_hex(&bytes);
                if let (Some(file), true) = (&cache, stable) {
                    remember(file, &key, &sha);
                }
                sha
            }
        };
        Ok(Binary {
            bytes: Arc::new(bytes),
            sha256,
        })
    }
}

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Key {
    fn of(m: &std::fs::Metadata) -> Key {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Key {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        }
    }

    fn line(&self, sha: &str) -> String {
        format!(
            "{} {} {} {} {} {sha}",
            self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns
        )
    }

    /// The key and digest of one cache line; None for anything malformed.
    fn parse(line: &str) -> Option<(Key, String)> {
        let mut f = line.split(' ');
        let key = Key {
            dev: f.next()?.parse().ok()?,
            ino: f.next()?.parse().ok()?,
            size: f.next()?.parse().ok()?,
            mtime_ns: f.next()?.parse().ok()?,
            ctime_ns: f.next()?.parse().ok()?,
        };
        let sha = f.next()?;
        let hex = sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit());
        (hex && f.next().is_none()).then(|| (key, sha.to_owned()))
    }
}

fn cache_file() -> Option<PathBuf> {
    let dir = match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(dir.join("sftpha/binary-sha256"))
}

fn lookup(file: &Path, key: &Key) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .filter_map(Key::parse)
        .find(|(k, _)| k == key)
        .map(|(_, sha)| sha)
}

/// Puts `key` first and keeps the newest entries; written whole and renamed into place, so
/// a concurrent reader sees the old file or the new one.
fn remember(file: &Path, key: &Key, sha: &str) {
    let old = std::fs::read_to_string(file).unwrap_or_default();
    let mut lines = vec![key.line(sha)];
    lines.extend(
        old.lines()
            .filter_map(Key::parse)
            .filter(|(k, _)| k != key)
            .map(|(k, s)| k.line(&s))
            .take(CACHE_ENTRIES - 1),
    );
    let write = || -> std::io::Result<()> {
        let dir = file.parent().expect("the cache file is in a directory");
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".binary-sha256.{}", std::process::id()));
        std::fs::write(&tmp, lines.join("\n") + "\n")?;
        std::fs::rename(&tmp, file)
    };
    if let Err(e) = write() {
        tracing::debug!(
            "cannot cache the binary's digest in {}: {e}",
            file.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cache<T>(f: impl FnOnce(&Path) -> T) -> T {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("sftpha/binary-sha256");
        f(&cache)
    }

    #[test]
    fn a_digest_is_found_only_for_the_same_version_of_the_file() {
        with_cache(|cache| {
            let key = Key {
                dev: 1,
                ino: 2,
                size: 3,
                mtime_ns: 4,
                ctime_ns: 5,
            };
            let sha = "ab".repeat(32);
            assert_eq!(lookup(cache, &key), None);
            remember(cache, &key, &sha);
            assert_eq!(lookup(cache, &key), Some(sha.clone()));
            let touched = Key {
                ctime_ns: 6,
                ..key.clone()
            };
            assert_eq!(lookup(cache, &touched), None);
        });
    }

    #[test]
    fn the_cache_keeps_the_newest_entries_and_skips_garbage() {
        with_cache(|cache| {
            std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
            std::fs::write(cache, "garbage\n1 2 3\n").unwrap();
            for ino in 0..20u64 {
                let key = Key {
                    dev: 1,
                    ino,
                    size: 3,
                    mtime_ns: 4,
                    ctime_ns: 5,
                };
                remember(cache, &key, &format!("{:064x}", ino));
            }
            let text = std::fs::read_to_string(cache).unwrap();
            assert_eq!(text.lines().count(), CACHE_ENTRIES);
            assert!(text.starts_with("1 19 3 4 5 "), "{text}");
        });
    }
}
