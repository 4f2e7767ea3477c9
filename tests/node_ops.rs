//! Operating the node: reload without restart, graceful drain, PROXY protocol, failed-login
//! throttling, session limits, health and metrics.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use rustix::process::Signal;

use crate::harness::*;

/// A TCP relay on 127.0.0.1 that sends `header` to `target` before the client's bytes, as a
/// load balancer with PROXY protocol does. Serves at most `max` connections, then stops.
fn proxy(target: SocketAddr, header: Vec<u8>, max: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(max) {
            let Ok(client) = conn else { continue };
            let header = header.clone();
            std::thread::spawn(move || {
                let Ok(mut server) = TcpStream::connect(target) else {
                    return;
                };
                if server.write_all(&header).is_err() {
                    return;
                }
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut server);
                    let _ = server.shutdown(std::net::Shutdown::Write);
                });
                let mut client = client;
                let _ = std::io::copy(&mut s2, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    addr
}

fn v2_header(source: &str, dest: SocketAddr) -> Vec<u8> {
    sftpha::wire::proxy::encode_v2(source.parse().unwrap(), dest)
}

#[test]
fn proxy_protocol_carries_the_real_client_address() {
    let mut f = Fixture::new();
    f.extra_config = "proxy_protocol = \"required\"\nproxy_trusted = [\"127.0.0.1/32\"]\n".into();
    let node = f.start();
    let alice = f.user("alice");
    // Without a header the connection is refused before SSH starts.
    let out = node.sftp(alice, "pwd\n", &[]);
    assert!(!out.status.success());
    eventually("refusal counted", Duration::from_secs(5), || {
        node.metric("connections_rejected_total") >= 1.0
    });
    // v2 from a trusted relay.
    let relay = node.via(proxy(
        node.sftp,
        v2_header("198.18.0.99:4242", node.sftp),
        4,
    ));
    relay.sftp_ok(alice, "pwd\n");
    node.wait_audit("login from 198.18.0.99", |e| {
        e["event"] == "login" && e["client_ip"] == "198.18.0.99"
    });
    // v1 too.
    let relay = node.via(proxy(
        node.sftp,
        b"PROXY TCP4 198.18.0.100 127.0.0.1 5555 2222\r\n".to_vec(),
        4,
    ));
    relay.sftp_ok(alice, "mkdir from-v1\n");
    node.wait_audit("mkdir from 198.18.0.100", |e| {
        e["event"] == "mkdir" && e["client"] == "198.18.0.100:5555"
    });
    // A garbage header is refused.
    let relay = node.via(proxy(node.sftp, b"PROXY TCP4 not-an-ip\r\n".to_vec(), 4));
    assert!(!relay.sftp(alice, "pwd\n", &[]).status.success());
    // The health endpoint accepts a PROXY header in front of a request.
    let (status, _) = http_get(
        node.health,
        "/healthz",
        Some(&v2_header("198.18.0.5:1", node.health)),
    );
    assert_eq!(status, 200);
}

#[test]
fn failed_logins_throttle_only_their_source() {
    let mut f = Fixture::new();
    f.extra_config = "proxy_protocol = \"optional\"\nproxy_trusted = [\"127.0.0.1/32\"]\nauth_fail_limit = 3\nauth_fail_window_seconds = 60\nauth_ban_seconds = 300\n".into();
    f.add_user("mallory", "ed25519");
    let node = f.start();
    // mallory's key is not in users.toml: we only generated it.
    let users = f.users_toml();
    let mallory_line = f.user("mallory").public.clone();
    std::fs::write(f.path().join("users.toml"), users.replace(&mallory_line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGXf3xl2OvJ3cwsTmGF9j7DT+7OaE+8gmrJ/RwVv3iM7 other")).unwrap();
    eventually("users reloaded", Duration::from_secs(5), || {
        node.metric("users_reloads_total") >= 1.0
    });
    let attacker = node.via(proxy(
        node.sftp,
        v2_header("198.18.0.66:1000", node.sftp),
        20,
    ));
    for _ in 0..3 {
        assert!(!attacker
            .sftp(f.user("mallory"), "pwd\n", &[])
            .status
            .success());
    }
    node.wait_audit("ban", |e| {
        e["event"] == "throttled" && e["client_ip"] == "198.18.0.66"
    });
    // Now even a correct key from that address is refused, at connect time.
    let out = attacker.sftp(f.user("alice"), "pwd\n", &[]);
    assert!(!out.status.success());
    assert!(node.metric("throttled_total") >= 1.0);
    // Everyone else is unaffected, and not slowed down.
    let other = node.via(proxy(node.sftp, v2_header("198.18.0.7:1000", node.sftp), 4));
    let start = std::time::Instant::now();
    other.sftp_ok(f.user("alice"), "pwd\n");
    node.sftp_ok(f.user("alice"), "pwd\n");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn users_reload_on_change_and_sighup_without_dropping_sessions() {
    let mut f = Fixture::new();
    let node = f.start();
    let alice_key = f.user("alice").key.clone();
    // A live session that must survive every reload.
    let mut held = node
        .paramiko_cmd("session", f.user("alice"), &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(held.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("ready "));

    // 1. A new user appears when the file changes, without a signal.
    f.add_user("bob", "ed25519");
    f.write_users();
    eventually("bob can log in", Duration::from_secs(10), || {
        node.sftp(f.user("bob"), "pwd\n", &[]).status.success()
    });

    // 2. An invalid file is refused; the users in force stay.
    std::fs::write(
        f.path().join("users.toml"),
        "[[users]]\nname = \"Broken Name\"\n",
    )
    .unwrap();
    eventually("reload refused", Duration::from_secs(10), || {
        node.metric("users_reload_errors_total") >= 1.0
    });
    assert!(
        node.log_text().contains("not reloaded"),
        "{}",
        node.log_text()
    );
    node.sftp_ok(f.user("bob"), "pwd\n");

    // 3. alice removed, applied with SIGHUP: new logins refused, her live session goes on.
    f.users.retain(|u| u.name != "alice");
    f.write_users();
    node.signal(Signal::HUP);
    let alice = TestUser {
        name: "alice".into(),
        key: alice_key,
        public: String::new(),
        password_hash: None,
        extra: String::new(),
    };
    eventually("alice refused", Duration::from_secs(10), || {
        !node.sftp(&alice, "pwd\n", &[]).status.success()
    });
    drop(held.stdin.take());
    assert_eq!(lines.next().unwrap().unwrap(), "done");
    assert!(held.wait().unwrap().success());
}

#[test]
fn sigterm_drains_transfers_then_exits_zero() {
    let mut f = Fixture::new();
    f.extra_config = "drain_timeout_seconds = 20\n".into();
    let mut node = f.start();
    let mut upload = node
        .paramiko_cmd(
            "upload-slow",
            f.user("alice"),
            &["--chunks", "40", "--delay", "0.05"],
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(upload.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "started");
    eventually("transfer open", Duration::from_secs(10), || {
        node.metric("open_files") >= 1.0
    });
    node.signal(Signal::TERM);
    // Health turns 503 at once.
    eventually("health 503", Duration::from_secs(2), || {
        node.healthz().0 == 503
    });
    assert_eq!(node.healthz().1["status"], "draining");
    // No new sessions.
    assert!(!node.sftp(f.user("alice"), "pwd\n", &[]).status.success());
    // The transfer in progress finishes and the node exits 0.
    assert_eq!(lines.next().unwrap().unwrap(), "completed");
    assert!(upload.wait().unwrap().success());
    let status = node.wait(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", node.log_text());
    assert_eq!(
        std::fs::metadata(f.storage().join("alice/slow.bin"))
            .unwrap()
            .len(),
        40 * 64 * 1024
    );
}

#[test]
fn max_sessions_is_enforced() {
    let mut f = Fixture::new();
    f.extra_config = "max_sessions = 2\n".into();
    let node = f.start();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut child = node
            .paramiko_cmd("session", f.user("alice"), &[])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert!(lines.next().unwrap().unwrap().starts_with("ready "));
        held.push((child, lines));
    }
    assert!(!node.sftp(f.user("alice"), "pwd\n", &[]).status.success());
    assert!(node.metric("connections_rejected_total") >= 1.0);
    // A full node tells balancers to send new sessions elsewhere.
    let (status, health) = node.healthz();
    assert_eq!((status, health["status"].as_str()), (503, Some("full")));
    for (mut child, mut lines) in held {
        drop(child.stdin.take());
        assert_eq!(lines.next().unwrap().unwrap(), "done");
        child.wait().unwrap();
    }
    eventually("sessions closed", Duration::from_secs(5), || {
        node.metric("connections") == 0.0
    });
    node.sftp_ok(f.user("alice"), "pwd\n");
}

#[test]
fn health_and_metrics_report_the_node() {
    let mut f = Fixture::new();
    f.extra_config = "storage_check_interval_seconds = 1\n".into();
    let node = f.start();
    let (status, health) = node.healthz();
    assert_eq!(status, 200);
    for key in [
        "node",
        "version",
        "config_checksum",
        "host_key_fingerprint",
        "sessions",
        "users_checksum",
    ] {
        assert!(!health[key].is_null(), "{key} missing in {health}");
    }
    assert_eq!(health["node"], "n1");
    let fp = String::from_utf8(
        run_ok(
            std::process::Command::new("ssh-keygen")
                .args(["-l", "-E", "sha256", "-f"])
                .arg(format!("{}.pub", f.host_keys[0].display())),
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(
        health["host_key_fingerprint"],
        fp.split_whitespace().nth(1).unwrap()
    );
    random_file(&f.path().join("m.bin"), 100_000);
    node.sftp_ok(f.user("alice"), "put m.bin\nget m.bin m2.bin\n");
    assert!(node.metric("logins_ok_total") >= 1.0);
    assert!(node.metric("bytes_in_total") >= 100_000.0);
    assert!(node.metric("bytes_out_total") >= 100_000.0);
    assert!(node.metric("operations_total") > 4.0);
    let (_, text) = node.http_get("/metrics");
    assert!(text.contains("# TYPE sftpha_node_sessions gauge"), "{text}");
    assert_eq!(node.http_get("/nope").0, 404);
    // A bare TCP check that connects and closes is not an error worth logging.
    drop(TcpStream::connect(node.health).unwrap());

    // Storage that stops accepting writes turns health to 503, and back.
    let probe = f.storage().join(".sftpha/health");
    std::fs::remove_dir_all(&probe).unwrap();
    std::fs::write(&probe, "not a directory").unwrap();
    eventually("503 on unwritable storage", Duration::from_secs(5), || {
        node.healthz().0 == 503
    });
    assert_eq!(node.healthz().1["status"], "storage_not_writable");
    std::fs::remove_file(&probe).unwrap();
    eventually("200 again", Duration::from_secs(5), || {
        node.healthz().0 == 200
    });
}

/// Nodes on one storage report one identity (for `assess --probe`); a damaged identity file
/// leaves the node in service, only without an identity.
#[test]
fn storage_identity_is_shared_and_never_takes_a_node_out() {
    let fixture = Fixture::new();
    let n1 = fixture.start_named("n1");
    let n2 = fixture.start_named("n2");
    let (_, h1) = n1.healthz();
    let (_, h2) = n2.healthz();
    let id = h1["storage_id"].as_str().expect("a storage id").to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(h2["storage_id"], id.as_str());
    assert!(
        h1["storage_free_bytes"].as_u64().unwrap() <= h1["storage_total_bytes"].as_u64().unwrap()
    );
    assert!(h1["time_unix_ms"].as_u64().unwrap() > 1_700_000_000_000);

    let damaged = Fixture::new();
    let state = damaged.storage().join(".sftpha");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("storage-id"), "damaged\n").unwrap();
    let node = damaged.start();
    let (status, health) = node.healthz();
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert!(health["storage_id"].is_null());
}
