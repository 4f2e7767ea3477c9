//! The SFTP client test-failover drives: russh + russh-sftp, the host key pinned by
//! fingerprint (a key that differs is refused, as OpenSSH with StrictHostKeyChecking).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a login (TCP, key exchange, authentication, SFTP start) may take.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one file operation may take before it counts as interrupted.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);

struct Pinned {
    expected: String,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let public = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => {
                russh::keys::PublicKey::from(cert.public_key().clone())
            }
        };
        let fingerprint = public.fingerprint(HashAlg::Sha256).to_string();
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fingerprint.clone());
        Ok(self.expected == fingerprint)
    }
}

pub use crate::error::ClientError;

pub struct Session {
    handle: client::Handle<Pinned>,
    sftp: SftpSession,
}

fn config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: Some(Duration::from_secs(60)),
        nodelay: true,
        ..Default::default()
    })
}

/// Connects, checks the host key, logs in with `key` and starts SFTP.
pub async fn login(
    addr: SocketAddr,
    user: &str,
    key: Arc<PrivateKey>,
    fingerprint: &str,
) -> Result<Session, ClientError> {
    tokio::time::timeout(LOGIN_TIMEOUT, login_inner(addr, user, key, fingerprint))
        .await
        .map_err(|_| ClientError::Timeout)?
}

async fn login_inner(
    addr: SocketAddr,
    user: &str,
    key: Arc<PrivateKey>,
    fingerprint: &str,
) -> Result<Session, ClientError> {
    let seen = Arc::new(Mutex::new(None));
    let handler = Pinned {
        expected: fingerprint.to_owned(),
        seen: seen.clone(),
    };
    let mut handle = match client::connect(config(), addr, handler).await {
        Ok(h) => h,
        Err(e) => {
            let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(match seen {
                Some(s) if s != fingerprint => ClientError::HostKey {
                    seen: s,
                    expected: fingerprint.to_owned(),
                },
                _ => e.into(),
            });
        }
    };
    // Only RSA keys need the server's signature algorithms (which may take a moment to arrive).
    let hash = if key.algorithm().is_rsa() {
        handle
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten()
    } else {
        None
    };
    match handle
        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
        .await?
    {
        AuthResult::Success => {}
        // A server that goes away mid-login did not refuse anyone.
        _ if handle.is_closed() => {
            return Err(ClientError::Unreachable(
                "the connection closed during authentication".into(),
            ))
        }
        _ => return Err(ClientError::AuthRefused),
    }
    let channel = handle.channel_open_session().await?;
    channel.request_subsystem(true, "sftp").await?;
    let sftp = SftpSession::new(channel.into_stream()).await?;
    Ok(Session { handle, sftp })
}

impl Session {
    pub async fn upload(&self, path: &str, data: &[u8]) -> Result<(), ClientError> {
        op(async {
            let mut file = self.sftp.create(path).await?;
            file.write_all(data).await?;
            // Close: the server publishes an atomic upload only now.
            file.shutdown().await?;
            Ok(())
        })
        .await
    }

    pub async fn download(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        op(async {
            let mut file = self.sftp.open(path).await?;
            let mut data = Vec::new();
            file.read_to_end(&mut data).await?;
            Ok(data)
        })
        .await
    }

    pub async fn remove(&self, path: &str) -> Result<(), ClientError> {
        op(async { Ok(self.sftp.remove_file(path).await?) }).await
    }

    pub async fn list(&self, path: &str) -> Result<Vec<String>, ClientError> {
        op(async {
            let entries = self.sftp.read_dir(path).await?;
            Ok(entries.map(|e| e.file_name()).collect())
        })
        .await
    }

    pub async fn mkdir_all(&self, path: &str) -> Result<(), ClientError> {
        let mut sofar = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            sofar = format!("{sofar}/{part}");
            if self.sftp.metadata(sofar.as_str()).await.is_err() {
                op(async { Ok(self.sftp.create_dir(sofar.as_str()).await?) }).await?;
            }
        }
        Ok(())
    }

    pub async fn remove_tree(&self, path: &str) -> Result<(), ClientError> {
        for name in self.list(path).await? {
            let child = format!("{path}/{name}");
            let meta = self.sftp.symlink_metadata(child.as_str()).await?;
            if meta.is_dir() {
                Box::pin(self.remove_tree(&child)).await?;
            } else {
                self.sftp.remove_file(child.as_str()).await?;
            }
        }
        self.sftp.remove_dir(path).await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.sftp.close().await;
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
    }
}

async fn op<T>(
    fut: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(OP_TIMEOUT, fut)
        .await
        .map_err(|_| ClientError::Timeout)?
}

/// A signer that never signs: it only records that the server asked (`SSH_MSG_USERAUTH_PK_OK`).
struct QueryOnly {
    asked: bool,
}

#[derive(Debug)]
struct NotSigning;

impl From<russh::SendError> for NotSigning {
    fn from(_: russh::SendError) -> Self {
        NotSigning
    }
}

impl russh::Signer for QueryOnly {
    type Error = NotSigning;

    async fn auth_sign(
        &mut self,
        _key: &russh::keys::agent::AgentIdentity,
        _hash_alg: Option<HashAlg>,
        _to_sign: Vec<u8>,
    ) -> Result<Vec<u8>, NotSigning> {
        self.asked = true;
        Err(NotSigning)
    }
}

/// Asks the server whether it would accept `key` for `user` (the RFC 4252 public key query,
/// no signature: no private key is needed and no login happens). True when it would.
pub async fn key_accepted(
    addr: SocketAddr,
    user: &str,
    key: &russh::keys::PublicKey,
    fingerprint: &str,
) -> Result<bool, ClientError> {
    let attempt = async {
        let seen = Arc::new(Mutex::new(None));
        let handler = Pinned {
            expected: fingerprint.to_owned(),
            seen: seen.clone(),
        };
        let mut handle = client::connect(config(), addr, handler)
            .await
            .map_err(
                |e| match seen.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                    Some(s) if s != fingerprint => ClientError::HostKey {
                        seen: s,
                        expected: fingerprint.to_owned(),
                    },
                    _ => e.into(),
                },
            )?;
        let hash = match key.algorithm() {
            russh::keys::Algorithm::Rsa { .. } => Some(HashAlg::Sha256),
            _ => None,
        };
        let mut signer = QueryOnly { asked: false };
        let result = handle
            .authenticate_publickey_with(user, key.clone(), hash, &mut signer)
            .await;
        let _ = handle
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
        match result {
            Err(NotSigning) if signer.asked => Ok(true),
            Err(NotSigning) => Err(ClientError::Timeout),
            Ok(AuthResult::Success) => Ok(true),
            Ok(AuthResult::Failure { .. }) => Ok(false),
        }
    };
    tokio::time::timeout(LOGIN_TIMEOUT, attempt)
        .await
        .map_err(|_| ClientError::Timeout)?
}
