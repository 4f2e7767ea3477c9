//! OpenSSH `known_hosts`: which host key a host is expected to present.
//!
//! Understands what OpenSSH writes and reads: comma-separated host patterns, `[host]:port`
//! for ports other than 22, hashed names (`|1|salt|hmac`, from `HashKnownHosts yes`), `*` and
//! `?` wildcards, negated patterns (`!host`), `@revoked` keys and comments. `@cert-authority`
//! lines are skipped (sftpha pins the hosts' own keys).

use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::PublicKey;

/// What known_hosts says about the key a host presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The key is listed for this host.
    Known,
    /// Nothing is listed for this host.
    Unknown,
    /// Other keys are listed for this host: the key changed (or someone is in the middle).
    Changed { line: usize },
    /// The key is marked `@revoked`.
    Revoked { line: usize },
}

struct Entry {
    line: usize,
    revoked: bool,
    patterns: String,
    key: PublicKey,
}

/// A parsed known_hosts file.
pub struct KnownHosts {
    path: PathBuf,
    entries: Vec<Entry>,
}

/// How a host is named in known_hosts: `host` on port 22, `[host]:port` otherwise.
pub fn host_pattern(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

impl KnownHosts {
    /// Reads `path`; a missing file is an empty one. A line that is not a valid entry is an
    /// error naming the file and the line (a silently skipped line could hide a pinned key).
    pub fn load(path: &Path) -> crate::error::Result<KnownHosts> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(crate::error::Error::ReadFile {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> crate::error::Result<KnownHosts> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let mut fields = trimmed.split_whitespace();
            let mut first = fields.next().unwrap_or_default();
            let mut revoked = false;
            if let Some(marker) = first.strip_prefix('@') {
                match marker {
                    "revoked" => revoked = true,
                    "cert-authority" => continue,
                    other => {
                        return Err(bad_line(path, line, &format!("unknown marker `@{other}`")))
                    }
                }
                first = fields.next().unwrap_or_default();
            }
            let (Some(kind), Some(data)) = (fields.next(), fields.next()) else {
                return Err(bad_line(
                    path,
                    line,
                    "expected `HOSTS KEYTYPE BASE64 [COMMENT]`",
                ));
            };
            let key = PublicKey::from_openssh(&format!("{kind} {data}"))
                .map_err(|e| bad_line(path, line, &format!("not a public key: {e}")))?;
            entries.push(Entry {
                line,
                revoked,
                patterns: first.to_owned(),
                key,
            });
        }
        Ok(KnownHosts {
            path: path.to_owned(),
            entries,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the key `host:port` presented.
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Verdict {
        let name = host_pattern(host, port);
        let mut changed = None;
        let mut known = false;
        for entry in self.entries.iter().filter(|e| matches(&name, &e.patterns)) {
            let same = entry.key.key_data() == key.key_data();
            if entry.revoked {
                if same {
                    return Verdict::Revoked { line: entry.line };
                }
                continue;
            }
            if same {
                known = true;
            } else if entry.key.algorithm() == key.algorithm() {
                changed.get_or_insert(entry.line);
            }
        }
        // A host may list several keys of one type during a rotation: any listed key is good.
        match (known, changed) {
            (true, _) => Verdict::Known,
            (false, Some(line)) => Verdict::Changed { line },
            (false, None) => {
                // Listed only with keys of other types: that is a changed key too, as far as
                // a pinned host is concerned (OpenSSH would ask; we refuse).
                match self
                    .entries
                    .iter()
                    .find(|e| !e.revoked && matches(&name, &e.patterns))
                {
                    Some(e) => Verdict::Changed { line: e.line },
                    None => Verdict::Unknown,
                }
            }
        }
    }

    /// Appends `host:port key` to the file (with `--accept-new-host-keys`), 0644.
    pub fn learn(&mut self, host: &str, port: u16, key: &PublicKey) -> crate::error::Result<()> {
        use std::io::Write;
        let encoded = key.to_openssh().map_err(|e| {
            crate::error::Error::usage(format!("cannot encode a host key: {e}"), None)
        })?;
        // Keep only `TYPE BASE64`: the host's comment is not ours to record.
        let mut parts = encoded.split_whitespace();
        let line_text = format!(
            "{} {} {}\n",
            host_pattern(host, port),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        );
        let write_error = |source| crate::error::Error::WriteFile {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(write_error)?;
        }
        let existing = std::fs::read(&self.path).unwrap_or_default();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(write_error)?;
        let prefix = if existing.is_empty() || existing.ends_with(b"\n") {
            ""
        } else {
            "\n"
        };
        file.write_all(format!("{prefix}{line_text}").as_bytes())
            .map_err(write_error)?;
        let lines = String::from_utf8_lossy(&existing).lines().count() + 1;
        self.entries.push(Entry {
            line: lines,
            revoked: false,
            patterns: host_pattern(host, port),
            key: key.clone(),
        });
        Ok(())
    }

    /// Trusts `host:port key` for this run only, writing nothing (a dry run's
    /// `--accept-new-host-keys`).
    pub fn remember(&mut self, host: &str, port: u16, key: &PublicKey) {
        self.entries.push(Entry {
            line: 0,
            revoked: false,
            patterns: host_pattern(host, port),
            key: key.clone(),
        });
    }
}

fn bad_line(path: &Path, line: usize, message: &str) -> crate::error::Error {
    crate::error::Error::config(path, Some(&format!("line {line}")), message)
}

/// Whether `name` matches a comma-separated pattern list; a matching negation wins.
fn matches(name: &str, patterns: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(hashed) = pattern.strip_prefix("|1|") {
            if hashed_matches(name, hashed) {
                matched = true;
            }
        } else if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated, name) {
                return false;
            }
        } else if glob(pattern, name) {
            matched = true;
        }
    }
    matched
}

fn hashed_matches(name: &str, hashed: &str) -> bool {
    use base64ct::{Base64, Encoding};
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (Base64::decode_vec(salt), Base64::decode_vec(hash)) else {
        return false;
    };
    let Ok(mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// OpenSSH's pattern match: `*` any run, `?` one character, case-insensitive.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let n: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            pi += 1;
            mark = ni;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXf3xl2OvJ3cwsTmGF9j7DT+7OaE+8gmrJ/RwVv3iM7";
    const B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    fn parse(text: &str) -> KnownHosts {
        KnownHosts::parse(Path::new("known_hosts"), text).unwrap()
    }

    #[test]
    fn plain_ported_and_wildcard_names() {
        let kh = parse(&format!(
            "# comment\n10.0.0.1,sftp1 {A} root@h\n[10.0.0.2]:2200 {A}\n*.example.com,!bad.example.com {B}\n"
        ));
        assert_eq!(kh.check("10.0.0.1", 22, &key(A)), Verdict::Known);
        assert_eq!(kh.check("sftp1", 22, &key(A)), Verdict::Known);
        assert_eq!(
            kh.check("10.0.0.1", 22, &key(B)),
            Verdict::Changed { line: 2 }
        );
        assert_eq!(kh.check("10.0.0.2", 22, &key(A)), Verdict::Unknown);
        assert_eq!(kh.check("10.0.0.2", 2200, &key(A)), Verdict::Known);
        assert_eq!(kh.check("n1.example.com", 22, &key(B)), Verdict::Known);
        assert_eq!(kh.check("bad.example.com", 22, &key(B)), Verdict::Unknown);
    }

    #[test]
    fn hashed_names_and_revoked_keys() {
        // `ssh-keygen -H` of "10.0.0.9" with a fixed salt, computed here the same way.
        let salt = [7u8; 20];
        let mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&salt)
            .unwrap()
            .chain_update(b"10.0.0.9")
            .finalize()
            .into_bytes();
        use base64ct::{Base64, Encoding};
        let hashed = format!(
            "|1|{}|{}",
            Base64::encode_string(&salt),
            Base64::encode_string(&mac)
        );
        let kh = parse(&format!("{hashed} {A}\n@revoked * {B}\n"));
        assert_eq!(kh.check("10.0.0.9", 22, &key(A)), Verdict::Known);
        assert_eq!(kh.check("10.0.0.8", 22, &key(A)), Verdict::Unknown);
        assert_eq!(
            kh.check("10.0.0.9", 22, &key(B)),
            Verdict::Revoked { line: 2 }
        );
    }

    #[test]
    fn a_broken_line_names_the_file_and_line() {
        let err = KnownHosts::parse(Path::new("kh"), &format!("ok {A}\nbroken-line\n"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("`kh`") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn learn_appends_an_openssh_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, format!("other {B}")).unwrap();
        let mut kh = KnownHosts::load(&path).unwrap();
        kh.learn("198.18.0.5", 2222, &key(A)).unwrap();
        assert_eq!(kh.check("198.18.0.5", 2222, &key(A)), Verdict::Known);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("other {B}\n[198.18.0.5]:2222 {A}\n"));
        let again = KnownHosts::load(&path).unwrap();
        assert_eq!(again.check("198.18.0.5", 2222, &key(A)), Verdict::Known);
    }
}
