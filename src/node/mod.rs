//! The bundled SFTP server, `sftpha node run`: accepts connections (behind an optional PROXY
//! header), runs SSH on russh with SFTP as the only service, reports health and metrics,
//! reloads users without a restart, and drains gracefully on SIGTERM.

pub mod audit;
pub mod fuzzing;
pub mod health;
pub mod identity;
pub mod jail;
pub mod journal;
pub mod limits;
pub mod metrics;
pub mod password;
pub mod sftp;
pub mod ssh;
pub mod storage;
pub mod stream;
pub mod throttle;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use russh::keys::PrivateKey;
use russh::{cipher, MethodKind, MethodSet, Preferred, SshId};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use crate::config::node::{Node, ProxyMode};
use crate::config::users::{User, Users};
use crate::error::{Error, Result};
use crate::timeouts;
use crate::wire::proxy::{self, Header};
use limits::{FdBudget, Fds, Startups};
use metrics::Metrics;

/// Stack of a connection thread (russh, the SFTP session and its buffers live on the heap).
const CONNECTION_STACK: usize = 1 << 20;
/// How often the janitor rewrites this process's upload journal and reads the others'.
const JANITOR_INTERVAL: Duration = journal::HEARTBEAT;
/// A connection whose client has sent nothing for this long hands its thread's cache of
/// freed memory back (see [`on_thread_idle`]): an idle session then costs its stack and what
/// it really holds, not what its login left in the allocator's thread cache.
const IDLE_HINT: Duration = Duration::from_secs(1);
/// The watchdog never looks again sooner than this after a look.
const WATCHDOG_MIN: Duration = Duration::from_millis(100);
/// What a connection's thread calls once its client has gone quiet for [`IDLE_HINT`].
static THREAD_IDLE: OnceLock<fn()> = OnceLock::new();
pub use crate::config::node::STATE_DIR;

/// State shared by every connection of a node.
pub struct Shared {
    pub config: Node,
    users: RwLock<Arc<Users>>,
    pub metrics: Arc<Metrics>,
    pub audit: audit::Audit,
    pub throttle: throttle::Throttle,
    /// Unauthenticated connections, per source and in total.
    pub startups: Arc<Startups>,
    /// The node's open-file budget.
    pub fds: Arc<FdBudget>,
    /// Password verification, on a bounded pool.
    pub passwords: Arc<password::PasswordPool>,
    /// Memory for queued SFTP requests and replies, over every session.
    pub queues: Arc<limits::QueueBudget>,
    /// Sessions and descriptors per user.
    pub user_shares: Arc<limits::UserShares>,
    /// Cancelled when the node starts draining (SIGTERM): sessions wait on it rather than poll.
    pub draining: CancellationToken,
    /// The storage this node started with, held open, and what the last check found.
    pub storage: storage::Storage,
    /// Where this process notes its uploads in progress.
    pub journal: Arc<journal::Journal>,
    /// Host keys, certificates and the probe login in force (swapped whole on SIGHUP).
    identity: RwLock<Arc<Identity>>,
    pub next_id: AtomicU64,
    pub upload_counter: AtomicU64,
    pub started: Instant,
    /// When refusals were last logged (they are summarised, not logged one by one).
    refusals_logged: Mutex<(Instant, u64)>,
}

impl Shared {
    /// The users in force now; a reload swaps the whole table at once.
    pub fn users(&self) -> Arc<Users> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_users(&self, users: Users) {
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(users);
    }

    /// The host keys, certificates and probe login in force now.
    pub fn identity(&self) -> Arc<Identity> {
        self.identity
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts a connection refused before the SSH banner. Floods refuse thousands a second,
    /// so refusals are logged one by one only at debug level and summarised every 10 s.
    pub fn refused(&self, peer: SocketAddr, reason: &str) {
        Metrics::inc(&self.metrics.connections_rejected_total);
        tracing::debug!(peer = %peer, reason, "connection refused");
        let mut logged = self
            .refusals_logged
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        logged.1 += 1;
        if logged.0.elapsed() >= Duration::from_secs(10) {
            tracing::info!(
                refused = logged.1,
                last_reason = reason,
                last_peer = %peer,
                startups = self.startups.count(),
                sessions = self.metrics.sessions.load(Relaxed),
                "connections refused before the SSH banner in the last 10 s"
            );
            *logged = (Instant::now(), 0);
        }
    }
}

/// What one SFTP session knows about who it serves.
pub struct SessionContext {
    pub shared: Arc<Shared>,
    pub user: Arc<User>,
    pub client: SocketAddr,
    pub id: u64,
    /// The connection the session belongs to: its handle count and its activity clock.
    pub conn: Arc<ssh::ConnState>,
}

/// The addresses the node listens on, announced once it accepts connections.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    pub sftp: SocketAddr,
    pub health: SocketAddr,
}

pub use identity::{fingerprint_of, load_host_keys, Identity};

/// How often the node asks a logged-in client for a sign of life: every 30 s, or more often
/// when the idle timeout is short, so that a vanished client is noticed within it.
fn keepalive_interval(idle_timeout: Duration) -> Duration {
    (idle_timeout / 3).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

pub(crate) fn ssh_config(node: &Node, keys: Vec<PrivateKey>) -> russh::server::Config {
    let f = &node.file;
    let idle = Duration::from_secs(f.idle_timeout_seconds);
    russh::server::Config {
        server_id: SshId::Standard(Cow::Owned(format!(
            "SSH-2.0-sftpha_{}",
            env!("CARGO_PKG_VERSION")
        ))),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
        auth_rejection_time: timeouts::AUTH_REJECTION,
        // OpenSSH clients start with a "none" probe; answering it at once saves every login a delay.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys,
        max_auth_attempts: f.max_auth_tries,
        inactivity_timeout: Some(idle),
        keepalive_interval: Some(keepalive_interval(idle)),
        keepalive_max: 3,
        nodelay: true,
        // What russh may hold for a channel whose session stopped reading (the window is
        // adjusted on receipt, so this, not the window, bounds it): 16 x 32 KiB.
        channel_buffer_size: 16,
        preferred: Preferred {
            cipher: Cow::Borrowed(&[
                cipher::CHACHA20_POLY1305,
                cipher::AES_128_GCM,
                cipher::AES_256_GCM,
                cipher::AES_256_CTR,
                cipher::AES_192_CTR,
                cipher::AES_128_CTR,
            ]),
            ..Preferred::default()
        },
        ..Default::default()
    }
}

/// Runs the node until SIGTERM or SIGINT has drained it. `ready` is called once both
/// listeners accept connections.
pub async fn run(config: Node, ready: impl FnOnce(Ready)) -> Result<()> {
    // Everything the node creates (homes, uploads, folders, its own state) gets at most the
    // permissions the umask leaves; a client's mode is narrowed the same way, as by sftp-server -u.
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(config.file.umask));
    let fd_limit = raise_fd_limit(&config.file);
    let identity = Identity::load(&config)?;
    let users = Users::load(&config.file.users)?;
    let storage = tokio::task::spawn_blocking({
        let path = config.file.storage.clone();
        let expected = config.file.storage_id_file.clone();
        move || {
            storage::Storage::open(&path, expected.as_deref())
                .map_err(|source| Error::Storage { path, source })
        }
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    let metrics = Arc::new(Metrics::default());
    let audit = audit::Audit::start(
        config.file.audit_log.clone(),
        &config.file.name,
        metrics.clone(),
    )
    .map_err(|source| Error::WriteFile {
        path: config.file.audit_log.clone().unwrap_or_default(),
        source,
    })?;
    let sftp_listener = crate::net::bind(config.listen).await?;
    let health_listener = crate::net::bind(config.health_listen).await?;
    let queues = limits::QueueBudget::new(config.file.max_queued_mib << 20);
    let fds = FdBudget::new(fd_limit);
    let user_shares = limits::UserShares::new(config.file.max_sessions_per_user, &fds);
    let throttle = throttle::Throttle::new(
        config.file.auth_fail_limit,
        Duration::from_secs(config.file.auth_fail_window_seconds),
        Duration::from_secs(config.file.auth_ban_seconds),
    );
    let startups = Startups::new(
        config.file.max_startups,
        config.file.per_source_max_startups,
    );
    let journal = Arc::new(journal::Journal::new(&storage.path, &config.file.name));
    let shared = Arc::new(Shared {
        config,
        users: RwLock::new(Arc::new(users)),
        metrics,
        audit,
        throttle,
        startups,
        fds,
        user_shares,
        passwords: password::PasswordPool::start(
            password::PasswordPool::default_threads(),
            password::QUEUE_CAPACITY,
            password::QUEUE_DEADLINE,
        ),
        queues,
        draining: CancellationToken::new(),
        journal,
        storage,
        identity: RwLock::new(Arc::new(identity)),
        next_id: AtomicU64::new(1),
        // Temporary names carry it: a new process must not meet its predecessor's names (in
        // a container every node process is pid 1).
        upload_counter: AtomicU64::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        ),
        started: Instant::now(),
        refusals_logged: Mutex::new((Instant::now(), 0)),
    });
    check_storage_once(&shared).await;

    let kill_all = CancellationToken::new();
    let stop_accepting = CancellationToken::new();
    let announced = Ready {
        sftp: sftp_listener.local_addr()?,
        health: health_listener.local_addr()?,
    };
    tracing::info!(
        node = %shared.config.file.name,
        sftp = %announced.sftp,
        health = %announced.health,
        host_key = %shared.identity().fingerprints.join(", "),
        users = shared.users().len(),
        open_file_budget = shared.fds.limit(),
        password_threads = shared.passwords.threads(),
        "node ready"
    );

    tokio::spawn(health::serve(health_listener, shared.clone()));
    tokio::spawn(watch_users(shared.clone()));
    tokio::spawn(watch_storage(shared.clone()));
    tokio::spawn(janitor(shared.clone()));
    tokio::spawn(accept_loop(
        sftp_listener,
        shared.clone(),
        kill_all.clone(),
        stop_accepting.clone(),
    ));
    ready(announced);

    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading users and host keys, reopening the audit log");
                reload_users(&shared).await;
                reload_identity(&shared).await;
                shared.audit.reopen();
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    drain(&shared, &stop_accepting, &kill_all, &mut term, &mut int).await;
    Ok(())
}

/// Raises the soft limit of open files to the hard limit (a default soft limit of 1024 is
/// far below what `max_sessions` connections can hold), and the hard limit too, up to the
/// worst case, where the node may (root, or CAP_SYS_RESOURCE: a node started from a shell
/// with a hard limit of 4096 still takes `max_sessions` idle sessions); says when even that is
/// below the worst case, and returns the limit in force: the node's budget is planned within
/// it.
fn raise_fd_limit(file: &crate::config::node::NodeConfig) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let per_connection = limits::FDS_CONNECTION as u64
        + file.max_channels as u64 * limits::FDS_SESSION as u64
        + file.max_handles as u64 * limits::FDS_DIR as u64;
    let worst = file.max_sessions as u64 * per_connection + 64;
    let limit = getrlimit(Resource::Nofile);
    let raise = |to: u64, hard: Option<u64>| {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(to),
                maximum: hard,
            },
        )
        .is_ok()
    };
    match limit.maximum {
        // The kernel's ceiling for any process (fs.nr_open) bounds a raised hard limit.
        Some(hard) if hard < worst => {
            let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(hard);
            let to = worst.min(ceiling).max(hard);
            if !raise(to, Some(to)) {
                raise(hard, Some(hard));
            }
        }
        Some(hard) => {
            raise(hard, Some(hard));
        }
        None => {
            raise(worst.max(limit.current.unwrap_or(0)), None);
        }
    }
    let now = getrlimit(Resource::Nofile).current;
    if now.is_some_and(|n| n < worst) {
        tracing::warn!(
            limit = now,
            worst_case = worst,
            "the open-file limit is below what max_sessions connections can hold at most \
             (max_sessions x (5 + max_channels + 2 x max_handles)): past it the node refuses new \
             connections and handles and /healthz says fd_limit; raise it (systemd LimitNOFILE, ulimit -n) \
             or lower max_handles"
        );
    }
    now.unwrap_or(1 << 20)
}

/// Graceful stop: health turns 503 at once and new connections are refused; connections in
/// progress get up to `drain_timeout_seconds` to end (sessions idle with nothing open are
/// closed after a moment, see `sftp::DRAIN_IDLE`); then every connection is closed. A second
/// signal ends the wait.
async fn drain(
    shared: &Shared,
    stop_accepting: &CancellationToken,
    kill_all: &CancellationToken,
    term: &mut tokio::signal::unix::Signal,
    int: &mut tokio::signal::unix::Signal,
) {
    shared.draining.cancel();
    stop_accepting.cancel();
    let timeout = Duration::from_secs(shared.config.file.drain_timeout_seconds);
    tracing::info!(
        connections = shared.metrics.connections.load(Relaxed),
        open_files = shared.metrics.open_files.load(Relaxed),
        timeout_seconds = timeout.as_secs(),
        "draining: new connections refused, waiting for sessions to finish"
    );
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let open = shared.metrics.connections.load(Relaxed);
        if open <= 0 {
            tracing::info!("drained: no connection left");
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                connections = open,
                open_files = shared.metrics.open_files.load(Relaxed),
                "drain timeout reached: closing what is left"
            );
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(timeouts::DRAIN_POLL) => {}
            _ = term.recv() => { tracing::warn!("second signal: stopping now"); break; }
            _ = int.recv() => { tracing::warn!("second signal: stopping now"); break; }
        }
    }
    kill_all.cancel();
    // Give sessions a moment to close their handles (removing unfinished uploads).
    let settle = tokio::time::Instant::now() + Duration::from_secs(2);
    while shared.metrics.connections.load(Relaxed) > 0 && tokio::time::Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Accepts connections. Everything here is cheap: what costs a thread (a connection of its
/// own) is spent only once the connection is admitted. Connections from trusted proxies first
/// send their PROXY header (on a task of this runtime, with a deadline), so that admission
/// and throttling see the real client.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    kill_all: CancellationToken,
    stop: CancellationToken,
) {
    let pending_headers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    while let Some((stream, peer)) = crate::net::accept(&listener, &stop).await {
        Metrics::inc(&shared.metrics.connections_total);
        // Logged-in sessions at the limit: refuse before the banner, so a gateway tries another node.
        if shared.metrics.sessions.load(Relaxed) >= shared.config.file.max_sessions as i64 {
            shared.refused(peer, "max_sessions reached");
            continue;
        }
        let Some(fds) = shared.fds.take(limits::FDS_CONNECTION) else {
            shared.refused(peer, "open-file budget exhausted");
            continue;
        };
        if !reads_proxy_header(&shared, peer) {
            admit(&shared, stream, peer, peer, fds, &kill_all);
            continue;
        }
        if pending_headers.load(Relaxed) >= shared.config.file.max_startups.full {
            shared.refused(peer, "too many connections waiting for their PROXY header");
            continue;
        }
        pending_headers.fetch_add(1, Relaxed);
        let (shared, kill_all, pending) =
            (shared.clone(), kill_all.clone(), pending_headers.clone());
        tokio::spawn(async move {
            let mut stream = stream;
            let client = client_address(&shared, &mut stream, peer).await;
            pending.fetch_sub(1, Relaxed);
            match client {
                Ok(client) => admit(&shared, stream, peer, client, fds, &kill_all),
                Err(why) => shared.refused(peer, &why),
            }
        });
    }
}

/// Whether a connection from `peer` starts with a PROXY header to read.
fn reads_proxy_header(shared: &Shared, peer: SocketAddr) -> bool {
    match shared.config.file.proxy_protocol {
        ProxyMode::Off => false,
        ProxyMode::Optional => shared.config.is_trusted_proxy(peer.ip()),
        ProxyMode::Required => true,
    }
}

/// Admits a connection from `client` (throttle, drain, startup limits) and gives it a thread.
fn admit(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    client: SocketAddr,
    fds: Fds,
    kill_all: &CancellationToken,
) {
    if shared.draining.is_cancelled() {
        return shared.refused(peer, "draining");
    }
    let now = Instant::now();
    if shared.throttle.is_banned(client.ip(), now) {
        Metrics::inc(&shared.metrics.throttled_total);
        return shared.refused(client, "source address throttled after failed logins");
    }
    let token = kill_all.child_token();
    let ticket = match shared
        .startups
        .admit(client.ip(), token.clone(), now, |source| {
            shared.throttle.suspicion(source, now)
        }) {
        Ok(ticket) => ticket,
        Err(refusal) => {
            Metrics::inc(&shared.metrics.startups_refused_total);
            return shared.refused(client, refusal.reason());
        }
    };
    let id = shared.next_id.fetch_add(1, Relaxed);
    // The stream moves to the connection's own runtime: take it off this one first.
    let stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("could not hand over connection: {e}");
            return;
        }
    };
    // The identity in force now serves this connection to its end, whatever reloads come.
    let ssh = shared.identity().ssh.clone();
    let conn = Arc::new(ssh::ConnState::new(ticket, fds));
    let shared2 = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("conn-{id}"))
        .stack_size(CONNECTION_STACK)
        .spawn(move || serve_connection(shared2, ssh, stream, client, id, conn, token));
    if let Err(e) = spawned {
        Metrics::inc(&shared.metrics.connections_rejected_total);
        tracing::error!(peer = %peer, "could not start a connection thread: {e}");
    }
}

/// Runs one connection on a thread of its own with a single-threaded runtime: russh's
/// session task and the SFTP session share the thread, so a request never waits for another
/// thread to wake up, and blocking file I/O stalls this connection alone (the process model
/// of OpenSSH, without fork and exec). Concurrent connections use every core.
fn serve_connection(
    shared: Arc<Shared>,
    ssh: Arc<russh::server::Config>,
    stream: std::net::TcpStream,
    client: SocketAddr,
    id: u64,
    conn: Arc<ssh::ConnState>,
    token: CancellationToken,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(client = %client, "could not start a connection runtime: {e}");
            return;
        }
    };
    let span = tracing::info_span!("conn", id, client = %client);
    runtime.block_on(tracing::Instrument::instrument(
        async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => connection(shared, ssh, stream, client, id, conn, token).await,
                Err(e) => tracing::warn!("could not register connection: {e}"),
            }
        },
        span,
    ));
    // Tasks left on this runtime (russh's session, SFTP sessions) are dropped with it: a
    // connection that ended for any reason takes everything it started along.
    runtime.shutdown_background();
}

/// Decrements the connections gauge when a connection task ends, however it ends.
struct Counted(Arc<Metrics>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Relaxed);
    }
}

/// Sets what a connection's thread does once its client has gone quiet: the binary hands
/// jemalloc's thread cache back (`thread.idle`), which the library cannot do without unsafe
/// code. Unset, nothing is done. Only the first call counts.
pub fn on_thread_idle(hook: fn()) {
    let _ = THREAD_IDLE.set(hook);
}

/// How long until [`watchdog`] could find a reason to close: the idle timeout, counted from
/// the client's latest sign of life. Sleeping exactly that long (not ticking) leaves an idle
/// connection's thread asleep.
fn watchdog_wait(shared: &Shared, conn: &ssh::ConnState) -> Duration {
    let idle = Duration::from_secs(shared.config.file.idle_timeout_seconds);
    let quiet = conn
        .activity
        .since_read()
        .max(conn.activity.since_request());
    idle.saturating_sub(quiet)
}

/// Why a connection was closed by the node rather than by its client.
fn watchdog(shared: &Shared, conn: &ssh::ConnState) -> Option<&'static str> {
    let idle = Duration::from_secs(shared.config.file.idle_timeout_seconds);
    if !conn.authenticated.load(Relaxed) {
        return None;
    }
    // Nothing at all from the client (not even an answer to keepalives): it is gone, though
    // the session may be blocked on a full queue and never notice.
    if conn.activity.since_read() >= idle {
        return Some("the client sent nothing for the idle timeout (gone?)");
    }
    // Keepalive answers only: the session is idle.
    if conn.activity.since_request() >= idle {
        return Some("no request for the idle timeout");
    }
    None
}

async fn connection(
    shared: Arc<Shared>,
    ssh: Arc<russh::server::Config>,
    stream: TcpStream,
    client: SocketAddr,
    id: u64,
    conn: Arc<ssh::ConnState>,
    token: CancellationToken,
) {
    shared.metrics.connections.fetch_add(1, Relaxed);
    let _counted = Counted(shared.metrics.clone());
    let _ = stream.set_nodelay(true);
    let handler = ssh::SshHandler::new(shared.clone(), client, id, conn.clone(), token.clone());
    let stream = stream::KillableStream::new(stream, token.clone(), conn.activity.clone());
    let session = async move {
        match russh::server::run_stream(ssh, stream, handler).await {
            Ok(session) => session.await,
            Err(e) => Err(e),
        }
    };
    tokio::pin!(session);
    let grace = tokio::time::sleep(Duration::from_secs(shared.config.file.login_grace_seconds));
    tokio::pin!(grace);
    let look = tokio::time::sleep(IDLE_HINT);
    tokio::pin!(look);
    // When the thread last went idle; None until it first does.
    let mut hinted_at: Option<Instant> = None;
    let closed_by_node = loop {
        tokio::select! {
            r = &mut session => {
                if let Err(e) = r {
                    tracing::debug!("connection ended: {e}");
                }
                break None;
            }
            _ = token.cancelled() => break Some("closed by the node (evicted, login grace over, or drained)"),
            _ = &mut grace, if !conn.authenticated.load(Relaxed) => {
                break Some("login grace time over");
            }
            _ = &mut look => {
                if let Some(why) = watchdog(&shared, &conn) {
                    break Some(why);
                }
                let quiet = conn.activity.since_read();
                // Nothing read since the thread last went idle: it still is.
                let mut idle = hinted_at.is_some_and(|at| quiet >= at.elapsed());
                if !idle && quiet >= IDLE_HINT {
                    if let Some(hook) = THREAD_IDLE.get() {
                        hook();
                    }
                    hinted_at = Some(Instant::now());
                    idle = true;
                }
                let mut next = watchdog_wait(&shared, &conn);
                if !idle {
                    next = next.min(IDLE_HINT.saturating_sub(quiet));
                }
                look.as_mut().reset(tokio::time::Instant::now() + next.max(WATCHDOG_MIN));
            }
        }
    };
    if let Some(why) = closed_by_node {
        tracing::info!(client = %client, reason = why, "closing connection");
        // Whatever russh or the SFTP sessions wait for, they end with this connection's runtime.
        token.cancel();
    }
    let user = conn.user.lock().unwrap_or_else(|e| e.into_inner()).clone();
    conn.end_user_session();
    if conn.authenticated.load(Relaxed) {
        shared.metrics.sessions.fetch_sub(1, Relaxed);
        shared
            .audit
            .log("logout", user.as_deref(), client, id, json!({}));
    } else if conn.failures.load(Relaxed) == 0 && conn.offers_rejected.load(Relaxed) > 0 {
        // The client offered only keys we refused and gave up: one failed login.
        if let throttle::Attempt::Allowed { .. } =
            shared.throttle.begin(client.ip(), Instant::now())
        {
            ssh::record_failed_login(
                &shared,
                client,
                id,
                user.as_deref().unwrap_or("-"),
                "publickey",
                None,
                "no authorized key offered",
                true,
            );
        }
    }
}

/// The real client address: the PROXY header's source when a trusted proxy sent one.
async fn client_address(
    shared: &Shared,
    stream: &mut TcpStream,
    peer: SocketAddr,
) -> Result<SocketAddr, String> {
    let mode = shared.config.file.proxy_protocol;
    let trusted = shared.config.is_trusted_proxy(peer.ip());
    let wait = match mode {
        ProxyMode::Off => return Ok(peer),
        ProxyMode::Optional if !trusted => return Ok(peer),
        ProxyMode::Optional => timeouts::PROXY_OPTIONAL_WAIT,
        ProxyMode::Required if !trusted => {
            return Err(format!(
                "PROXY header required but `{}` is not a trusted proxy",
                peer.ip()
            ))
        }
        ProxyMode::Required => timeouts::PROXY_HEADER,
    };
    match proxy::read_header(stream, wait).await {
        Ok(Some(Header::Proxied { source })) => Ok(source),
        Ok(Some(Header::Local)) => Ok(peer),
        Ok(None) if mode == ProxyMode::Optional => Ok(peer),
        Ok(None) => Err("PROXY header required but none arrived".into()),
        Err(e) => Err(format!("bad PROXY header: {e}")),
    }
}

/// Reloads the host keys, certificates and probe key named by node.toml. Nothing changes
/// when any of them fails to load. Other changed keys of node.toml need a restart: they are
/// named, and `/healthz` keeps reporting the checksum of the config wholly in force.
async fn reload_identity(shared: &Arc<Shared>) {
    let path = shared.config.path.clone();
    let loaded = tokio::task::spawn_blocking(move || -> Result<(Node, Identity)> {
        let node = Node::load(&path)?;
        let identity = Identity::load(&node)?;
        Ok((node, identity))
    })
    .await;
    match loaded {
        Ok(Ok((node, mut identity))) => {
            let pending = shared.config.restart_keys_changed(&node);
            if !pending.is_empty() {
                identity.config_checksum = shared.identity().config_checksum.clone();
                tracing::warn!(
                    keys = %pending.join(", "),
                    "node.toml: these changes take a restart; host keys and certificates reloaded"
                );
            }
            let fingerprints = identity.fingerprints.join(", ");
            let certificates = identity.certificates.len();
            *shared.identity.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(identity);
            tracing::info!(host_keys = %fingerprints, certificates, "host keys reloaded");
        }
        Ok(Err(e)) => {
            tracing::error!("host keys not reloaded, the previous ones stay in force: {e}")
        }
        Err(e) => tracing::error!("host key reload failed: {e}"),
    }
}

/// Reloads users.toml; an invalid file is refused and the users in force stay.
async fn reload_users(shared: &Arc<Shared>) {
    let path = shared.config.file.users.clone();
    let loaded = tokio::task::spawn_blocking(move || Users::load(&path)).await;
    match loaded {
        Ok(Ok(users)) => {
            let count = users.len();
            let checksum = users.checksum.clone();
            shared.set_users(users);
            Metrics::inc(&shared.metrics.users_reloads_total);
            tracing::info!(users = count, checksum = %checksum, "users reloaded");
        }
        Ok(Err(e)) => {
            Metrics::inc(&shared.metrics.users_reload_errors_total);
            tracing::error!("users.toml not reloaded, the previous users stay in force: {e}");
        }
        Err(e) => tracing::error!("users reload failed: {e}"),
    }
}

/// The SHA-256 (hex) of a file's bytes, as [`Users::checksum`] has it. Content is compared
/// rather than size and mtime: an in-place edit that keeps the size within one tick of the
/// file system's clock leaves both unchanged, and such an edit was missed.
fn content_checksum(path: &Path) -> Option<String> {
    std::fs::read(path)
        .ok()
        .map(|b| crate::checksum::sha256_hex(&b))
}

/// Reloads users.toml whenever its content differs from the users in force (compared with
/// what was loaded, so a change made while the node started is not missed); an invalid file
/// is tried once per change, not every poll.
async fn watch_users(shared: Arc<Shared>) {
    let path = shared.config.file.users.clone();
    let mut last_tried: Option<String> = None;
    loop {
        tokio::time::sleep(timeouts::USERS_POLL).await;
        let file = path.clone();
        let Ok(Some(now)) = tokio::task::spawn_blocking(move || content_checksum(&file)).await
        else {
            continue;
        };
        if now != shared.users().checksum && last_tried.as_ref() != Some(&now) {
            tracing::info!(path = %path.display(), "users.toml changed");
            reload_users(&shared).await;
            last_tried = Some(now);
        }
    }
}

async fn check_storage_once(shared: &Arc<Shared>) -> bool {
    let was_writable = shared.storage.writable();
    let was_same = shared.storage.same();
    let was_shared = shared.storage.shared();
    let check = tokio::task::spawn_blocking({
        let shared = shared.clone();
        move || shared.storage.check(&shared.config.file.name)
    });
    let path = shared.storage.path.display().to_string();
    let ok = match tokio::time::timeout(timeouts::STORAGE_CHECK, check).await {
        Ok(Ok(Ok(()))) => true,
        Ok(Ok(Err(fault))) => {
            // Said once when it starts, not every few seconds.
            if was_writable
                || (was_same && !shared.storage.same())
                || (was_shared && !shared.storage.shared())
            {
                tracing::error!(storage = %path, "{fault}: /healthz answers 503 until it is back");
            }
            false
        }
        Ok(Err(_)) => false,
        Err(_) => {
            shared.storage.timed_out();
            tracing::error!(storage = %path, "storage write check timed out");
            false
        }
    };
    if ok && !was_writable {
        tracing::info!(storage = %path, "storage is writable");
    }
    ok
}

async fn watch_storage(shared: Arc<Shared>) {
    let interval = Duration::from_secs(shared.config.file.storage_check_interval_seconds);
    loop {
        tokio::time::sleep(interval).await;
        check_storage_once(&shared).await;
    }
}

/// Removes the temporary files of uploads nobody will finish, as the upload journal lists
/// them (see [`journal`]): at start, what this node's earlier process left; then every
/// [`JANITOR_INTERVAL`], what crashed or cut-off nodes left. It also rewrites this process's
/// own log, which tells the other nodes it is alive. It never walks the storage.
async fn janitor(shared: Arc<Shared>) {
    loop {
        let task = shared.clone();
        let done = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            if let Err(e) = task.journal.heartbeat() {
                tracing::warn!("cannot rewrite the upload journal: {e}");
            }
            let swept = task.journal.sweep(&task.storage.root().dir);
            (swept, started.elapsed())
        })
        .await;
        if let Ok((swept, took)) = done {
            if swept.removed > 0 {
                tracing::info!(
                    removed = swept.removed,
                    logs = swept.logs_removed,
                    "removed the temporary files of uploads that crashed or stopped nodes left"
                );
            }
            tracing::debug!(?swept, ?took, "janitor");
        }
        tokio::time::sleep(JANITOR_INTERVAL).await;
    }
}
