//! The systemd path, for real: `sftpha provision` with `service_manager = "systemd"` on fake
//! hosts that boot systemd as PID 1 ([`FakeHosts::with_systemd`]): the units are installed,
//! enabled, started, reloaded and restarted by systemd, and a client of the vip sees no
//! failed login through a gateway hand-over, a killed gateway service and a node roll.

use std::time::{Duration, Instant};

use crate::fakehosts::FakeHosts;
use crate::harness::*;
use crate::provision::{changed_items, check, host_by, Site};

/// [`Site::login_loops`], the loops' logins and failures summed.
fn under_logins<T: Send>(
    site: &Site,
    vip: &str,
    during: impl FnOnce() -> T + Send,
) -> (T, usize, Vec<String>) {
    let (result, loops) = site.login_loops(vip, during);
    let logins = loops.iter().map(|(l, _)| l).sum();
    (
        result,
        logins,
        loops.into_iter().flat_map(|(_, f)| f).collect(),
    )
}

/// A login that never reached a gateway (refused, timed out, no route), as opposed to a
/// session cut in flight.
fn refused_login(stderr: &str) -> bool {
    [
        "refused",
        "timed out",
        "No route",
        "banner exchange",
        "Permission denied",
    ]
    .iter()
    .any(|m| stderr.contains(m))
}

/// `systemctl show -p MainPID --value UNIT` on host `i` (a PID of the host's pid namespace).
fn main_pid(hosts: &FakeHosts, i: usize, unit: &str) -> String {
    hosts
        .ssh_ok(i, &format!("systemctl show -p MainPID --value {unit}"))
        .trim()
        .to_owned()
}

fn is_active(hosts: &FakeHosts, i: usize, unit: &str) -> String {
    let out = hosts.ssh(i, &format!("systemctl is-active {unit}"));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// 3 nodes and 2 builtin gateways sharing a vip (keepalived) on 5 systemd hosts, provisioned
/// with `service_manager = "systemd"`, through its life: provision, idempotence, a gateway
/// change handed over, test-failover's gateway kill, the whole gateway service SIGKILLed
/// (its socket unit keeps the sockets), a node change rolled; a login loop through the vip
/// counts failed logins throughout.
#[test]
fn a_cluster_provisioned_under_systemd() {
    require("keepalived");
    require("nft");
    let t0 = Instant::now();
    let hosts = FakeHosts::with_systemd(5, true);
    eprintln!("5 systemd hosts up in {} ms", t0.elapsed().as_millis());
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let nodes: Vec<String> = (0..3).map(addr).collect();
    let site = Site::builder(&hosts)
        .nodes(&nodes)
        .gateway(&addr(3))
        .build();
    let (g1, g2) = (addr(3), addr(4));
    let vip = format!("{}.100", g1.rsplit_once('.').unwrap().0);
    let toml = std::fs::read_to_string(site.cluster()).unwrap();
    let toml = toml
        .replace(
            "service_manager = \"detached\"",
            "service_manager = \"systemd\"",
        )
        .replace(
            &format!("hosts = [\"{g1}\"]"),
            &format!("hosts = [\"{g1}\", \"{g2}\"]\nvip = \"{vip}\"\nadvert_interval_ms = 300"),
        );
    assert!(toml.contains("service_manager = \"systemd\""), "{toml}");
    std::fs::write(site.cluster(), toml).unwrap();

    // From nothing: units installed, enabled and started by systemd.
    let t = Instant::now();
    let (code, report) = site.json(&["provision"]);
    eprintln!("provision from nothing: {} ms", t.elapsed().as_millis());
    assert_eq!(code, 0, "{report:#}");
    for i in 0..3 {
        assert_eq!(is_active(&hosts, i, "sftpha-node"), "active", "n{}", i + 1);
        assert_eq!(
            hosts.ssh_ok(i, "systemctl is-enabled sftpha-node").trim(),
            "enabled"
        );
    }
    for i in 3..5 {
        for unit in ["sftpha-gateway", "sftpha-gateway.socket", "keepalived"] {
            assert_eq!(
                is_active(&hosts, i, unit),
                "active",
                "{unit} on gateway {i}"
            );
        }
    }
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(
        status["vip"]["holders"].as_array().unwrap().len(),
        1,
        "{status:#}"
    );
    let out = site.sftp("alice", &vip, 2022, "ls\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Again: nothing to do.
    let t = Instant::now();
    let (code, report) = site.json(&["provision"]);
    eprintln!("provision again: {} ms", t.elapsed().as_millis());
    assert_eq!(code, 0, "{report:#}");
    for host in report["hosts"].as_array().unwrap() {
        assert!(
            changed_items(host).is_empty(),
            "{}: {:?}",
            host["host"],
            changed_items(host)
        );
    }

    // A new user: the nodes reload (systemctl reload-or-restart: SIGHUP, same MainPID).
    let node_pids: Vec<String> = (0..3).map(|i| main_pid(&hosts, i, "sftpha-node")).collect();
    site.write_users(&["alice", "bob"]);
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    for (i, before) in node_pids.iter().enumerate() {
        let items = changed_items(host_by(&report, &addr(i)));
        assert!(
            items.contains(&"node:reload".to_owned()),
            "n{}: {items:?}",
            i + 1
        );
        assert_eq!(
            &main_pid(&hosts, i, "sftpha-node"),
            before,
            "n{} restarted",
            i + 1
        );
    }
    eventually(
        "bob logs in through the vip",
        Duration::from_secs(10),
        || site.sftp("bob", &vip, 2022, "ls\n").status.success(),
    );

    // A gateway change: each gateway hands over to a new process on its held sockets (the
    // worker changes, the supervisor, systemd's MainPID, stays), no login fails.
    let worker = |i: usize| {
        std::fs::read_to_string(hosts.hosts[i].state_file("gateway-worker.pid"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let workers = (worker(3), worker(4));
    let supervisors = (
        main_pid(&hosts, 3, "sftpha-gateway"),
        main_pid(&hosts, 4, "sftpha-gateway"),
    );
    let toml = std::fs::read_to_string(site.cluster()).unwrap();
    let changed = toml.replace("[gateway]\n", "[gateway]\nbanner_timeout_ms = 4500\n");
    assert_ne!(toml, changed);
    std::fs::write(site.cluster(), changed).unwrap();
    let t = Instant::now();
    let ((code, report), logins, failures) =
        under_logins(&site, &vip, || site.json(&["provision"]));
    eprintln!(
        "gateway hand-over under systemd: provision {} ms, {logins} logins, {} failed",
        t.elapsed().as_millis(),
        failures.len()
    );
    assert_eq!(code, 0, "{report:#}");
    assert_ne!(workers.0, worker(3), "gw1 not handed over: {report:#}");
    assert_ne!(workers.1, worker(4), "gw2 not handed over: {report:#}");
    assert_eq!(supervisors.0, main_pid(&hosts, 3, "sftpha-gateway"));
    assert_eq!(supervisors.1, main_pid(&hosts, 4, "sftpha-gateway"));
    assert!(logins > 3, "the loop barely ran: {logins}");
    assert!(failures.is_empty(), "{failures:#?}");

    // test-failover's gateway kill: the supervisor starts a new gateway on its sockets.
    let (code, report) = site.test_failover("gateway-kill", None, "9s");
    let observed = &report["observed"];
    eprintln!(
        "gateway-kill under systemd: exit {code}, detected {} ms, recovery {} ms, {} logins ({} failed, {} interrupted)",
        observed["detect_ms"], observed["recovery_ms"], observed["logins_total"], observed["failed_logins"],
        observed["interrupted_logins"]
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(observed["failed_logins"], 0, "{report:#}");
    let recovered = check(&report, "gateway.recovered")["detail"].to_string();
    assert!(recovered.contains("held sockets"), "{report:#}");
    eventually("one vip holder again", Duration::from_secs(10), || {
        site.json(&["status"]).1["vip"]["ok"] == true
    });

    // The whole gateway service SIGKILLed on the vip holder (supervisor and worker): the
    // socket unit keeps the sockets, Restart=always brings the service back.
    let holder = site.json(&["status"]).1["vip"]["holders"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let h = if holder == g1 { 3 } else { 4 };
    let before = main_pid(&hosts, h, "sftpha-gateway");
    let t = Instant::now();
    let (restarted_ms, logins, failures) = under_logins(&site, &vip, || {
        hosts.ssh_ok(h, "systemctl kill -s KILL sftpha-gateway");
        let killed = Instant::now();
        eventually("sftpha-gateway back", Duration::from_secs(20), || {
            let pid = main_pid(&hosts, h, "sftpha-gateway");
            pid != before && pid != "0" && is_active(&hosts, h, "sftpha-gateway") == "active"
        });
        killed.elapsed().as_millis()
    });
    // A session in flight inside the killed processes is cut (the client sees its
    // connection drop: "Broken pipe", "Connection reset", "Connection closed"); a new login
    // must not be refused or time out: it waits in the socket unit's backlog.
    let (refused, interrupted): (Vec<&String>, Vec<&String>) =
        failures.iter().partition(|f| refused_login(f));
    eprintln!(
        "systemctl kill -s KILL sftpha-gateway on the vip holder: back (new MainPID) within {restarted_ms} ms; {logins} logins in {} ms: {} refused or timed out, {} interrupted in flight: {failures:#?}",
        t.elapsed().as_millis(),
        refused.len(),
        interrupted.len()
    );
    assert!(refused.is_empty(), "{failures:#?}");
    assert!(
        interrupted.len() <= 2,
        "more than one session per client thread cut: {failures:#?}"
    );
    assert_eq!(
        site.json(&["status"]).1["vip"]["holders"][0].as_str(),
        Some(holder.as_str()),
        "the vip moved"
    );
    assert_eq!(is_active(&hosts, h, "sftpha-gateway.socket"), "active");

    // Node faults under systemd: a killed node comes back (Restart=always, or the undo's
    // `ensure`), a drained one exits and is started again; no completed upload lost.
    for (fault, node) in [("kill", "n1"), ("drain", "n2")] {
        let (code, report) = site.test_failover(fault, Some(node), "5s");
        let observed = &report["observed"];
        eprintln!(
            "{fault} on {node} under systemd: exit {code}, detect {} ms, recovery {} ms, {} logins ({} failed, {} interrupted)",
            observed["detect_ms"], observed["recovery_ms"], observed["logins_total"],
            observed["failed_logins"], observed["interrupted_logins"]
        );
        assert_eq!(code, 0, "{fault}: {report:#}");
        assert_eq!(check(&report, "restore")["ok"], true, "{fault}: {report:#}");
        let i = node[1..].parse::<usize>().unwrap() - 1;
        assert_eq!(is_active(&hosts, i, "sftpha-node"), "active", "{fault}");
    }
    eventually("every node healthy", Duration::from_secs(20), || {
        site.json(&["status"]).0 == 0
    });

    // A node change that needs a restart: nodes restarted one at a time by systemd.
    let node_pids: Vec<String> = (0..3).map(|i| main_pid(&hosts, i, "sftpha-node")).collect();
    let toml = std::fs::read_to_string(site.cluster()).unwrap();
    let changed = toml.replace("[node]\n", "[node]\nmax_sessions = 900\n");
    assert_ne!(toml, changed);
    std::fs::write(site.cluster(), changed).unwrap();
    let t = Instant::now();
    let ((code, report), logins, failures) =
        under_logins(&site, &vip, || site.json(&["provision"]));
    eprintln!(
        "node roll under systemd: provision {} ms, {logins} logins, {} failed",
        t.elapsed().as_millis(),
        failures.len()
    );
    assert_eq!(code, 0, "{report:#}");
    for (i, before) in node_pids.iter().enumerate() {
        assert_ne!(
            &main_pid(&hosts, i, "sftpha-node"),
            before,
            "n{} was not restarted: {report:#}",
            i + 1
        );
        assert_eq!(is_active(&hosts, i, "sftpha-node"), "active");
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // One at a time: each node was active again before the next one began to stop.
    let mut spans: Vec<(u64, u64)> = (0..3)
        .map(|i| {
            let out = hosts.ssh_ok(
                i,
                "systemctl show -p ActiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic --value sftpha-node",
            );
            let v: Vec<u64> = out.split_whitespace().map(|n| n.parse().unwrap()).collect();
            // (began to stop, active again); systemd prints Enter before Exit
            (v[1], v[0])
        })
        .collect();
    spans.sort();
    eprintln!("node restarts (stop began, active again), monotonic us: {spans:?}");
    for w in spans.windows(2) {
        assert!(w[0].1 <= w[1].0, "two nodes restarted at once: {spans:?}");
    }
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
    no_failed_units(&hosts);
    eprintln!("whole test: {} ms", t0.elapsed().as_millis());
}

/// No unit failed on any host; prints the warnings systemd and the services logged.
fn no_failed_units(hosts: &FakeHosts) {
    for i in 0..hosts.hosts.len() {
        let warnings = hosts.ssh_ok(
            i,
            "journalctl -b -p warning --no-pager -q -o short-monotonic | grep -v 'open-file limit' | tail -n 15",
        );
        if !warnings.trim().is_empty() {
            eprintln!("{} warnings:\n{warnings}", hosts.hosts[i].name);
        }
        let failed = hosts.ssh_ok(i, "systemctl --failed --no-legend --plain");
        assert!(
            failed.trim().is_empty(),
            "{}: failed units: {failed}",
            hosts.hosts[i].name
        );
    }
}

/// HAProxy as the gateway under systemd, on 2 gateways sharing a vip: the distribution's
/// haproxy.service and keepalived.service started by provision, a login through the vip, and
/// a changed balance that reloads HAProxy (same MainPID: master-worker) under the login loop.
#[test]
fn haproxy_with_a_vip_under_systemd() {
    require("haproxy");
    require("keepalived");
    let t0 = Instant::now();
    let hosts = FakeHosts::with_systemd(4, true);
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let site = Site::builder(&hosts)
        .nodes(&[addr(0), addr(1)])
        .gateway(&addr(2))
        .build();
    let (g1, g2) = (addr(2), addr(3));
    let vip = format!("{}.100", g1.rsplit_once('.').unwrap().0);
    let toml = std::fs::read_to_string(site.cluster())
        .unwrap()
        .replace(
            "service_manager = \"detached\"",
            "service_manager = \"systemd\"",
        )
        .replace("kind = \"builtin\"", "kind = \"haproxy\"")
        .replace(
            &format!("hosts = [\"{g1}\"]"),
            &format!("hosts = [\"{g1}\", \"{g2}\"]\nvip = \"{vip}\"\nadvert_interval_ms = 300"),
        );
    std::fs::write(site.cluster(), toml).unwrap();
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    for i in 2..4 {
        for unit in ["haproxy", "keepalived"] {
            assert_eq!(
                is_active(&hosts, i, unit),
                "active",
                "{unit} on {}",
                addr(i)
            );
        }
    }
    let (code, status) = site.json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(
        status["vip"]["holders"].as_array().unwrap().len(),
        1,
        "{status:#}"
    );
    let out = site.sftp("alice", &vip, 2022, "ls\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let masters = (
        main_pid(&hosts, 2, "haproxy"),
        main_pid(&hosts, 3, "haproxy"),
    );
    let toml = std::fs::read_to_string(site.cluster()).unwrap() + "balance = \"roundrobin\"\n";
    std::fs::write(site.cluster(), toml).unwrap();
    let ((code, report), logins, failures) =
        under_logins(&site, &vip, || site.json(&["provision"]));
    eprintln!(
        "haproxy reload under systemd: {logins} logins, {} failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(code, 0, "{report:#}");
    for i in 2..4 {
        assert_eq!(
            changed_items(host_by(&report, &addr(i))),
            vec!["haproxy.cfg:change", "haproxy:reload"]
        );
    }
    assert_eq!(
        masters,
        (
            main_pid(&hosts, 2, "haproxy"),
            main_pid(&hosts, 3, "haproxy")
        )
    );
    assert!(failures.is_empty(), "{failures:#?}");
    no_failed_units(&hosts);
    eprintln!("whole test: {} ms", t0.elapsed().as_millis());
}

/// `node.service_user` under systemd: the units' `User=` with `ProtectSystem=strict` and
/// `ReadWritePaths=`; the node and the gateway run as that user, a client uploads a file
/// through the gateway and it lands on the storage as that user's.
#[test]
fn a_service_user_under_systemd() {
    let mut hosts = FakeHosts::with_systemd(2, true);
    for i in 0..2 {
        hosts.ssh_ok(
            i,
            "useradd --system --uid 990 --user-group --no-create-home --shell /usr/sbin/nologin sftpha",
        );
    }
    // The storage is the admin's to prepare (provision never creates or chowns it): the
    // service user's, or the node refuses it ("storage `/srv/sftpha` is not usable:
    // Permission denied", which provision reports from the journal).
    hosts.ssh_ok(0, "chown sftpha: /srv/sftpha");
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let site = Site::builder(&hosts)
        .nodes(&[addr(0)])
        .gateway(&addr(1))
        .build();
    let toml = std::fs::read_to_string(site.cluster()).unwrap().replace(
        "service_manager = \"detached\"",
        "service_manager = \"systemd\"\nservice_user = \"sftpha\"",
    );
    std::fs::write(site.cluster(), toml).unwrap();
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");
    for (i, unit) in [(0, "sftpha-node"), (1, "sftpha-gateway")] {
        let pid = main_pid(&hosts, i, unit);
        assert_eq!(
            hosts.ssh_ok(i, &format!("ps -o user= -p {pid}")).trim(),
            "sftpha",
            "{unit}"
        );
    }
    let out = site.sftp("alice", &addr(1), 2022, "put alice.pub\nls\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let owner = hosts.ssh_ok(0, "stat -c %U /srv/sftpha/alice/alice.pub");
    assert_eq!(owner.trim(), "sftpha");
    no_failed_units(&hosts);

    // Enabled for real: after a reboot of both hosts, systemd starts the node, the gateway's
    // socket and the gateway by itself (multi-user.target, sockets.target), with no provision.
    let gateway = addr(1);
    let t = Instant::now();
    hosts.reboot(0);
    hosts.reboot(1);
    eprintln!("2 hosts rebooted in {} ms", t.elapsed().as_millis());
    eventually("units up after the reboot", Duration::from_secs(20), || {
        is_active(&hosts, 0, "sftpha-node") == "active"
            && is_active(&hosts, 1, "sftpha-gateway.socket") == "active"
            && is_active(&hosts, 1, "sftpha-gateway") == "active"
    });
    eventually("a login after the reboot", Duration::from_secs(20), || {
        site.sftp("alice", &gateway, 2022, "ls\n").status.success()
    });
    no_failed_units(&hosts);
}
