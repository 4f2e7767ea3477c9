//! The bundled gateway, `sftpha gateway run`: a TCP load balancer built for SFTP.
//!
//! - Active checks: each backend's `/healthz` every `health_interval_ms`; `health_fall`
//!   failures mark it down, `health_rise` successes up again. A 503 (draining, full, storage
//!   not writable) takes it out of rotation at once: no new sessions, live ones go on.
//! - Passive failover: a backend that refuses or times out on connect is marked suspect until
//!   its next good check, and the client is taken to the next backend at once.
//! - Banner-aware dispatch: the SSH server speaks first, so the client is committed to a
//!   backend only once that backend has sent `SSH-`. Until then the client's bytes are kept;
//!   a backend that stays silent (a frozen process whose kernel still accepts TCP) costs the
//!   client `banner_timeout_ms`, never its login.
//! - PROXY protocol v2 to the backends, so nodes see the real client address.

use std::net::SocketAddr;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};

use crate::config::gateway::{Backend, Balance, Gateway};
use crate::error::Result;
use crate::wire::health::{BackendHealth, GatewayHealth, NodeHealth};
use crate::wire::http::{self, Response};
use crate::wire::metrics::{escape, Exposition, Kind};

pub mod sockets;
pub mod supervise;

/// Client bytes kept while a backend is being tried (an SSH client sends its banner and
/// KEXINIT, a few KiB, before it hears from the server).
const MAX_PENDING_CLIENT_BYTES: usize = 64 << 10;
/// Buffer per direction of an established connection. Large, so that one read takes all a
/// bulk transfer has queued (49 KB a read on average, against 15 KB for HAProxy's 16 KiB
/// buffers): 0.28-0.38 CPU-s per GiB forwarded, where the same gateway with 16 KiB buffers
/// spent 0.41-0.51 like HAProxy (BENCHMARKS.md).
const COPY_BUFFER: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    Up = 0,
    Down = 1,
    /// The node answered 503: no new sessions, live ones go on.
    Unavailable = 2,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Up,
            1 => State::Down,
            _ => State::Unavailable,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Down => "down",
            State::Unavailable => "unavailable",
        }
    }
}

pub struct BackendState {
    pub cfg: Backend,
    state: AtomicU8,
    /// Set by a failed connect, cleared by the next good health check.
    suspect: AtomicBool,
    pub active: AtomicI64,
    pub sessions_total: AtomicU64,
    pub connect_failures_total: AtomicU64,
    pub bytes_to_backend: AtomicU64,
    pub bytes_to_client: AtomicU64,
    /// Milliseconds since the gateway started, of the last state change.
    pub changed_ms: AtomicU64,
    pub last_check: Mutex<String>,
}

impl BackendState {
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Relaxed))
    }
    fn available(&self) -> bool {
        self.state() == State::Up
    }
}

pub struct Shared {
    pub config: Gateway,
    pub backends: Vec<BackendState>,
    pub draining: AtomicBool,
    pub connections: AtomicI64,
    pub connections_total: AtomicU64,
    pub redispatches_total: AtomicU64,
    pub no_backend_total: AtomicU64,
    rotation: AtomicUsize,
    started: Instant,
}

impl Shared {
    pub fn new(config: Gateway) -> Shared {
        let backends = config
            .backends
            .iter()
            .map(|b| BackendState {
                cfg: b.clone(),
                // Assumed up until a check says otherwise; passive failover covers the gap.
                state: AtomicU8::new(State::Up as u8),
                suspect: AtomicBool::new(false),
                active: AtomicI64::new(0),
                sessions_total: AtomicU64::new(0),
                connect_failures_total: AtomicU64::new(0),
                bytes_to_backend: AtomicU64::new(0),
                bytes_to_client: AtomicU64::new(0),
                changed_ms: AtomicU64::new(0),
                last_check: Mutex::new("not checked yet".into()),
            })
            .collect();
        Shared {
            config,
            backends,
            draining: AtomicBool::new(false),
            connections: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            redispatches_total: AtomicU64::new(0),
            no_backend_total: AtomicU64::new(0),
            rotation: AtomicUsize::new(0),
            started: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn set_state(&self, b: &BackendState, new: State, why: &str) {
        let old = State::from_u8(b.state.swap(new as u8, Relaxed));
        if old != new {
            b.changed_ms.store(self.now_ms(), Relaxed);
            if new == State::Up {
                tracing::info!(backend = %b.cfg.name, from = old.name(), "backend up: {why}");
            } else {
                tracing::warn!(backend = %b.cfg.name, from = old.name(), to = new.name(), "backend out of rotation: {why}");
            }
        }
    }

    /// The backends to try for a new connection from `client`, best first: those up and
    /// trusted by the balance policy, then those up but suspect. Down and unavailable
    /// backends get no new sessions.
    pub fn order(&self, client: SocketAddr) -> Vec<usize> {
        let turn = self.rotation.fetch_add(1, Relaxed);
        let n = self.backends.len();
        let mut up: Vec<usize> = (0..n).filter(|i| self.backends[*i].available()).collect();
        let shift = turn % up.len().max(1);
        match self.config.file.balance {
            Balance::Roundrobin => up.rotate_left(shift),
            Balance::Leastconn => {
                up.rotate_left(shift);
                up.sort_by_key(|i| self.backends[*i].active.load(Relaxed));
            }
            Balance::Source => {
                // Rendezvous hashing: a client keeps its backend while that backend is up.
                let ip = crate::config::node::canonical_ip(client.ip()).to_string();
                up.sort_by_key(|i| {
                    std::cmp::Reverse(fnv(&format!("{ip}/{}", self.backends[*i].cfg.name)))
                });
            }
        }
        let (trusted, suspect): (Vec<usize>, Vec<usize>) = up
            .into_iter()
            .partition(|i| !self.backends[*i].suspect.load(Relaxed));
        trusted.into_iter().chain(suspect).collect()
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Ready addresses, announced once the gateway accepts connections.
#[derive(Debug, Clone, Copy)]
pub struct Ready {
    pub listen: SocketAddr,
    pub health: SocketAddr,
}

pub async fn run(config: Gateway, ready: impl FnOnce(Ready)) -> Result<()> {
    // Inherited sockets (systemd, `gateway supervise`) keep connections waiting in their
    // backlog while this process restarts; without them the gateway binds its own.
    let inherited = sockets::inherited()?;
    let supervised = !inherited.is_empty();
    let mut listeners = sockets::take_or_bind(inherited, &[config.listen, config.health_listen])?;
    let health_listener = listeners.pop().expect("two listeners");
    let listener = listeners.pop().expect("two listeners");
    let announced = Ready {
        listen: listener.local_addr()?,
        health: health_listener.local_addr()?,
    };
    let shared = Arc::new(Shared::new(config));
    tracing::info!(gateway = %shared.config.file.name, listen = %announced.listen, health = %announced.health,
        backends = shared.backends.len(), balance = ?shared.config.file.balance, "gateway ready");
    for i in 0..shared.backends.len() {
        tokio::spawn(check_loop(shared.clone(), i));
    }
    let handler_shared = shared.clone();
    let handler: http::Handler = Arc::new(move |path: &str| match path {
        "/healthz" | "/health" => {
            let (status, body) = status(&handler_shared);
            let body = serde_json::to_value(&body).expect("health serializes");
            Response::json(status, &body)
        }
        "/metrics" => Response::metrics(render_metrics(&handler_shared)),
        _ => Response::text(404, "not found: try /healthz or /metrics\n"),
    });
    let health_server = tokio::spawn(http::serve(health_listener, handler));
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(accept_loop(listener, shared.clone(), stop.clone()));
    ready(announced);

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => tracing::warn!(
                "SIGHUP ignored: a gateway is reloaded by its supervisor (`sftpha gateway supervise`, SIGHUP to it), or restarted"
            ),
        }
    }
    shared.draining.store(true, Relaxed);
    stop.cancel();
    if supervised {
        // The health socket is shared with the process that replaces this one: only that one
        // answers now (a draining 503 here would fail keepalived's check during a hand-over
        // and move the vip). When the supervisor stops, nobody answers: the check fails then.
        health_server.abort();
    }
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(shared.config.file.drain_timeout_seconds);
    tracing::info!(
        connections = shared.connections.load(Relaxed),
        "draining: no new connections"
    );
    while shared.connections.load(Relaxed) > 0 && tokio::time::Instant::now() < deadline {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    let left = shared.connections.load(Relaxed);
    if left > 0 {
        tracing::warn!(
            connections = left,
            "drain_timeout_seconds passed: the connections still open are cut"
        );
    }
    tracing::info!(connections = left, "gateway stopped");
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: tokio_util::sync::CancellationToken,
) {
    while let Some((client, peer)) = crate::net::accept(&listener, &stop).await {
        shared.connections_total.fetch_add(1, Relaxed);
        if shared.connections.load(Relaxed) >= shared.config.file.max_connections as i64 {
            tracing::warn!(client = %peer, "max_connections reached: closing");
            continue;
        }
        let shared = shared.clone();
        let span = tracing::info_span!("gw", client = %peer);
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                shared.connections.fetch_add(1, Relaxed);
                connection(&shared, client, peer).await;
                shared.connections.fetch_sub(1, Relaxed);
            },
            span,
        ));
    }
}

enum Attempt {
    Backend(String),
    ClientGone,
}

async fn connection(shared: &Shared, mut client: TcpStream, peer: SocketAddr) {
    let _ = client.set_nodelay(true);
    let local = client.local_addr().unwrap_or(shared.config.listen);
    let mut pending = BytesMut::with_capacity(4096);
    let order = shared.order(peer);
    for (attempt, index) in order.iter().enumerate() {
        let backend = &shared.backends[*index];
        if attempt > 0 {
            shared.redispatches_total.fetch_add(1, Relaxed);
        }
        match open_backend(shared, backend, &mut client, peer, local, &mut pending).await {
            Ok((mut server, banner)) => {
                if client.write_all(&banner).await.is_err()
                    || server.write_all(&pending).await.is_err()
                {
                    return;
                }
                backend.active.fetch_add(1, Relaxed);
                backend.sessions_total.fetch_add(1, Relaxed);
                let result = tokio::io::copy_bidirectional_with_sizes(
                    &mut client,
                    &mut server,
                    COPY_BUFFER,
                    COPY_BUFFER,
                )
                .await;
                backend.active.fetch_sub(1, Relaxed);
                let (up, down) = result.unwrap_or_default();
                backend
                    .bytes_to_backend
                    .fetch_add(up + pending.len() as u64, Relaxed);
                backend
                    .bytes_to_client
                    .fetch_add(down + banner.len() as u64, Relaxed);
                return;
            }
            Err(Attempt::ClientGone) => return,
            Err(Attempt::Backend(why)) => {
                backend.connect_failures_total.fetch_add(1, Relaxed);
                if !backend.suspect.swap(true, Relaxed) {
                    tracing::warn!(backend = %backend.cfg.name, "backend failed a client ({why}): suspect until its next good check; trying the next");
                }
            }
        }
    }
    shared.no_backend_total.fetch_add(1, Relaxed);
    tracing::warn!("no backend could take the connection");
}

/// Connects to `backend`, sends the PROXY header, and waits for its SSH banner while keeping
/// what the client sends meanwhile in `pending`.
async fn open_backend(
    shared: &Shared,
    backend: &BackendState,
    client: &mut TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    pending: &mut BytesMut,
) -> std::result::Result<(TcpStream, Vec<u8>), Attempt> {
    let addr = backend.cfg.address;
    let mut server =
        match tokio::time::timeout(shared.config.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Attempt::Backend(format!("connect: {e}"))),
            Err(_) => return Err(Attempt::Backend("connect timed out".into())),
        };
    let _ = server.set_nodelay(true);
    if shared.config.file.send_proxy {
        let header = crate::wire::proxy::encode_v2(peer, local);
        if let Err(e) = server.write_all(&header).await {
            return Err(Attempt::Backend(format!("PROXY header: {e}")));
        }
    }
    let deadline = tokio::time::Instant::now() + shared.config.banner_timeout;
    let mut banner = Vec::with_capacity(256);
    let mut scratch = [0u8; 4096];
    loop {
        tokio::select! {
            r = server.read_buf(&mut banner) => match r {
                Ok(0) => return Err(Attempt::Backend("closed before its SSH banner".into())),
                Ok(_) if banner.len() >= 4 => {
                    return if banner.starts_with(b"SSH-") {
                        Ok((server, banner))
                    } else {
                        Err(Attempt::Backend("did not answer as an SSH server".into()))
                    };
                }
                Ok(_) => {}
                Err(e) => return Err(Attempt::Backend(format!("read: {e}"))),
            },
            r = client.read(&mut scratch), if pending.len() < MAX_PENDING_CLIENT_BYTES => match r {
                Ok(0) | Err(_) => return Err(Attempt::ClientGone),
                Ok(n) => pending.extend_from_slice(&scratch[..n]),
            },
            _ = tokio::time::sleep_until(deadline) => {
                return Err(Attempt::Backend(format!("no SSH banner within {:?}", shared.config.banner_timeout)));
            }
        }
    }
}

/// One backend's health checks, forever.
async fn check_loop(shared: Arc<Shared>, index: usize) {
    let b = &shared.backends[index];
    let (mut oks, mut fails) = (0u32, 0u32);
    let mut tick = tokio::time::interval(shared.config.health_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let result = http::get(
            b.cfg.health_addr,
            &b.cfg.health_path,
            shared.config.health_timeout,
        )
        .await;
        let summary = match &result {
            Ok((status, body)) => format!("HTTP {status} {}", body.trim()),
            Err(e) => e.to_string(),
        };
        *b.last_check.lock().unwrap_or_else(|e| e.into_inner()) =
            summary.chars().take(300).collect();
        match result {
            Ok((200, _)) => {
                fails = 0;
                oks = oks.saturating_add(1);
                b.suspect.store(false, Relaxed);
                if b.state() != State::Up && oks >= shared.config.file.health_rise {
                    shared.set_state(b, State::Up, &format!("{oks} good checks"));
                }
            }
            Ok((503, body)) => {
                oks = 0;
                fails = 0;
                let why = serde_json::from_str::<NodeHealth>(&body)
                    .ok()
                    .map(|h| h.status)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "503".into());
                shared.set_state(b, State::Unavailable, &format!("node says {why}"));
            }
            other => {
                oks = 0;
                fails = fails.saturating_add(1);
                if b.state() != State::Down && fails >= shared.config.file.health_fall {
                    let why = match other {
                        Ok((status, _)) => format!("HTTP {status}"),
                        Err(e) => e.to_string(),
                    };
                    shared.set_state(
                        b,
                        State::Down,
                        &format!("{fails} failed checks, last: {why}"),
                    );
                }
            }
        }
    }
}

/// The gateway's `/healthz`: 200 while it accepts connections and a backend is up.
pub fn status(shared: &Shared) -> (u16, GatewayHealth) {
    let now = shared.now_ms();
    let backends = shared
        .backends
        .iter()
        .map(|b| BackendHealth {
            name: b.cfg.name.clone(),
            address: b.cfg.address.to_string(),
            state: b.state().name().into(),
            suspect: b.suspect.load(Relaxed),
            active: b.active.load(Relaxed),
            sessions_total: b.sessions_total.load(Relaxed),
            connect_failures_total: b.connect_failures_total.load(Relaxed),
            since_ms: now.saturating_sub(b.changed_ms.load(Relaxed)) as i64,
            last_check: b
                .last_check
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        })
        .collect();
    let draining = shared.draining.load(Relaxed);
    let any_up = shared.backends.iter().any(BackendState::available);
    let status = if draining {
        "draining"
    } else if any_up {
        "ok"
    } else {
        "no_backend"
    };
    let body = GatewayHealth {
        status: status.into(),
        gateway: shared.config.file.name.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        balance: shared.config.file.balance.name().into(),
        connections: shared.connections.load(Relaxed),
        redispatches_total: shared.redispatches_total.load(Relaxed),
        backends,
    };
    (if status == "ok" { 200 } else { 503 }, body)
}

fn render_metrics(shared: &Shared) -> String {
    let mut e = Exposition::new("sftpha_gateway", "gateway", &shared.config.file.name);
    let per = |f: &dyn Fn(&BackendState) -> i64| -> Vec<(String, i64)> {
        shared
            .backends
            .iter()
            .map(|b| (format!("backend=\"{}\"", escape(&b.cfg.name)), f(b)))
            .collect()
    };
    e.one(
        "connections",
        Kind::Gauge,
        "open client connections",
        shared.connections.load(Relaxed),
    );
    e.one(
        "connections_total",
        Kind::Counter,
        "client connections accepted",
        shared.connections_total.load(Relaxed) as i64,
    );
    e.one(
        "redispatches_total",
        Kind::Counter,
        "clients taken to another backend after one failed them",
        shared.redispatches_total.load(Relaxed) as i64,
    );
    e.one(
        "no_backend_total",
        Kind::Counter,
        "clients no backend could take",
        shared.no_backend_total.load(Relaxed) as i64,
    );
    e.family(
        "backend_up",
        Kind::Gauge,
        "1 when the backend takes new sessions",
        per(&|b| b.available() as i64)
            .iter()
            .map(|(l, v)| (l.as_str(), *v)),
    );
    e.family(
        "backend_state",
        Kind::Gauge,
        "0 up, 1 down, 2 unavailable (503)",
        per(&|b| b.state() as u8 as i64)
            .iter()
            .map(|(l, v)| (l.as_str(), *v)),
    );
    e.family(
        "backend_active",
        Kind::Gauge,
        "open sessions",
        per(&|b| b.active.load(Relaxed))
            .iter()
            .map(|(l, v)| (l.as_str(), *v)),
    );
    e.family(
        "backend_sessions_total",
        Kind::Counter,
        "sessions sent to the backend",
        per(&|b| b.sessions_total.load(Relaxed) as i64)
            .iter()
            .map(|(l, v)| (l.as_str(), *v)),
    );
    e.family(
        "backend_connect_failures_total",
        Kind::Counter,
        "failed connects or banners",
        per(&|b| b.connect_failures_total.load(Relaxed) as i64)
            .iter()
            .map(|(l, v)| (l.as_str(), *v)),
    );
    e.family(
        "backend_bytes_to_backend_total",
        Kind::Counter,
        "bytes from clients, counted when a session ends",
        per(&|b| b.bytes_to_backend.load(Relaxed) as i64)
            .iter()
            .map(|(l, v)| (l.as_str(), *v)),
    );
    e.family(
        "backend_bytes_to_client_total",
        Kind::Counter,
        "bytes to clients, counted when a session ends",
        per(&|b| b.bytes_to_client.load(Relaxed) as i64)
            .iter()
            .map(|(l, v)| (l.as_str(), *v)),
    );
    e.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn shared(balance: &str) -> Shared {
        let text = format!(
            "name = \"g\"\nlisten = \"127.0.0.1:0\"\nhealth_listen = \"127.0.0.1:0\"\nbalance = \"{balance}\"\n{}",
            (1..=3)
                .map(|i| format!("[[backends]]\nname = \"n{i}\"\naddress = \"127.0.0.1:{i}\"\nhealth_url = \"http://127.0.0.1:{i}/healthz\"\n"))
                .collect::<String>()
        );
        Shared::new(Gateway::parse(Path::new("g.toml"), &text).unwrap())
    }

    fn client(last: u8) -> SocketAddr {
        SocketAddr::from(([198, 18, 0, last], 1000))
    }

    #[test]
    fn down_and_unavailable_backends_get_nothing_suspects_come_last() {
        let s = shared("roundrobin");
        s.set_state(&s.backends[0], State::Down, "test");
        s.set_state(&s.backends[1], State::Unavailable, "test");
        assert_eq!(s.order(client(1)), vec![2]);
        s.set_state(&s.backends[0], State::Up, "test");
        s.backends[0].suspect.store(true, Relaxed);
        assert_eq!(s.order(client(1)), vec![2, 0]);
    }

    #[test]
    fn leastconn_prefers_the_idlest() {
        let s = shared("leastconn");
        s.backends[0].active.store(5, Relaxed);
        s.backends[1].active.store(1, Relaxed);
        s.backends[2].active.store(3, Relaxed);
        assert_eq!(s.order(client(1)), vec![1, 2, 0]);
    }

    #[test]
    fn roundrobin_rotates() {
        let s = shared("roundrobin");
        let firsts: Vec<usize> = (0..6).map(|_| s.order(client(1))[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn source_is_sticky_and_moves_only_clients_of_a_failed_backend() {
        let s = shared("source");
        let before: Vec<usize> = (1..=50).map(|c| s.order(client(c))[0]).collect();
        assert!(before.contains(&0) && before.contains(&1) && before.contains(&2));
        assert_eq!(
            before,
            (1..=50).map(|c| s.order(client(c))[0]).collect::<Vec<_>>()
        );
        s.set_state(&s.backends[0], State::Down, "test");
        for (c, b) in (1..=50).zip(&before) {
            let now = s.order(client(c))[0];
            if *b != 0 {
                assert_eq!(now, *b, "client {c} moved although its backend is up");
            } else {
                assert_ne!(now, 0);
            }
        }
    }
}
