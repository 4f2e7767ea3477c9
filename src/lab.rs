//! A whole cluster on 127.0.0.1 in one directory: N node processes with one host key and
//! identical configurations, a gateway in front, a storage folder they share, and a demo user.
//!
//! Every process is started detached (its own process group) with a pidfile, a log and a
//! ready file. Processes are only ever ended by the pid in their pidfile, and only after
//! `/proc/PID/cmdline` shows that the pid is still the sftpha process this lab started.
//!
//! `up` only writes into a new or empty folder, or one that already holds a lab (marked by
//! `.sftpha-lab`, or `lab.json` for labs made before the marker): it never overwrites someone's
//! cluster.toml. An `up` that fails stops what it started and leaves a folder the next `up`
//! starts afresh in.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, KeyError, LabError, Result};
use crate::files::write_atomically;
use crate::keys::KeyKind;

/// The demo user every lab has.
pub const DEMO_USER: &str = "demo";
/// How long a starting process has to announce readiness.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `down` waits for a process to drain before it kills it.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Drain time of lab nodes: short, it is a lab.
const LAB_DRAIN_SECONDS: u64 = 5;
/// The lab gateway's fast checks, so failover is quick to see; gateway.toml and the lab's
/// cluster.toml share the keys, so both say the same.
const LAB_GATEWAY_CHECKS: &str = "health_interval_ms = 500\nhealth_timeout_ms = 400\nhealth_fall = 2\nhealth_rise = 2\nconnect_timeout_ms = 500\nbanner_timeout_ms = 1000\n";

/// Marks a folder as a lab; written first by `up`.
const MARKER: &str = ".sftpha-lab";
/// The lab's host keys, one per type sshd presents by default.
const HOST_KEYS: [(KeyKind, &str); 3] = [
    (KeyKind::Ed25519, "host_ed25519"),
    (KeyKind::EcdsaP256, "host_ecdsa"),
    (KeyKind::Rsa, "host_rsa"),
];
/// What a lab writes and reads back: the fingerprints of its host keys, ed25519 first.
const FINGERPRINTS: &str = "host_key_fingerprint";

/// The port of an announced `HOST:PORT` address.
pub fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or_default()
}

/// `DIR/lab.json`, as documented in DESIGN.md (plus paths a tool needs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabFile {
    pub gateway: GatewayInfo,
    pub nodes: Vec<NodeInfo>,
    pub storage: PathBuf,
    pub user: String,
    pub identity: PathBuf,
    /// The ed25519 host key (what sftpha's own client and most others are shown).
    pub host_key_fingerprint: String,
    /// Every host key the nodes present (ed25519, ECDSA, RSA).
    #[serde(default)]
    pub host_key_fingerprints: Vec<String>,
    pub known_hosts: PathBuf,
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GatewayInfo {
    pub addr: String,
    pub pid: u32,
    pub health_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    pub addr: String,
    pub health_url: String,
    pub pid: u32,
}

/// The lab in `dir`.
#[derive(Debug, Clone)]
pub struct Lab {
    pub dir: PathBuf,
    pub binary: PathBuf,
}

/// What `up` did.
pub enum Up {
    Started(LabFile),
    AlreadyRunning(LabFile),
    /// Some processes were running; what had died was started again, what was stopped
    /// (SIGSTOP) resumed. Each entry says which and what was done.
    Repaired(LabFile, Vec<String>),
}

/// What the kernel says of a process (`/proc/PID/stat`, the field after the name).
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')').next()?.trim_start().chars().next()
}

impl Lab {
    /// The lab in `dir` for `up`: a new or empty folder (made if missing), or one that holds
    /// a lab. A folder with other files is refused: `up` would overwrite them.
    pub fn for_up(dir: &Path) -> Result<Lab> {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|source| Error::WriteFile {
                path: dir.to_owned(),
                source,
            })?;
        }
        let lab = Lab::open(dir)?;
        if lab.is_lab() {
            return Ok(lab);
        }
        let mut found: Vec<String> = std::fs::read_dir(&lab.dir)
            .map_err(|source| Error::ReadFile {
                path: lab.dir.clone(),
                source,
            })?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if found.is_empty() {
            return Ok(lab);
        }
        found.sort();
        let shown = found.len().min(5);
        let more = if found.len() > shown {
            format!(" and {} more", found.len() - shown)
        } else {
            String::new()
        };
        Err(Error::usage(
            format!(
                "`{}` is not empty and holds no lab (it has {}{more}): `lab up` writes its own cluster.toml, users.toml, known_hosts and keys there and would overwrite them; nothing was changed",
                lab.dir.display(),
                found[..shown].join(", ")
            ),
            Some("give `--dir` a new or empty folder, e.g. `sftpha lab up --dir sftpha-lab`"),
        ))
    }

    /// The lab in the existing folder `dir` (which may hold no lab: see [`Lab::is_lab`]).
    pub fn open(dir: &Path) -> Result<Lab> {
        let binary = std::env::current_exe()?;
        let dir = dir.canonicalize().map_err(|source| Error::ReadFile {
            path: dir.to_owned(),
            source,
        })?;
        if !dir.is_dir() {
            return Err(Error::usage(
                format!("`{}` is not a folder", dir.display()),
                Some("`--dir` names the lab's folder"),
            ));
        }
        Ok(Lab { dir, binary })
    }

    /// Whether the folder holds a lab (made by `up`, even one that failed to start).
    pub fn is_lab(&self) -> bool {
        self.path(MARKER).exists() || self.path("lab.json").exists()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn load(&self) -> Result<LabFile> {
        let path = self.path("lab.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::usage(
                    format!("no lab in `{}` (it has no lab.json)", self.dir.display()),
                    Some(&format!(
                        "start one with `sftpha lab up --dir {}`",
                        self.dir.display()
                    )),
                ))
            }
            Err(source) => return Err(Error::ReadFile { path, source }),
        };
        serde_json::from_str(&text).map_err(|e| Error::config(&path, None, e.to_string()))
    }

    /// The names of the lab's nodes, from their configs.
    pub fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".node.toml").map(str::to_owned)
            })
            .collect();
        names.sort_by_key(|n| n.trim_start_matches('n').parse::<u32>().unwrap_or(u32::MAX));
        names
    }

    /// Starts the lab, or says it runs already, or repairs it: what died is started again on
    /// its old ports, what is stopped (SIGSTOP, e.g. a test-failover that was killed) resumes.
    pub fn up(&self, nodes: usize, port: u16) -> Result<Up> {
        let existing = self.node_names();
        if !existing.is_empty() && self.path("lab.json").exists() {
            let mut repaired = Vec::new();
            for name in existing.iter().map(String::as_str).chain(["gateway"]) {
                match self.running_pid(name) {
                    None => {
                        self.start(name)?;
                        repaired.push(format!("{name} (started again)"));
                    }
                    Some(pid) if self.stopped(name) => {
                        self.signal(name, rustix::process::Signal::CONT)?;
                        repaired.push(format!(
                            "{name} (pid {pid} was stopped by SIGSTOP: resumed with SIGCONT)"
                        ));
                    }
                    Some(_) => {}
                }
            }
            let lab = self.write_lab_file()?;
            return Ok(if repaired.is_empty() {
                Up::AlreadyRunning(lab)
            } else {
                Up::Repaired(lab, repaired)
            });
        }
        // A new lab, or what an `up` that did not finish left: start from scratch.
        if !existing.is_empty() {
            self.down()?;
            self.forget_processes();
        }
        write_atomically(
            &self.path(MARKER),
            b"This folder holds an sftpha lab (`sftpha lab up`).\n",
            0o644,
        )?;
        match self.create(nodes, port) {
            Ok(()) => Ok(Up::Started(self.write_lab_file()?)),
            Err(e) => {
                let stopped = self.down().unwrap_or_default();
                self.forget_processes();
                Err(match e {
                    Error::LabStart {
                        process,
                        cause,
                        log,
                        ..
                    } => Error::LabStart {
                        process,
                        cause,
                        log,
                        stopped,
                    },
                    other => other,
                })
            }
        }
    }

    /// Removes the process configs and ready files of a lab that did not start, so the next
    /// `up` starts afresh (logs stay, for the cause).
    fn forget_processes(&self) {
        let names: Vec<String> = self.node_names();
        for name in names.iter().map(String::as_str).chain(["gateway"]) {
            let _ = std::fs::remove_file(self.config_of(name));
            let _ = std::fs::remove_file(self.path(&format!("{name}.ready.json")));
            let _ = std::fs::remove_file(self.path(&format!("{name}.pid")));
        }
    }

    /// Writes keys, users and configurations, then starts nodes and gateway.
    fn create(&self, nodes: usize, port: u16) -> Result<()> {
        std::fs::create_dir_all(self.path("storage"))?;
        let mut host_keys = Vec::new();
        for (kind, file) in HOST_KEYS {
            host_keys.push(crate::keys::generate::generate(
                kind,
                &self.path(file),
                "sftpha-lab-host",
            )?);
        }
        let demo =
            crate::keys::generate::generate_ed25519(&self.path("demo_ed25519"), "demo@sftpha-lab")?;
        let users = format!(
            "# Users of the lab cluster; edit and the nodes reload within a second.\n[[users]]\nname = \"{DEMO_USER}\"\nkeys = [\"{}\"]\nhome = \"{DEMO_USER}\"\n",
            demo.public_key().to_openssh().map_err(key_error)?
        );
        write_atomically(&self.path("users.toml"), users.as_bytes(), 0o600)?;
        let mut backends = String::new();
        for i in 1..=nodes {
            let name = format!("n{i}");
            let config = self.node_config(&name, "127.0.0.1:0", "127.0.0.1:0");
            write_atomically(
                &self.path(&format!("{name}.node.toml")),
                config.as_bytes(),
                0o644,
            )?;
            let ready = self.start(&name)?;
            // Pin the ports it got, so that a restart (test-failover's restore) comes back there.
            let config = self.node_config(&name, &ready.addr, &ready.health);
            write_atomically(
                &self.path(&format!("{name}.node.toml")),
                config.as_bytes(),
                0o644,
            )?;
            backends += &format!(
                "[[backends]]\nname = \"{name}\"\naddress = \"{}\"\nhealth_url = \"http://{}/healthz\"\n",
                ready.addr, ready.health
            );
        }
        let gateway = |listen: &str, health: &str| {
            format!(
                "# The lab's gateway: fast checks, so failover is quick to see.\nname = \"gw1\"\nlisten = \"{listen}\"\nhealth_listen = \"{health}\"\nbalance = \"leastconn\"\n{LAB_GATEWAY_CHECKS}send_proxy = true\ndrain_timeout_seconds = {LAB_DRAIN_SECONDS}\n\n{backends}"
            )
        };
        write_atomically(
            &self.path("gateway.toml"),
            gateway(&format!("127.0.0.1:{port}"), "127.0.0.1:0").as_bytes(),
            0o644,
        )?;
        let ready = self.start("gateway")?;
        write_atomically(
            &self.path("gateway.toml"),
            gateway(&ready.addr, &ready.health).as_bytes(),
            0o644,
        )?;
        let mut fingerprints = String::new();
        let mut publics = Vec::new();
        for key in &host_keys {
            fingerprints += &format!("{}\n", crate::node::fingerprint_of(key));
            publics.push(key.public_key().to_openssh().map_err(key_error)?);
        }
        let mut ports = vec![port_of(&ready.addr).to_owned()];
        for name in self.node_names() {
            if let Some(r) = self.ready_of(&name) {
                ports.push(port_of(&r.addr).to_owned());
            }
        }
        let mut known = String::new();
        for port in &ports {
            for public in &publics {
                // `TYPE BASE64` without the key's comment, as ssh-keyscan prints it.
                let mut parts = public.split_whitespace();
                let (kind, blob) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                known += &format!("[127.0.0.1]:{port} {kind} {blob}\n");
            }
        }
        write_atomically(&self.path("known_hosts"), known.as_bytes(), 0o644)?;
        write_atomically(
            &self.path("cluster.toml"),
            self.cluster_toml(&ready).as_bytes(),
            0o644,
        )?;
        write_atomically(&self.path(FINGERPRINTS), fingerprints.as_bytes(), 0o644)?;
        Ok(())
    }

    /// The lab as a cluster definition, so `assess -c DIR/cluster.toml [--probe]` works on it.
    fn cluster_toml(&self, gateway: &Ready) -> String {
        let mut nodes = String::new();
        for name in self.node_names() {
            if let Some(r) = self.ready_of(&name) {
                nodes += &format!(
                    "[[nodes]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {}\nhealth_port = {}\nzone = \"lab\"\n\n",
                    port_of(&r.addr),
                    port_of(&r.health)
                );
            }
        }
        format!(
            "# The lab as a cluster definition: `sftpha assess -c {dir}/cluster.toml --probe`\n# checks the live processes. One host, so the assessment names its single points of failure.\nname = \"lab\"\nusers = \"users.toml\"\n\n[objectives]\nrto_seconds = 30\nrpo_seconds = 0\npeak_sessions = 50\navailability_percent = 99.9\n\n[storage]\npath = \"{storage}\"\nkind = \"shared\"\n\n{nodes}[gateway]\nkind = \"builtin\"\nhosts = [\"127.0.0.1\"]\nport = {gw}\nhealth_port = {gw_health}\n{LAB_GATEWAY_CHECKS}",
            dir = self.dir.display(),
            storage = self.path("storage").display(),
            gw = port_of(&gateway.addr),
            gw_health = port_of(&gateway.health),
        )
    }

    fn node_config(&self, name: &str, listen: &str, health: &str) -> String {
        let keys = HOST_KEYS
            .iter()
            .map(|(_, file)| format!("\"{file}\""))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "# Lab node {name}: identical to the others but for name and ports.\nname = \"{name}\"\nlisten = \"{listen}\"\nhealth_listen = \"{health}\"\nstorage = \"storage\"\nhost_keys = [{keys}]\nusers = \"users.toml\"\nproxy_protocol = \"optional\"\nproxy_trusted = [\"127.0.0.1/32\"]\naudit_log = \"{name}.audit.jsonl\"\ndrain_timeout_seconds = {LAB_DRAIN_SECONDS}\n"
        )
    }

    fn config_of(&self, name: &str) -> PathBuf {
        if name == "gateway" {
            self.path("gateway.toml")
        } else {
            self.path(&format!("{name}.node.toml"))
        }
    }

    /// Starts process `name` (a node, or `gateway`) detached and waits until it is ready.
    pub fn start(&self, name: &str) -> Result<Ready> {
        let ready_file = self.path(&format!("{name}.ready.json"));
        let _ = std::fs::remove_file(&ready_file);
        let log_path = self.path(&format!("{name}.log"));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        // What this start writes to the log, for the error if it fails.
        let log_from = log.metadata().map(|m| m.len()).unwrap_or(0);
        let kind = if name == "gateway" { "gateway" } else { "node" };
        let mut child = Command::new(&self.binary)
            .args([kind, "run", "--config"])
            .arg(self.config_of(name))
            .arg("--ready-file")
            .arg(&ready_file)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group: Ctrl-C in the terminal that ran `lab up` leaves it be.
            .process_group(0)
            .spawn()?;
        let pid = child.id();
        write_atomically(
            &self.path(&format!("{name}.pid")),
            format!("{pid}\n").as_bytes(),
            0o644,
        )?;
        let started = Instant::now();
        loop {
            if let Some(ready) = self.ready_of(name) {
                // Reap it in the background so that it never lingers as a zombie of ours.
                std::thread::spawn(move || child.wait());
                return Ok(ready);
            }
            let failed = |cause: String| Error::LabStart {
                process: name.to_owned(),
                cause,
                log: log_path.clone(),
                stopped: Vec::new(),
            };
            if let Ok(Some(status)) = child.try_wait() {
                return Err(failed(format!(
                    "it exited ({status}) before it was ready{}",
                    said(&log_path, log_from)
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "it was not ready within {}s{}",
                    START_TIMEOUT.as_secs(),
                    said(&log_path, log_from)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn ready_of(&self, name: &str) -> Option<Ready> {
        let text = std::fs::read_to_string(self.path(&format!("{name}.ready.json"))).ok()?;
        let line: crate::wire::ready::ReadyLine = serde_json::from_str(&text).ok()?;
        Some(Ready {
            addr: line.addr()?.to_owned(),
            health: line.health,
            pid: line.pid,
        })
    }

    /// The pid of process `name` if it runs and is the sftpha process this lab started.
    pub fn running_pid(&self, name: &str) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.path(&format!("{name}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let config = self.config_of(name);
        let ours = String::from_utf8_lossy(&cmdline).contains(&*config.to_string_lossy());
        let zombie = process_state(pid) == Some('Z');
        (ours && !zombie).then_some(pid)
    }

    /// Whether process `name` runs but is stopped (SIGSTOP: state `T`, as a frozen node is).
    pub fn stopped(&self, name: &str) -> bool {
        self.running_pid(name)
            .and_then(process_state)
            .is_some_and(|s| s == 'T' || s == 't')
    }

    pub fn signal(&self, name: &str, signal: rustix::process::Signal) -> Result<u32> {
        let pid = self
            .running_pid(name)
            .ok_or_else(|| LabError::NotRunning(name.to_owned()))?;
        let target =
            rustix::process::Pid::from_raw(pid as i32).ok_or_else(|| LabError::BadPid {
                name: name.to_owned(),
                pid,
            })?;
        rustix::process::kill_process(target, signal).map_err(|e| LabError::Signal {
            name: name.to_owned(),
            pid,
            source: e.into(),
        })?;
        Ok(pid)
    }

    /// Stops every process of the lab (SIGTERM, then SIGKILL after a drain's worth of time).
    /// Returns the names it stopped; running it again stops nothing and succeeds.
    pub fn down(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = vec!["gateway".to_owned()];
        names.extend(self.node_names());
        let mut stopped = Vec::new();
        for name in &names {
            if self.running_pid(name).is_some() {
                let frozen = self.stopped(name);
                let _ = self.signal(name, rustix::process::Signal::TERM);
                // A stopped process acts on the SIGTERM only once it runs again.
                if frozen {
                    let _ = self.signal(name, rustix::process::Signal::CONT);
                }
                stopped.push(name.clone());
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for name in &stopped {
            while self.running_pid(name).is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.running_pid(name).is_some() {
                tracing::warn!(process = %name, "did not stop in time: killing it");
                let _ = self.signal(name, rustix::process::Signal::KILL);
            }
        }
        for name in &names {
            let _ = std::fs::remove_file(self.path(&format!("{name}.pid")));
        }
        Ok(stopped)
    }

    /// Rewrites lab.json from what runs now.
    pub fn write_lab_file(&self) -> Result<LabFile> {
        let fingerprints: Vec<String> = crate::files::read_text(&self.path(FINGERPRINTS))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        let gw = self
            .ready_of("gateway")
            .ok_or(LabError::GatewayNeverReady)?;
        let nodes = self
            .node_names()
            .iter()
            .filter_map(|n| {
                self.ready_of(n).map(|r| NodeInfo {
                    name: n.clone(),
                    health_url: format!("http://{}/healthz", r.health),
                    addr: r.addr,
                    pid: r.pid,
                })
            })
            .collect();
        let lab = LabFile {
            gateway: GatewayInfo {
                health_url: format!("http://{}/healthz", gw.health),
                addr: gw.addr,
                pid: gw.pid,
            },
            nodes,
            storage: self.path("storage"),
            user: DEMO_USER.into(),
            identity: self.path("demo_ed25519"),
            host_key_fingerprint: fingerprints.first().cloned().unwrap_or_default(),
            host_key_fingerprints: fingerprints,
            known_hosts: self.path("known_hosts"),
            dir: self.dir.clone(),
        };
        let text = serde_json::to_string_pretty(&lab).expect("lab serializes") + "\n";
        write_atomically(&self.path("lab.json"), text.as_bytes(), 0o644)?;
        Ok(lab)
    }
}

/// What a started process announced.
#[derive(Debug, Clone)]
pub struct Ready {
    pub addr: String,
    pub health: String,
    pub pid: u32,
}

/// The error lines a process wrote to its log since `from` (quoted), or its last lines.
fn said(log: &Path, from: u64) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("error"))
        .collect();
    let chosen = if errors.is_empty() { &lines } else { &errors };
    let tail = &chosen[chosen.len().saturating_sub(2)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!(": \"{}\"", tail.join(" / ").trim())
    }
}

fn key_error(e: russh::keys::ssh_key::Error) -> Error {
    Error::Key(KeyError::Encode(e))
}
