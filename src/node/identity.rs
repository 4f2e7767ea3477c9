//! What the node presents and whom it lets verify it: host keys, host certificates and the
//! probe login, loaded together from node.toml's files. SIGHUP loads them again and swaps the
//! whole set at once; connections in progress keep the set they started with, so a host key
//! rotation needs no restart and cuts no session.

use std::path::Path;
use std::sync::Arc;

use russh::keys::{Certificate, HashAlg, PrivateKey};

use crate::config::node::Node;
use crate::config::users::User;
use crate::error::{Error, Result};
pub use crate::wire::health::CertificateInfo;

/// The identity in force.
pub struct Identity {
    pub ssh: Arc<russh::server::Config>,
    /// Every host key's SHA-256 fingerprint, in node.toml's order (the first is what a
    /// client without a certificate preference is shown).
    pub fingerprints: Vec<String>,
    pub certificates: Vec<CertificateInfo>,
    /// The operator's verification login, when `probe_key` is set.
    pub probe: Option<Arc<User>>,
    /// The checksum of the node.toml wholly in force (see [`crate::config::node::RELOADABLE`]).
    pub config_checksum: String,
}

impl Identity {
    pub fn load(node: &Node) -> Result<Identity> {
        let keys = load_host_keys(&node.file.host_keys)?;
        let fingerprints = keys.iter().map(fingerprint_of).collect();
        let (certificates, certificate_info) = load_certificates(node, &keys)?;
        let probe = match &node.file.probe_key {
            Some(path) => Some(Arc::new(User::probe(load_probe_key(path)?))),
            None => None,
        };
        let mut ssh = super::ssh_config(node, keys);
        ssh.certificates = certificates;
        Ok(Identity {
            ssh: Arc::new(ssh),
            fingerprints,
            certificates: certificate_info,
            probe,
            config_checksum: node.checksum.clone(),
        })
    }
}

fn load_probe_key(path: &Path) -> Result<russh::keys::PublicKey> {
    let text = crate::files::read_text(path)?;
    crate::config::users::parse_authorized_key(&text)
        .map_err(|m| Error::config(path, Some("probe_key"), m))
}

/// Loads every host key; a key readable by others is refused, as sshd refuses it.
pub fn load_host_keys(paths: &[std::path::PathBuf]) -> Result<Vec<PrivateKey>> {
    use std::os::unix::fs::PermissionsExt;
    let mut keys = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| Error::HostKey {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(Error::HostKey {
                path: path.clone(),
                message: format!(
                    "permissions {:04o} are too open: a private key must be readable by its owner only (chmod 600)",
                    meta.permissions().mode() & 0o7777
                ),
            });
        }
        let key = russh::keys::load_secret_key(path, None).map_err(|e| Error::HostKey {
            path: path.clone(),
            message: e.to_string(),
        })?;
        check_strength(&key).map_err(|message| Error::HostKey {
            path: path.clone(),
            message,
        })?;
        keys.push(key);
    }
    Ok(keys)
}

/// Refuses host keys that clients refuse or that are too weak to serve: DSA (OpenSSH clients
/// no longer accept it, so a node would say it is ready and nobody could connect) and RSA
/// under 2048 bits (OpenSSH's own minimum since 9.x is 1024 only for old keys; 2048 is NIST's).
fn check_strength(key: &PrivateKey) -> std::result::Result<(), String> {
    use russh::keys::Algorithm;
    match key.algorithm() {
        Algorithm::Dsa => Err(
            "DSA host keys are refused: OpenSSH clients no longer accept them; use ed25519, ecdsa or rsa (3072 bits)".into(),
        ),
        Algorithm::Rsa { .. } => {
            let bits = crate::config::users::rsa_bits(key.public_key());
            if bits < 2048 {
                Err(format!(
                    "an RSA host key of {bits} bits is refused: use at least 2048 bits (`ssh-keygen -t rsa -b 3072`), or ed25519"
                ))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

pub fn fingerprint_of(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// Loads the host certificates: each must be a host certificate, validly signed, for one of
/// `keys` (a certificate for another key would make every client that trusts the CA fail).
fn load_certificates(
    node: &Node,
    keys: &[PrivateKey],
) -> Result<(Vec<Certificate>, Vec<CertificateInfo>)> {
    let mut certificates = Vec::new();
    let mut info = Vec::new();
    for path in &node.file.host_certificates {
        let bad = |message: String| Error::HostKey {
            path: path.clone(),
            message,
        };
        let text = crate::files::read_text(path)?;
        let cert = Certificate::from_openssh(text.trim())
            .map_err(|e| bad(format!("not an OpenSSH certificate: {e}")))?;
        let (certificate, detail) = check_certificate(path, cert, keys).map_err(bad)?;
        certificates.push(certificate);
        info.push(detail);
    }
    Ok((certificates, info))
}

pub fn check_certificate(
    path: &Path,
    cert: Certificate,
    keys: &[PrivateKey],
) -> std::result::Result<(Certificate, CertificateInfo), String> {
    if cert.cert_type() != russh::keys::ssh_key::certificate::CertType::Host {
        return Err(
            "a user certificate, not a host certificate (sign with `ssh-keygen -h`)".into(),
        );
    }
    let key = keys
        .iter()
        .find(|k| k.public_key().key_data() == cert.public_key())
        .ok_or_else(|| {
            "certifies a key that is not among host_keys: list its private key in host_keys"
                .to_owned()
        })?;
    let ca = cert.signature_key();
    let ca_fingerprint = ca.fingerprint(HashAlg::Sha256).to_string();
    // Expiry is reported (status, /healthz), not a reason to present nothing.
    cert.verify_signature()
        .map_err(|e| format!("the CA's signature does not verify: {e}"))?;
    let detail = CertificateInfo {
        path: path.display().to_string(),
        key_fingerprint: fingerprint_of(key),
        ca_fingerprint,
        principals: cert.valid_principals().to_vec(),
        valid_after: cert.valid_after(),
        valid_before: cert.valid_before(),
        serial: cert.serial(),
    };
    Ok((cert, detail))
}
