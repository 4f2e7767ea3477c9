//! Test harness: temporary node fixtures with real keys, the real `sftpha` binary started on
//! 127.0.0.1:0 (it announces its ports on stdout), and the real clients that drive it.
//! A missing client program fails the test: nothing is skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sftpha");

/// `sftpha` as an `assert_cmd` command (the binary cargo built for these tests, as `BIN`):
/// `sftpha().args([...]).assert().code(2).stderr(...)`.
/// The keys every finding of `assess` carries in JSON (DESIGN.md).
pub const FINDING_KEYS: [&str; 6] = [
    "id",
    "severity",
    "component",
    "title",
    "detail",
    "recommendation",
];

/// Runs `sftpha --yes -q init` for `DIR/cluster.toml` (and users.toml beside it) and returns
/// the cluster.toml's path.
pub fn init_in(dir: &Path) -> PathBuf {
    let cluster = dir.join("cluster.toml");
    sftpha()
        .args(["--yes", "-q", "-c"])
        .arg(&cluster)
        .arg("init")
        .assert()
        .success();
    cluster
}

pub fn sftpha() -> assert_cmd::Command {
    assert_cmd::cargo::cargo_bin_cmd!("sftpha")
}

/// What an assertion captured, as text.
pub fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

pub fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// stdout of an assertion as JSON; panics with both streams if it is not.
pub fn json_of(assert: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&assert.get_output().stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout_of(assert),
            stderr_of(assert)
        )
    })
}

/// Panics unless `program` is on PATH (CI installs every client; see .ci/run).
pub fn require(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed: run `scripts/setup` (CI installs it)"
    );
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    out
}

/// Runs `cmd` with `input` on its stdin; collects what it prints.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `cmd` and panics with everything it printed unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    if !out.status.success() {
        panic!(
            "command failed: {cmd:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    format!("{:x}", Sha256::digest(&data))
}

pub fn random_file(path: &Path, len: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut state: u64 = 0x9e3779b97f4a7c15 ^ len as u64 ^ path.as_os_str().len() as u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        for chunk in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
}

pub struct TestUser {
    pub name: String,
    pub key: PathBuf,
    pub public: String,
    pub password_hash: Option<String>,
    pub extra: String,
}

/// A directory with host keys, users and a node.toml, from which nodes are started.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub host_keys: Vec<PathBuf>,
    pub users: Vec<TestUser>,
    pub extra_config: String,
}

pub fn keygen(path: &Path, kind: &str) {
    require("ssh-keygen");
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", "", "-C", "test", "-t", kind, "-f"])
        .arg(path);
    if kind == "rsa" {
        cmd.args(["-b", "3072"]);
    }
    run_ok(&mut cmd);
}

impl Fixture {
    /// One ed25519 host key and the user `alice` with an ed25519 key.
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("sftpha-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir(dir.path().join("storage")).unwrap();
        let mut f = Fixture {
            dir,
            host_keys: Vec::new(),
            users: Vec::new(),
            extra_config: String::new(),
        };
        f.add_host_key("ed25519");
        f.add_user("alice", "ed25519");
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn storage(&self) -> PathBuf {
        self.path().join("storage")
    }

    pub fn add_host_key(&mut self, kind: &str) -> PathBuf {
        let path = self.path().join(format!("host_{kind}"));
        keygen(&path, kind);
        self.host_keys.push(path.clone());
        path
    }

    pub fn add_user(&mut self, name: &str, kind: &str) -> usize {
        let key = self.path().join(format!("user_{name}_{kind}"));
        keygen(&key, kind);
        let public = std::fs::read_to_string(key.with_extension("pub"))
            .unwrap_or_else(|_| std::fs::read_to_string(format!("{}.pub", key.display())).unwrap());
        self.users.push(TestUser {
            name: name.into(),
            key,
            public: public.trim().to_owned(),
            password_hash: None,
            extra: String::new(),
        });
        self.users.len() - 1
    }

    pub fn user(&self, name: &str) -> &TestUser {
        self.users.iter().find(|u| u.name == name).unwrap()
    }

    pub fn users_toml(&self) -> String {
        let mut out = String::from("# users of the test cluster\n");
        for u in &self.users {
            out += &format!(
                "[[users]]\nname = \"{}\"\nkeys = [\"{}\"]\n",
                u.name, u.public
            );
            if let Some(hash) = &u.password_hash {
                out += &format!("password_hash = \"{hash}\"\n");
            }
            out += &u.extra;
            out += "\n";
        }
        out
    }

    pub fn write_users(&self) {
        let path = self.path().join("users.toml");
        let tmp = self.path().join("users.toml.tmp");
        std::fs::write(&tmp, self.users_toml()).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }

    pub fn node_toml(&self, name: &str) -> String {
        let keys: Vec<String> = self
            .host_keys
            .iter()
            .map(|k| format!("\"{}\"", k.display()))
            .collect();
        format!(
            "name = \"{name}\"\nlisten = \"127.0.0.1:0\"\nhealth_listen = \"127.0.0.1:0\"\nstorage = \"storage\"\nhost_keys = [{}]\nusers = \"users.toml\"\naudit_log = \"audit-{name}.jsonl\"\n{}\n",
            keys.join(", "),
            self.extra_config
        )
    }

    pub fn start(&self) -> NodeProc {
        self.start_named("n1")
    }

    pub fn start_named(&self, name: &str) -> NodeProc {
        self.node(name).spawn()
    }

    /// Writes users.toml and `NAME.toml` and returns a builder for node `name` on them, with
    /// the fixture's host keys; set what else differs (a wrapper) and `spawn()` it.
    pub fn node(&self, name: &str) -> NodeBuilder {
        self.write_users();
        let config = self.path().join(format!("{name}.toml"));
        std::fs::write(&config, self.node_toml(name)).unwrap();
        NodeProc::builder(&config, self.path())
            .name(name)
            .host_keys(self.host_keys.clone())
    }
}

/// Where clients connect: a node's SFTP address (or a relay in front of it) and the
/// known_hosts file that pins the node's host keys there.
#[derive(Clone)]
pub struct Endpoint {
    pub sftp: SocketAddr,
    pub known_hosts: PathBuf,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub host_keys: Vec<PathBuf>,
}

/// A running `sftpha node run`; killed when dropped.
pub struct NodeProc {
    pub child: Child,
    pub endpoint: Endpoint,
    pub health: SocketAddr,
    pub audit: PathBuf,
}

impl std::ops::Deref for NodeProc {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

fn write_known_hosts(path: &Path, port: u16, host_keys: &[PathBuf]) {
    let mut lines = String::new();
    for key in host_keys {
        let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
        let mut parts = public.split_whitespace();
        lines += &format!(
            "[127.0.0.1]:{port} {} {}\n",
            parts.next().unwrap(),
            parts.next().unwrap()
        );
    }
    std::fs::write(path, lines).unwrap();
}

/// How to start a node: `NodeProc::builder(config, dir).name("n1").host_keys(keys).spawn()`.
/// `config` is its node.toml; `dir` gets its log (`NAME.log`), the known_hosts file pinning
/// `host_keys` on its port (`known_hosts_NAME`), and holds its audit log (`audit-NAME.jsonl`).
#[must_use = "a builder does nothing until `spawn()`"]
pub struct NodeBuilder {
    config: PathBuf,
    dir: PathBuf,
    name: String,
    host_keys: Vec<PathBuf>,
    wrapper: Vec<String>,
}

impl NodeBuilder {
    /// The node's name (default `n1`): names its log, known_hosts and audit files in `dir`.
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// The private host key files the node serves (default none); clients get a known_hosts
    /// file with their public halves.
    pub fn host_keys(mut self, host_keys: Vec<PathBuf>) -> Self {
        self.host_keys = host_keys;
        self
    }

    /// Starts the node through `wrapper` (e.g. `["prlimit", "--nofile=1024:1024", "--"]`),
    /// which must exec it, so the process is still the node.
    pub fn wrapper(mut self, wrapper: &[&str]) -> Self {
        self.wrapper = wrapper.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Starts `sftpha node run` and waits (up to 20 s) for its ready line.
    pub fn spawn(self) -> NodeProc {
        let NodeBuilder {
            config,
            dir,
            name,
            host_keys,
            wrapper,
        } = self;
        let (config, dir, name) = (config.as_path(), dir.as_path(), name.as_str());
        let log = dir.join(format!("{name}.log"));
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                require(program);
                let mut c = Command::new(program);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = command
            .args(["node", "run", "--config"])
            .arg(config)
            .env("SFTPHA_LOG", "sftpha=debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start sftpha node");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if !line.is_empty() => line,
            _ => {
                let _ = child.kill();
                panic!(
                    "node did not announce readiness; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let ready: serde_json::Value = serde_json::from_str(&line).expect("ready line is JSON");
        assert_eq!(ready["event"], "ready");
        let sftp: SocketAddr = ready["sftp"].as_str().unwrap().parse().unwrap();
        let health: SocketAddr = ready["health"].as_str().unwrap().parse().unwrap();
        let known_hosts = dir.join(format!("known_hosts_{name}"));
        write_known_hosts(&known_hosts, sftp.port(), &host_keys);
        NodeProc {
            child,
            endpoint: Endpoint {
                sftp,
                known_hosts,
                dir: dir.to_owned(),
                log: log.clone(),
                host_keys,
            },
            health,
            audit: dir.join(format!("audit-{name}.jsonl")),
        }
    }
}

impl NodeProc {
    /// A node started from `config`, with its files in `dir`; see [`NodeBuilder`].
    pub fn builder(config: &Path, dir: &Path) -> NodeBuilder {
        NodeBuilder {
            config: config.to_owned(),
            dir: dir.to_owned(),
            name: "n1".to_owned(),
            host_keys: Vec::new(),
            wrapper: Vec::new(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid()).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "node did not exit within {limit:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
            .collect()
    }

    /// Polls the audit log until `pred` matches an event (the writer is asynchronous).
    pub fn wait_audit(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            if let Some(e) = self.audit_events().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no audit event {what}; audit log:\n{}",
                std::fs::read_to_string(&self.audit).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET on the health endpoint: (status, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_get(self.health, path, None)
    }

    pub fn healthz(&self) -> (u16, serde_json::Value) {
        let (status, body) = self.http_get("/healthz");
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    pub fn metric(&self, name: &str) -> f64 {
        let (_, body) = self.http_get("/metrics");
        body.lines()
            .find(|l| l.starts_with(&format!("sftpha_node_{name}{{")))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("metric {name} missing in:\n{body}"))
    }
}

impl Endpoint {
    /// The same node reached through `addr` (a relay in front of it).
    pub fn via(&self, addr: SocketAddr) -> Endpoint {
        let known_hosts = self.dir.join(format!("known_hosts_{}", addr.port()));
        write_known_hosts(&known_hosts, addr.port(), &self.host_keys);
        Endpoint {
            sftp: addr,
            known_hosts,
            ..self.clone()
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn port(&self) -> String {
        self.sftp.port().to_string()
    }

    /// OpenSSH options that verify the node's host key strictly.
    pub fn ssh_options(&self, user: &TestUser) -> Vec<String> {
        vec![
            "-P".into(),
            self.port(),
            "-i".into(),
            user.key.display().to_string(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-o".into(),
            "ConnectTimeout=10".into(),
        ]
    }

    /// Runs an OpenSSH `sftp -b -` batch (stops at the first failing command).
    pub fn sftp(&self, user: &TestUser, batch: &str, extra: &[&str]) -> Output {
        require("sftp");
        let mut cmd = Command::new("sftp");
        cmd.args(self.ssh_options(user))
            .args(extra)
            .arg("-b")
            .arg("-")
            .arg(format!("{}@127.0.0.1", user.name))
            .current_dir(&self.dir);
        run_with_input(&mut cmd, batch.as_bytes())
    }

    pub fn sftp_ok(&self, user: &TestUser, batch: &str) -> String {
        let out = self.sftp(user, batch, &[]);
        assert!(
            out.status.success(),
            "sftp batch failed:\n{batch}\nstdout:\n{}\nstderr:\n{}\nnode log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a paramiko scenario from tests/clients/paramiko_client.py.
    pub fn paramiko(&self, scenario: &str, user: &TestUser, extra: &[&str]) -> Output {
        self.paramiko_cmd(scenario, user, extra).output().unwrap()
    }

    pub fn paramiko_cmd(&self, scenario: &str, user: &TestUser, extra: &[&str]) -> Command {
        require("python3");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/paramiko_client.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg(scenario)
            .args(["--port", &self.port(), "--user", &user.name])
            .arg("--known-hosts")
            .arg(&self.known_hosts)
            .args(extra);
        if !extra.contains(&"--password-env") {
            cmd.arg("--key").arg(&user.key);
        }
        cmd
    }

    pub fn paramiko_ok(&self, scenario: &str, user: &TestUser, extra: &[&str]) {
        let out = self.paramiko(scenario, user, extra);
        assert!(
            out.status.success(),
            "paramiko scenario `{scenario}` failed\nstdout:\n{}\nstderr:\n{}\nnode log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- node log {} ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// A minimal HTTP/1.1 GET, optionally preceded by raw bytes (a PROXY header).
pub fn http_get(addr: SocketAddr, path: &str, prefix: Option<&[u8]>) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    if let Some(prefix) = prefix {
        s.write_all(prefix).unwrap();
    }
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad HTTP response: {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// Polls `cond` every 20 ms until it holds, failing after `limit`.
pub fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// (id, component) of every finding of an `assess --format json` report.
pub fn findings(report: &serde_json::Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .expect("a report has findings")
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["component"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
