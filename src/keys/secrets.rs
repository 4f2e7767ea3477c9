//! The cluster's keys, kept beside cluster.toml in `keys/` (0700, files 0600): the host keys
//! every node presents (ed25519, ECDSA P-256 and RSA 3072, as OpenSSH's sshd has them), the
//! next ones during a two-phase rotation, the host CA that certifies them, the certificates,
//! and the probe login's key.
//!
//! ```text
//! keys/ssh_host_ed25519_key               the host keys in force, one per type (ed25519,
//! keys/ssh_host_ecdsa_key                 ecdsa, rsa): a client is shown the one of the
//! keys/ssh_host_rsa_key                   type it prefers
//! keys/ssh_host_*_key-cert.pub            their certificates, signed by host_ca
//! keys/ssh_host_*_key.next                a rotation's new keys (phase 1 only) and their
//! keys/ssh_host_*_key.next-cert.pub       certificates
//! keys/rotation-presenting-new           phase 2 of a rotation has begun: the new keys are
//!                                         presented (listed first), the old not yet retired
//! keys/host_ca, host_ca.pub               the host CA (`sftpha keys known-hosts`)
//! keys/probe_ed25519                      the probe login (provision and status checks)
//! keys/retired/                           keys a finished rotation retired
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use russh::keys::ssh_key::certificate::{Builder, CertType};
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Certificate, PrivateKey};

use crate::config::cluster::Cluster;
use crate::error::{Error, Result};
use crate::keys::KeyKind;

/// The ed25519 host key every node gets (one set for the cluster; the ECDSA and RSA keys
/// beside it are named by [`crate::keys::secrets::host_key_file`]), relative to
/// `config_dir`.
pub const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

/// The folder beside cluster.toml that holds the cluster's secrets (0700).
pub const KEYS_DIR: &str = "keys";
/// The probe login's private key in [`KEYS_DIR`].
pub const PROBE_PRIVATE: &str = "probe_ed25519";
/// The host CA's private key in [`KEYS_DIR`].
pub const HOST_CA: &str = "host_ca";
/// Where a rotation keeps the new host key until `--finish`.
pub const NEXT_SUFFIX: &str = ".next";
/// What OpenSSH calls a key's certificate: `KEY-cert.pub`.
pub const CERT_SUFFIX: &str = "-cert.pub";
/// Where finished rotations move the keys they retire.
pub const RETIRED_DIR: &str = "retired";
/// Marks phase 2 of a host key rotation as begun: the nodes present the new keys (listed
/// first) and still hold the old ones until every node is seen presenting the new.
pub const PRESENTING_NEXT: &str = "rotation-presenting-new";

/// One host key every node holds.
pub struct HostKey {
    /// The file name, in `keys/` and in the nodes' config folder.
    pub name: String,
    pub kind: KeyKind,
    /// A rotation's new key (phase 1), held beside the key in force of its type.
    pub next: bool,
    pub key: PrivateKey,
    /// The private key file's bytes as kept beside cluster.toml: sent as they are, so a key
    /// made by `ssh-keygen` arrives byte for byte.
    pub file: Vec<u8>,
    /// The certificate (`KEY-cert.pub` line) the CA signed for it.
    pub certificate: Vec<u8>,
}

impl HostKey {
    pub fn fingerprint(&self) -> String {
        crate::config::users::fingerprint(self.key.public_key())
    }
}

pub struct Secrets {
    /// In the order the nodes hold them ([`host_key_names`]).
    pub host_keys: Vec<HostKey>,
    pub ca: PrivateKey,
    pub probe_key: Arc<PrivateKey>,
    /// Files made by this run (shown once so the operator backs them up).
    pub generated: Vec<PathBuf>,
    /// Host certificates issued or renewed by this run.
    pub issued: Vec<PathBuf>,
    /// The cluster has no keys yet and they stand in from memory (a dry run before the
    /// first run).
    pub pending: bool,
    /// Host keys that do not exist yet and stand in from memory (a cluster made before
    /// sftpha presented ECDSA and RSA keys gets them at the next `keys init` or
    /// `provision`).
    pub stand_ins: Vec<String>,
}

pub fn keys_dir(cluster: &Cluster) -> PathBuf {
    cluster.dir().join(KEYS_DIR)
}

/// The host key file of `kind` in force: `ssh_host_{ed25519,ecdsa,rsa}_key`, as sshd names them.
pub fn host_key_file(kind: KeyKind) -> String {
    format!("ssh_host_{}_key", kind.word())
}

/// Every slot a node has for a host key, in the order it holds them: the key in force of each
/// type, then a rotation's next key of each type. `(kind, next, file name)`.
pub fn host_key_slots() -> Vec<(KeyKind, bool, String)> {
    let current = KeyKind::ALL.map(|k| (k, false, host_key_file(k)));
    let next = KeyKind::ALL.map(|k| (k, true, format!("{}{NEXT_SUFFIX}", host_key_file(k))));
    current.into_iter().chain(next).collect()
}

/// The host key files the nodes hold, in the order they list them (a node presents the first
/// key, and certificate, of the type a client asks for): the key in force of every type, and
/// during a rotation the next ones after them (phase 1) or before them (phase 2 under way,
/// [`PRESENTING_NEXT`]).
pub fn host_key_names(cluster: &Cluster) -> Vec<String> {
    let dir = keys_dir(cluster);
    let (next, current): (Vec<_>, Vec<_>) = host_key_slots()
        .into_iter()
        .filter(|(_, next, name)| !next || dir.join(name).exists())
        .partition(|(_, next, _)| *next);
    let names = |slots: Vec<(KeyKind, bool, String)>| slots.into_iter().map(|(_, _, n)| n);
    if !next.is_empty() && dir.join(PRESENTING_NEXT).exists() {
        names(next).chain(names(current)).collect()
    } else {
        names(current).chain(names(next)).collect()
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn key_error(e: impl std::fmt::Display) -> Error {
    Error::usage(format!("cannot encode a key: {e}"), None)
}

impl Secrets {
    /// Loads the keys, generating the missing ones and issuing missing or ageing
    /// certificates when `create` (else stand-ins from memory, for a dry run or `status`).
    pub fn load_or_create(cluster: &Cluster, create: bool) -> Result<Secrets> {
        let dir = keys_dir(cluster);
        let mut generated = Vec::new();
        let mut stand_ins = Vec::new();
        let mut get = |name: &str, kind: KeyKind, comment: String| -> Result<PrivateKey> {
            let path = dir.join(name);
            if path.exists() {
                check_private(&path)?;
                return crate::keys::generate::load(&path);
            }
            if !create {
                stand_ins.push(name.to_owned());
                return crate::keys::generate::random(kind, &comment);
            }
            ensure_dir(&dir)?;
            let key = crate::keys::generate::generate(kind, &path, &comment)?;
            generated.push(path);
            Ok(key)
        };
        let cluster_name = &cluster.file.name;
        let host_comment = format!("sftpha cluster {cluster_name} host key");
        let mut keys = Vec::new();
        for (kind, next, name) in host_key_slots() {
            if next {
                let path = dir.join(&name);
                if path.exists() {
                    check_private(&path)?;
                    keys.push((name, kind, true, crate::keys::generate::load(&path)?));
                }
            } else {
                let key = get(&name, kind, host_comment.clone())?;
                keys.push((name, kind, false, key));
            }
        }
        let ca = get(
            HOST_CA,
            KeyKind::Ed25519,
            format!("sftpha cluster {cluster_name} host CA"),
        )?;
        let probe_key = get(
            PROBE_PRIVATE,
            KeyKind::Ed25519,
            format!("sftpha cluster {cluster_name} probe"),
        )?;
        let pending = [HOST_KEY_FILE, HOST_CA, PROBE_PRIVATE]
            .iter()
            .any(|n| stand_ins.iter().any(|s| s == n));
        let principals = cluster.host_names();
        let mut issued = Vec::new();
        let mut host_keys = Vec::new();
        for (name, kind, next, key) in keys {
            let stand_in = stand_ins.contains(&name);
            let file = match std::fs::read(dir.join(&name)) {
                Ok(bytes) => bytes,
                Err(_) => key
                    .to_openssh(LineEnding::LF)
                    .map_err(key_error)?
                    .as_bytes()
                    .to_vec(),
            };
            let cert_path = dir.join(format!("{name}{CERT_SUFFIX}"));
            let existing = std::fs::read_to_string(&cert_path).ok();
            let usable = existing
                .as_deref()
                .and_then(|text| Certificate::from_openssh(text.trim()).ok())
                .is_some_and(|c| certificate_current(&c, &key, &ca, &principals, unix_now()));
            let certificate = match existing {
                Some(text) if usable && !stand_in => text.into_bytes(),
                _ => {
                    let cert = issue(cluster, &key, &ca, &principals)?;
                    let text = format!("{}\n", cert.to_openssh().map_err(key_error)?);
                    if create && !pending {
                        ensure_dir(&dir)?;
                        crate::files::write_atomically(&cert_path, text.as_bytes(), 0o644)?;
                        issued.push(cert_path);
                    }
                    text.into_bytes()
                }
            };
            host_keys.push(HostKey {
                name,
                kind,
                next,
                key,
                file,
                certificate,
            });
        }
        let order = host_key_names(cluster);
        host_keys.sort_by_key(|k| order.iter().position(|n| *n == k.name));
        Ok(Secrets {
            host_keys,
            ca,
            probe_key: Arc::new(probe_key),
            generated,
            issued,
            pending,
            stand_ins,
        })
    }

    /// The fingerprint of the ed25519 host key the nodes present: what sftpha's own client
    /// (and most others) is shown.
    pub fn fingerprint(&self) -> String {
        self.host_keys[0].fingerprint()
    }

    /// Every host key the nodes hold, in their order (the keys in force, then a rotation's
    /// next keys): what `/healthz` lists.
    pub fn fingerprints(&self) -> Vec<String> {
        self.host_keys.iter().map(HostKey::fingerprint).collect()
    }

    /// The first key of each type: the set every node presents in the SSH handshake (keys
    /// not made yet are not expected), in [`KeyKind::ALL`] order.
    pub fn presented(&self) -> Vec<String> {
        KeyKind::ALL
            .iter()
            .filter_map(|kind| self.on_disk().find(|k| k.kind == *kind))
            .map(HostKey::fingerprint)
            .collect()
    }

    /// The host keys that exist beside cluster.toml (not stand-ins).
    pub fn on_disk(&self) -> impl Iterator<Item = &HostKey> {
        self.host_keys
            .iter()
            .filter(|k| !self.stand_ins.contains(&k.name))
    }

    pub fn ca_fingerprint(&self) -> String {
        crate::config::users::fingerprint(self.ca.public_key())
    }
}

/// Creates the keys folder (0700) if it is missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|source| Error::WriteFile {
            path: dir.to_owned(),
            source,
        })?;
        set_mode(dir, 0o700)?;
    }
    Ok(())
}

/// A certificate is kept while it certifies `key`, is signed by `ca`, names exactly
/// `principals` and has more than a third of its validity left.
pub fn certificate_current(
    cert: &Certificate,
    key: &PrivateKey,
    ca: &PrivateKey,
    principals: &[String],
    now: u64,
) -> bool {
    let life = cert.valid_before().saturating_sub(cert.valid_after());
    cert.cert_type() == CertType::Host
        && cert.public_key() == key.public_key().key_data()
        && cert.signature_key() == ca.public_key().key_data()
        && cert.valid_principals() == principals
        && cert.verify_signature().is_ok()
        && cert.valid_before().saturating_sub(now) > life / 3
}

/// Signs a host certificate for `key`, valid from five minutes ago (clock skew) for
/// `keys.certificate_days`.
pub fn issue(
    cluster: &Cluster,
    key: &PrivateKey,
    ca: &PrivateKey,
    principals: &[String],
) -> Result<Certificate> {
    let now = unix_now();
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(|e| Error::usage(format!("no randomness: {e}"), None))?;
    let days = u64::from(cluster.file.keys.certificate_days);
    let fail = |e: russh::keys::ssh_key::Error| {
        Error::usage(format!("cannot issue a host certificate: {e}"), None)
    };
    let mut builder = Builder::new(
        nonce.to_vec(),
        key.public_key().key_data().clone(),
        now.saturating_sub(300),
        now + days * 86_400,
    )
    .map_err(fail)?;
    builder.serial(now).map_err(fail)?;
    builder.cert_type(CertType::Host).map_err(fail)?;
    builder
        .key_id(format!(
            "sftpha cluster {} host key {}",
            cluster.file.name,
            crate::config::users::fingerprint(key.public_key())
        ))
        .map_err(fail)?;
    for p in principals {
        builder.valid_principal(p.clone()).map_err(fail)?;
    }
    builder
        .comment(format!("sftpha cluster {}", cluster.file.name))
        .map_err(fail)?;
    builder.sign(ca).map_err(fail)
}

pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        Error::WriteFile {
            path: path.to_owned(),
            source,
        }
    })
}

/// A private key others can read is refused (as OpenSSH refuses it).
pub fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::HostKey {
            path: path.to_owned(),
            message: format!(
                "the key is readable by others (mode {:o}); `chmod 600 {}`",
                meta.permissions().mode() & 0o777,
                path.display()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster_in(dir: &Path) -> Cluster {
        let path = dir.join("cluster.toml");
        std::fs::write(
            &path,
            "name = \"c\"\n[storage]\npath = \"/srv/sftpha\"\n[[nodes]]\nname = \"n1\"\nhost = \"198.18.0.11\"\n[gateway]\nhosts = [\"198.18.0.21\"]\n",
        )
        .unwrap();
        Cluster::load(&path).unwrap()
    }

    #[test]
    fn the_ed25519_key_file_is_the_one_render_names() {
        assert_eq!(host_key_file(KeyKind::Ed25519), HOST_KEY_FILE);
    }

    /// A cluster made when sftpha had only an ed25519 host key gets ECDSA and RSA keys (and
    /// their certificates) at the next `keys init` or `provision`; the ed25519 key, which
    /// clients pinned, stays byte for byte.
    #[test]
    fn an_ed25519_only_cluster_gets_ecdsa_and_rsa_keys_and_keeps_its_ed25519_key() {
        let dir = tempfile::tempdir().unwrap();
        let cluster = cluster_in(dir.path());
        let keys = keys_dir(&cluster);
        ensure_dir(&keys).unwrap();
        for name in [HOST_KEY_FILE, HOST_CA, PROBE_PRIVATE] {
            crate::keys::generate::generate(KeyKind::Ed25519, &keys.join(name), "old").unwrap();
        }
        let ed25519 = std::fs::read(keys.join(HOST_KEY_FILE)).unwrap();

        let before = Secrets::load_or_create(&cluster, false).unwrap();
        assert!(!before.pending, "the cluster has its keys");
        assert_eq!(
            before.stand_ins,
            ["ssh_host_ecdsa_key", "ssh_host_rsa_key"],
            "a read-only load makes nothing"
        );
        assert_eq!(before.presented().len(), 1);
        assert!(!keys.join("ssh_host_rsa_key").exists());

        let after = Secrets::load_or_create(&cluster, true).unwrap();
        assert_eq!(
            after.generated,
            [
                keys.join("ssh_host_ecdsa_key"),
                keys.join("ssh_host_rsa_key")
            ]
        );
        assert_eq!(std::fs::read(keys.join(HOST_KEY_FILE)).unwrap(), ed25519);
        assert_eq!(after.fingerprint(), before.fingerprint());
        let kinds: Vec<KeyKind> = after.host_keys.iter().map(|k| k.kind).collect();
        assert_eq!(kinds, KeyKind::ALL);
        for k in &after.host_keys {
            assert!(k.kind.matches(&k.key), "{}", k.name);
            let cert = std::fs::read_to_string(keys.join(format!("{}{CERT_SUFFIX}", k.name)))
                .unwrap_or_else(|e| panic!("{}: no certificate: {e}", k.name));
            let cert = Certificate::from_openssh(cert.trim()).unwrap();
            assert_eq!(cert.public_key(), k.key.public_key().key_data());
        }
        assert_eq!(after.presented().len(), 3);
        assert_eq!(host_key_names(&cluster).len(), 3);
        // Nothing more to make the next time.
        let again = Secrets::load_or_create(&cluster, true).unwrap();
        assert!(again.generated.is_empty() && again.issued.is_empty());
    }
}
