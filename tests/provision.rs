//! `sftpha provision` and `sftpha status` against fake hosts (network namespaces with sshd):
//! from nothing to a working cluster, idempotence, reload versus restart, host-key policy,
//! a host that fails alone, storage that is not shared, drift edited by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::fakehosts::FakeHosts;
use crate::harness::*;

/// A cluster definition for fake hosts, in its own folder.
pub struct Site {
    pub dir: tempfile::TempDir,
}

/// How to make a [`Site`]: `Site::builder(&hosts).nodes(&nodes).gateway(&addr).build()`.
#[must_use = "a builder does nothing until `build()`"]
pub struct SiteBuilder<'a> {
    hosts: &'a FakeHosts,
    nodes: Vec<String>,
    gateway: Option<String>,
    trust_hosts: bool,
}

impl SiteBuilder<'_> {
    /// The node hosts' addresses (n1, n2, ... in this order); at least one.
    pub fn nodes(mut self, nodes: &[String]) -> Self {
        self.nodes = nodes.to_vec();
        self
    }

    /// The builtin gateway's host (required).
    pub fn gateway(mut self, gateway: &str) -> Self {
        self.gateway = Some(gateway.to_owned());
        self
    }

    /// Whether the site's known_hosts already vouches for every fake host (default yes); with
    /// `false` it starts with none, so `provision` must refuse the hosts or be told to accept.
    pub fn trust_hosts(mut self, trust_hosts: bool) -> Self {
        self.trust_hosts = trust_hosts;
        self
    }

    pub fn build(self) -> Site {
        assert!(!self.nodes.is_empty(), "a site needs nodes");
        let gateway = self.gateway.expect("a site needs a gateway host");
        Site::make(self.hosts, &self.nodes, &gateway, self.trust_hosts)
    }
}

impl Site {
    /// A cluster definition on `hosts`; see [`SiteBuilder`].
    pub fn builder(hosts: &FakeHosts) -> SiteBuilder<'_> {
        SiteBuilder {
            hosts,
            nodes: Vec::new(),
            gateway: None,
            trust_hosts: true,
        }
    }

    fn make(hosts: &FakeHosts, nodes: &[String], gateway: &str, trust_hosts: bool) -> Site {
        let dir = tempfile::Builder::new()
            .prefix("sftpha-site-")
            .tempdir()
            .unwrap();
        keygen(&dir.path().join("alice"), "ed25519");
        keygen(&dir.path().join("bob"), "ed25519");
        if trust_hosts {
            std::fs::copy(&hosts.known_hosts, dir.path().join("known_hosts")).unwrap();
        }
        let mut toml = format!(
            "name = \"prov\"\nusers = \"users.toml\"\n\n[ssh]\nidentity = \"{}\"\nknown_hosts = \"known_hosts\"\ntimeout_seconds = 5\n\n[node]\nservice_manager = \"detached\"\ndrain_timeout_seconds = 2\n\n[storage]\npath = \"/srv/sftpha\"\nkind = \"nfs\"\n",
            hosts.identity.display()
        );
        for (i, host) in nodes.iter().enumerate() {
            toml += &format!("\n[[nodes]]\nname = \"n{}\"\nhost = \"{host}\"\n", i + 1);
        }
        toml += &format!(
            "\n[gateway]\nkind = \"builtin\"\nhosts = [\"{gateway}\"]\nport = 2022\nhealth_interval_ms = 300\nhealth_rise = 1\n"
        );
        std::fs::write(dir.path().join("cluster.toml"), toml).unwrap();
        let site = Site { dir };
        site.write_users(&["alice"]);
        site
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cluster(&self) -> PathBuf {
        self.path().join("cluster.toml")
    }

    pub fn write_users(&self, names: &[&str]) {
        let mut text = String::from("# The partners of prov. Comments stay.\n");
        for name in names {
            let key = self.path().join(name);
            let public = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
            text += &format!(
                "\n[[users]]\nname = \"{name}\"\nkeys = [\"{}\"]\n",
                public.trim()
            );
        }
        std::fs::write(self.path().join("users.toml"), text).unwrap();
    }

    pub fn sftpha(&self, args: &[&str]) -> Output {
        run(Command::new(BIN)
            .arg("-c")
            .arg(self.cluster())
            .args(["--format", "json"])
            .args(args))
    }

    /// Runs a command that prints JSON; returns (exit code, JSON).
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        let out = self.sftpha(args);
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "sftpha {args:?} printed no JSON ({e}):\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), json)
    }

    /// Runs playbooks/provision.yml against this cluster.
    pub fn playbook(&self) -> Output {
        require("ansible-playbook");
        let playbooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
        run(Command::new("ansible-playbook")
            .arg("-i")
            .arg(playbooks.join("inventory.sh"))
            .arg(playbooks.join("provision.yml"))
            .env("SFTPHA", BIN)
            .env("SFTPHA_CLUSTER", self.cluster())
            .env("ANSIBLE_CONFIG", playbooks.join("ansible.cfg"))
            .env("ANSIBLE_NOCOLOR", "1")
            // The hosts' Python (scripts/setup installs python3), not a shim of the test
            // machine's PATH that the hosts' non-login shells cannot resolve.
            .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3"))
    }

    /// The cluster's public ed25519 host key, as a client pins it.
    pub fn host_key(&self) -> String {
        self.public_key("ed25519")
    }

    /// The cluster's public host key of `kind` (ed25519, ecdsa, rsa): `TYPE BASE64`.
    pub fn public_key(&self, kind: &str) -> String {
        let text =
            std::fs::read_to_string(self.path().join(format!("keys/ssh_host_{kind}_key.pub")))
                .unwrap();
        let mut parts = text.split_whitespace();
        format!("{} {}", parts.next().unwrap(), parts.next().unwrap())
    }

    /// `sftpha test-failover --yes --fault FAULT [--node NODE]` with 4 clients of 64 KiB files
    /// for `duration` and a 20 s RTO, as JSON: (exit code, report).
    pub fn test_failover(&self, fault: &str, node: Option<&str>, duration: &str) -> (i32, Value) {
        let mut args = vec!["test-failover", "--yes", "--fault", fault];
        if let Some(node) = node {
            args.extend(["--node", node]);
        }
        args.extend([
            "--clients",
            "4",
            "--duration",
            duration,
            "--file-kib",
            "64",
            "--rto",
            "20s",
        ]);
        self.json(&args)
    }

    /// Runs `during` while 2 threads log in through `vip` (port 2022) as alice with OpenSSH
    /// (`ls`) in a loop, from 1 s before to 1 s after; returns its result and each loop's
    /// logins and failed logins' stderr.
    pub fn login_loops<T: Send>(
        &self,
        vip: &str,
        during: impl FnOnce() -> T + Send,
    ) -> (T, Vec<(usize, Vec<String>)>) {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let loops: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let (mut logins, mut failures) = (0, Vec::new());
                        let deadline =
                            std::time::Instant::now() + std::time::Duration::from_secs(120);
                        while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline
                        {
                            let out = self.sftp("alice", vip, 2022, "ls\n");
                            logins += 1;
                            if !out.status.success() {
                                failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
                            }
                        }
                        (logins, failures)
                    })
                })
                .collect();
            std::thread::sleep(std::time::Duration::from_secs(1));
            let result = during();
            std::thread::sleep(std::time::Duration::from_secs(1));
            stop.store(true, Ordering::Relaxed);
            let loops = loops.into_iter().map(|h| h.join().unwrap()).collect();
            (result, loops)
        })
    }

    /// OpenSSH `sftp -b -` against `host:port` as `user`, host key pinned to the cluster's.
    pub fn sftp(&self, user: &str, host: &str, port: u16, batch: &str) -> Output {
        require("sftp");
        let known = self
            .path()
            .join(format!("client_known_hosts_{host}_{port}"));
        // Written only when it changes: loops on several threads share it.
        let line = format!("[{host}]:{port} {}\n", self.host_key());
        if std::fs::read_to_string(&known).ok().as_deref() != Some(line.as_str()) {
            std::fs::write(&known, line).unwrap();
        }
        run_with_input(
            Command::new("sftp")
                .arg("-P")
                .arg(port.to_string())
                .arg("-i")
                .arg(self.path().join(user))
                .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
                .args(["-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10"])
                .arg("-o")
                .arg(format!("UserKnownHostsFile={}", known.display()))
                .args(["-b", "-"])
                .arg(format!("{user}@{host}"))
                .current_dir(self.path()),
            batch.as_bytes(),
        )
    }
}

/// A cluster provisioned on 4 fake hosts with shared storage: n1..n3 on the first three, the
/// builtin gateway on the fourth.
pub fn provisioned() -> (FakeHosts, Site) {
    let hosts = FakeHosts::new(4, true);
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let nodes: Vec<String> = (0..3).map(addr).collect();
    let site = Site::builder(&hosts)
        .nodes(&nodes)
        .gateway(&addr(3))
        .build();
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    (hosts, site)
}

/// The check `name` of a test-failover report.
pub fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {report:#}"))
}

pub fn host_by<'a>(report: &'a Value, host: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("{host} not in the report: {report:#}"))
}

pub fn changed_items(host: &Value) -> Vec<String> {
    let files = host["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] != "unchanged")
        .map(|f| {
            format!(
                "{}:{}",
                f["item"].as_str().unwrap(),
                f["action"].as_str().unwrap()
            )
        });
    let services = host["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "unchanged")
        .map(|s| {
            format!(
                "{}:{}",
                s["service"].as_str().unwrap(),
                s["action"].as_str().unwrap()
            )
        });
    files.chain(services).collect()
}

/// The whole life of a provisioned cluster on 3 node hosts and 1 gateway host.
#[test]
fn provision_from_nothing_then_idempotent_with_reload_and_drift() {
    let hosts = FakeHosts::new(4, true);
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let nodes: Vec<String> = (0..3).map(addr).collect();
    let site = Site::builder(&hosts)
        .nodes(&nodes)
        .gateway(&addr(3))
        .trust_hosts(false)
        .build();

    // Hosts nobody has vouched for are refused; nothing is written anywhere. Every failure is
    // a host not logged into: exit 3.
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 3, "{report:#}");
    for i in 0..4 {
        let h = host_by(&report, &addr(i));
        assert_eq!(h["result"], "failed");
        let error = h["error"].as_str().unwrap();
        assert!(
            error.contains("is not in") && error.contains("--accept-new-host-keys"),
            "{error}"
        );
    }
    assert_eq!(
        std::fs::read_dir(hosts.hosts[0].private_dir("/opt/sftpha"))
            .unwrap()
            .count(),
        0
    );

    // A dry run with --accept-new-host-keys says what it would record and writes nothing.
    let (code, report) = site.json(&["provision", "--dry-run", "--accept-new-host-keys"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        report["would_record"].as_array().unwrap().len(),
        4,
        "{report:#}"
    );
    assert!(
        !site.path().join("known_hosts").exists(),
        "a dry run wrote known_hosts"
    );
    // -v says what runs on each host and what each file needs; no file content is logged.
    let out = site.sftpha(&["-v", "provision", "--dry-run", "--accept-new-host-keys"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("reading the host's state")
            && log.contains("item=node.toml")
            && log.contains("action=create"),
        "{log}"
    );
    assert!(!log.contains("PRIVATE KEY"), "{log}");

    // Accepted once (recorded in the cluster's known_hosts), then provisioned from nothing.
    let (code, report) = site.json(&["provision", "--accept-new-host-keys"]);
    assert_eq!(code, 0, "{report:#}");
    let known = std::fs::read_to_string(site.path().join("known_hosts")).unwrap();
    assert_eq!(known.lines().count(), 4, "{known}");
    for i in 0..4 {
        assert_eq!(host_by(&report, &addr(i))["result"], "changed");
    }
    let n1 = changed_items(host_by(&report, &addr(0)));
    for item in [
        "binary:create",
        "node.toml:create",
        "host key:create",
        "ecdsa host key:create",
        "rsa host key:create",
        "rsa host key certificate:create",
        "node:start",
    ] {
        assert!(n1.contains(&item.to_owned()), "{n1:?}");
    }
    assert!(changed_items(host_by(&report, &addr(3))).contains(&"gateway:start".to_owned()));
    let checks: Vec<(&str, bool)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["ok"].as_bool().unwrap()))
        .collect();
    assert!(
        checks
            .iter()
            .any(|(c, ok)| c.starts_with("storage shared") && *ok)
            && checks
                .iter()
                .any(|(c, ok)| c.starts_with("login through gateway") && *ok),
        "{checks:?}"
    );
    let key_file = site.path().join("keys/ssh_host_ed25519_key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let on_host = hosts.hosts[1]
        .private_dir("/etc/sftpha")
        .join("ssh_host_ed25519_key");
    assert_eq!(
        std::fs::metadata(&on_host).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = String::from_utf8_lossy(&site.sftpha(&["provision"]).stderr).into_owned();
    assert!(
        !out.contains("PRIVATE KEY"),
        "no secret is ever printed: {out}"
    );

    // Rendered node configs are the same but for the name.
    let config = |i: usize| {
        std::fs::read_to_string(hosts.hosts[i].private_dir("/etc/sftpha").join("node.toml"))
            .unwrap()
            .replace(&format!("n{}", i + 1), "N")
    };
    assert_eq!(config(0), config(2));

    // Every node presents the same host keys, one of each type: the cluster's.
    require("ssh-keyscan");
    for ip in &nodes {
        for kind in ["ed25519", "ecdsa", "rsa"] {
            let scan = run_ok(Command::new("ssh-keyscan").args(["-p", "2222", "-t", kind, ip]));
            let text = String::from_utf8_lossy(&scan.stdout);
            assert!(text.contains(&site.public_key(kind)), "{ip} {kind}: {text}");
        }
    }

    // A real client through the gateway, host key pinned to the cluster's.
    let data = site.path().join("lab-results.csv");
    random_file(&data, 300_000);
    let out = site.sftp(
        "alice",
        &addr(3),
        2022,
        "put lab-results.csv\nget lab-results.csv back.csv\nls\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sha256_file(&site.path().join("back.csv")),
        sha256_file(&data)
    );
    // And it is on the shared storage, in alice's home, readable through a node directly.
    let out = site.sftp("alice", &addr(2), 2222, "get lab-results.csv direct.csv\n");
    assert!(out.status.success());
    assert_eq!(
        sha256_file(&site.path().join("direct.csv")),
        sha256_file(&data)
    );

    // A second run changes nothing and says so.
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    for i in 0..4 {
        let h = host_by(&report, &addr(i));
        assert_eq!(h["result"], "unchanged", "{h:#}");
        assert!(changed_items(h).is_empty());
    }
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");

    // A users-only change is a reload: same processes, new user accepted everywhere.
    let pids: Vec<String> = (0..3)
        .map(|i| hosts.ssh_ok(i, "cat /var/lib/sftpha/node.pid"))
        .collect();
    site.write_users(&["alice", "bob"]);
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    for (i, pid) in pids.iter().enumerate() {
        assert_eq!(
            changed_items(host_by(&report, &addr(i))),
            vec!["users.toml:change", "node:reload"]
        );
        assert_eq!(&hosts.ssh_ok(i, "cat /var/lib/sftpha/node.pid"), pid);
        let out = site.sftp("bob", &addr(i), 2222, "ls\n");
        assert!(
            out.status.success(),
            "bob on n{}: {}",
            i + 1,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(host_by(&report, &addr(3))["result"], "unchanged");

    // A file edited by hand on one node is drift, named by status, repaired by provision.
    // (max_sessions takes a restart; a change to keys the node reloads would take a SIGHUP.)
    hosts.ssh_ok(
        1,
        "sed -i 's/^max_sessions = .*/max_sessions = 7/' /etc/sftpha/node.toml",
    );
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 1, "{status:#}");
    let n2 = &status["nodes"][1];
    assert_eq!(n2["name"], "n2");
    let drift = n2["drift"].to_string();
    assert!(drift.contains("node.toml differs"), "{drift}");
    assert!(status["nodes"][0]["drift"].as_array().unwrap().is_empty());
    let (code, report) = site.json(&["provision", "--only", "n2"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["hosts"].as_array().unwrap().len(), 1);
    assert_eq!(
        changed_items(host_by(&report, &addr(1))),
        vec!["node.toml:change", "node:restart"]
    );
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
}

/// One host that cannot be reached fails alone (exit 4, the others done); two nodes that do
/// not share their storage are caught by the verification; a node and the gateway on one host.
#[test]
fn unreachable_host_fails_alone_and_unshared_storage_is_detected() {
    let hosts = FakeHosts::new(2, false);
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let nowhere = format!("{}.99", {
        let a = addr(0);
        a.rsplit_once('.').unwrap().0.to_owned()
    });
    let site = Site::builder(&hosts)
        .nodes(&[addr(0), addr(1), nowhere.clone()])
        .gateway(&addr(0))
        .build();
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 4, "{report:#}");
    let lost = host_by(&report, &nowhere);
    assert_eq!(lost["result"], "failed");
    assert!(
        lost["error"].as_str().unwrap().contains(&nowhere),
        "{lost:#}"
    );
    let h1 = host_by(&report, &addr(0));
    assert_eq!(h1["roles"], serde_json::json!(["node n1", "gateway gw1"]));
    assert_eq!(h1["result"], "changed", "{h1:#}");
    let h2 = host_by(&report, &addr(1));
    assert_eq!(h2["result"], "failed");
    assert!(
        h2["error"]
            .as_str()
            .unwrap()
            .contains("the storage is not shared"),
        "{h2:#}"
    );
    let storage = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with("storage"))
        .unwrap();
    assert_eq!(storage["ok"], false);
    assert!(
        storage["detail"].as_str().unwrap().contains("node n2"),
        "{storage:#}"
    );
    // n2 is not on the cluster's storage: it says so, and the gateway never puts it into the
    // rotation (n1's storage holds the identity provision gave the cluster).
    let (code, body) = http_get(
        format!("{}:9022", addr(1)).parse().unwrap(),
        "/healthz",
        None,
    );
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("storage_not_shared"), "{body}");
    let (_, gateway) = http_get(
        format!("{}:9023", addr(0)).parse().unwrap(),
        "/healthz",
        None,
    );
    let gateway: Value = serde_json::from_str(&gateway).unwrap();
    let n2 = gateway["backends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "n2")
        .unwrap();
    assert_ne!(n2["state"], "up", "{gateway:#}");
    assert_eq!(n2["sessions_total"], 0, "{gateway:#}");
    // Both reachable nodes run, with the cluster's keys.
    for i in 0..2 {
        assert!(hosts
            .ssh(i, "kill -0 $(cat /var/lib/sftpha/node.pid)")
            .status
            .success());
    }
    // When every failure is a host not reached, the exit code says so: 3 (4 above: n2
    // failed for another reason too).
    let (code, report) = site.json(&["provision", "--only", "n3"]);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(host_by(&report, &nowhere)["unreachable"], true);

    // A host whose key changed is refused, with or without --accept-new-host-keys.
    let other = site.path().join("other_key");
    keygen(&other, "ed25519");
    let other = std::fs::read_to_string(format!("{}.pub", other.display())).unwrap();
    let mut parts = other.split_whitespace();
    let (kind, data) = (parts.next().unwrap(), parts.next().unwrap());
    let known = std::fs::read_to_string(site.path().join("known_hosts")).unwrap();
    let forged: String = known
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{} ", addr(1))) {
                format!("{} {kind} {data}\n", addr(1))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(site.path().join("known_hosts"), forged).unwrap();
    let (code, report) = site.json(&["provision", "--accept-new-host-keys", "--only", "n2"]);
    assert_eq!(code, 3, "a host not logged into: {report:#}");
    let error = host_by(&report, &addr(1))["error"].as_str().unwrap();
    assert!(
        error.contains("CHANGED") && error.contains("line 2"),
        "{error}"
    );
}

/// The Ansible playbook, from the same templates and cluster.toml, makes exactly what
/// `provision` makes: `status` sees no drift, `provision` changes nothing, a second playbook
/// run changes nothing.
#[test]
fn the_playbook_produces_the_same_state() {
    let hosts = FakeHosts::new(3, true);
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let site = Site::builder(&hosts)
        .nodes(&[addr(0), addr(1)])
        .gateway(&addr(2))
        .build();
    let playbook = || site.playbook();
    let out = playbook();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (code, status) = site.json(&["status"]);
    assert_eq!(
        code, 0,
        "the playbook's result differs from provision's: {status:#}"
    );
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    for i in 0..3 {
        assert_eq!(host_by(&report, &addr(i))["result"], "unchanged");
    }

    let again = playbook();
    let text = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success(), "{text}");
    let recap = text.split("PLAY RECAP").nth(1).unwrap_or_default();
    assert_eq!(
        recap.matches("changed=0").count(),
        3,
        "a second playbook run changes nothing: {recap}"
    );
}

/// Timings for BENCHMARKS.md: `provision` from nothing, again with nothing to do, and
/// `status`, on 3, 10, 25 and 50 fake hosts (one of them the gateway host, the others nodes),
/// and the same job with the Ansible playbook on 3 and 10 (the anchor). Run with
/// `cargo test --release --test tests -- --ignored --nocapture bench_provision`;
/// `SFTPHA_BENCH_HOSTS=3,10` picks the sizes, `SFTPHA_BENCH_ANSIBLE=3` the playbook's.
#[test]
#[ignore = "a benchmark: run by hand"]
fn bench_provision() {
    use std::time::Instant;
    let time = |f: &mut dyn FnMut() -> Output| {
        let started = Instant::now();
        let out = f();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        started.elapsed().as_secs_f64()
    };
    let sizes = |var: &str, default: &str| -> Vec<usize> {
        std::env::var(var)
            .unwrap_or_else(|_| default.to_owned())
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim().parse().expect("a number of hosts"))
            .collect()
    };
    let site_of = |hosts: &FakeHosts| {
        let mut addrs: Vec<String> = hosts.hosts.iter().map(|h| h.addr.to_string()).collect();
        let gateway = addrs.pop().expect("a gateway host");
        Site::builder(hosts).nodes(&addrs).gateway(&gateway).build()
    };
    let mut rows = Vec::new();
    for n in sizes("SFTPHA_BENCH_HOSTS", "3,10,25,50") {
        let hosts = FakeHosts::new(n, true);
        let site = site_of(&hosts);
        // Where the time goes: the slowest host's own part (connect, plan, write, start,
        // healthy) against the whole run (which adds the checks across the cluster).
        let detail = |what: &str, out: &Output| {
            let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let slowest = report["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["elapsed_ms"].as_u64())
                .max()
                .unwrap_or(0);
            eprintln!(
                "  {n} hosts, {what}: slowest host {slowest} ms of {} ms",
                report["elapsed_ms"]
            );
            if std::env::var_os("SFTPHA_LOG").is_some() {
                eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            }
        };
        let fresh = time(&mut || {
            let out = site.sftpha(&["provision"]);
            detail("from nothing", &out);
            out
        });
        let again = time(&mut || {
            let out = site.sftpha(&["provision"]);
            detail("nothing to do", &out);
            out
        });
        let status = time(&mut || site.sftpha(&["status"]));
        let row = format!(
            "| sftpha provision | {n} ({} nodes, 1 gateway) | {fresh:.1} s | {again:.2} s | {status:.2} s |",
            n - 1
        );
        eprintln!("{row}");
        rows.push(row);
    }
    for n in sizes("SFTPHA_BENCH_ANSIBLE", "3,10") {
        let hosts = FakeHosts::new(n, true);
        let site = site_of(&hosts);
        let mut playbook = || site.playbook();
        let fresh = time(&mut playbook);
        let again = time(&mut playbook);
        let row = format!(
            "| ansible-playbook playbooks/provision.yml | {n} ({} nodes, 1 gateway) | {fresh:.1} s | {again:.2} s | |",
            n - 1
        );
        eprintln!("{row}");
        rows.push(row);
    }
    println!(
        "| tool | hosts | from nothing | again, nothing to do | status |\n|---|---|---|---|---|"
    );
    for row in rows {
        println!("{row}");
    }
}

/// Mistakes found before anything is generated or sent: exit 2, naming the key or the name.
#[test]
fn bad_input_is_refused_before_anything_happens() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster.toml");
    std::fs::write(
        &cluster,
        "name = \"c\"\n[ssh]\nidentity = \"missing_key\"\n[storage]\npath = \"/srv/sftpha\"\n[[nodes]]\nname = \"n1\"\nhost = \"198.18.250.11\"\n[gateway]\nhosts = [\"198.18.250.21\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("users.toml"), "").unwrap();
    let sftpha = |args: &[&str]| run(Command::new(BIN).arg("-c").arg(&cluster).args(args));

    let out = sftpha(&["provision", "--only", "n9"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`n9`") && err.contains("n1, gw1"), "{err}");

    let out = sftpha(&["provision"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ssh.identity") && err.contains("missing_key"),
        "{err}"
    );
    assert!(
        !dir.path().join("keys").exists(),
        "no key generated on a bad run"
    );

    let out = sftpha(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("never provisioned"), "{err}");
}

/// HAProxy as the gateway (rendered, checked by `haproxy -c` on the host, started detached,
/// reloaded), and the ssh-agent as the only way in (no `ssh.identity`).
#[test]
fn haproxy_gateway_and_ssh_agent() {
    require("haproxy");
    require("ssh-agent");
    require("ssh-add");
    let hosts = FakeHosts::new(3, true);
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let site = Site::builder(&hosts)
        .nodes(&[addr(0), addr(1)])
        .gateway(&addr(2))
        .build();
    let toml = std::fs::read_to_string(site.cluster())
        .unwrap()
        .replace("kind = \"builtin\"", "kind = \"haproxy\"")
        .replace(
            &format!("identity = \"{}\"\n", hosts.identity.display()),
            "",
        );
    std::fs::write(site.cluster(), toml).unwrap();

    // An agent of our own, holding the hosts' login key; stopped by PID at the end.
    let sock = site.path().join("agent.sock");
    let _agent = Agent(
        Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually(
        "ssh-agent socket",
        std::time::Duration::from_secs(5),
        || sock.exists(),
    );
    run_ok(
        Command::new("ssh-add")
            .arg(&hosts.identity)
            .env("SSH_AUTH_SOCK", &sock),
    );
    let provision = |extra: &[&str]| {
        let out = run(Command::new(BIN)
            .arg("-c")
            .arg(site.cluster())
            .args(["--format", "json", "provision"])
            .args(extra)
            .env("SSH_AUTH_SOCK", &sock));
        let json: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), json)
    };
    let (code, report) = provision(&[]);
    assert_eq!(code, Some(0), "{report:#}");
    let gw = changed_items(host_by(&report, &addr(2)));
    assert_eq!(gw, vec!["haproxy.cfg:create", "haproxy:start"]);
    let cfg = std::fs::read_to_string(
        hosts.hosts[2]
            .private_dir("/etc/haproxy")
            .join("haproxy.cfg"),
    )
    .unwrap();
    assert!(cfg.contains("send-proxy-v2") && cfg.contains(&format!("{}:2222", addr(0))));

    // A client through HAProxy, host key pinned to the cluster's.
    let out = site.sftp("alice", &addr(2), 2022, "put alice.pub\nls\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A changed balance is a reload of HAProxy (a new process takes over), nothing else.
    let toml = std::fs::read_to_string(site.cluster()).unwrap() + "balance = \"roundrobin\"\n";
    std::fs::write(site.cluster(), toml).unwrap();
    let (code, report) = provision(&[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(
        changed_items(host_by(&report, &addr(2))),
        vec!["haproxy.cfg:change", "haproxy:reload"]
    );
    assert_eq!(host_by(&report, &addr(0))["result"], "unchanged");
    let out = site.sftp("alice", &addr(2), 2022, "ls\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An ssh-agent this test started, stopped by its PID however the test ends.
struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let _ = self.0.wait();
    }
}
