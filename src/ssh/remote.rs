//! SSH to the cluster's hosts, as `provision` and `status` need it: the host key checked
//! against the cluster's known_hosts (unknown refused unless accepted, changed always
//! refused), key authentication from `ssh.identity` or the ssh-agent, a time limit on every
//! step, commands run with their exit status and output, files written from stdin.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::ChannelMsg;

use super::known_hosts::{KnownHosts, Verdict};
use crate::config::cluster::Cluster;

/// Why a host could not be used. The message is what the operator reads.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot connect to {addr}: {message}")]
    Connect { addr: String, message: String },
    #[error("the host key of {addr} ({fingerprint}) is not in {known_hosts}; check it and run again with --accept-new-host-keys to record it")]
    UnknownHostKey {
        addr: String,
        fingerprint: String,
        known_hosts: String,
    },
    #[error("the host key of {addr} CHANGED: it presents {fingerprint}, {known_hosts} line {line} lists another. Someone may be intercepting the connection, or the host was reinstalled; if you know why, remove the old line and run again")]
    ChangedHostKey {
        addr: String,
        fingerprint: String,
        known_hosts: String,
        line: usize,
    },
    #[error("the host key of {addr} ({fingerprint}) is revoked in {known_hosts} line {line}")]
    RevokedHostKey {
        addr: String,
        fingerprint: String,
        known_hosts: String,
        line: usize,
    },
    #[error("{user}@{addr} refused our key{}", if *.agent { " (tried every key of the ssh-agent)" } else { "" })]
    AuthRefused {
        addr: String,
        user: String,
        agent: bool,
    },
    #[error("no way to log into {addr}: {message}")]
    NoIdentity { addr: String, message: String },
    #[error("{what} on {addr} timed out after {}s", .after.as_secs())]
    Timeout {
        addr: String,
        what: String,
        after: Duration,
    },
    #[error("{addr}: logging in failed: {message}")]
    Login { addr: String, message: String },
    #[error("{addr}: {message}")]
    Ssh { addr: String, message: String },
}

/// What [`Access::connect`] calls the steps it times, for [`RemoteError::is_unreachable`].
const CONNECTING: &str = "connecting";
const HANDSHAKE: &str = "the SSH handshake";
const LOGGING_IN: &str = "logging in";

impl RemoteError {
    /// The host could not be reached or logged into (exit 3), as opposed to a failure once
    /// logged in (a command that failed or timed out).
    pub fn is_unreachable(&self) -> bool {
        match self {
            RemoteError::Timeout { what, .. } => {
                [CONNECTING, HANDSHAKE, LOGGING_IN].contains(&what.as_str())
            }
            RemoteError::Ssh { .. } => false,
            _ => true,
        }
    }
}

/// How to reach the hosts: who we are, which host keys we trust, how long we wait.
#[derive(Clone)]
pub struct Access {
    pub user: String,
    pub port: u16,
    pub identity: Option<Arc<PrivateKey>>,
    pub known_hosts: Arc<Mutex<KnownHosts>>,
    pub accept_new: bool,
    /// With `accept_new`: write the new keys to known_hosts (false in a dry run, which
    /// accepts them in memory only and lists them in `learned`).
    pub record: bool,
    pub learned: Arc<Mutex<Vec<String>>>,
    pub timeout: Duration,
}

impl Access {
    /// From cluster.toml's `[ssh]`; an identity that cannot be read is a configuration error.
    /// `record`: new host keys accepted with `accept_new` are written to known_hosts.
    pub fn new(cluster: &Cluster, accept_new: bool, record: bool) -> crate::error::Result<Access> {
        let ssh = &cluster.file.ssh;
        let hint = |e: crate::error::Error| {
            e.documented_in(&cluster.path, |key| {
                crate::config::reference::FileFormat::Cluster.hint(key)
            })
        };
        let identity = match &ssh.identity {
            Some(path) => {
                // `~/.ssh/id_ed25519`, as `init` writes it and people write it: the home of
                // whoever runs sftpha.
                let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
                let path = match (path.strip_prefix("~"), home) {
                    (Ok(rest), Some(home)) => home.join(rest),
                    _ if path.is_absolute() => path.clone(),
                    _ => cluster.dir().join(path),
                };
                if !path.exists() {
                    return Err(hint(crate::error::Error::config(
                        &cluster.path,
                        Some("ssh.identity"),
                        format!(
                            "`{}` does not exist: point it at the private key that logs into the hosts, or remove it to use the ssh-agent",
                            path.display()
                        ),
                    )));
                }
                let key = russh::keys::load_secret_key(&path, None).map_err(|e| {
                    hint(crate::error::Error::config(
                        &cluster.path,
                        Some("ssh.identity"),
                        format!(
                            "`{}` is not a usable private key ({e}); passphrase-protected keys go in the ssh-agent",
                            path.display()
                        ),
                    ))
                })?;
                Some(Arc::new(key))
            }
            None => None,
        };
        Ok(Access {
            user: ssh.user.clone(),
            port: ssh.port,
            identity,
            known_hosts: Arc::new(Mutex::new(KnownHosts::load(&cluster.known_hosts)?)),
            accept_new,
            record,
            learned: Arc::new(Mutex::new(Vec::new())),
            timeout: Duration::from_secs(ssh.timeout_seconds),
        })
    }

    /// What a dry run accepted without writing: `would record HOST KEYTYPE FINGERPRINT`.
    pub fn would_record(&self) -> Vec<String> {
        self.learned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Opens an authenticated session to `host`.
    pub async fn connect(&self, host: &str) -> Result<Remote, RemoteError> {
        let addr = format!("{}:{}", crate::net::bracket(host), self.port);
        tracing::debug!(host = %addr, user = %self.user, "connecting over SSH");
        let verdict = Arc::new(Mutex::new(None));
        let handler = Checker {
            host: host.to_owned(),
            port: self.port,
            known_hosts: self.known_hosts.clone(),
            accept_new: self.accept_new,
            record: self.record,
            learned: self.learned.clone(),
            addr: addr.clone(),
            refusal: verdict.clone(),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(600)),
            keepalive_interval: Some(Duration::from_secs(15)),
            nodelay: true,
            ..Default::default()
        });
        let timeout = |what: &str| RemoteError::Timeout {
            addr: addr.clone(),
            what: what.into(),
            after: self.timeout,
        };
        // Our own TCP connect, so "connection refused" or "no route to host" reach the
        // operator as they are.
        let stream = tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(&addr))
            .await
            .map_err(|_| timeout(CONNECTING))?
            .map_err(|e| RemoteError::Connect {
                addr: addr.clone(),
                message: e.to_string(),
            })?;
        let _ = stream.set_nodelay(true);
        let handshake = client::connect_stream(config, stream, handler);
        let handle = match tokio::time::timeout(self.timeout, handshake).await {
            Err(_) => return Err(timeout(HANDSHAKE)),
            Ok(Err(e)) => {
                if let Some(refusal) = verdict.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    return Err(refusal);
                }
                return Err(RemoteError::Connect {
                    addr,
                    message: format!("SSH handshake failed: {e}"),
                });
            }
            Ok(Ok(handle)) => handle,
        };
        let mut remote = Remote {
            addr,
            handle,
            timeout: self.timeout,
        };
        let authenticating = remote.authenticate(&self.user, self.identity.clone());
        match tokio::time::timeout(self.timeout, authenticating).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(RemoteError::Timeout {
                    addr: remote.addr,
                    what: LOGGING_IN.into(),
                    after: self.timeout,
                })
            }
        }
        Ok(remote)
    }
}

struct Checker {
    host: String,
    port: u16,
    addr: String,
    known_hosts: Arc<Mutex<KnownHosts>>,
    accept_new: bool,
    record: bool,
    learned: Arc<Mutex<Vec<String>>>,
    refusal: Arc<Mutex<Option<RemoteError>>>,
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key: PublicKey = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let mut known = self.known_hosts.lock().unwrap_or_else(|e| e.into_inner());
        let file = known.path().display().to_string();
        let refusal = match known.check(&self.host, self.port, &key) {
            Verdict::Known => return Ok(true),
            Verdict::Unknown if self.accept_new && !self.record => {
                known.remember(&self.host, self.port, &key);
                self.learned
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!(
                        "dry run: would record the host key of {} ({} {fingerprint}) in {file}",
                        self.addr,
                        key.algorithm().as_str()
                    ));
                return Ok(true);
            }
            Verdict::Unknown if self.accept_new => match known.learn(&self.host, self.port, &key) {
                Ok(()) => {
                    tracing::warn!(host = %self.addr, %fingerprint, known_hosts = %file, "recorded a new host key");
                    return Ok(true);
                }
                Err(e) => RemoteError::Ssh {
                    addr: self.addr.clone(),
                    message: format!("cannot record its host key: {e}"),
                },
            },
            Verdict::Unknown => RemoteError::UnknownHostKey {
                addr: self.addr.clone(),
                fingerprint,
                known_hosts: file,
            },
            Verdict::Changed { line } => RemoteError::ChangedHostKey {
                addr: self.addr.clone(),
                fingerprint,
                known_hosts: file,
                line,
            },
            Verdict::Revoked { line } => RemoteError::RevokedHostKey {
                addr: self.addr.clone(),
                fingerprint,
                known_hosts: file,
                line,
            },
        };
        *self.refusal.lock().unwrap_or_else(|e| e.into_inner()) = Some(refusal);
        Ok(false)
    }
}

/// What a remote command did.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: u32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The last lines of stderr (or stdout), for an error message.
    pub fn complaint(&self) -> String {
        let text = if self.stderr.is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        let text = String::from_utf8_lossy(text);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = &lines[lines.len().saturating_sub(3)..];
        if tail.is_empty() {
            format!("exit status {}", self.status)
        } else {
            tail.join(" / ")
        }
    }
}

/// An authenticated SSH session to one host.
pub struct Remote {
    pub addr: String,
    handle: client::Handle<Checker>,
    timeout: Duration,
}

impl Remote {
    /// The signature hash the server wants for an RSA key (none for other keys).
    async fn rsa_hash(&self, rsa: bool) -> Result<Option<HashAlg>, russh::Error> {
        if !rsa {
            return Ok(None);
        }
        Ok(self.handle.best_supported_rsa_hash().await?.flatten())
    }

    async fn authenticate(
        &mut self,
        user: &str,
        identity: Option<Arc<PrivateKey>>,
    ) -> Result<(), RemoteError> {
        let ssh_error = |e: russh::Error| RemoteError::Login {
            addr: self.addr.clone(),
            message: e.to_string(),
        };
        if let Some(key) = identity {
            let hash = self
                .rsa_hash(key.algorithm().is_rsa())
                .await
                .map_err(ssh_error)?;
            let result = self
                .handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash))
                .await
                .map_err(ssh_error)?;
            return match result {
                AuthResult::Success => Ok(()),
                _ => Err(RemoteError::AuthRefused {
                    addr: self.addr.clone(),
                    user: user.to_owned(),
                    agent: false,
                }),
            };
        }
        let no_agent = |message: String| RemoteError::NoIdentity {
            addr: self.addr.clone(),
            message,
        };
        let mut agent = russh::keys::agent::client::AgentClient::connect_env()
            .await
            .map_err(|e| {
                no_agent(format!(
                    "no ssh.identity in cluster.toml and no ssh-agent ({e}); set ssh.identity or start an agent with the key"
                ))
            })?;
        let identities = agent
            .request_identities()
            .await
            .map_err(|e| no_agent(format!("the ssh-agent did not list its keys: {e}")))?;
        if identities.is_empty() {
            return Err(no_agent("the ssh-agent holds no keys (ssh-add)".into()));
        }
        for identity in identities {
            let key = identity.public_key().into_owned();
            let hash = self
                .rsa_hash(key.algorithm().is_rsa())
                .await
                .map_err(ssh_error)?;
            match self
                .handle
                .authenticate_publickey_with(user, key, hash, &mut agent)
                .await
            {
                Ok(AuthResult::Success) => return Ok(()),
                Ok(_) => continue,
                Err(e) => tracing::debug!(addr = %self.addr, "agent key not usable: {e}"),
            }
        }
        Err(RemoteError::AuthRefused {
            addr: self.addr.clone(),
            user: user.to_owned(),
            agent: true,
        })
    }

    /// Runs `command` (by the remote user's shell), feeding it `stdin`, within `limit` (the
    /// session's timeout when `None`).
    pub async fn exec(
        &self,
        what: &str,
        command: &str,
        stdin: Option<&[u8]>,
        limit: Option<Duration>,
    ) -> Result<Output, RemoteError> {
        let limit = limit.unwrap_or(self.timeout);
        // -v: what runs where; -vv: the whole script (it holds no secret: file contents go
        // on stdin, which is never logged).
        tracing::debug!(host = %self.addr, stdin_bytes = stdin.map_or(0, <[u8]>::len), "{what}");
        tracing::trace!(host = %self.addr, "script:\n{command}");
        let started = std::time::Instant::now();
        match tokio::time::timeout(limit, self.exec_inner(command, stdin)).await {
            Ok(result) => {
                if let Ok(out) = &result {
                    tracing::debug!(
                        host = %self.addr,
                        status = out.status,
                        took_ms = started.elapsed().as_millis() as u64,
                        "{what}: done"
                    );
                }
                result.map_err(|e| RemoteError::Ssh {
                    addr: self.addr.clone(),
                    message: format!("{what}: {e}"),
                })
            }
            Err(_) => Err(RemoteError::Timeout {
                addr: self.addr.clone(),
                what: what.to_owned(),
                after: limit,
            }),
        }
    }

    async fn exec_inner(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, russh::Error> {
        let mut channel = self.handle.channel_open_session().await?;
        channel.exec(true, command).await?;
        if let Some(data) = stdin {
            channel.data(data).await?;
        }
        channel.eof().await?;
        let mut out = Output {
            status: 255,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        let mut status = None;
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    out.stderr
                        .extend_from_slice(format!("killed by signal {signal_name:?}").as_bytes());
                    status = Some(128);
                }
                _ => {}
            }
        }
        out.status = status.unwrap_or(255);
        Ok(out)
    }

    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "")
            .await;
    }
}

/// Quotes `s` for a POSIX shell.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
