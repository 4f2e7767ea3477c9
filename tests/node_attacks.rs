//! A node no single client can take down: each test mounts one attack from outside (raw
//! sockets, real SSH with russh, paramiko, OpenSSH) from one address and from hundreds of
//! 127.0.0.0/8, bounded in count and time, and asserts what a legitimate user still gets
//! meanwhile and what the node spends. SECURITY.md has the figures these tests print.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::attack::*;
use crate::harness::*;

const MIB: u64 = 1024;

/// A node with `alice` (a key) and `bob` (a password), warmed up by one login of each.
fn node_with_password_user(extra: &str) -> (Fixture, NodeProc, &'static str) {
    const PASSWORD: &str = "correct horse battery staple";
    let mut f = Fixture::new();
    let bob = f.add_user("bob", "ed25519");
    f.users[bob].password_hash = Some(argon2_hash(PASSWORD));
    f.extra_config = extra.into();
    let node = f.start();
    key_login(&node, f.user("alice"), legit(1)).unwrap();
    password_login(&node, f.user("bob"), PASSWORD, legit(1)).unwrap();
    (f, node, PASSWORD)
}

fn settle_rss(node: &NodeProc) -> u64 {
    std::thread::sleep(Duration::from_millis(500));
    rss_kib(node.pid())
}

#[test]
fn password_guesses_are_counted_before_they_are_verified() {
    let (_f, node, _) = node_with_password_user("");
    let before = node.metric("password_checks_total");
    // 100 guesses at once from one address, each on a connection of its own.
    let flood = PasswordFlood::start(node.sftp, "bob", 1, 100, Duration::from_secs(15), 100);
    let report = flood.finish();
    wait_until("guesses answered", Duration::from_secs(15), || {
        node.metric("password_checks_waiting") == 0.0
    });
    let verified = node.metric("password_checks_total") - before;
    eprintln!("100 simultaneous guesses from one address: {verified} verified, {report:?}");
    assert!(
        verified <= 10.0,
        "the limit of 10 failures a window must hold under concurrency: {verified} verified"
    );
    assert!(verified >= 1.0);
}

#[test]
fn password_floods_cost_bounded_memory_and_never_lock_out_a_login() {
    let (f, node, password) = node_with_password_user("");
    let (alice, bob) = (f.user("alice"), f.user("bob"));
    let baseline = settle_rss(&node);

    // 20 connections x 5 wrong passwords from one address, then 300 addresses guessing for
    // 20 s (at most 6,000 guesses): legitimate logins from elsewhere go on meanwhile.
    let one = PasswordFlood::start(node.sftp, "bob", 1, 20, Duration::from_secs(10), 100);
    let one = one.finish();
    let flood = PasswordFlood::start(node.sftp, "bob", 300, 1, Duration::from_secs(20), 6000);
    // Steady state: every attacking address has had its first guess.
    std::thread::sleep(Duration::from_secs(4));
    let key_worst = slowest("key login", 8, Duration::from_millis(200), |i| {
        key_login(&node, alice, legit(10 + i as u8))
    });
    let password_worst = slowest("password login", 4, Duration::from_millis(200), |i| {
        password_login(&node, bob, password, legit(30 + i as u8))
    });
    let waiting = node.metric("password_checks_waiting");
    let during = rss_kib(node.pid());
    let report = flood.stop();
    let peak = peak_rss_kib(node.pid());
    wait_until(
        "the flood's connections closed",
        Duration::from_secs(30),
        || node.metric("connections") == 0.0 && node.metric("password_checks_waiting") == 0.0,
    );
    let after = settle_rss(&node);
    eprintln!(
        "password flood: one address {one:?}; 300 addresses {report:?}, {waiting} waiting; \
         slowest key login {key_worst:?}, slowest password login {password_worst:?}; \
         RSS baseline {} MiB, during {} MiB, peak {} MiB, after {} MiB; verified {}",
        baseline / MIB,
        during / MIB,
        peak / MIB,
        after / MIB,
        node.metric("password_checks_total"),
    );
    assert!(report.attempts > 300, "the flood did flood: {report:?}");
    assert!(
        key_worst < Duration::from_secs(2),
        "key login took {key_worst:?}"
    );
    assert!(
        password_worst < Duration::from_secs(5),
        "password login took {password_worst:?}"
    );
    assert!(peak < 512 * MIB, "peak RSS {} MiB", peak / MIB);
    assert!(
        after < baseline + 64 * MIB,
        "RSS after the flood {} MiB, baseline {} MiB",
        after / MIB,
        baseline / MIB
    );
}

#[test]
fn idle_sockets_from_one_or_many_sources_never_lock_out_a_login() {
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    let baseline = settle_rss(&node);

    // 520 sockets from one address that never send a byte: the address gets its 20.
    let one = hold_idle(node.sftp, 1, 520);
    assert!(one.held.len() <= 20, "one source holds {}", one.held.len());
    let worst = slowest("key login", 5, Duration::from_millis(100), |i| {
        key_login(&node, alice, legit(1 + i as u8))
    });
    eprintln!(
        "520 idle sockets from one address: {} held, {} refused; slowest login {worst:?}",
        one.held.len(),
        one.refused
    );
    assert!(worst < Duration::from_secs(2), "{worst:?}");
    drop(one);

    // 1,550 from 310 addresses: the node holds at most `full` (256) of them, and once they
    // are old enough to evict, a newcomer from anywhere else pushes one out.
    let many = hold_idle(node.sftp, 310, 5);
    let startups = node.metric("startups");
    assert!(
        startups <= 256.0,
        "{startups} unauthenticated connections held"
    );
    std::thread::sleep(Duration::from_millis(2200));
    let worst = slowest("key login", 10, Duration::from_millis(100), |i| {
        key_login(&node, alice, legit(20 + i as u8))
    });
    let rss = rss_kib(node.pid());
    eprintln!(
        "1,550 idle sockets from 310 addresses: {} held by the node ({} refused at once), \
         {} evicted; slowest login {worst:?}; RSS {} MiB (baseline {} MiB)",
        startups,
        many.refused,
        node.metric("startups_evicted_total"),
        rss / MIB,
        baseline / MIB
    );
    assert!(worst < Duration::from_secs(2), "{worst:?}");
    assert!(rss < 512 * MIB, "RSS {} MiB", rss / MIB);
    assert!(node.metric("startups_evicted_total") >= 10.0);
    assert_eq!(
        node.healthz().0,
        200,
        "idle strangers do not take the node out"
    );
}

#[test]
fn one_connection_cannot_hold_more_than_its_share() {
    let mut f = Fixture::new();
    f.extra_config = String::new();
    // A node with 1,024 descriptors: small enough to find where it stops.
    f.write_users();
    let config = f.path().join("n1.toml");
    std::fs::write(&config, f.node_toml("n1")).unwrap();
    let node = NodeProc::spawn_with(
        &config,
        f.path(),
        "n1",
        f.host_keys.clone(),
        &["prlimit", "--nofile=1024:1024", "--"],
    );
    let alice = f.user("alice");
    let hog = |n: u8| {
        let mut child = node
            .paramiko_cmd(
                "sessions",
                alice,
                &[
                    "--sessions",
                    "40",
                    "--handles",
                    "300",
                    "--bind",
                    &legit(100 + n).to_string(),
                ],
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // Once the node is out of descriptors it refuses logins: nothing is printed then.
        let got: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        (child, got)
    };
    let (first, got) = hog(1);
    eprintln!("one connection asking for 40 sessions x 300 directory handles got {got}");
    assert_eq!(got["sessions"], 4, "max_channels");
    assert_eq!(
        got["handles"], 256,
        "max_handles over the connection's sessions"
    );
    assert_eq!(node.healthz().0, 200);
    key_login(&node, alice, legit(1)).unwrap();

    // Three more such connections: the node runs short of descriptors, says so on /healthz
    // before it runs out, and keeps accepting (and answering) connections.
    let mut hogs = vec![first];
    let mut fd_limit_seen = false;
    for n in 2..=4 {
        let (child, got) = hog(n);
        eprintln!("connection {n}: {got}");
        hogs.push(child);
        let (status, body) = node.healthz();
        fd_limit_seen |= status == 503 && body["status"] == "fd_limit";
    }
    let fds = open_fds(node.pid());
    eprintln!(
        "4 hogging connections: {fds} descriptors open of 1,024, budget used {} of {}",
        node.metric("fds_used"),
        node.metric("fds_budget")
    );
    assert!(fd_limit_seen, "/healthz never said fd_limit");
    assert!(
        fds < 1000,
        "{fds} descriptors open: the node nearly ran out"
    );
    // accept() is never starved: a new connection is answered (banner or a clean close).
    let mut s = TcpStream::connect(node.sftp).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 8];
    let n = s.read(&mut buf).expect("the node answered at once");
    assert!(n == 0 || buf.starts_with(b"SSH-"), "{:?}", &buf[..n]);
    let peak = peak_rss_kib(node.pid());
    for mut h in hogs {
        drop(h.stdin.take());
        let _ = h.wait();
    }
    wait_until("descriptors given back", Duration::from_secs(15), || {
        node.metric("fds_used") <= 16.0
    });
    assert_eq!(node.healthz().0, 200);
    key_login(&node, alice, legit(2)).unwrap();
    assert!(peak < 512 * MIB, "peak RSS {} MiB", peak / MIB);
}

#[test]
fn a_vanished_client_frees_its_slot_within_the_idle_timeout() {
    let mut f = Fixture::new();
    f.extra_config = "idle_timeout_seconds = 4\n".into();
    let node = f.start();
    let alice = f.user("alice");
    let home = f.storage().join("alice");
    std::fs::create_dir_all(&home).unwrap();
    random_file(&home.join("flood.bin"), 8 << 20);
    let clients: Vec<_> = (0..5u8)
        .map(|i| {
            node.paramiko_cmd("vanish", alice, &["--bind", &legit(50 + i).to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in clients {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let vanished = Instant::now();
    assert!(
        node.metric("sessions") >= 1.0,
        "the sessions are still there right after their clients vanished"
    );
    wait_until(
        "the vanished clients' sessions freed",
        Duration::from_secs(15),
        || node.metric("sessions") == 0.0 && node.metric("connections") == 0.0,
    );
    let took = vanished.elapsed();
    eprintln!(
        "5 clients vanished with full queues: every slot free {took:?} later (idle timeout 4 s)"
    );
    assert!(took < Duration::from_secs(5), "freed only after {took:?}");
    assert_eq!(node.healthz().0, 200);
}
