//! `sftpha users`, `sftpha keys` and `sftpha upgrade` against fake hosts: every change lands
//! on every node (checked by logging in on each node directly), users.toml keeps its comments,
//! bad input is refused, a node that is down is reported and caught up later; and a client
//! loop through the gateway sees no failed login and no host-key warning during a host key
//! rotation, a user key rotation and a rolling upgrade.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fakehosts::FakeHosts;
use crate::harness::*;
use crate::provision::{host_by, Site};

fn check_named<'a>(report: &'a Value, starts: &str) -> Vec<&'a Value> {
    report["push"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"].as_str().unwrap().starts_with(starts))
        .collect()
}

fn logs_in(site: &Site, user: &str, host: &str) -> bool {
    site.sftp(user, host, 2222, "ls\n").status.success()
}

#[test]
fn users_add_set_key_remove_on_every_node() {
    let (hosts, site) = crate::provision::provisioned();
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let nodes: Vec<String> = (0..3).map(addr).collect();
    let users = site.path().join("users.toml");
    let before = std::fs::read_to_string(&users).unwrap();
    std::fs::write(&users, format!("{before}# End of the partners.\n")).unwrap();

    // add: on every node, checked by the command and by logging in on each node directly.
    let bob = site.path().join("bob.pub");
    let (code, report) = site.json(&[
        "users",
        "add",
        "bob",
        "--key",
        bob.to_str().unwrap(),
        "--home",
        "partners/bob",
        "--permissions",
        "list,read,write",
    ]);
    assert_eq!(code, 0, "{report:#}");
    let checks = check_named(&report, "every node accepts");
    assert_eq!(checks.len(), 1, "{report:#}");
    assert_eq!(checks[0]["ok"], true, "{report:#}");
    for node in &nodes {
        assert_eq!(host_by(&report["push"], node)["result"], "changed");
        assert!(logs_in(&site, "bob", node), "bob on {node}");
    }
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(
        text.starts_with("# The partners of prov. Comments stay.\n"),
        "{text}"
    );
    assert!(text.contains("# End of the partners."), "{text}");
    assert!(text.contains("home = \"partners/bob\""), "{text}");
    // The home is on the shared storage, private to the service.
    assert_eq!(
        hosts
            .ssh_ok(0, "stat -c %a /srv/sftpha/partners/bob")
            .trim(),
        "750"
    );
    let (code, list) = site.json(&["users", "list"]);
    assert_eq!(code, 0);
    let bob_entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "bob")
        .unwrap();
    assert_eq!(
        bob_entry["permissions"],
        serde_json::json!(["list", "read", "write"])
    );
    let bob_fp = bob_entry["keys"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bad input: exit 2, users.toml untouched.
    let text = std::fs::read_to_string(&users).unwrap();
    run_ok(
        Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", "rsa", "-b", "1024", "-f"])
            .arg(site.path().join("weak")),
    );
    let weak = site.path().join("weak.pub");
    let out = site.sftpha(&["users", "add", "carol", "--key", weak.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1024 bits"),
        "{out:?}"
    );
    let out = site.sftpha(&["users", "add", "Carol!", "--key", bob.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = site.sftpha(&["users", "add", "bob", "--key", bob.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let out = site.sftpha(&["users", "set-key", "bob", "--remove-key", &bob_fp]);
    assert_eq!(out.status.code(), Some(2), "the only way in is not removed");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no way to log in"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&users).unwrap(), text);

    // set-key: carol's key added to bob, bob's own removed; checked on every node.
    keygen(&site.path().join("carol"), "ed25519");
    let carol = site.path().join("carol.pub");
    let (code, report) = site.json(&["users", "set-key", "bob", "--key", carol.to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = site.json(&["users", "set-key", "bob", "--remove-key", &bob_fp]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        check_named(&report, "every node refuses")[0]["ok"],
        true,
        "{report:#}"
    );
    // `sftp -i bob` now holds carol's key (OpenSSH offers KEY.pub: replace both).
    std::fs::copy(site.path().join("carol"), site.path().join("bob")).unwrap();
    std::fs::copy(site.path().join("carol.pub"), site.path().join("bob.pub")).unwrap();
    for node in &nodes {
        assert!(logs_in(&site, "bob", node), "bob's new key on {node}");
    }

    // A node that is down is reported (exit 3: it could not be reached, nothing else went
    // wrong), shows as drifted, and catches up next time.
    hosts.freeze_sshd(2, true);
    let (code, report) = site.json(&["users", "remove", "bob"]);
    hosts.freeze_sshd(2, false);
    assert_eq!(code, 3, "{report:#}");
    assert_eq!(host_by(&report["push"], &nodes[2])["result"], "failed");
    assert_eq!(host_by(&report["push"], &nodes[0])["result"], "changed");
    assert!(!logs_in(&site, "bob", &nodes[0]), "bob removed from n1");
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 1, "{status:#}");
    assert!(
        status["nodes"][2]["drift"]
            .to_string()
            .contains("users.toml differs"),
        "{status:#}"
    );
    assert!(
        logs_in(&site, "bob", &nodes[2]),
        "n3 still has the old users"
    );
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    for node in &nodes {
        assert!(!logs_in(&site, "bob", node), "bob removed from {node}");
        assert!(logs_in(&site, "alice", node), "alice still on {node}");
    }

    // --no-push only edits the file; status shows the drift.
    let (code, report) = site.json(&[
        "users",
        "add",
        "dave",
        "--key",
        carol.to_str().unwrap(),
        "--no-push",
    ]);
    assert_eq!(code, 0, "{report:#}");
    assert!(report["push"].is_null());
    let (code, _) = site.json(&["status"]);
    assert_eq!(code, 1);
}

/// An OpenSSH sftp loop through the gateway until told to stop: (logins, failures).
fn client_loop(
    site: &Path,
    gateway: String,
    known_hosts: std::path::PathBuf,
    identities: Vec<std::path::PathBuf>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    let site = site.to_owned();
    std::thread::spawn(move || {
        let payload = site.join(format!(
            "payload-{}",
            known_hosts.display().to_string().len()
        ));
        random_file(&payload, 64 * 1024);
        let (mut logins, mut failures) = (0, Vec::new());
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            n += 1;
            let name = format!(
                "loop-{}-{n}",
                known_hosts.file_name().unwrap().to_string_lossy()
            );
            let mut cmd = Command::new("sftp");
            cmd.args([
                "-P",
                "2022",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
            ])
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "UpdateHostKeys=no",
                "-o",
                "ConnectTimeout=10",
            ])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()));
            for id in &identities {
                cmd.arg("-i").arg(id);
            }
            let batch = format!("put {} {name}\nls {name}\nrm {name}\n", payload.display());
            let out = run_with_input(
                cmd.args(["-b", "-"]).arg(format!("alice@{gateway}")),
                batch.as_bytes(),
            );
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            logins += 1;
            if !out.status.success()
                || stderr.contains("WARNING")
                || stderr.contains("verification failed")
            {
                failures.push(stderr);
            }
        }
        (logins, failures)
    })
}

#[test]
fn rotations_and_upgrade_cost_no_login() {
    require("sftp");
    let hosts = FakeHosts::new(3, true);
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let nodes: Vec<String> = (0..2).map(addr).collect();
    let gateway = addr(2);
    let site = Site::builder(&hosts)
        .nodes(&nodes)
        .gateway(&gateway)
        .build();
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");

    // The published procedure: trust the host CA once (or pin the plain keys).
    let lines = |args: &[&str]| -> String {
        let (code, kh) = site.json(args);
        assert_eq!(code, 0, "{kh:#}");
        kh["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| format!("{}\n", l.as_str().unwrap()))
            .collect()
    };
    let ca_known = site.path().join("known_ca");
    std::fs::write(&ca_known, lines(&["keys", "known-hosts", "--ca"])).unwrap();
    assert!(std::fs::read_to_string(&ca_known)
        .unwrap()
        .starts_with("@cert-authority "));
    let plain_known = site.path().join("known_plain");
    std::fs::write(&plain_known, lines(&["keys", "known-hosts", "--plain"])).unwrap();
    keygen(&site.path().join("alice2"), "ed25519");
    // The client has its new key before the rotation (new first, old as fallback).
    let ids = vec![site.path().join("alice2"), site.path().join("alice")];
    let stop = Arc::new(AtomicBool::new(false));
    let ca_loop = client_loop(
        site.path(),
        gateway.clone(),
        ca_known,
        ids.clone(),
        stop.clone(),
    );
    let plain_loop = client_loop(
        site.path(),
        gateway.clone(),
        plain_known.clone(),
        ids,
        stop.clone(),
    );
    std::thread::sleep(Duration::from_secs(2));

    // Host key, phase 1: the new key beside the old one on every node, no restart.
    let pids: Vec<Vec<i32>> = (0..2).map(|i| hosts.pids(i)).collect();
    let old_key = site.host_key();
    let (code, report) = site.json(&["keys", "rotate", "host"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        report["host_key_fingerprints"].as_array().unwrap().len(),
        6,
        "three types, old and new: {report:#}"
    );
    assert!(
        report["notes"]
            .to_string()
            .contains("every node holds the new keys: n1, n2"),
        "{report:#}"
    );
    for node in &nodes {
        let h = host_by(&report["push"], node);
        assert!(h["services"].to_string().contains("reload"), "{h:#}");
    }
    // Clients that pin plain keys add the new line, as the procedure says.
    let tmp = site.path().join("known_plain.new");
    std::fs::write(&tmp, lines(&["keys", "known-hosts", "--plain"])).unwrap();
    std::fs::rename(&tmp, &plain_known).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    // Phase 2: the new key is presented everywhere, the old one retired.
    let (code, report) = site.json(&["keys", "rotate", "host", "--finish"]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["host_key_fingerprints"].as_array().unwrap().len(), 3);
    assert_ne!(site.host_key(), old_key);
    for (i, node) in nodes.iter().enumerate() {
        let scan = run_ok(Command::new("ssh-keyscan").args(["-p", "2222", "-t", "ed25519", node]));
        let text = String::from_utf8_lossy(&scan.stdout);
        assert!(text.contains(&site.host_key()), "{node}: {text}");
        assert_eq!(
            hosts
                .ssh(i, "test -e /etc/sftpha/ssh_host_ed25519_key.next")
                .status
                .code(),
            Some(1)
        );
        let now: Vec<i32> = hosts.pids(i);
        assert!(
            pids[i].iter().all(|p| now.contains(p)),
            "the node was not restarted"
        );
    }

    // User key: alice2 added and checked through the gateway, alice's old key refused.
    let alice2 = site.path().join("alice2");
    let (code, report) = site.json(&[
        "keys",
        "rotate",
        "user",
        "alice",
        "--key",
        alice2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(
        check_named(&report["steps"][0], "every node accepts")[0]["ok"],
        true,
        "{report:#}"
    );
    assert_eq!(
        check_named(&report["steps"][1], "every node refuses")[0]["ok"],
        true,
        "{report:#}"
    );
    assert!(
        report["notes"]
            .to_string()
            .contains("logged in through the gateway"),
        "{report:#}"
    );

    // Upgrade: a new binary, node by node.
    let binary = site.path().join("sftpha-next");
    let mut bytes = std::fs::read(BIN).unwrap();
    bytes.extend_from_slice(b"\nsftpha upgrade test build\n");
    std::fs::write(&binary, bytes).unwrap();
    let (code, report) = site.json(&["upgrade", "--node-binary", binary.to_str().unwrap()]);
    assert_eq!(code, 0, "{report:#}");
    for node in &nodes {
        let h = host_by(&report, node);
        assert!(h["services"].to_string().contains("restart"), "{h:#}");
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    // What upgrade installed is what status expects, without being told again.
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 0, "no drift after an upgrade: {status:#}");
    for (name, handle) in [("CA client", ca_loop), ("plain-key client", plain_loop)] {
        let (logins, failures) = handle.join().unwrap();
        if !failures.is_empty() {
            // What the nodes said of the refused logins.
            for i in 0..2 {
                let audit = hosts.hosts[i]
                    .private_dir("/var/log/sftpha")
                    .join("audit.jsonl");
                let text = std::fs::read_to_string(&audit).unwrap_or_default();
                for line in text
                    .lines()
                    .filter(|l| l.contains("login_failed") || l.contains("throttled"))
                {
                    eprintln!("node {i}: {line}");
                }
                let log = hosts.hosts[i]
                    .private_dir("/var/log/sftpha")
                    .join("node.log");
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                for line in text.lines().filter(|l| !l.contains("login succeeded")) {
                    eprintln!("node {i} log: {line}");
                }
            }
        }
        assert!(logins >= 10, "{name}: only {logins} logins");
        assert!(
            failures.is_empty(),
            "{name}: {} of {logins} logins failed: {failures:#?}",
            failures.len()
        );
        eprintln!("{name}: {logins} logins, none failed");
    }
}

/// `keys rotate host --finish` retires the old keys only once every node is seen, in the SSH
/// handshake, presenting the new ones: a node that does not answer stops it (exit 3, named),
/// and nothing is retired.
#[test]
fn host_key_rotation_is_not_finished_while_a_node_is_unseen() {
    let hosts = FakeHosts::new(2, true);
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let nodes: Vec<String> = (0..2).map(addr).collect();
    let site = Site::builder(&hosts)
        .nodes(&nodes)
        .gateway(&addr(0))
        .build();
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    let (code, report) = site.json(&["keys", "rotate", "host"]);
    assert_eq!(code, 0, "{report:#}");
    let old = site.host_key();
    let next = site.path().join("keys/ssh_host_ed25519_key.next");
    assert!(next.exists());

    // n2's SFTP port stops answering (the process is stopped; the kernel still accepts TCP).
    hosts.ssh_ok(1, "kill -STOP $(cat /var/lib/sftpha/node.pid)");
    let out = site.sftpha(&["keys", "rotate", "host", "--finish"]);
    hosts.ssh_ok(1, "kill -CONT $(cat /var/lib/sftpha/node.pid)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("n2") && err.contains("not reached"), "{err}");
    assert!(!err.contains("n1 ("), "n1 presents the new keys: {err}");
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["kind"], "refused", "{error}");
    assert!(next.exists(), "nothing retired");
    assert_eq!(site.host_key(), old);
    // n1, reached, presents the new key already and still holds the old one.
    let scan = run_ok(Command::new("ssh-keyscan").args(["-p", "2222", "-t", "ed25519", &addr(0)]));
    let new_key = std::fs::read_to_string(format!("{}.pub", next.display())).unwrap();
    let new_key: Vec<&str> = new_key.split_whitespace().take(2).collect();
    assert!(
        String::from_utf8_lossy(&scan.stdout).contains(&new_key.join(" ")),
        "{scan:?}"
    );

    let (code, report) = site.json(&["keys", "rotate", "host", "--finish"]);
    assert_eq!(code, 0, "{report:#}");
    assert!(!next.exists());
    assert_ne!(site.host_key(), old);
    for node in &nodes {
        for kind in ["ed25519", "ecdsa", "rsa"] {
            let scan = run_ok(Command::new("ssh-keyscan").args(["-p", "2222", "-t", kind, node]));
            let text = String::from_utf8_lossy(&scan.stdout);
            assert!(
                text.contains(&site.public_key(kind)),
                "{node} {kind}: {text}"
            );
        }
    }
}
