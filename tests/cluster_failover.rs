//! `sftpha test-failover -c cluster.toml` against a cluster `sftpha provision` built on fake
//! hosts (3 node hosts, 1 builtin gateway host): every node fault injected over SSH and
//! undone, the figures in the JSON report; and the host's dead-man timer undoing a freeze and
//! a partition by itself after test-failover was killed mid-run.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::fakehosts::{FakeHost, FakeHosts};
use crate::harness::*;
use crate::provision::{check, Site};

/// A provisioned cluster on 4 fake hosts (n1..n3, gateway on the fourth); nft is needed.
fn provisioned() -> (FakeHosts, Site) {
    require("nft");
    crate::provision::provisioned()
}

/// The run's undo scripts left in the host's state folder.
fn undo_files(host: &FakeHost) -> Vec<String> {
    std::fs::read_dir(host.private_dir("/var/lib/sftpha"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("failover-"))
        .collect()
}

/// Whether the partition's nftables table is on the host.
fn partitioned(host: &FakeHost) -> bool {
    let out = run(Command::new("ip").args(["netns", "exec", &host.netns, "nft", "list", "tables"]));
    String::from_utf8_lossy(&out.stdout).contains("sftpha_failover")
}

/// The node process's state letter (`T` when stopped by SIGSTOP).
fn node_state(host: &FakeHost) -> Option<char> {
    let pid = std::fs::read_to_string(host.state_file("node.pid")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).ok()?;
    stat.rsplit(')').next()?.trim().chars().next()
}

/// The nodes' log lines about refused or failed logins, for a failure's message.
fn refusals(hosts: &FakeHosts) -> String {
    let mut out = String::new();
    for (host, log) in hosts.hosts[..3]
        .iter()
        .map(|h| (h, "node.log"))
        .chain([(&hosts.hosts[3], "gateway.log")])
    {
        let text = std::fs::read_to_string(host.private_dir("/var/log/sftpha").join(log))
            .unwrap_or_default();
        for line in text
            .lines()
            .filter(|l| !l.contains("open-file limit"))
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("refus"))
        {
            out += &format!("{} {log}: {line}\n", host.name);
        }
    }
    out
}

/// Every node fault on the provisioned cluster: injected over SSH, detected by the gateway,
/// no completed upload lost or corrupt, the node restored and taking sessions, nothing left
/// on the host (undo script, partition rules, the run's files).
#[test]
fn every_node_fault_on_a_provisioned_cluster() {
    let (hosts, site) = provisioned();
    for (fault, node) in [
        ("kill", "n1"),
        ("freeze", "n2"),
        ("drain", "n3"),
        ("partition", "n1"),
    ] {
        let (code, report) = site.test_failover(fault, Some(node), "6s");
        eprintln!(
            "{fault} on {node}: exit {code}, detect {} ms, recovery {} ms, {} logins ({} failed, {} interrupted), run {} ms",
            report["observed"]["detect_ms"],
            report["observed"]["recovery_ms"],
            report["observed"]["logins_total"],
            report["observed"]["failed_logins"],
            report["observed"]["interrupted_logins"],
            report["elapsed_ms"]
        );
        assert_eq!(code, 0, "{fault}: {report:#}\n{}", refusals(&hosts));
        assert_eq!(report["ok"], true, "{fault}: {report:#}");
        assert_eq!(report["node"], node);
        let injected = check(&report, "fault.injected");
        assert_eq!(injected["ok"], true, "{fault}: {injected}");
        let observed = &report["observed"];
        assert!(
            observed["detect_ms"].as_u64().is_some(),
            "{fault}: {observed:#}"
        );
        assert!(
            observed["recovery_ms"].as_u64().is_some(),
            "{fault}: {observed:#}"
        );
        assert!(
            observed["bytes_verified"].as_u64().unwrap() > 0,
            "{fault}: {observed:#}"
        );
        assert_eq!(observed["lost_files"], 0, "{fault}");
        assert_eq!(observed["corrupt_files"], 0, "{fault}");
        let restore = check(&report, "restore");
        assert_eq!(restore["ok"], true, "{fault}: {restore}");
        let i = node[1..].parse::<usize>().unwrap() - 1;
        assert!(
            undo_files(&hosts.hosts[i]).is_empty(),
            "{fault}: {:?}",
            undo_files(&hosts.hosts[i])
        );
        assert!(
            !partitioned(&hosts.hosts[i]),
            "{fault}: partition rules left"
        );
    }
    // The runs' folders are gone from the probe login's home; status is clean.
    let probe: PathBuf = hosts.dir.path().join("shared-storage/.sftpha/probe");
    let left: Vec<_> = std::fs::read_dir(&probe)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter()
            .all(|n| !n.to_string_lossy().starts_with("failover-")),
        "{left:?}"
    );
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
}

/// test-failover killed (SIGKILL) while its fault is in force: the host's dead-man timer
/// resumes the frozen node and removes the partition rules by itself.
#[test]
fn the_host_undoes_a_fault_when_test_failover_dies() {
    let (hosts, site) = provisioned();
    for (fault, node, i) in [("freeze", "n2", 1), ("partition", "n3", 2)] {
        let host = &hosts.hosts[i];
        let mut child = Command::new(BIN)
            .arg("-c")
            .arg(site.cluster())
            .args([
                "test-failover",
                "--yes",
                "--format",
                "json",
                "--fault",
                fault,
            ])
            .args([
                "--node",
                node,
                "--clients",
                "2",
                "--duration",
                "30s",
                "--undo-after",
                "6s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        eventually(
            &format!("{fault} injected on {node}"),
            Duration::from_secs(30),
            || !undo_files(host).is_empty(),
        );
        match fault {
            "freeze" => eventually("node stopped", Duration::from_secs(5), || {
                node_state(host) == Some('T')
            }),
            // The undo script is written before the rules go in.
            _ => eventually("rules in", Duration::from_secs(5), || partitioned(host)),
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Still in force right after test-failover died ...
        match fault {
            "freeze" => assert_eq!(node_state(host), Some('T')),
            _ => assert!(partitioned(host)),
        }
        // ... and undone by the host within its window.
        eventually(
            &format!("{fault} undone by the host"),
            Duration::from_secs(15),
            || {
                undo_files(host).is_empty()
                    && match fault {
                        "freeze" => node_state(host).is_some_and(|s| s != 'T'),
                        _ => !partitioned(host),
                    }
            },
        );
    }
    // The cluster is whole again.
    eventually("every node healthy", Duration::from_secs(20), || {
        site.json(&["status"]).0 == 0
    });
}

/// A site on 5 fake hosts: n1..n3 on the first three, builtin gateways on the last two
/// sharing a vip (300 ms adverts); returns it with the vip. Not provisioned yet.
fn vip_site(hosts: &FakeHosts) -> (Site, String) {
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let nodes: Vec<String> = (0..3).map(addr).collect();
    let site = Site::builder(hosts).nodes(&nodes).gateway(&addr(3)).build();
    let (g1, g2) = (addr(3), addr(4));
    let vip = format!("{}.100", g1.rsplit_once('.').unwrap().0);
    let toml = std::fs::read_to_string(site.cluster()).unwrap();
    let toml = toml.replace(
        &format!("hosts = [\"{g1}\"]"),
        &format!("hosts = [\"{g1}\", \"{g2}\"]\nvip = \"{vip}\"\nadvert_interval_ms = 300"),
    );
    std::fs::write(site.cluster(), toml).unwrap();
    (site, vip)
}

/// Switching `gateway.kind` with a vip, both ways: the old kind's processes stop and its
/// files go, the new kind serves, keepalived follows (its check is the new kind's), exactly
/// one gateway holds the vip, and a login through the vip works. HAProxy with a vip works.
#[test]
fn a_gateway_kind_switch_with_a_vip() {
    require("keepalived");
    require("haproxy");
    let hosts = FakeHosts::new(5, true);
    let (site, vip) = vip_site(&hosts);
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    let gateways = [&hosts.hosts[3], &hosts.hosts[4]];
    let pid_alive = |host: &FakeHost, file: &str| {
        std::fs::read_to_string(host.state_file(file))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    for kind in ["haproxy", "builtin"] {
        let toml = std::fs::read_to_string(site.cluster()).unwrap();
        let other = if kind == "haproxy" {
            "builtin"
        } else {
            "haproxy"
        };
        let toml = toml.replace(
            &format!("kind = \"{other}\""),
            &format!("kind = \"{kind}\""),
        );
        std::fs::write(site.cluster(), toml).unwrap();
        let (code, report) = site.json(&["provision"]);
        assert_eq!(code, 0, "switch to {kind}: {report:#}");
        for host in gateways {
            let conf = std::fs::read_to_string(
                host.private_dir("/etc/keepalived").join("keepalived.conf"),
            )
            .unwrap();
            let toml_there = host
                .private_dir("/etc/sftpha")
                .join("gateway.toml")
                .exists();
            if kind == "haproxy" {
                assert!(
                    !pid_alive(host, "gateway.pid"),
                    "the builtin gateway still runs on {}",
                    host.name
                );
                assert!(!toml_there, "gateway.toml left on {}", host.name);
                assert!(
                    pid_alive(host, "haproxy.pid"),
                    "no HAProxy on {}",
                    host.name
                );
                assert!(
                    conf.contains("haproxy.pid"),
                    "keepalived checks the old kind: {conf}"
                );
            } else {
                assert!(
                    !pid_alive(host, "haproxy.pid"),
                    "HAProxy still runs on {}",
                    host.name
                );
                assert!(
                    pid_alive(host, "gateway.pid"),
                    "no builtin gateway on {}",
                    host.name
                );
                assert!(toml_there);
                assert!(
                    conf.contains("/healthz"),
                    "keepalived checks the old kind: {conf}"
                );
            }
        }
        let mut holders = Value::Null;
        eventually("exactly one vip holder", Duration::from_secs(10), || {
            let (code, status) = site.json(&["status"]);
            holders = status["vip"]["holders"].clone();
            code == 0 && holders.as_array().is_some_and(|h| h.len() == 1)
        });
        let out = site.sftp("alice", &vip, 2022, "ls\n");
        assert!(
            out.status.success(),
            "{kind}: no login through the vip {vip} (held by {holders}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Nothing left to do.
        let (code, report) = site.json(&["provision"]);
        assert_eq!(code, 0, "{report:#}");
        for host in gateways {
            let h = report["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["host"] == host.addr.to_string())
                .unwrap();
            assert_eq!(h["result"], "unchanged", "{kind}: {h:#}");
        }
    }
}

/// Two builtin gateways sharing a vip (keepalived, provisioned): exactly one holds it, which
/// `provision` and `status` say; an SFTP login through the vip works; when the holder's
/// keepalived is gone the other takes the vip, and a vip held by no gateway fails `status`.
#[test]
fn a_vip_is_held_by_exactly_one_gateway() {
    require("nft");
    require("keepalived");
    let hosts = FakeHosts::new(5, true);
    let (site, vip) = vip_site(&hosts);
    let (g1, g2) = (
        hosts.hosts[3].addr.to_string(),
        hosts.hosts[4].addr.to_string(),
    );
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    let vip_check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"].as_str().unwrap().contains("holds the vip"))
        .unwrap_or_else(|| panic!("no vip check: {report:#}"));
    assert_eq!(vip_check["ok"], true, "{vip_check}");
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(status["vip"]["address"], vip.as_str());
    let holders = status["vip"]["holders"].as_array().unwrap().clone();
    assert_eq!(holders.len(), 1, "{status:#}");
    // A client of the vip logs in (through whichever gateway holds it).
    let out = site.sftp("alice", &vip, 2022, "ls\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Gateway faults on the vip holder, no completed upload lost, the fault undone. A killed
    // gateway process is started again by its supervisor on the sockets it holds: the vip
    // stays and no login is refused (connections wait in the backlog). A cut-off host loses
    // the vip to the other gateway.
    for fault in ["gateway-kill", "gateway-partition"] {
        let holder_before = site.json(&["status"]).1["vip"]["holders"].clone();
        let (code, report) = site.test_failover(fault, None, "9s");
        let observed = &report["observed"];
        let failed_checks: Vec<&Value> = report["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["ok"] == false)
            .collect();
        eprintln!(
            "{fault} on {}: exit {code}, detected after {} ms, recovery {} ms, {} logins ({} failed, {} interrupted); failed checks: {failed_checks:?}",
            report["node"], observed["detect_ms"], observed["recovery_ms"], observed["logins_total"],
            observed["failed_logins"], observed["interrupted_logins"]
        );
        assert_eq!(check(&report, "fault.injected")["ok"], true, "{report:#}");
        assert_eq!(check(&report, "restore")["ok"], true, "{report:#}");
        assert_eq!(check(&report, "rpo")["ok"], true, "{report:#}");
        assert_eq!(check(&report, "integrity")["ok"], true, "{report:#}");
        assert!(
            observed["detect_ms"].as_u64().is_some(),
            "{fault}: neither restarted nor taken over: {report:#}"
        );
        let recovered = check(&report, "gateway.recovered")["detail"].to_string();
        if fault == "gateway-kill" {
            assert!(
                recovered.contains("held sockets"),
                "the killed gateway was not restarted in place: {report:#}"
            );
            assert_eq!(
                observed["failed_logins"], 0,
                "logins refused while the gateway restarted: {report:#}"
            );
            assert_eq!(
                site.json(&["status"]).1["vip"]["holders"],
                holder_before,
                "the vip moved"
            );
        } else {
            assert!(recovered.contains("vip moved"), "{report:#}");
        }
        eventually("one vip holder again", Duration::from_secs(10), || {
            site.json(&["status"]).1["vip"]["ok"] == true
        });
    }

    // A gateway change rolls: each gateway hands over to a new process on its held
    // sockets, one at a time, the vip holder last, under an OpenSSH login loop through the
    // vip that sees no failed login.
    let worker_pidfile = |i: usize| hosts.hosts[i].state_file("gateway-worker.pid");
    let worker = |i: usize| {
        std::fs::read_to_string(worker_pidfile(i))
            .unwrap()
            .trim()
            .to_owned()
    };
    let before = (worker(3), worker(4));
    let holder = site.json(&["status"]).1["vip"]["holders"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let toml = std::fs::read_to_string(site.cluster()).unwrap();
    let changed = toml.replace("[gateway]\n", "[gateway]\nbanner_timeout_ms = 4500\n");
    assert_ne!(toml, changed, "no [gateway] table in {toml}");
    std::fs::write(site.cluster(), changed).unwrap();
    let ((code, report), loops) = site.login_loops(&vip, || site.json(&["provision"]));
    assert_eq!(code, 0, "{report:#}");
    let after = (worker(3), worker(4));
    assert_ne!(before.0, after.0, "gw1 was not handed over: {report:#}");
    assert_ne!(before.1, after.1, "gw2 was not handed over: {report:#}");
    let since = |i: usize| {
        std::fs::metadata(worker_pidfile(i))
            .unwrap()
            .modified()
            .unwrap()
    };
    let (first, last) = if holder == g1 { (4, 3) } else { (3, 4) };
    assert!(
        since(first) < since(last),
        "the vip holder {holder} was not handed over last"
    );
    for (logins, failures) in loops {
        eprintln!(
            "rolling hand-over: {logins} logins, {} failed",
            failures.len()
        );
        assert!(logins > 3, "the loop barely ran: {logins}");
        assert!(
            failures.is_empty(),
            "failed logins during the roll: {failures:#?}"
        );
    }
    let holders = site.json(&["status"]).1["vip"]["holders"]
        .as_array()
        .unwrap()
        .clone();

    // The holder's keepalived stopped (its vip released): the other gateway takes the vip.
    let holder = holders[0].as_str().unwrap().to_owned();
    let (i, other) = if holder == g1 {
        (3, g2.clone())
    } else {
        (4, g1.clone())
    };
    let pid = std::fs::read_to_string(hosts.hosts[i].state_file("keepalived.pid")).unwrap();
    hosts.ssh_ok(i, &format!("kill -TERM {}", pid.trim()));
    eventually(
        "the other gateway holds the vip",
        Duration::from_secs(10),
        || {
            let (_, status) = site.json(&["status"]);
            status["vip"]["holders"] == serde_json::json!([other])
        },
    );
    // No keepalived anywhere: nobody holds the vip, and status fails.
    let j = if i == 3 { 4 } else { 3 };
    let pid = std::fs::read_to_string(hosts.hosts[j].state_file("keepalived.pid")).unwrap();
    hosts.ssh_ok(j, &format!("kill -TERM {}", pid.trim()));
    eventually("nobody holds the vip", Duration::from_secs(10), || {
        let (code, status) = site.json(&["status"]);
        code == 1 && status["vip"]["holders"] == serde_json::json!([])
    });
}
