//! The SSH side of a node connection: authentication against users.toml, failed-login
//! throttling, and channels that offer the `sftp` subsystem and nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::node::jail::Jail;
use crate::node::metrics::Metrics;
use crate::node::{sftp, SessionContext, Shared};
use crate::users::{fingerprint, User};

/// Session channels one connection may have open at once.
const MAX_CHANNELS: usize = 4;

/// What the connection task needs to know about a connection once russh has finished it.
#[derive(Default)]
pub struct ConnState {
    pub authenticated: AtomicBool,
    /// Rejected passwords and rejected signed keys.
    pub failures: AtomicU32,
    /// Keys offered and refused before any signature: a client trying its keys one by one.
    pub offers_rejected: AtomicU32,
    pub user: Mutex<Option<String>>,
}

pub struct SshHandler {
    shared: Arc<Shared>,
    client: SocketAddr,
    id: u64,
    state: Arc<ConnState>,
    token: CancellationToken,
    user: Option<Arc<User>>,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

impl SshHandler {
    pub fn new(
        shared: Arc<Shared>,
        client: SocketAddr,
        id: u64,
        state: Arc<ConnState>,
        token: CancellationToken,
    ) -> Self {
        SshHandler {
            shared,
            client,
            id,
            state,
            token,
            user: None,
            channels: HashMap::new(),
        }
    }

    fn methods() -> MethodSet {
        MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..])
    }

    fn reject() -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(Self::methods()),
            partial_success: false,
        }
    }

    fn banned(&self) -> bool {
        self.shared
            .throttle
            .is_banned(self.client.ip(), Instant::now())
    }

    fn lookup(&self, name: &str) -> Option<Arc<User>> {
        if name == crate::users::PROBE_USER {
            return self.shared.identity().probe.clone();
        }
        self.shared.users().get(name)
    }

    fn accept(&mut self, user: Arc<User>, method: &str, key: Option<&PublicKey>) -> Auth {
        self.state.authenticated.store(true, Relaxed);
        *self.state.user.lock().unwrap_or_else(|e| e.into_inner()) = Some(user.name.clone());
        Metrics::inc(&self.shared.metrics.logins_ok_total);
        self.shared.metrics.sessions.fetch_add(1, Relaxed);
        let fp = key.map(fingerprint);
        tracing::info!(session = self.id, user = %user.name, client = %self.client, method, key = fp.as_deref().unwrap_or("-"), "login");
        self.shared.audit.log(
            "login",
            Some(&user.name),
            self.client,
            self.id,
            json!({"method": method, "key_fingerprint": fp}),
        );
        self.user = Some(user);
        Auth::Accept
    }

    /// Counts one failed attempt and answers it.
    fn fail(&mut self, name: &str, method: &str, key: Option<&PublicKey>, reason: &str) -> Auth {
        self.state.failures.fetch_add(1, Relaxed);
        record_failed_login(
            &self.shared,
            self.client,
            self.id,
            name,
            method,
            key,
            reason,
        );
        if self.banned() {
            // The address just crossed the limit: end this connection too.
            self.token.cancel();
        }
        Self::reject()
    }
}

/// Accounts a failed login: metrics, audit, log, and the source address's throttle.
pub fn record_failed_login(
    shared: &Shared,
    client: SocketAddr,
    id: u64,
    user: &str,
    method: &str,
    key: Option<&PublicKey>,
    reason: &str,
) {
    Metrics::inc(&shared.metrics.logins_failed_total);
    let fp = key.map(fingerprint);
    tracing::warn!(session = id, user, client = %client, method, reason, "login failed");
    shared.audit.log(
        "login_failed",
        Some(user),
        client,
        id,
        json!({"method": method, "key_fingerprint": fp, "reason": reason}),
    );
    if shared.throttle.record_failure(client.ip(), Instant::now()) {
        tracing::warn!(client = %client.ip(), seconds = shared.config.file.auth_ban_seconds, "too many failed logins: refusing this address for a while");
        shared.audit.log(
            "throttled",
            None,
            client,
            id,
            json!({"ban_seconds": shared.config.file.auth_ban_seconds}),
        );
    }
}

impl russh::server::Handler for SshHandler {
    type Error = russh::Error;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Self::reject())
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if !self.banned()
            && self
                .lookup(user)
                .is_some_and(|u| u.accepts_key(offer.public_key))
        {
            return Ok(Auth::Accept);
        }
        self.state.offers_rejected.fetch_add(1, Relaxed);
        *self.state.user.lock().unwrap_or_else(|e| e.into_inner()) = Some(user.to_owned());
        Ok(Self::reject())
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.banned() {
            return Ok(self.fail(
                user,
                "publickey",
                Some(key.public_key),
                "source address throttled",
            ));
        }
        match self.lookup(user) {
            Some(u) if u.accepts_key(key.public_key) => {
                Ok(self.accept(u, "publickey", Some(key.public_key)))
            }
            Some(_) => Ok(self.fail(
                user,
                "publickey",
                Some(key.public_key),
                "key not authorized",
            )),
            None => Ok(self.fail(user, "publickey", Some(key.public_key), "unknown user")),
        }
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.banned() {
            return Ok(self.fail(user, "password", None, "source address throttled"));
        }
        let Some(u) = self.lookup(user) else {
            return Ok(self.fail(user, "password", None, "unknown user"));
        };
        let Some(hash) = u.password_hash.clone() else {
            return Ok(self.fail(
                user,
                "password",
                None,
                "password login not enabled for user",
            ));
        };
        let password = zeroizing(password);
        let permit = self.shared.password_checks.clone().acquire_owned().await;
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_password(&password, &hash)
        })
        .await
        .unwrap_or(false);
        if verified {
            Ok(self.accept(u, "password", None))
        } else {
            Ok(self.fail(user, "password", None, "wrong password"))
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.user.is_none() || self.channels.len() >= MAX_CHANNELS {
            reply
                .reject(russh::ChannelOpenFailure::ResourceShortage)
                .await;
            return Ok(());
        }
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(user), true) = (self.user.clone(), name == "sftp") else {
            tracing::info!(session = self.id, subsystem = name, "refused subsystem");
            self.channels.remove(&channel_id);
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        let Some(channel) = self.channels.remove(&channel_id) else {
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        let storage = self.shared.config.file.storage.clone();
        let home = user.home.clone();
        let jail = tokio::task::spawn_blocking(move || Jail::open(&storage, &home)).await;
        let jail = match jail {
            Ok(Ok(jail)) => jail,
            Ok(Err(e)) => {
                tracing::error!(session = self.id, user = %user.name, home = %user.home.display(), "cannot open home: {e}");
                session.channel_failure(channel_id)?;
                return Ok(());
            }
            Err(_) => {
                session.channel_failure(channel_id)?;
                return Ok(());
            }
        };
        session.channel_success(channel_id)?;
        let ctx = Arc::new(SessionContext {
            shared: self.shared.clone(),
            user,
            client: self.client,
            id: self.id,
        });
        sftp::start(channel, ctx, jail);
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(session = self.id, command = %String::from_utf8_lossy(data), "refused exec: this server offers SFTP only");
        self.refuse(channel, session)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(
            session = self.id,
            "refused shell: this server offers SFTP only"
        );
        self.refuse(channel, session)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn tcpip_forward(
        &mut self,
        _address: &str,
        _port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        _socket_path: &str,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }
}

impl SshHandler {
    /// Answers a shell or exec request with a failure and drops the channel, so clients that
    /// probe for a shell (rclone) get an answer instead of waiting forever.
    fn refuse(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), russh::Error> {
        self.channels.remove(&channel);
        session.channel_failure(channel)?;
        session.close(channel)?;
        Ok(())
    }
}

/// A copy of a password that is wiped when dropped.
struct Secret(Vec<u8>);

impl Drop for Secret {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // A volatile-free wipe is best effort; the allocation is freed right after.
            *b = 0;
        }
        std::hint::black_box(&self.0);
    }
}

fn zeroizing(password: &str) -> Secret {
    Secret(password.as_bytes().to_vec())
}

fn verify_password(password: &Secret, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    match argon2::PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(&password.0, &parsed)
            .is_ok(),
        Err(_) => false,
    }
}
