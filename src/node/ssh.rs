//! The SSH side of a node connection: authentication against users.toml, failed-login
//! throttling, and channels that offer the `sftp` subsystem and nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::users::{fingerprint, User};
use crate::node::audit::printable;
use crate::node::jail::Jail;
use crate::node::limits::{Fds, Ticket, UserSession};
use crate::node::metrics::Metrics;
use crate::node::password::{Secret, Verdict};
use crate::node::stream::Activity;
use crate::node::throttle::Attempt;
use crate::node::{limits, sftp, SessionContext, Shared};

/// What the connection task and the SFTP sessions know about a connection.
pub struct ConnState {
    pub authenticated: AtomicBool,
    /// Rejected passwords and rejected signed keys.
    pub failures: AtomicU32,
    /// Keys offered and refused before any signature: a client trying its keys one by one.
    pub offers_rejected: AtomicU32,
    pub user: Mutex<Option<String>>,
    /// When the client was last heard from.
    pub activity: Arc<Activity>,
    /// The connection's place among the node's unauthenticated connections, given up at login.
    ticket: Mutex<Option<Ticket>>,
    /// The connection's share of the node's open-file budget.
    _fds: Fds,
    /// Open files and directories over all the connection's SFTP sessions.
    pub handles: AtomicUsize,
    /// SFTP sessions running on the connection.
    pub sftp_sessions: AtomicUsize,
    /// The logged-in user's place in `max_sessions_per_user`.
    user_session: Mutex<Option<UserSession>>,
}

impl ConnState {
    pub fn new(ticket: Ticket, fds: Fds) -> ConnState {
        ConnState {
            authenticated: AtomicBool::new(false),
            failures: AtomicU32::new(0),
            offers_rejected: AtomicU32::new(0),
            user: Mutex::new(None),
            activity: Arc::new(Activity::default()),
            ticket: Mutex::new(Some(ticket)),
            _fds: fds,
            handles: AtomicUsize::new(0),
            sftp_sessions: AtomicUsize::new(0),
            user_session: Mutex::new(None),
        }
    }

    /// Gives back the user's session slot (the connection ended).
    pub fn end_user_session(&self) {
        self.user_session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// Counts a running SFTP session of a connection, and its descriptor, while it lives.
pub struct SessionSlot {
    conn: Arc<ConnState>,
    shared: Arc<Shared>,
    user: Arc<User>,
    _fds: Fds,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.conn.sftp_sessions.fetch_sub(1, Relaxed);
        self.shared
            .user_shares
            .give_fds(&self.user.name, limits::FDS_SESSION);
    }
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
        if name == crate::config::users::PROBE_USER {
            return self.shared.identity().probe.clone();
        }
        self.shared.users().get(name)
    }

    fn accept(&mut self, user: Arc<User>, method: &str, key: Option<&PublicKey>) -> Auth {
        self.shared.throttle.succeeded(self.client.ip());
        let Some(slot) = self.shared.user_shares.login(&user.name) else {
            let limit = self.shared.config.file.max_sessions_per_user;
            return self.fail(
                &user.name.clone(),
                method,
                key,
                &format!(
                    "the user has {limit} sessions on this node already (max_sessions_per_user)"
                ),
                false,
            );
        };
        *self
            .state
            .user_session
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(slot);
        self.state.authenticated.store(true, Relaxed);
        self.state.activity.request();
        // No longer a stranger: the slot among unauthenticated connections is given back.
        self.state
            .ticket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
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

    /// Answers a failed attempt. `counted`: the attempt was begun with the throttle and is now
    /// a failure there; otherwise (refused by the throttle, or never verified) it is not.
    fn fail(
        &mut self,
        name: &str,
        method: &str,
        key: Option<&PublicKey>,
        reason: &str,
        counted: bool,
    ) -> Auth {
        self.state.failures.fetch_add(1, Relaxed);
        record_failed_login(
            &self.shared,
            self.client,
            self.id,
            name,
            method,
            key,
            reason,
            counted,
        );
        if self.banned() {
            // The address crossed the limit: end this connection too.
            self.token.cancel();
        }
        Self::reject()
    }

    /// Counts an attempt before verifying it; `None` when the throttle refuses it.
    fn begin_attempt(&mut self) -> Option<u32> {
        match self.shared.throttle.begin(self.client.ip(), Instant::now()) {
            Attempt::Allowed { earlier } => Some(earlier),
            Attempt::Refused => {
                Metrics::inc(&self.shared.metrics.throttled_total);
                None
            }
        }
    }
}

/// Accounts a failed login: metrics, audit, log, and (when `counted`) the source's throttle.
#[allow(clippy::too_many_arguments)]
pub fn record_failed_login(
    shared: &Shared,
    client: SocketAddr,
    id: u64,
    user: &str,
    method: &str,
    key: Option<&PublicKey>,
    reason: &str,
    counted: bool,
) {
    Metrics::inc(&shared.metrics.logins_failed_total);
    let fp = key.map(fingerprint);
    tracing::warn!(session = id, user = %printable(user), client = %client, method, reason, "login failed");
    shared.audit.log(
        "login_failed",
        Some(user),
        client,
        id,
        json!({"method": method, "key_fingerprint": fp, "reason": reason}),
    );
    if counted && shared.throttle.failed(client.ip(), Instant::now()) {
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
                .is_some_and(|u| u.accepts_key(offer.public_key, self.client.ip()))
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
        self.state.activity.request();
        if self.begin_attempt().is_none() {
            return Ok(self.fail(
                user,
                "publickey",
                Some(key.public_key),
                "source address throttled",
                false,
            ));
        }
        match self.lookup(user) {
            Some(u) if u.accepts_key(key.public_key, self.client.ip()) => {
                Ok(self.accept(u, "publickey", Some(key.public_key)))
            }
            Some(u) if u.has_key(key.public_key) => Ok(self.fail(
                user,
                "publickey",
                Some(key.public_key),
                "key not allowed from this address (from=)",
                true,
            )),
            Some(_) => Ok(self.fail(
                user,
                "publickey",
                Some(key.public_key),
                "key not authorized",
                true,
            )),
            None => Ok(self.fail(
                user,
                "publickey",
                Some(key.public_key),
                "unknown user",
                true,
            )),
        }
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        self.state.activity.request();
        let Some(earlier) = self.begin_attempt() else {
            return Ok(self.fail(user, "password", None, "source address throttled", false));
        };
        let Some(u) = self.lookup(user) else {
            return Ok(self.fail(user, "password", None, "unknown user", true));
        };
        let Some(hash) = u.password_hash.clone() else {
            return Ok(self.fail(
                user,
                "password",
                None,
                "password login not enabled for user",
                true,
            ));
        };
        let verdict = self
            .shared
            .passwords
            .verify(hash, Secret::new(password), earlier)
            .await;
        match verdict {
            Verdict::Match => Ok(self.accept(u, "password", None)),
            Verdict::NoMatch => Ok(self.fail(user, "password", None, "wrong password", true)),
            Verdict::Busy => {
                // Never verified: the attempt is given back, the login still fails.
                self.shared.throttle.succeeded(self.client.ip());
                Ok(self.fail(
                    user,
                    "password",
                    None,
                    "password checks are saturated: not verified",
                    false,
                ))
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let open = self.channels.len() + self.state.sftp_sessions.load(Relaxed);
        if self.user.is_none() || open >= self.shared.config.file.max_channels {
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
            tracing::info!(session = self.id, subsystem = %printable(name), "refused subsystem");
            self.channels.remove(&channel_id);
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        let Some(channel) = self.channels.remove(&channel_id) else {
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        let Some(fds) = self.shared.fds.take(limits::FDS_SESSION) else {
            tracing::warn!(
                session = self.id,
                "refused SFTP session: the node's open-file budget is used up"
            );
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        // Blocking, like every file operation of the connection: the thread is its own (a
        // blocking-pool thread would linger idle for 10 s after each login).
        let jail = Jail::open(&self.shared.storage, &user.home);
        // From here the slot gives everything back, whatever happens.
        self.state.sftp_sessions.fetch_add(1, Relaxed);
        let slot = SessionSlot {
            conn: self.state.clone(),
            shared: self.shared.clone(),
            user: user.clone(),
            _fds: fds,
        };
        let jail = match jail {
            Ok(jail) => jail,
            Err(e) => {
                tracing::error!(session = self.id, user = %user.name, home = %user.home.display(), "cannot open home: {e}");
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
            conn: self.state.clone(),
        });
        sftp::start(channel, ctx, jail, slot);
        Ok(())
    }
    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(session = self.id, command = %printable(&String::from_utf8_lossy(data)), "refused exec: this server offers SFTP only");
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
