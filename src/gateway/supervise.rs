//! `sftpha gateway supervise`: holds the gateway's listening sockets and runs the gateway
//! (`sftpha gateway run`) on them, so that no login is refused when the gateway process dies
//! or is replaced. HAProxy's master-worker mode and systemd's socket activation are the
//! models.
//!
//! - The sockets are bound once, by the supervisor (or inherited from systemd), and handed
//!   to each gateway process as descriptors 3 and 4 (`LISTEN_FDS`). While no gateway process
//!   accepts, connections wait in the kernel's backlog ([`super::sockets::BACKLOG`]) instead
//!   of being refused.
//! - A gateway process that dies is started again at once (after [`QUICK_DEATH`] if it
//!   lived less than that, so a process that dies as soon as it serves does not spin). A
//!   start that fails (the process ends, or is not ready within [`READY_LIMIT`]) is retried
//!   after a growing pause; after [`GIVE_UP_AFTER`] failed starts in a row the supervisor
//!   exits with an error, closing the sockets, so that keepalived's check fails and the vip
//!   moves to a gateway that works.
//! - SIGHUP replaces the gateway process seamlessly: a new one is started on the same
//!   sockets (reading gateway.toml and the installed binary anew), and only once it is ready
//!   is the old one told to drain (SIGTERM: it stops accepting, its sessions go on). If the
//!   new one fails, the old one stays and the error is logged.
//! - The supervisor reads and checks gateway.toml itself and hands each gateway process the
//!   text it checked (on stdin): a gateway.toml broken on disk fails a reload, and a restart
//!   after a crash uses the last configuration that worked, so an edit in progress and a
//!   crash together do not take the gateway down.
//! - SIGTERM is heeded at once, also while a new gateway process is starting (that one is
//!   killed).
//! - SIGTERM or SIGINT closes the supervisor's copies of the sockets, tells every gateway
//!   process to drain, and waits for them (`drain_timeout_seconds` and a margin).
//! - A gateway process gets SIGTERM if the supervisor dies (`PR_SET_PDEATHSIG`), so none is
//!   left accepting on sockets nobody supervises.
//!
//! The supervisor itself does as little as possible: it parses no traffic and holds no
//! session, so it has little reason to fail. Its code is the binary it started from; a new
//! binary reaches the gateway processes at the next reload, and the supervisor at its next
//! restart.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::sockets;
use crate::config::gateway::Gateway;
use crate::error::{Error, Result};

/// A gateway process that ends within this time of its start is started again after this
/// pause, not at once.
pub const QUICK_DEATH: Duration = Duration::from_millis(100);
/// Failed starts in a row before the supervisor gives up (systemd's StartLimitBurst).
pub const GIVE_UP_AFTER: u32 = 5;
/// How long a gateway process may take to say it is ready.
pub const READY_LIMIT: Duration = Duration::from_secs(30);
/// The supervisor keeps its copies of the sockets at or above this descriptor, out of the
/// way of 3 and 4, where each gateway process gets them.
const HIGH_FD: RawFd = 10;

/// What `sftpha gateway supervise` is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// gateway.toml.
    pub config: PathBuf,
    /// Where the serving gateway process's pid is kept (written atomically on every change).
    pub worker_pidfile: Option<PathBuf>,
}

struct Worker {
    pid: u32,
    started: Instant,
}

struct Supervisor {
    options: Options,
    /// The program each gateway process runs: the path this one was started as, so that an
    /// upgraded binary installed over it is what the next process runs.
    program: PathBuf,
    sockets: Vec<OwnedFd>,
    exits: mpsc::UnboundedSender<(u32, std::io::Result<ExitStatus>)>,
    /// The gateway.toml text the serving process was started with.
    last_good: Option<String>,
}

/// SIGTERM and SIGINT: either stops the supervisor.
struct Stops {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Stops {
    /// The next SIGTERM or SIGINT.
    async fn any(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// Why a start did not happen.
enum Stopped {
    /// SIGTERM or SIGINT arrived meanwhile.
    Signal,
    Failed(Error),
}

/// Runs the supervisor until SIGTERM or SIGINT (`Ok`), or until the gateway cannot be kept
/// running (`Err`). `ready` gets the first gateway process's ready line.
pub async fn supervise(options: Options, ready: impl FnOnce(&str)) -> Result<()> {
    let config = Gateway::load(&options.config)?;
    let drain = Duration::from_secs(config.file.drain_timeout_seconds);
    if let Some(path) = &options.worker_pidfile {
        // Provision and test-failover rely on it: refuse to run without it.
        crate::files::write_atomically(path, b"", 0o644).map_err(|e| {
            Error::usage(
                format!("cannot keep the worker pidfile: {e}"),
                Some("give --worker-pidfile a path in a writable folder (provision uses STATE_DIR/gateway-worker.pid)"),
            )
        })?;
    }
    let listeners = sockets::take_or_bind(
        sockets::inherited()?,
        &[config.listen, config.health_listen],
    )?;
    let mut held = Vec::new();
    for listener in listeners {
        let fd = OwnedFd::from(listener.into_std()?);
        held.push(rustix::io::fcntl_dupfd_cloexec(&fd, HIGH_FD).map_err(std::io::Error::from)?);
    }
    let (tx, mut exits) = mpsc::unbounded_channel();
    let program = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(std::env::current_exe, Ok)?;
    let mut supervisor = Supervisor {
        options,
        program,
        sockets: held,
        exits: tx,
        last_good: None,
    };
    let mut stops = Stops {
        term: signal(SignalKind::terminate())?,
        int: signal(SignalKind::interrupt())?,
    };
    let mut hup = signal(SignalKind::hangup())?;

    let (first, line) = match supervisor.start_unless(&mut stops, false).await {
        Ok(started) => started,
        Err(Stopped::Signal) => return Ok(()),
        Err(Stopped::Failed(e)) => return Err(e),
    };
    ready(&line);
    let mut current = Some(first);
    let mut failures = 0u32;
    let mut pause = Duration::ZERO;
    let mut draining: Vec<u32> = Vec::new();
    loop {
        if current.is_none() {
            if failures >= GIVE_UP_AFTER {
                return Err(failed(format!(
                    "the gateway could not be started {failures} times in a row: giving up, so that another gateway takes the traffic (see the log above)"
                )));
            }
            if failures > 0 {
                pause = Duration::from_millis(200 << (failures - 1).min(4));
            }
            if !pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stops.any() => break,
                }
            }
            match supervisor.start_unless(&mut stops, true).await {
                Err(Stopped::Signal) => break,
                Ok((worker, _)) => {
                    tracing::info!(pid = worker.pid, "gateway process ready");
                    current = Some(worker);
                    failures = 0;
                    pause = Duration::ZERO;
                }
                Err(Stopped::Failed(e)) => {
                    failures += 1;
                    tracing::error!("could not start the gateway: {e}");
                    continue;
                }
            }
        }
        tokio::select! {
            Some((pid, status)) = exits.recv() => {
                let status = describe(&status);
                if current.as_ref().is_some_and(|w| w.pid == pid) {
                    let worker = current.take().expect("current");
                    if worker.started.elapsed() < QUICK_DEATH {
                        pause = QUICK_DEATH;
                    }
                    tracing::error!(pid, "the gateway process ended ({status}); starting another on the same sockets, connections wait in the backlog meanwhile");
                } else {
                    draining.retain(|p| *p != pid);
                    tracing::info!(pid, "a replaced gateway process finished ({status})");
                }
            }
            _ = hup.recv() => {
                tracing::info!("reload: starting a new gateway process on the same sockets");
                match supervisor.start_unless(&mut stops, false).await {
                    Err(Stopped::Signal) => break,
                    Ok((new, _)) => {
                        if let Some(old) = current.replace(new) {
                            tracing::info!(old = old.pid, "reload: the new gateway process is ready; the old one drains");
                            signal_pid(old.pid, rustix::process::Signal::TERM);
                            draining.push(old.pid);
                        }
                    }
                    Err(Stopped::Failed(e)) => tracing::error!("reload failed, the running gateway process stays: {e}"),
                }
            }
            _ = stops.any() => break,
        }
    }
    // Stop: close our copies of the sockets (once the gateway processes close theirs, new
    // connections are refused and keepalived moves the vip), let every process drain.
    drop(supervisor.sockets);
    let mut running: Vec<u32> = current.iter().map(|w| w.pid).chain(draining).collect();
    tracing::info!(processes = running.len(), "stopping: the gateway drains");
    for pid in &running {
        signal_pid(*pid, rustix::process::Signal::TERM);
    }
    let deadline = tokio::time::Instant::now() + drain + Duration::from_secs(5);
    while !running.is_empty() {
        tokio::select! {
            Some((pid, _)) = exits.recv() => running.retain(|p| *p != pid),
            _ = tokio::time::sleep_until(deadline) => {
                for pid in &running {
                    tracing::warn!(pid, "the gateway did not finish draining in time: killed");
                    signal_pid(*pid, rustix::process::Signal::KILL);
                }
                break;
            }
        }
    }
    if let Some(path) = &supervisor.options.worker_pidfile {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("supervisor stopped");
    Ok(())
}

impl Supervisor {
    /// The gateway.toml text to start with: the file as it is if it is valid, else (after a
    /// crash only) the last text that worked.
    fn config_text(&self, after_crash: bool) -> Result<String> {
        let path = &self.options.config;
        let checked = crate::files::read_text(path)
            .and_then(|text| Gateway::parse(path, &text).map(|_| text));
        match (checked, &self.last_good) {
            (Ok(text), _) => Ok(text),
            (Err(e), Some(good)) if after_crash => {
                tracing::error!("{e}: starting the gateway with the last configuration that worked; fix the file and reload");
                Ok(good.clone())
            }
            (Err(e), _) => Err(e),
        }
    }

    /// [`Supervisor::start`], unless SIGTERM or SIGINT comes first (then the starting process
    /// is killed).
    async fn start_unless(
        &mut self,
        stops: &mut Stops,
        after_crash: bool,
    ) -> std::result::Result<(Worker, String), Stopped> {
        tokio::select! {
            r = self.start(after_crash) => r.map_err(Stopped::Failed),
            _ = stops.any() => Err(Stopped::Signal),
        }
    }

    /// Starts a gateway process on the sockets, waits for its ready line and records its
    /// pid. Dropped before it is ready (a signal), the process is killed.
    async fn start(&mut self, after_crash: bool) -> Result<(Worker, String)> {
        let text = self.config_text(after_crash)?;
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(["gateway", "run", "--config", "/dev/stdin"])
            .env("LISTEN_FDS", self.sockets.len().to_string())
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let fds: Vec<RawFd> = self.sockets.iter().map(|s| s.as_raw_fd()).collect();
        (sockets::hooks()?.hand_over)(&mut command, fds);
        let mut child = command.spawn().map_err(|e| {
            failed(format!(
                "could not start `{} gateway run`: {e}",
                self.program.display()
            ))
        })?;
        let pid = child.id().unwrap_or_default();
        let started = Instant::now();
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            // A process that died at once closed it; its exit is reported below.
            let _ = stdin.write_all(text.as_bytes()).await;
        }
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(READY_LIMIT, lines.next_line()).await;
        let line = match first {
            Ok(Ok(Some(line))) if line.contains("\"ready\"") => line,
            other => {
                let _ = child.start_kill();
                let status = child.wait().await;
                let why = match other {
                    Err(_) => format!("not ready within {} s", READY_LIMIT.as_secs()),
                    _ => format!("it ended before it was ready ({})", describe(&status)),
                };
                return Err(failed(format!("gateway process {pid}: {why}")));
            }
        };
        // Whatever else it prints goes where the supervisor's output goes.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                println!("{line}");
            }
        });
        let exits = self.exits.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = exits.send((pid, status));
        });
        self.last_good = Some(text);
        let worker = Worker { pid, started };
        self.record(&worker);
        Ok((worker, line))
    }

    fn record(&self, worker: &Worker) {
        if let Some(path) = &self.options.worker_pidfile {
            if let Err(e) =
                crate::files::write_atomically(path, format!("{}\n", worker.pid).as_bytes(), 0o644)
            {
                tracing::error!("could not write the gateway's pidfile: {e}");
            }
        }
    }
}

/// A failure of the running gateway (exit 1), not of the command line.
fn failed(message: String) -> Error {
    Error::Io(std::io::Error::other(message))
}

fn signal_pid(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

fn describe(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("unknown: {e}"),
    }
}
