//! What host keys and certificates an SSH server presents, found as `ssh-keyscan` finds them:
//! one handshake per key type (and, when asked, one per certificate type), no login. A server
//! shows one key per type, the first it holds of that type, so this is the set a client can
//! meet, whatever key type it prefers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::{Algorithm, EcdsaCurve, HashAlg, PublicKeyOrCertificate};
use russh::Preferred;

use crate::keys::KeyKind;
use crate::timeouts;

/// A host certificate as presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSeen {
    pub kind: KeyKind,
    /// The host key it certifies.
    pub key_fingerprint: String,
    /// The CA that signed it.
    pub ca_fingerprint: String,
}

/// Everything a server presented.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presented {
    /// The key of each type it has, in [`KeyKind::ALL`] order.
    pub keys: Vec<(KeyKind, String)>,
    /// Filled only when certificates were asked for.
    pub certificates: Vec<CertificateSeen>,
}

impl Presented {
    /// The fingerprints of the keys, in [`KeyKind::ALL`] order.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|(_, fp)| fp.clone()).collect()
    }
}

/// The host key algorithms that ask for a key of `kind`.
fn algorithms(kind: KeyKind) -> Vec<Algorithm> {
    match kind {
        KeyKind::Ed25519 => vec![Algorithm::Ed25519],
        KeyKind::EcdsaP256 => [
            EcdsaCurve::NistP256,
            EcdsaCurve::NistP384,
            EcdsaCurve::NistP521,
        ]
        .into_iter()
        .map(|curve| Algorithm::Ecdsa { curve })
        .collect(),
        KeyKind::Rsa => vec![
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512),
            },
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha256),
            },
        ],
    }
}

/// What one handshake showed.
enum Shown {
    Key(russh::keys::PublicKey),
    Certificate(Box<russh::keys::Certificate>),
}

struct Catch(Arc<Mutex<Option<Shown>>>);

impl client::Handler for Catch {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let shown = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => Shown::Key(key.clone()),
            PublicKeyOrCertificate::Certificate(cert) => Shown::Certificate(Box::new(cert.clone())),
        };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(shown);
        // Seen is all we want: end the handshake here.
        Ok(false)
    }
}

/// One handshake offering only `kind` (its certificate when `certificate`): what the server
/// presented, or `None` when it has no key (or certificate) of that type.
async fn one(addr: SocketAddr, kind: KeyKind, certificate: bool) -> Result<Option<Shown>, String> {
    let algos = algorithms(kind);
    let preferred = if certificate {
        Preferred {
            key: Vec::new().into(),
            host_key_certificates: algos.into(),
            ..Preferred::default()
        }
    } else {
        Preferred {
            key: algos.into(),
            ..Preferred::default()
        }
    };
    let config = Arc::new(client::Config {
        preferred,
        nodelay: true,
        ..Default::default()
    });
    let seen = Arc::new(Mutex::new(None));
    let connecting = client::connect(config, addr, Catch(seen.clone()));
    let result = tokio::time::timeout(timeouts::PROBE, connecting).await;
    if let Some(key) = seen.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Ok(Some(key));
    }
    match result {
        Err(_) => Err(format!(
            "no SSH host key from `{addr}` within {}s",
            timeouts::PROBE.as_secs()
        )),
        Ok(Err(russh::Error::NoCommonAlgo { .. })) => Ok(None),
        Ok(Err(e)) => Err(format!("no SSH host key from `{addr}`: {e}")),
        Ok(Ok(_)) => Err(format!("`{addr}` presented no host key")),
    }
}

fn fingerprint(key: &russh::keys::PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Every key type `addr` presents, and with `certificates` every host certificate type, all
/// handshakes at once, each within [`timeouts::PROBE`].
pub async fn scan(addr: SocketAddr, certificates: bool) -> Result<Presented, String> {
    let mut asks = Vec::new();
    for kind in KeyKind::ALL {
        asks.push((kind, false));
        if certificates {
            asks.push((kind, true));
        }
    }
    let answers =
        futures::future::join_all(asks.iter().map(|&(kind, cert)| one(addr, kind, cert))).await;
    let mut presented = Presented::default();
    for (&(kind, _), answer) in asks.iter().zip(answers) {
        match answer? {
            None => {}
            Some(Shown::Key(key)) => {
                presented.keys.push((kind, fingerprint(&key)));
            }
            Some(Shown::Certificate(cert)) => {
                presented.certificates.push(CertificateSeen {
                    kind,
                    key_fingerprint: fingerprint(&russh::keys::PublicKey::from(
                        cert.public_key().clone(),
                    )),
                    ca_fingerprint: cert
                        .signature_key()
                        .fingerprint(HashAlg::Sha256)
                        .to_string(),
                });
            }
        }
    }
    if presented.keys.is_empty() {
        return Err(format!("`{addr}` presented no host key"));
    }
    Ok(presented)
}
