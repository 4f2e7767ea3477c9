//! The cluster's keys, kept beside cluster.toml in `keys/` (0700, files 0600): the host key
//! every node presents, the next one during a two-phase rotation, the host CA that certifies
//! them, the certificates, and the probe login's key.
//!
//! ```text
//! keys/ssh_host_ed25519_key               the host key in force (presented first)
//! keys/ssh_host_ed25519_key-cert.pub      its certificate, signed by host_ca
//! keys/ssh_host_ed25519_key.next          a rotation's new key (phase 1 only) and its
//! keys/ssh_host_ed25519_key.next-cert.pub certificate
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

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::render::HOST_KEY_FILE;

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

/// One host key every node holds.
pub struct HostKey {
    /// The file name, in `keys/` and in the nodes' config folder.
    pub name: String,
    pub key: PrivateKey,
    /// The private key file's bytes as kept beside cluster.toml: sent as they are, so a key
    /// made by `ssh-keygen` arrives byte for byte.
    pub file: Vec<u8>,
    /// The certificate (`KEY-cert.pub` line) the CA signed for it.
    pub certificate: Vec<u8>,
}

impl HostKey {
    pub fn fingerprint(&self) -> String {
        crate::users::fingerprint(self.key.public_key())
    }
}

pub struct Secrets {
    /// In the order the nodes present them: the key in force, then a rotation's next key.
    pub host_keys: Vec<HostKey>,
    pub ca: PrivateKey,
    pub probe_key: Arc<PrivateKey>,
    /// Files made by this run (shown once so the operator backs them up).
    pub generated: Vec<PathBuf>,
    /// Host certificates issued or renewed by this run.
    pub issued: Vec<PathBuf>,
    /// The keys do not exist yet and stand in from memory (a dry run before the first run).
    pub pending: bool,
}

pub fn keys_dir(cluster: &Cluster) -> PathBuf {
    cluster.dir().join(KEYS_DIR)
}

/// The host key files the nodes hold, in the order they present them: the key in force, and
/// during a rotation the next one.
pub fn host_key_names(cluster: &Cluster) -> Vec<String> {
    let next = format!("{HOST_KEY_FILE}{NEXT_SUFFIX}");
    let mut names = vec![HOST_KEY_FILE.to_owned()];
    if keys_dir(cluster).join(&next).exists() {
        names.push(next);
    }
    names
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
        let mut pending = false;
        let mut get = |name: &str, comment: String| -> Result<PrivateKey> {
            let path = dir.join(name);
            if path.exists() {
                check_private(&path)?;
                return crate::lab::load_key(&path);
            }
            if !create {
                pending = true;
                return crate::lab::random_key(&comment);
            }
            ensure_dir(&dir)?;
            let key = crate::lab::generate_key(&path, &comment)?;
            generated.push(path);
            Ok(key)
        };
        let cluster_name = &cluster.file.name;
        let current = get(
            HOST_KEY_FILE,
            format!("sftpha cluster {cluster_name} host key"),
        )?;
        let ca = get(HOST_CA, format!("sftpha cluster {cluster_name} host CA"))?;
        let probe_key = get(
            PROBE_PRIVATE,
            format!("sftpha cluster {cluster_name} probe"),
        )?;
        let mut keys = vec![(HOST_KEY_FILE.to_owned(), current)];
        for name in host_key_names(cluster).into_iter().skip(1) {
            let path = dir.join(&name);
            check_private(&path)?;
            keys.push((name, crate::lab::load_key(&path)?));
        }
        let principals = cluster.host_names();
        let mut issued = Vec::new();
        let mut host_keys = Vec::new();
        for (name, key) in keys {
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
                Some(text) if usable => text.into_bytes(),
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
                key,
                file,
                certificate,
            });
        }
        Ok(Secrets {
            host_keys,
            ca,
            probe_key: Arc::new(probe_key),
            generated,
            issued,
            pending,
        })
    }

    /// The fingerprint of the host key the nodes present.
    pub fn fingerprint(&self) -> String {
        self.host_keys[0].fingerprint()
    }

    pub fn fingerprints(&self) -> Vec<String> {
        self.host_keys.iter().map(HostKey::fingerprint).collect()
    }

    pub fn ca_fingerprint(&self) -> String {
        crate::users::fingerprint(self.ca.public_key())
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
            crate::users::fingerprint(key.public_key())
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
