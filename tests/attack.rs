//! The attacker's tools: idle sockets held from many source addresses, and floods of wrong
//! passwords over real SSH (russh's client), each bounded in count and time and stopped by
//! itself. Sources are addresses of 127.0.0.0/8, which Linux routes to loopback with no set-up.
//! Also the measurements the attack tests assert: a node's memory and descriptors, and how long
//! a legitimate login takes meanwhile.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::*;

/// The `n`th attacker address: 127.66.x.y, never one a test's legitimate client uses.
pub fn attacker(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 66, (n / 250) as u8, (n % 250) as u8 + 1))
}

/// A legitimate client's address, apart from every attacker.
pub fn legit(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 77, 0, n))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn connect_from(
    source: IpAddr,
    target: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(target))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))?
}

/// Sockets that connect and then never send a byte, held until dropped.
pub struct IdleSockets {
    pub held: Vec<std::net::TcpStream>,
    pub refused: usize,
}

/// Opens `per_source` idle connections from each of `sources` addresses (at most 2,000).
pub fn hold_idle(target: SocketAddr, sources: usize, per_source: usize) -> IdleSockets {
    assert!(
        sources * per_source <= 2000,
        "bounded: at most 2,000 sockets"
    );
    let rt = runtime();
    let held = rt.block_on(async {
        let mut tasks = Vec::new();
        for s in 0..sources {
            for _ in 0..per_source {
                tasks.push(tokio::spawn(connect_from(attacker(s), target)));
            }
        }
        let mut held = Vec::new();
        for t in tasks {
            if let Ok(Ok(stream)) = t.await {
                held.push(stream.into_std().unwrap());
            }
        }
        held
    });
    // The node closes the sockets it refuses or evicts as soon as its accept loop gets to
    // them: count what it kept once the count has held still for two seconds (at most 20 s),
    // so a machine busy with other tests cannot make the count a race.
    for s in &held {
        s.set_nonblocking(true).unwrap();
    }
    let mut kept = held;
    let mut refused = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut still_since = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let before = kept.len();
        kept.retain(|s| {
            let mut byte = [0u8; 1];
            match std::io::Read::read(&mut &*s, &mut byte) {
                Ok(0) => {
                    refused += 1;
                    false
                }
                _ => true,
            }
        });
        if kept.len() != before {
            still_since = std::time::Instant::now();
        }
        if still_since.elapsed() >= Duration::from_secs(2) || std::time::Instant::now() > deadline {
            break;
        }
    }
    IdleSockets {
        held: kept,
        refused,
    }
}

struct AnyHost;

impl russh::client::Handler for AnyHost {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // An attacker does not care whom it talks to.
        Ok(true)
    }
}

/// What a flood did (printed by the tests).
#[derive(Debug, Default)]
#[allow(dead_code)]
pub struct FloodReport {
    pub connections: u64,
    pub attempts: u64,
    pub refused_connections: u64,
}

/// Wrong passwords for `user` from `sources` addresses, `per_source` connections each, every
/// connection trying until the node closes it, then connecting again; for `duration`, at
/// most `max_attempts` in all. Runs on its own threads; `stop` ends it early. Started with
/// `PasswordFlood::builder(target, "bob").sources(300).per_source(1).duration(d).max_attempts(n).start()`.
pub struct PasswordFlood {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<FloodReport>>,
}

/// The shape of a [`PasswordFlood`]; defaults: 1 source, 1 connection each, 10 s, 100 guesses.
#[must_use = "a builder does nothing until `start()`"]
pub struct PasswordFloodBuilder {
    target: SocketAddr,
    user: String,
    sources: usize,
    per_source: usize,
    duration: Duration,
    max_attempts: u64,
}

impl PasswordFloodBuilder {
    /// Attacker addresses (`attacker(0..sources)`).
    pub fn sources(mut self, sources: usize) -> Self {
        self.sources = sources;
        self
    }

    /// Connections from each address.
    pub fn per_source(mut self, per_source: usize) -> Self {
        self.per_source = per_source;
        self
    }

    /// How long the flood goes on at most.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Wrong passwords sent at most, over every connection.
    pub fn max_attempts(mut self, max_attempts: u64) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    pub fn start(self) -> PasswordFlood {
        PasswordFlood::launch(
            self.target,
            &self.user,
            self.sources,
            self.per_source,
            self.duration,
            self.max_attempts,
        )
    }
}

impl PasswordFlood {
    /// Wrong passwords for `user` sent to `target`; see [`PasswordFloodBuilder`].
    pub fn builder(target: SocketAddr, user: &str) -> PasswordFloodBuilder {
        PasswordFloodBuilder {
            target,
            user: user.to_owned(),
            sources: 1,
            per_source: 1,
            duration: Duration::from_secs(10),
            max_attempts: 100,
        }
    }

    fn launch(
        target: SocketAddr,
        user: &str,
        sources: usize,
        per_source: usize,
        duration: Duration,
        max_attempts: u64,
    ) -> PasswordFlood {
        let stop = Arc::new(AtomicBool::new(false));
        let user = user.to_owned();
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let rt = runtime();
            rt.block_on(async move {
                let deadline = Instant::now() + duration;
                let attempts = Arc::new(AtomicU64::new(0));
                let connections = Arc::new(AtomicU64::new(0));
                let refused = Arc::new(AtomicU64::new(0));
                let mut tasks = Vec::new();
                for s in 0..sources {
                    for _ in 0..per_source {
                        let (user, stop, attempts, connections, refused) = (
                            user.clone(),
                            stop2.clone(),
                            attempts.clone(),
                            connections.clone(),
                            refused.clone(),
                        );
                        tasks.push(tokio::spawn(async move {
                            while Instant::now() < deadline
                                && !stop.load(Relaxed)
                                && attempts.load(Relaxed) < max_attempts
                            {
                                let Ok(stream) = connect_from(attacker(s), target).await else {
                                    refused.fetch_add(1, Relaxed);
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                    continue;
                                };
                                let config = Arc::new(russh::client::Config {
                                    inactivity_timeout: Some(Duration::from_secs(20)),
                                    ..Default::default()
                                });
                                let connected = tokio::time::timeout(
                                    Duration::from_secs(10),
                                    russh::client::connect_stream(config, stream, AnyHost),
                                )
                                .await;
                                let Ok(Ok(mut handle)) = connected else {
                                    refused.fetch_add(1, Relaxed);
                                    tokio::time::sleep(Duration::from_millis(100)).await;
                                    continue;
                                };
                                connections.fetch_add(1, Relaxed);
                                loop {
                                    if Instant::now() >= deadline
                                        || stop.load(Relaxed)
                                        || attempts.fetch_add(1, Relaxed) >= max_attempts
                                    {
                                        break;
                                    }
                                    let tried = tokio::time::timeout(
                                        Duration::from_secs(15),
                                        handle.authenticate_password(&user, "not the password"),
                                    )
                                    .await;
                                    match tried {
                                        Ok(Ok(r)) if !r.success() => continue,
                                        _ => break,
                                    }
                                }
                            }
                        }));
                    }
                }
                for t in tasks {
                    let _ = t.await;
                }
                FloodReport {
                    connections: connections.load(Relaxed),
                    attempts: attempts.load(Relaxed),
                    refused_connections: refused.load(Relaxed),
                }
            })
        });
        PasswordFlood {
            stop,
            thread: Some(thread),
        }
    }

    /// Waits for the flood to end by itself (its time or its count is up).
    pub fn finish(mut self) -> FloodReport {
        self.thread.take().unwrap().join().unwrap()
    }

    pub fn stop(mut self) -> FloodReport {
        self.stop.store(true, Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for PasswordFlood {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A process's resident memory and high-water mark in KiB, and its open descriptors.
pub fn rss_kib(pid: i32) -> u64 {
    status_field(pid, "VmRSS:")
}

pub fn peak_rss_kib(pid: i32) -> u64 {
    status_field(pid, "VmHWM:")
}

fn status_field(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

pub fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// One legitimate key login from `source` with OpenSSH's sftp (`ls` and out): how long it took.
pub fn key_login(node: &Endpoint, user: &TestUser, source: IpAddr) -> Result<Duration, String> {
    let start = Instant::now();
    let out = node.sftp(user, "ls\n", &["-o", &format!("BindAddress={source}")]);
    let took = start.elapsed();
    if out.status.success() {
        Ok(took)
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One legitimate password login from `source` with paramiko: how long it took.
pub fn password_login(
    node: &Endpoint,
    user: &TestUser,
    password: &str,
    source: IpAddr,
) -> Result<Duration, String> {
    let start = Instant::now();
    let out = node
        .paramiko_cmd(
            "password",
            user,
            &[
                "--password-env",
                "SFTPHA_TEST_PASSWORD",
                "--bind",
                &source.to_string(),
            ],
        )
        .env("SFTPHA_TEST_PASSWORD", password)
        .output()
        .unwrap();
    let took = start.elapsed();
    if out.status.success() {
        Ok(took)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Starts a client scenario that holds what it took until its stdin closes: the child and the
/// first line it printed (what it got).
pub fn spawn_holding(cmd: &mut std::process::Command) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

/// The slowest of `samples` logins made one after the other (with `pause` between), failing
/// on the first failed one.
pub fn slowest(
    what: &str,
    samples: usize,
    pause: Duration,
    mut login: impl FnMut(usize) -> Result<Duration, String>,
) -> Duration {
    let mut worst = Duration::ZERO;
    for i in 0..samples {
        match login(i) {
            Ok(took) => worst = worst.max(took),
            Err(e) => panic!("{what}: legitimate login {i} failed: {e}"),
        }
        std::thread::sleep(pause);
    }
    worst
}

/// An argon2id hash of `password` (as `users add --password` makes).
pub fn argon2_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).unwrap();
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::encode_b64(&salt).unwrap())
        .unwrap()
        .to_string()
}

/// Polls `cond` until it holds; how long that took.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

/// Sockets from `sources` addresses, `per_source` each, that send an SSH banner and then
/// nothing; each one the node closes connects again after `delay`, for `duration`. Started
/// with `ChurnFlood::builder(target).sources(15).per_source(20).delay(d).duration(d).start()`.
pub struct ChurnFlood {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

/// The shape of a [`ChurnFlood`]; defaults: 1 source, 1 socket each, reconnect after 1 s,
/// for 10 s.
#[must_use = "a builder does nothing until `start()`"]
pub struct ChurnFloodBuilder {
    target: SocketAddr,
    sources: usize,
    per_source: usize,
    delay: Duration,
    duration: Duration,
}

impl ChurnFloodBuilder {
    /// Attacker addresses (`attacker(0..sources)`).
    pub fn sources(mut self, sources: usize) -> Self {
        self.sources = sources;
        self
    }

    /// Sockets from each address (at most 2,000 in all).
    pub fn per_source(mut self, per_source: usize) -> Self {
        self.per_source = per_source;
        self
    }

    /// The pause before a socket the node closed connects again.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// How long the flood goes on at most.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    pub fn start(self) -> ChurnFlood {
        ChurnFlood::launch(
            self.target,
            self.sources,
            self.per_source,
            self.delay,
            self.duration,
        )
    }
}

impl ChurnFlood {
    /// Banner-only sockets sent to `target`; see [`ChurnFloodBuilder`].
    pub fn builder(target: SocketAddr) -> ChurnFloodBuilder {
        ChurnFloodBuilder {
            target,
            sources: 1,
            per_source: 1,
            delay: Duration::from_secs(1),
            duration: Duration::from_secs(10),
        }
    }

    fn launch(
        target: SocketAddr,
        sources: usize,
        per_source: usize,
        delay: Duration,
        duration: Duration,
    ) -> ChurnFlood {
        assert!(
            sources * per_source <= 2000,
            "bounded: at most 2,000 sockets"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            runtime().block_on(async move {
                let deadline = Instant::now() + duration;
                let connects = Arc::new(AtomicU64::new(0));
                let mut tasks = Vec::new();
                for s in 0..sources {
                    for _ in 0..per_source {
                        let (stop, connects) = (stop2.clone(), connects.clone());
                        tasks.push(tokio::spawn(async move {
                            use tokio::io::{AsyncReadExt, AsyncWriteExt};
                            while Instant::now() < deadline && !stop.load(Relaxed) {
                                if let Ok(mut stream) = connect_from(attacker(s), target).await {
                                    connects.fetch_add(1, Relaxed);
                                    let _ = stream.write_all(b"SSH-2.0-flood\r\n").await;
                                    let mut buf = [0u8; 4096];
                                    let left = deadline.saturating_duration_since(Instant::now());
                                    // Hold it until the node closes it (or the flood ends).
                                    let _ = tokio::time::timeout(left, async {
                                        while !stop.load(Relaxed) {
                                            match stream.read(&mut buf).await {
                                                Ok(0) | Err(_) => break,
                                                Ok(_) => {}
                                            }
                                        }
                                    })
                                    .await;
                                }
                                tokio::time::sleep(delay).await;
                            }
                        }));
                    }
                }
                for t in tasks {
                    let _ = t.await;
                }
                connects.load(Relaxed)
            })
        });
        ChurnFlood {
            stop,
            thread: Some(thread),
        }
    }

    /// Ends the flood; how many connections it made.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for ChurnFlood {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
