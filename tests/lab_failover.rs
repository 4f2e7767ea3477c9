//! The gateway, the one-command lab, and test-failover, with real processes and clients.
//!
//! Lab tests hold one lock: each starts four processes and a workload, and running them one
//! at a time keeps the measured figures about the cluster rather than about the test runner.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::harness::*;

static LAB_LOCK: Mutex<()> = Mutex::new(());

/// A lab started for one test, stopped (and checked stopped) when dropped.
struct TestLab {
    _dir: tempfile::TempDir,
    path: PathBuf,
    info: serde_json::Value,
}

impl TestLab {
    fn up(nodes: u32) -> TestLab {
        let dir = tempfile::Builder::new()
            .prefix("sftpha-lab-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("lab");
        let out = run_ok(
            Command::new(BIN)
                .args([
                    "--format",
                    "json",
                    "lab",
                    "up",
                    "--nodes",
                    &nodes.to_string(),
                    "--dir",
                ])
                .arg(&path),
        );
        let info: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("lab up prints JSON");
        assert_eq!(info["outcome"], "started", "{info}");
        assert!(
            info["connect"]
                .as_str()
                .is_some_and(|c| c.starts_with("sftp -P ") && c.ends_with("@127.0.0.1")),
            "{info}"
        );
        TestLab {
            _dir: dir,
            path,
            info,
        }
    }

    fn gateway_port(&self) -> String {
        self.info["gateway"]["addr"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_owned()
    }

    fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.info["gateway"]["pid"].as_u64().unwrap() as u32];
        pids.extend(
            self.info["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["pid"].as_u64().unwrap() as u32),
        );
        pids
    }

    fn node_pid(&self, name: &str) -> i32 {
        std::fs::read_to_string(self.path.join(format!("{name}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn signal(&self, name: &str, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.node_pid(name)).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// OpenSSH sftp through the gateway, host key checked against the lab's known_hosts.
    fn sftp(&self, batch: &str) -> std::process::Output {
        self.sftp_with(batch, &[])
    }

    /// [`TestLab::sftp`] with more `sftp` options.
    fn sftp_with(&self, batch: &str, options: &[&str]) -> std::process::Output {
        let mut child = Command::new("sftp")
            .args(options)
            .args(["-q", "-P", &self.gateway_port(), "-i"])
            .arg(self.path.join("demo_ed25519"))
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.path.join("known_hosts").display()
            ))
            .args([
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-b",
                "-",
                "demo@127.0.0.1",
            ])
            .current_dir(&self.path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), batch.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// lab.json as it is now.
    fn lab_json(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.path.join("lab.json")).unwrap()).unwrap()
    }

    /// Waits until `lab status` finds every process healthy.
    fn wait_healthy(&self, what: &str) {
        eventually(what, Duration::from_secs(15), || {
            run(Command::new(BIN)
                .args(["lab", "status", "--dir"])
                .arg(&self.path))
            .status
            .success()
        });
    }

    fn gateway_health(&self) -> serde_json::Value {
        let addr = self.info["gateway"]["health_url"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap();
        let (_, body) = http_get(addr.parse().unwrap(), "/healthz", None);
        serde_json::from_str(&body).unwrap()
    }

    fn backend_state(&self, name: &str) -> String {
        let h = self.gateway_health();
        h["backends"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .unwrap()["state"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn audit_logins(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.path).unwrap().flatten() {
            if e.file_name().to_string_lossy().ends_with(".audit.jsonl") {
                for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    if v["event"] == "login" {
                        out.push(v);
                    }
                }
            }
        }
        out
    }

    fn failover(&self, fault: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
        let junit = self.path.join(format!("junit-{fault}.xml"));
        let out = run(Command::new(BIN)
            .args(["--format", "json", "test-failover", "--lab"])
            .arg(&self.path)
            .args([
                "--fault",
                fault,
                "--clients",
                "16",
                "--duration",
                "9",
                "--junit",
            ])
            .arg(&junit)
            .args(extra));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "no JSON from test-failover: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (
            out.status.code().unwrap_or(-1),
            report,
            std::fs::read_to_string(junit).unwrap_or_default(),
        )
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["lab", "down", "--dir"])
            .arg(&self.path)
            .output();
    }
}

fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
}

#[test]
fn lab_up_down_is_idempotent_and_leaves_nothing_running() {
    require("sftp");
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(3);
    for key in ["storage", "user", "identity", "host_key_fingerprint"] {
        assert!(
            !lab.info[key].is_null(),
            "lab.json lacks {key}: {}",
            lab.info
        );
    }
    // Three host keys, as sshd has them: ed25519 (first), ECDSA, RSA; each pinned per port.
    let fingerprints = lab.info["host_key_fingerprints"].as_array().unwrap();
    assert_eq!(fingerprints.len(), 3, "{}", lab.info);
    assert_eq!(fingerprints[0], lab.info["host_key_fingerprint"]);
    let known = std::fs::read_to_string(lab.path.join("known_hosts")).unwrap();
    for kind in ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"] {
        assert_eq!(
            known.matches(&format!(" {kind} ")).count(),
            4,
            "{kind} for the gateway and 3 nodes: {known}"
        );
    }
    assert_eq!(lab.info["nodes"].as_array().unwrap().len(), 3);
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lab.path.join("lab.json")).unwrap()).unwrap();
    assert_eq!(on_disk["gateway"]["addr"], lab.info["gateway"]["addr"]);
    // Secrets are private.
    for key in ["host_ed25519", "host_ecdsa", "host_rsa", "demo_ed25519"] {
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(lab.path.join(key)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    let pids = lab.pids();
    assert!(pids.iter().all(|p| alive(*p)));
    // A second up starts nothing.
    let out = run_ok(
        Command::new(BIN)
            .args(["--format", "human", "lab", "up", "--dir"])
            .arg(&lab.path),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("already running"));
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lab.path.join("lab.json")).unwrap()).unwrap();
    assert_eq!(after["gateway"]["pid"], lab.info["gateway"]["pid"]);
    assert_eq!(after["nodes"], lab.info["nodes"]);
    // Through the gateway with the host key pinned: every node has the same key.
    random_file(&lab.path.join("hello.bin"), 1 << 20);
    let out = lab.sftp("put hello.bin\nget hello.bin back.bin\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sha256_file(&lab.path.join("hello.bin")),
        sha256_file(&lab.path.join("back.bin"))
    );
    assert!(lab.path.join("storage/demo/hello.bin").exists());
    let status = run(Command::new(BIN)
        .args(["--format", "json", "lab", "status", "--dir"])
        .arg(&lab.path));
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    // Down stops exactly these processes; again is harmless.
    run_ok(
        Command::new(BIN)
            .args(["lab", "down", "--dir"])
            .arg(&lab.path),
    );
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "processes left after lab down"
    );
    let again = run_ok(
        Command::new(BIN)
            .args(["--format", "human", "lab", "down", "--dir"])
            .arg(&lab.path),
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing was running"));
    let status = run(Command::new(BIN)
        .args(["lab", "status", "--dir"])
        .arg(&lab.path));
    assert_eq!(status.status.code(), Some(1));
}

#[test]
fn gateway_balances_and_routes_around_killed_and_frozen_nodes() {
    require("sftp");
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(3);
    // leastconn spreads sequential sessions over every node.
    for _ in 0..9 {
        assert!(lab.sftp("pwd\n").status.success());
    }
    let mut nodes: Vec<String> = lab
        .audit_logins()
        .iter()
        .map(|l| l["node"].as_str().unwrap().to_owned())
        .collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes, vec!["n1", "n2", "n3"]);

    // Killed: logins keep working at once (a refused connect goes to the next node) and the
    // gateway takes it out of rotation after its failed checks.
    lab.signal("n1", rustix::process::Signal::KILL);
    for _ in 0..6 {
        let out = lab.sftp("pwd\n");
        assert!(
            out.status.success(),
            "login failed after a kill: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eventually("n1 marked down", Duration::from_secs(10), || {
        lab.backend_state("n1") == "down"
    });

    // Frozen: the kernel still accepts TCP; the gateway waits for the banner, then moves on.
    lab.signal("n2", rustix::process::Signal::STOP);
    for _ in 0..4 {
        let out = lab.sftp("pwd\n");
        assert!(
            out.status.success(),
            "login failed with a frozen node: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eventually("n2 marked down", Duration::from_secs(10), || {
        lab.backend_state("n2") == "down"
    });
    assert!(lab.gateway_health()["redispatches_total"].as_u64().unwrap() >= 1);
    lab.signal("n2", rustix::process::Signal::CONT);
    eventually("n2 back up", Duration::from_secs(10), || {
        lab.backend_state("n2") == "up"
    });

    // `lab up` on a lab with a dead node starts that node again, on its old ports.
    let out = run_ok(
        Command::new(BIN)
            .args(["--format", "human", "lab", "up", "--dir"])
            .arg(&lab.path),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("n1 (started again)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    eventually("n1 back up", Duration::from_secs(10), || {
        lab.backend_state("n1") == "up"
    });
}

#[test]
fn gateway_passes_the_real_client_address_with_proxy_v2() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(2);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/paramiko_client.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([
            "session",
            "--port",
            &lab.gateway_port(),
            "--user",
            "demo",
            "--key",
        ])
        .arg(lab.path.join("demo_ed25519"))
        .arg("--known-hosts")
        .arg(lab.path.join("known_hosts"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    let local_port = ready.strip_prefix("ready ").expect("ready PORT");
    let expected = format!("127.0.0.1:{local_port}");
    eventually(
        "login audited with the client's own address",
        Duration::from_secs(10),
        || {
            lab.audit_logins()
                .iter()
                .any(|l| l["client"] == expected.as_str())
        },
    );
    drop(child.stdin.take());
    assert_eq!(lines.next().unwrap().unwrap(), "done");
    child.wait().unwrap();
}

fn assert_no_data_problems(report: &serde_json::Value) {
    let o = &report["observed"];
    assert!(
        o["uploads_completed"].as_u64().unwrap() > 50,
        "too little workload: {report}"
    );
    assert!(o["bytes_verified"].as_u64().unwrap() > 0, "{report}");
    for key in ["corrupt_files", "partial_files_visible"] {
        assert_eq!(o[key], 0, "{key}: {report}");
    }
    assert_eq!(o["failed_logins"], 0, "{report}");
    let checks = report["checks"].as_array().unwrap();
    for name in [
        "preflight.same_host_key",
        "fault.injected",
        "restore",
        "rpo",
        "integrity",
        "no_partial_files",
        "rto",
    ] {
        let c = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {report}"));
        assert_eq!(c["ok"], true, "check {name}: {report}");
    }
}

#[test]
fn test_failover_kill() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(3);
    let (code, report, junit) = lab.failover("kill", &[]);
    assert_no_data_problems(&report);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["fault"], "kill");
    // Generous bounds here (a test must not flake); the measured figures go to BENCHMARKS.md.
    let o = &report["observed"];
    assert!(o["detect_ms"].as_u64().unwrap() < 5000, "{report}");
    assert!(o["recovery_ms"].as_u64().unwrap() < 5000, "{report}");
    assert!(
        junit.contains("<testsuite") && junit.contains("name=\"rpo\""),
        "{junit}"
    );
    // The node was started again: lab.json names its new pid, as its pidfile does.
    let lab_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(lab.path.join("lab.json")).unwrap()).unwrap();
    let faulted = report["node"].as_str().unwrap();
    let entry = lab_json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == faulted)
        .unwrap();
    let pid = entry["pid"].as_u64().unwrap() as u32;
    assert_eq!(pid as i32, lab.node_pid(faulted), "{lab_json:#}");
    assert!(alive(pid));
}

#[test]
fn test_failover_freeze() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(3);
    let (code, report, _) = lab.failover("freeze", &["--node", "n2"]);
    assert_no_data_problems(&report);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["node"], "n2");
    // Logins begun after the freeze never fail (asserted above: failed_logins == 0); one
    // already past its banner on n2 when it froze can only time out (interrupted_logins).
    assert!(
        report["observed"]["detect_ms"].as_u64().unwrap() < 5000,
        "{report}"
    );
}

#[test]
fn test_failover_drain() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(3);
    let (code, report, _) = lab.failover("drain", &[]);
    assert_no_data_problems(&report);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["observed"]["interrupted_ops"], 0, "{report}");
    assert_eq!(report["observed"]["interrupted_logins"], 0, "{report}");
}

#[test]
fn test_failover_refuses_what_it_cannot_do() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(2);
    // Each mistake names the flag and what it can be, not a file to fix.
    let refused = |args: &[&str], lab_dir: bool, wanted: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["test-failover"]).args(args);
        if lab_dir {
            cmd.arg("--lab").arg(&lab.path);
        }
        let out = run(&mut cmd);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for w in wanted {
            assert!(err.contains(w), "{args:?}: `{w}` missing from: {err}");
        }
        for wrong in ["invalid", "fix the file", "not built yet"] {
            assert!(!err.contains(wrong), "{args:?}: says `{wrong}`: {err}");
        }
    };
    refused(
        &["--fault", "partition"],
        true,
        &["--fault partition", "kill, freeze or drain"],
    );
    refused(&["--node", "n9"], true, &["--node", "`n9`", "n1, n2"]);
    refused(&[], false, &["--lab DIR"]);
    let cluster = lab.path.join("cluster.toml");
    refused(
        &["-c", cluster.to_str().unwrap()],
        false,
        &["never provisioned from here", "--lab DIR"],
    );
    // An unwritable --junit is found before the run, not after it.
    let started = std::time::Instant::now();
    refused(
        &["--junit", "/nonexistent/folder/junit.xml"],
        true,
        &["--junit", "/nonexistent/folder/junit.xml"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused at once"
    );

    // A failed objective exits 1: an RTO no failover can meet.
    let out = run(Command::new(BIN)
        .args([
            "--format",
            "json",
            "test-failover",
            "--fault",
            "kill",
            "--duration",
            "3",
            "--clients",
            "2",
            "--rto-ms",
            "0",
            "--lab",
        ])
        .arg(&lab.path));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A JUnit file that cannot be written at the end costs nothing of the report.
    let sub = lab.path.join("reports");
    std::fs::create_dir(&sub).unwrap();
    let child = Command::new(BIN)
        .args([
            "--format",
            "json",
            "test-failover",
            "--duration",
            "3",
            "--clients",
            "2",
        ])
        .arg("--junit")
        .arg(sub.join("junit.xml"))
        .arg("--lab")
        .arg(&lab.path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let storage = lab.path.join("storage/demo");
    eventually("the workload started", Duration::from_secs(20), || {
        std::fs::read_dir(&storage)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("failover-"))
    });
    std::fs::remove_dir_all(&sub).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("the report is printed: {out:?}"));
    assert!(report["checks"].as_array().unwrap().len() > 5, "{report}");
    assert!(
        err.contains("junit.xml") && err.contains("not written"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1), "{err}");

    // A stopped lab is said in one line, exit 3, not a report of nothing.
    run_ok(
        Command::new(BIN)
            .args(["lab", "down", "--dir"])
            .arg(&lab.path),
    );
    let out = run(Command::new(BIN)
        .args(["--format", "human", "test-failover", "--lab"])
        .arg(&lab.path));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("not running") && err.contains("lab up"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The processes whose command line names `dir` (a lab's configs are in it).
fn processes_of(dir: &Path) -> Vec<u32> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(&dir) && alive(*pid)
        })
        .collect()
}

/// `lab up` writes only where nothing of someone else's is: a folder that holds the files
/// `init` writes is refused (exit 2) and left as it was.
#[test]
fn lab_up_refuses_a_folder_that_is_not_a_lab() {
    let dir = tempfile::tempdir().unwrap();
    let mut before = Vec::new();
    for (name, text) in [
        ("cluster.toml", "name = \"acme\"\n"),
        ("users.toml", "# partners\n"),
        ("known_hosts", "198.18.0.1 ssh-ed25519 AAAA\n"),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
        before.push((name, text));
    }
    let out = run(Command::new(BIN)
        .args(["lab", "up", "--dir"])
        .arg(dir.path()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not empty") && err.contains("cluster.toml"),
        "{err}"
    );
    for (name, text) in before {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            text
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    assert!(processes_of(dir.path()).is_empty());
}

/// A gateway port that is taken: `lab up` names the cause (the gateway's own words), stops
/// the nodes it started, exits 2, and the next `lab up` starts the lab.
#[test]
fn a_failed_lab_up_stops_what_it_started_and_a_retry_works() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lab");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let up = || {
        run(Command::new(BIN)
            .args(["--format", "json", "lab", "up", "--port", &port, "--dir"])
            .arg(&path))
    };
    let out = up();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("gateway") && err.contains("could not listen") && err.contains(&port),
        "the gateway's own error is quoted: {err}"
    );
    assert!(
        err.contains("stopped") && err.contains("n1, n2, n3"),
        "{err}"
    );
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["kind"], "lab_start", "{error}");
    assert!(
        processes_of(&path).is_empty(),
        "left running: {:?}",
        processes_of(&path)
    );

    drop(taken);
    let out = up();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(info["gateway"]["addr"].as_str().unwrap().ends_with(&port));
    assert_eq!(
        processes_of(&path).len(),
        4,
        "three nodes and a gateway, once"
    );
    run_ok(Command::new(BIN).args(["lab", "down", "--dir"]).arg(&path));
    assert!(processes_of(&path).is_empty());
}

/// The state of process `pid` (`/proc/PID/stat`): `T` when stopped.
fn state_of(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|s| s.trim_start().chars().next())
        .unwrap_or('?')
}

/// A node stopped by SIGSTOP is named as such by `lab status`, and `lab up` resumes it
/// instead of saying the lab is already running.
#[test]
fn lab_status_names_a_stopped_node_and_up_resumes_it() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(2);
    lab.signal("n2", rustix::process::Signal::STOP);
    let out = run(Command::new(BIN)
        .args(["--format", "json", "lab", "status", "--dir"])
        .arg(&lab.path));
    assert_eq!(out.status.code(), Some(1));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n2 = status["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "n2")
        .unwrap();
    assert_eq!(n2["stopped"], true, "{status:#}");
    assert!(
        n2["status"].as_str().unwrap().contains("SIGSTOP"),
        "{status:#}"
    );
    let out = run_ok(
        Command::new(BIN)
            .args(["--format", "human", "lab", "up", "--dir"])
            .arg(&lab.path),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("n2") && text.contains("SIGCONT"), "{text}");
    assert_ne!(state_of(lab.node_pid("n2")), 'T');
    lab.wait_healthy("n2 healthy again");
}

/// SIGINT or SIGTERM during a run undoes the fault before test-failover exits, and says
/// what it restored: a frozen node is resumed, a killed one started again (lab.json follows).
#[test]
fn an_interrupted_test_failover_undoes_its_fault() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(3);
    for (fault, signal, code) in [
        ("freeze", rustix::process::Signal::INT, 130),
        ("kill", rustix::process::Signal::TERM, 143),
    ] {
        let before = lab.node_pid("n2");
        let child = Command::new(BIN)
            .args(["--format", "human", "test-failover", "--node", "n2"])
            .args([
                "--fault",
                fault,
                "--clients",
                "2",
                "--duration",
                "15",
                "--lab",
            ])
            .arg(&lab.path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        eventually(
            &format!("n2 under {fault}"),
            Duration::from_secs(40),
            || match fault {
                "freeze" => state_of(before) == 'T',
                _ => !alive(before as u32),
            },
        );
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{fault}: {err}");
        assert!(err.contains("interrupted") && err.contains("n2"), "{err}");
        let now = lab.node_pid("n2");
        match fault {
            "freeze" => {
                assert!(err.contains("resumed"), "{err}");
                assert_eq!(now, before);
                assert_ne!(state_of(now), 'T', "n2 is still stopped");
            }
            _ => {
                assert!(err.contains("started again"), "{err}");
                assert_ne!(now, before);
                assert!(alive(now as u32));
                let lab_json = lab.lab_json();
                assert_eq!(lab_json["nodes"][1]["pid"], now, "{lab_json:#}");
            }
        }
        lab.wait_healthy("the lab healthy again");
    }
}

/// Java's classic JSch (0.1.5x, no ed25519) through the lab gateway, host key checked
/// against the lab's known_hosts: it finds the ECDSA or RSA key it knows. OpenSSH checks
/// that the RSA key is offered with rsa-sha2-256 and rsa-sha2-512, and ECDSA and ed25519.
#[test]
fn jsch_and_every_host_key_type_through_the_lab_gateway() {
    require("java");
    require("sftp");
    let jar = Path::new("/usr/share/java/jsch.jar");
    assert!(
        jar.exists(),
        "{} is missing: run `scripts/setup` (libjsch-java)",
        jar.display()
    );
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(3);
    // JSch reads PEM private keys only, and knows no ed25519: an ECDSA key in PEM.
    let key = lab.path.join("jsch_ecdsa");
    run_ok(
        Command::new("ssh-keygen")
            .args([
                "-q", "-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", "", "-C", "jsch", "-f",
            ])
            .arg(&key),
    );
    run_ok(
        Command::new(BIN)
            .arg("-c")
            .arg(lab.path.join("cluster.toml"))
            .args(["users", "set-key", "demo", "--no-push", "--key"])
            .arg(key.with_extension("pub")),
    );
    // Every node has taken the new users.toml (they reload it within a second).
    let users = sha256_file(&lab.path.join("users.toml"));
    for node in lab.info["nodes"].as_array().unwrap() {
        let addr: std::net::SocketAddr = node["health_url"]
            .as_str()
            .unwrap()
            .trim_start_matches("http://")
            .trim_end_matches("/healthz")
            .parse()
            .unwrap();
        eventually("users.toml reloaded", Duration::from_secs(10), || {
            let (_, body) = http_get(addr, "/healthz", None);
            body.contains(&users)
        });
    }
    let data = lab.path.join("three-mb.bin");
    random_file(&data, 3 << 20);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/JschClient.java");
    // JSch's own choice, then ECDSA forced (what it takes from a server without RSA).
    for (n, algorithms) in [None, Some("ecdsa-sha2-nistp256")].into_iter().enumerate() {
        let mut cmd = Command::new("java");
        cmd.arg("-cp")
            .arg(jar)
            .arg(&source)
            .args(["127.0.0.1", &lab.gateway_port(), "demo"])
            .arg(&key)
            .arg(lab.path.join("known_hosts"))
            .arg(&data)
            .arg(format!("jsch-{n}"))
            .args(algorithms);
        let out = run(&mut cmd);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "JSch ({algorithms:?}) failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("identical") && text.contains("removed"),
            "{text}"
        );
        if let Some(a) = algorithms {
            assert!(text.contains(&format!("host key {a}")), "{text}");
        }
    }
    for algorithm in [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "rsa-sha2-512",
        "rsa-sha2-256",
    ] {
        let option = format!("HostKeyAlgorithms={algorithm}");
        let out = lab.sftp_with("ls\n", &["-o", &option]);
        assert!(
            out.status.success(),
            "{algorithm}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn probe_ids(cluster: &Path, fail_on: &str) -> (Option<i32>, Vec<(String, String)>) {
    let out = run(Command::new(BIN).arg("-c").arg(cluster).args([
        "--format",
        "json",
        "assess",
        "--probe",
        "--fail-on",
        fail_on,
    ]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("assess printed no JSON: {out:?}"));
    assert_eq!(report["probed"], true);
    let ids = findings(&report);
    (out.status.code(), ids)
}

/// `assess --probe` on the lab's own cluster.toml finds the live nodes in agreement; a
/// stranger node (its own host key, storage and users) and a dead address are found.
#[test]
fn assess_probe_finds_mismatched_host_keys_unshared_storage_and_dead_nodes() {
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(2);
    let cluster = lab.path.join("cluster.toml");
    let live = [
        "node.unreachable",
        "node.unhealthy",
        "hostkey.mismatch",
        "storage.not_shared",
        "config.drift",
        "users.drift",
        "gateway.unreachable",
    ];
    let (code, ids) = probe_ids(&cluster, "never");
    assert_eq!(code, Some(0));
    assert!(
        !ids.iter().any(|(id, _)| live.contains(&id.as_str())),
        "the lab agrees with itself: {ids:?}"
    );
    // The evidence behind it is in the report: every node and the gateway as seen.
    let out = run(Command::new(BIN).arg("-c").arg(&cluster).args([
        "--format",
        "json",
        "assess",
        "--probe",
        "--fail-on",
        "never",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let evidence = report["evidence"].as_array().unwrap();
    let nodes: Vec<&serde_json::Value> = evidence.iter().filter(|e| e["role"] == "node").collect();
    assert_eq!(nodes.len(), 2, "{report:#}");
    for e in &nodes {
        assert_eq!(e["reachable"], true, "{e}");
        assert!(
            e["version"].is_string() && e["storage_id"].is_string(),
            "{e}"
        );
        assert_eq!(
            e["host_keys"], nodes[0]["host_keys"],
            "one host key set: {e}"
        );
    }
    assert!(evidence
        .iter()
        .any(|e| e["role"] == "gateway" && e["reachable"] == true));
    let human = run(Command::new(BIN).arg("-c").arg(&cluster).args([
        "--format",
        "human",
        "assess",
        "--probe",
        "--fail-on",
        "never",
    ]));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("live hosts (--probe):"), "{text}");

    let stranger = Fixture::new();
    let node = stranger.start_named("n9");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let mut text = std::fs::read_to_string(&cluster).unwrap();
    text += &format!(
        "\n[[nodes]]\nname = \"n9\"\nhost = \"127.0.0.1\"\nport = {}\nhealth_port = {}\nzone = \"lab\"\n\n[[nodes]]\nname = \"gone\"\nhost = \"127.0.0.1\"\nport = {dead_port}\nhealth_port = {}\nzone = \"lab\"\n",
        node.sftp.port(),
        node.health.port(),
        dead_port + 1,
    );
    let mixed = lab.path.join("mixed.toml");
    std::fs::write(&mixed, text).unwrap();
    let (code, ids) = probe_ids(&mixed, "high");
    assert_eq!(code, Some(1));
    for (id, component) in [
        ("hostkey.mismatch", "nodes"),
        ("storage.not_shared", "storage"),
        ("config.drift", "nodes"),
        ("users.drift", "nodes"),
        ("node.unreachable", "gone"),
    ] {
        assert!(
            ids.iter().any(|(i, c)| i == id && c == component),
            "{id} on {component} missing: {ids:?}"
        );
    }
    assert!(
        !ids.iter()
            .any(|(i, c)| i == "node.unreachable" && c != "gone"),
        "{ids:?}"
    );
}

/// Reads the SSH banner through `addr` (the gateway sends it once a node has).
fn banner_through(addr: std::net::SocketAddr) -> Result<String, String> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).map_err(|e| format!("read: {e}"))?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// `gateway supervise` in front of a lab's nodes: a gateway process killed (again and again)
/// is started again on the held sockets, so a connection made right after the kill waits and
/// is served, never refused; a gateway.toml broken on disk fails a reload (the old process
/// stays) and a restart after a crash uses the last configuration that worked; SIGTERM stops
/// it, the worker pidfile goes.
#[test]
fn a_supervised_gateway_never_refuses_a_connection() {
    use std::io::BufRead;
    let _serial = LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let lab = TestLab::up(2);
    let own = std::fs::read_to_string(lab.path.join("gateway.toml")).unwrap();
    let listen = |key: &str| {
        let line = own.lines().find(|l| l.starts_with(key)).unwrap();
        line.to_owned()
    };
    let config = lab.path.join("supervised.toml");
    let text = own
        .replace(&listen("listen ="), "listen = \"127.0.0.1:0\"")
        .replace(
            &listen("health_listen ="),
            "health_listen = \"127.0.0.1:0\"",
        )
        .replace("name = \"gw1\"", "name = \"gw-supervised\"");
    std::fs::write(&config, &text).unwrap();
    let pidfile = lab.path.join("supervised-worker.pid");
    let mut supervisor = Command::new(BIN)
        .args(["gateway", "supervise", "--config"])
        .arg(&config)
        .arg("--worker-pidfile")
        .arg(&pidfile)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(supervisor.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| {
        let mut log = String::new();
        let _ = std::io::Read::read_to_string(&mut supervisor.stderr.take().unwrap(), &mut log);
        panic!("no ready line ({e}): {log}")
    });
    let addr: std::net::SocketAddr = ready["listen"].as_str().unwrap().parse().unwrap();
    let worker = || -> i32 {
        std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let kill = |pid: i32, signal: rustix::process::Signal| {
        rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), signal).unwrap()
    };
    assert!(banner_through(addr).unwrap().starts_with("SSH-2.0-"));
    for round in 0..5 {
        let before = worker();
        kill(before, rustix::process::Signal::KILL);
        // At once, while no gateway process accepts: the connection waits in the backlog.
        let banner = banner_through(addr);
        assert!(
            banner.as_ref().is_ok_and(|b| b.starts_with("SSH-2.0-")),
            "round {round}: {banner:?}"
        );
        // The new process may serve before the supervisor has read its ready line and
        // written the pidfile.
        eventually(
            &format!("round {round}: a new gateway process in the pidfile"),
            Duration::from_secs(5),
            || worker() != before,
        );
    }

    // A hand-over while a connection holds the old process: only the new one answers the
    // shared health socket (a draining 503 would fail keepalived's check, moving the vip).
    let health: std::net::SocketAddr = ready["health"].as_str().unwrap().parse().unwrap();
    let held = std::net::TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let old = worker();
    kill(supervisor.id() as i32, rustix::process::Signal::HUP);
    eventually("the hand-over", Duration::from_secs(10), || worker() != old);
    for _ in 0..20 {
        let (code, body) = http_get(health, "/healthz", None);
        assert_eq!(code, 200, "the draining process answered: {body}");
        std::thread::sleep(Duration::from_millis(25));
    }
    drop(held);

    // Broken on disk: a reload keeps the running process; a crash restarts with what worked.
    std::fs::write(&config, format!("{text}\nx = = [\n")).unwrap();
    let serving = worker();
    kill(supervisor.id() as i32, rustix::process::Signal::HUP);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        worker(),
        serving,
        "a broken gateway.toml replaced the gateway"
    );
    assert!(banner_through(addr).unwrap().starts_with("SSH-2.0-"));
    kill(serving, rustix::process::Signal::KILL);
    let banner = banner_through(addr);
    assert!(
        banner.as_ref().is_ok_and(|b| b.starts_with("SSH-2.0-")),
        "after a crash with a broken gateway.toml: {banner:?}"
    );
    eventually(
        "a new gateway process in the pidfile",
        Duration::from_secs(5),
        || worker() != serving,
    );

    kill(supervisor.id() as i32, rustix::process::Signal::TERM);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = supervisor.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the supervisor did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(&mut supervisor.stderr.take().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("last configuration that worked"), "{log}");
    assert!(!pidfile.exists());
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}
