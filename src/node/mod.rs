//! The bundled SFTP server, `sftpha node run`: accepts connections (behind an optional PROXY
//! header), runs SSH on russh with SFTP as the only service, reports health and metrics,
//! reloads users without a restart, and drains gracefully on SIGTERM.

pub mod audit;
pub mod health;
pub mod identity;
pub mod jail;
pub mod metrics;
pub mod sftp;
pub mod ssh;
pub mod stream;
pub mod throttle;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use russh::keys::PrivateKey;
use russh::{cipher, MethodKind, MethodSet, Preferred, SshId};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::node_config::{Node, ProxyMode};
use crate::proxy_protocol::{self, Header};
use crate::timeouts;
use crate::users::{User, Users};
use metrics::Metrics;

/// Password hashes verified at once (argon2id is deliberately expensive).
const PASSWORD_CHECKS: usize = 4;
/// File descriptors a connection can hold: its socket, its runtime's epoll and eventfd, the
/// jail's directory, and a few open files.
const FDS_PER_CONNECTION: u64 = 8;
/// Stack of a connection thread (russh, the SFTP session and its buffers live on the heap).
const CONNECTION_STACK: usize = 1 << 20;
/// A temporary upload file of another node untouched for this long is abandoned.
const STALE_UPLOAD: Duration = Duration::from_secs(24 * 3600);
/// How often the janitor looks for abandoned temporary files.
const JANITOR_INTERVAL: Duration = Duration::from_secs(3600);
/// The folder below the storage path that belongs to sftpha, not to users.
pub const STATE_DIR: &str = ".sftpha";

/// State shared by every connection of a node.
pub struct Shared {
    pub config: Node,
    users: RwLock<Arc<Users>>,
    pub metrics: Arc<Metrics>,
    pub audit: audit::Audit,
    pub throttle: throttle::Throttle,
    pub draining: AtomicBool,
    pub storage_writable: AtomicBool,
    /// What the last storage check learnt about the storage (for `/healthz`).
    pub storage_facts: Mutex<StorageFacts>,
    /// Host keys, certificates and the probe login in force (swapped whole on SIGHUP).
    identity: RwLock<Arc<Identity>>,
    pub next_id: AtomicU64,
    pub upload_counter: AtomicU64,
    pub password_checks: Arc<Semaphore>,
    pub started: Instant,
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
}

/// The storage as the last check saw it.
#[derive(Debug, Clone, Default)]
pub struct StorageFacts {
    /// The identity of the storage (`.sftpha/storage-id`): the same on every node that
    /// really shares it, so `assess --probe` can tell without logging in.
    pub id: Option<String>,
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
}

/// Reads the storage's identity, creating it if this node is the first to look. Two nodes
/// racing on a fresh shared storage agree: only one create succeeds (O_EXCL), the other
/// reads the winner's.
fn storage_id(state: &Path) -> std::io::Result<String> {
    use std::io::Write;
    let path = state.join("storage-id");
    for _ in 0..20 {
        match std::fs::read_to_string(&path) {
            Ok(id) if id.trim().len() == 32 => return Ok(id.trim().to_owned()),
            // Being written by the node that created it: look again shortly.
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 16];
                getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
                let id = crate::node_config::hex(&bytes);
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                {
                    Ok(mut f) => {
                        f.write_all(format!("{id}\n").as_bytes())?;
                        f.sync_all()?;
                        return Ok(id);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "`{}` is not a storage identity (32 hex digits)",
        path.display()
    )))
}

/// What one SFTP session knows about who it serves.
pub struct SessionContext {
    pub shared: Arc<Shared>,
    pub user: Arc<User>,
    pub client: SocketAddr,
    pub id: u64,
}

/// The addresses the node listens on, announced once it accepts connections.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    pub sftp: SocketAddr,
    pub health: SocketAddr,
}

pub use identity::{fingerprint_of, load_host_keys, Identity};

pub(crate) fn ssh_config(node: &Node, keys: Vec<PrivateKey>) -> russh::server::Config {
    let f = &node.file;
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
        inactivity_timeout: Some(Duration::from_secs(f.idle_timeout_seconds)),
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 3,
        nodelay: true,
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
    raise_fd_limit(config.file.max_sessions);
    let identity = Identity::load(&config)?;
    let users = Users::load(&config.file.users)?;
    let storage = config.file.storage.clone();
    match std::fs::metadata(&storage) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Storage {
                path: storage,
                source: std::io::Error::other("not a directory"),
            })
        }
        Err(source) => {
            return Err(Error::Storage {
                path: storage,
                source,
            })
        }
    }
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
    let throttle = throttle::Throttle::new(
        config.file.auth_fail_limit,
        Duration::from_secs(config.file.auth_fail_window_seconds),
        Duration::from_secs(config.file.auth_ban_seconds),
    );
    let shared = Arc::new(Shared {
        config,
        users: RwLock::new(Arc::new(users)),
        metrics,
        audit,
        throttle,
        draining: AtomicBool::new(false),
        storage_writable: AtomicBool::new(false),
        storage_facts: Mutex::new(StorageFacts::default()),
        identity: RwLock::new(Arc::new(identity)),
        next_id: AtomicU64::new(1),
        upload_counter: AtomicU64::new(0),
        password_checks: Arc::new(Semaphore::new(PASSWORD_CHECKS)),
        started: Instant::now(),
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
/// below what `max_sessions` connections need), and warns when even that is too low.
fn raise_fd_limit(max_sessions: usize) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let needed = max_sessions as u64 * FDS_PER_CONNECTION + 64;
    let limit = getrlimit(Resource::Nofile);
    let target = match limit.maximum {
        Some(hard) => hard,
        None => needed.max(limit.current.unwrap_or(0)),
    };
    if limit.current.is_some_and(|soft| soft < target) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: limit.maximum,
            },
        );
    }
    let now = getrlimit(Resource::Nofile).current;
    if now.is_some_and(|n| n < needed) {
        tracing::warn!(
            limit = now,
            needed,
            max_sessions,
            "the open-file limit is too low for max_sessions: raise it (systemd LimitNOFILE, ulimit -n)"
        );
    }
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
    shared.draining.store(true, Relaxed);
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

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    kill_all: CancellationToken,
    stop: CancellationToken,
) {
    while let Some((stream, peer)) = crate::net::accept(&listener, &stop).await {
        Metrics::inc(&shared.metrics.connections_total);
        // Over the limit: refuse here, before a thread is spent on it (connection storms).
        if shared.metrics.connections.load(Relaxed) >= shared.config.file.max_sessions as i64 {
            Metrics::inc(&shared.metrics.connections_rejected_total);
            tracing::info!(peer = %peer, reason = "max_sessions reached", "connection refused");
            continue;
        }
        let id = shared.next_id.fetch_add(1, Relaxed);
        // The stream moves to the connection's own runtime: take it off this one first.
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("could not hand over connection: {e}");
                continue;
            }
        };
        // The identity in force now serves this connection to its end, whatever reloads come.
        let ssh = shared.identity().ssh.clone();
        let (shared2, token) = (shared.clone(), kill_all.child_token());
        let spawned = std::thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(CONNECTION_STACK)
            .spawn(move || serve_connection(shared2, ssh, stream, peer, id, token));
        if let Err(e) = spawned {
            Metrics::inc(&shared.metrics.connections_rejected_total);
            tracing::error!(peer = %peer, "could not start a connection thread: {e}");
        }
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
    peer: SocketAddr,
    id: u64,
    token: CancellationToken,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(peer = %peer, "could not start a connection runtime: {e}");
            return;
        }
    };
    let span = tracing::info_span!("conn", id, peer = %peer);
    runtime.block_on(tracing::Instrument::instrument(
        async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => connection(shared, ssh, stream, peer, id, token).await,
                Err(e) => tracing::warn!("could not register connection: {e}"),
            }
        },
        span,
    ));
    // Tasks left on this runtime (a session cut by a kill) are dropped with it.
    runtime.shutdown_background();
}

/// Decrements the connections gauge when a connection task ends, however it ends.
struct Counted(Arc<Metrics>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Relaxed);
    }
}

async fn connection(
    shared: Arc<Shared>,
    ssh: Arc<russh::server::Config>,
    mut stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    token: CancellationToken,
) {
    let open = shared.metrics.connections.fetch_add(1, Relaxed) + 1;
    let _counted = Counted(shared.metrics.clone());
    let reject = |why: &str| {
        Metrics::inc(&shared.metrics.connections_rejected_total);
        tracing::info!(reason = why, "connection refused");
    };
    if shared.draining.load(Relaxed) {
        return reject("draining");
    }
    let client = match client_address(&shared, &mut stream, peer).await {
        Ok(client) => client,
        Err(why) => return reject(&why),
    };
    if shared.throttle.is_banned(client.ip(), Instant::now()) {
        Metrics::inc(&shared.metrics.throttled_total);
        return reject("source address throttled after failed logins");
    }
    if open as usize > shared.config.file.max_sessions {
        return reject("max_sessions reached");
    }
    let _ = stream.set_nodelay(true);
    let state = Arc::new(ssh::ConnState::default());
    let handler = ssh::SshHandler::new(shared.clone(), client, id, state.clone(), token.clone());
    let stream = stream::KillableStream::new(stream, token.clone());
    let session = async move {
        match russh::server::run_stream(ssh, stream, handler).await {
            Ok(session) => session.await,
            Err(e) => Err(e),
        }
    };
    tokio::pin!(session);
    let grace = tokio::time::sleep(Duration::from_secs(shared.config.file.login_grace_seconds));
    tokio::pin!(grace);
    let mut grace_over = false;
    let result = loop {
        tokio::select! {
            r = &mut session => break r,
            _ = &mut grace, if !grace_over => {
                grace_over = true;
                if !state.authenticated.load(Relaxed) {
                    tracing::info!(client = %client, "login grace time over: closing");
                    token.cancel();
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
    let user = state.user.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if state.authenticated.load(Relaxed) {
        shared.metrics.sessions.fetch_sub(1, Relaxed);
        shared
            .audit
            .log("logout", user.as_deref(), client, id, json!({}));
    } else if state.failures.load(Relaxed) == 0 && state.offers_rejected.load(Relaxed) > 0 {
        // The client offered only keys we refused and gave up: one failed login.
        ssh::record_failed_login(
            &shared,
            client,
            id,
            user.as_deref().unwrap_or("-"),
            "publickey",
            None,
            "no authorized key offered",
        );
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
    match proxy_protocol::read_header(stream, wait).await {
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
        .map(|b| crate::node_config::sha256_hex(&b))
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
    let dir = shared.config.file.storage.join(STATE_DIR).join("health");
    let file = dir.join(&shared.config.file.name);
    let check = tokio::task::spawn_blocking(move || -> std::io::Result<StorageFacts> {
        use std::io::Write;
        std::fs::create_dir_all(&dir)?;
        let mut f = std::fs::File::create(&file)?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        writeln!(f, "{}", now.as_secs())?;
        f.sync_all()?;
        let state = dir.parent().unwrap_or(&dir);
        let space = rustix::fs::statvfs(state).ok();
        // The identity only informs `assess --probe`; a damaged id file must not take a
        // node whose storage is writable out of service.
        let id = storage_id(state)
            .map_err(|e| tracing::warn!("no storage identity for assess --probe: {e}"))
            .ok();
        Ok(StorageFacts {
            id,
            free_bytes: space.as_ref().map(|s| s.f_bavail * s.f_frsize),
            total_bytes: space.as_ref().map(|s| s.f_blocks * s.f_frsize),
        })
    });
    let ok = match tokio::time::timeout(timeouts::STORAGE_CHECK, check).await {
        Ok(Ok(Ok(facts))) => {
            *shared
                .storage_facts
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = facts;
            true
        }
        Ok(Ok(Err(e))) => {
            tracing::error!(storage = %shared.config.file.storage.display(), "storage is not writable: {e}");
            false
        }
        Ok(Err(_)) => false,
        Err(_) => {
            tracing::error!(storage = %shared.config.file.storage.display(), "storage write check timed out");
            false
        }
    };
    let was = shared.storage_writable.swap(ok, Relaxed);
    if ok && !was {
        tracing::info!("storage is writable");
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

/// Removes temporary upload files nobody will finish: this node's from before a restart (its
/// earlier process cannot come back for them) and other nodes' untouched for a day.
async fn janitor(shared: Arc<Shared>) {
    loop {
        let storage = shared.config.file.storage.clone();
        let node = shared.config.file.name.clone();
        let removed = tokio::task::spawn_blocking(move || sweep(&storage, &node))
            .await
            .unwrap_or(0);
        if removed > 0 {
            tracing::info!(removed, "removed abandoned temporary upload files");
        }
        tokio::time::sleep(JANITOR_INTERVAL).await;
    }
}

fn sweep(storage: &Path, node: &str) -> usize {
    let started = SystemTime::now();
    let mut removed = 0;
    let mut stack = vec![storage.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if dir != storage || name != STATE_DIR {
                    stack.push(entry.path());
                }
                continue;
            }
            if !kind.is_file() || !jail::is_temp_name(&name) {
                continue;
            }
            let stale = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| started.duration_since(t).ok())
                .is_some_and(|age| age > STALE_UPLOAD);
            let mine_from_before = jail::is_own_temp_name(&name, node)
                && !name
                    .to_string_lossy()
                    .contains(&format!(".sftpha-{node}-{}-", std::process::id()));
            if (stale || mine_from_before) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}
