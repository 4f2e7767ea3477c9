//! A node no single client can take down: each test mounts one attack from outside (raw
//! sockets, real SSH with russh, paramiko, OpenSSH) from one address and from hundreds of
//! 127.0.0.0/8, bounded in count and time, and asserts what a legitimate user still gets
//! meanwhile and what the node spends. SECURITY.md has the figures these tests print.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::{Command, Stdio};
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

/// The node's RSS once it has given back what a flood made it take (the allocator returns
/// pages unused for a few seconds): polls up to 20 s for it to come within 64 MiB of
/// `baseline`, and prints how long that took.
fn rss_released(node: &NodeProc, baseline: u64) -> u64 {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if rss_kib(node.pid()) < baseline + 64 * MIB {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("memory given back after {:?}", start.elapsed());
    rss_kib(node.pid())
}

#[test]
fn password_guesses_are_counted_before_they_are_verified() {
    let (_f, node, _) = node_with_password_user("");
    let before = node.metric("password_checks_total");
    // 100 guesses at once from one address, each on a connection of its own.
    let flood = PasswordFlood::builder(node.sftp, "bob")
        .sources(1)
        .per_source(100)
        .duration(Duration::from_secs(15))
        .max_attempts(100)
        .start();
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
    let one = PasswordFlood::builder(node.sftp, "bob")
        .sources(1)
        .per_source(20)
        .duration(Duration::from_secs(10))
        .max_attempts(100)
        .start();
    let one = one.finish();
    let flood = PasswordFlood::builder(node.sftp, "bob")
        .sources(300)
        .per_source(1)
        .duration(Duration::from_secs(20))
        .max_attempts(6000)
        .start();
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
    let after = rss_released(&node, baseline);
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
    let (f, node, password) = node_with_password_user("");
    let (alice, bob) = (f.user("alice"), f.user("bob"));
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
    let password_worst = slowest("password login", 4, Duration::from_millis(100), |i| {
        password_login(&node, bob, password, legit(40 + i as u8))
    });
    let rss = rss_kib(node.pid());
    eprintln!(
        "1,550 idle sockets from 310 addresses: {} held by the node ({} refused at once), \
         {} evicted; slowest key login {worst:?}, slowest password login {password_worst:?}; \
         RSS {} MiB (baseline {} MiB)",
        startups,
        many.refused,
        node.metric("startups_evicted_total"),
        rss / MIB,
        baseline / MIB
    );
    assert!(worst < Duration::from_secs(2), "{worst:?}");
    assert!(
        password_worst < Duration::from_secs(5),
        "{password_worst:?}"
    );
    assert!(rss < 512 * MIB, "RSS {} MiB", rss / MIB);
    assert!(node.metric("startups_evicted_total") >= 10.0);
    assert_eq!(
        node.healthz().0,
        200,
        "idle strangers do not take the node out"
    );
}

#[test]
fn strangers_that_reconnect_at_once_never_lock_out_a_login() {
    let (f, node, password) = node_with_password_user("");
    let (alice, bob) = (f.user("alice"), f.user("bob"));
    // 300 sockets from 15 addresses (20 each, as many as a source may hold), each sending an
    // SSH banner and nothing else, and connecting again 1 s after the node closes it: the
    // flood is always young, so it never waits its turn to be evicted.
    let flood = ChurnFlood::builder(node.sftp)
        .sources(15)
        .per_source(20)
        .delay(Duration::from_secs(1))
        .duration(Duration::from_secs(25))
        .start();
    std::thread::sleep(Duration::from_secs(4));
    let key_worst = slowest("key login", 12, Duration::from_millis(300), |i| {
        key_login(&node, alice, legit(10 + i as u8))
    });
    let password_worst = slowest("password login", 4, Duration::from_millis(300), |i| {
        password_login(&node, bob, password, legit(40 + i as u8))
    });
    let startups = node.metric("startups");
    let connects = flood.stop();
    eprintln!(
        "300 reconnecting strangers from 15 addresses ({connects} connections, {startups} held): \
         slowest key login {key_worst:?}, slowest password login {password_worst:?}, {} evicted",
        node.metric("startups_evicted_total")
    );
    assert!(key_worst < Duration::from_secs(2), "{key_worst:?}");
    assert!(
        password_worst < Duration::from_secs(5),
        "{password_worst:?}"
    );
}

#[test]
fn one_user_cannot_take_every_session() {
    let (f, node, password) = node_with_password_user("max_sessions_per_user = 3\n");
    let alice = f.user("alice");
    let holders: Vec<_> = (0..3u8)
        .map(|i| {
            let mut child = node
                .paramiko_cmd("session", alice, &["--bind", &legit(60 + i).to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.as_mut().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert!(line.starts_with("ready"), "{line}");
            child
        })
        .collect();
    let err = key_login(&node, alice, legit(70)).unwrap_err();
    eprintln!(
        "a fourth session of the same user: {}",
        err.lines().last().unwrap_or("")
    );
    // Everybody else still gets in.
    password_login(&node, f.user("bob"), password, legit(71)).unwrap();
    node.wait_audit("the refusal", |e| {
        e["event"] == "login_failed"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("max_sessions_per_user"))
    });
    for mut h in holders {
        drop(h.stdin.take());
        let _ = h.wait();
    }
    wait_until("alice's sessions ended", Duration::from_secs(10), || {
        node.metric("sessions") == 0.0
    });
    key_login(&node, alice, legit(72)).unwrap();
}

#[test]
fn one_connection_cannot_hold_more_than_its_share() {
    let mut f = Fixture::new();
    for u in ["u1", "u2", "u3"] {
        f.add_user(u, "ed25519");
    }
    // A node with 4,096 descriptors: small enough to find where it stops (its budget is
    // 4,032, a user's share a quarter of that).
    let node = f
        .node("n1")
        .wrapper(&["prlimit", "--nofile=4096:4096", "--"])
        .spawn();
    let hog = |user: &str, n: u8| {
        let (child, line) = spawn_holding(&mut node.paramiko_cmd(
            "sessions",
            f.user(user),
            &[
                "--sessions",
                "40",
                "--handles",
                "300",
                "--bind",
                &legit(100 + n).to_string(),
            ],
        ));
        // Once the node is out of descriptors it refuses logins: nothing is printed then.
        let got: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        (child, got)
    };
    let fds_before = open_fds(node.pid()) as f64;
    let counted_before = node.metric("fds_used");
    let (first, got) = hog("alice", 1);
    eprintln!("one connection asking for 40 sessions x 300 directory handles got {got}");
    // What the node counts is what it holds: the budget is never an underestimate.
    let real = open_fds(node.pid()) as f64 - fds_before;
    let counted = node.metric("fds_used") - counted_before;
    eprintln!("descriptors: {real} held, {counted} counted");
    assert!(
        real <= counted,
        "{real} descriptors held, {counted} counted"
    );
    assert_eq!(got["sessions"], 4, "max_channels");
    assert_eq!(
        got["handles"], 256,
        "max_handles over the connection's sessions"
    );
    assert_eq!(node.healthz().0, 200);
    // The same user again: held back by its share of the node's descriptors.
    let (second, got) = hog("alice", 2);
    eprintln!("alice's second connection: {got}");
    assert!(got["handles"].as_u64().unwrap() < 256, "{got}");
    key_login(&node, f.user("u1"), legit(1)).unwrap();

    // Three more users doing the same twice: the node runs short of descriptors, says so on
    // /healthz before it runs out, and keeps accepting (and answering) connections.
    let mut hogs = vec![first, second];
    let mut fd_limit_seen = false;
    for (n, user) in [
        (3, "u1"),
        (4, "u1"),
        (5, "u2"),
        (6, "u2"),
        (7, "u3"),
        (8, "u3"),
    ] {
        let (child, got) = hog(user, n);
        eprintln!("{user}: {got}");
        hogs.push(child);
        let (status, body) = node.healthz();
        fd_limit_seen |= status == 503 && body["status"] == "fd_limit";
    }
    let fds = open_fds(node.pid());
    eprintln!(
        "4 users hogging: {fds} descriptors open of 4,096, budget used {} of {}",
        node.metric("fds_used"),
        node.metric("fds_budget")
    );
    assert!(fd_limit_seen, "/healthz never said fd_limit");
    assert!(
        fds < 4050,
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
    key_login(&node, f.user("alice"), legit(2)).unwrap();
    assert!(peak < 512 * MIB, "peak RSS {} MiB", peak / MIB);
}

#[test]
fn sessions_that_never_read_their_replies_cannot_take_the_memory() {
    let mut f = Fixture::new();
    f.add_user("carol", "ed25519");
    let node = f.start();
    let alice = f.user("alice");
    let home = f.storage().join("alice");
    std::fs::create_dir_all(&home).unwrap();
    random_file(&home.join("flood.bin"), 8 << 20);
    let carol_home = f.storage().join("carol");
    std::fs::create_dir_all(&carol_home).unwrap();
    std::fs::copy(home.join("flood.bin"), carol_home.join("flood.bin")).unwrap();
    let baseline = settle_rss(&node);
    // 100 sessions (4 clients of 25 connections), each asking for 255 KiB reads it never takes.
    let floods: Vec<_> = (0..4u8)
        .map(|i| {
            spawn_holding(&mut node.paramiko_cmd(
                "memflood",
                alice,
                &["--connections", "25", "--bind", &legit(100 + i).to_string()],
            ))
        })
        .collect();
    let during = rss_kib(node.pid());
    // Everybody else's transfers go on: a legitimate download of the same 8 MiB.
    let start = Instant::now();
    let out = node.sftp(
        f.user("carol"),
        "get flood.bin got.bin\n",
        &["-o", &format!("BindAddress={}", legit(1))],
    );
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sha256_file(&f.path().join("got.bin")),
        sha256_file(&home.join("flood.bin"))
    );
    let peak = peak_rss_kib(node.pid());
    let queued = node.healthz().1["queued_bytes"].as_i64().unwrap_or(-1);
    let what: Vec<String> = floods.iter().map(|(_, l)| l.trim().to_owned()).collect();
    for (mut child, _) in floods {
        drop(child.stdin.take());
        let _ = child.wait();
    }
    wait_until(
        "the flooding connections closed",
        Duration::from_secs(20),
        || node.metric("connections") == 0.0,
    );
    let after = rss_released(&node, baseline);
    eprintln!(
        "100 sessions not reading their replies ({what:?}): RSS baseline {} MiB, during {} MiB, \
         peak {} MiB, after {} MiB; {} MiB queued; a legitimate 8 MiB download meanwhile took {took:?}",
        baseline / MIB,
        during / MIB,
        peak / MIB,
        after / MIB,
        queued >> 20
    );
    assert!(peak < 512 * MIB, "peak RSS {} MiB", peak / MIB);
    assert!(after < baseline + 64 * MIB, "RSS after {} MiB", after / MIB);
    assert!(took < Duration::from_secs(60), "the download took {took:?}");
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
    let peak = peak_rss_kib(node.pid());
    eprintln!(
        "5 clients vanished with full queues: every slot free {took:?} later (idle timeout 4 s); peak RSS {} MiB",
        peak / MIB
    );
    assert!(peak < 512 * MIB, "peak RSS {} MiB", peak / MIB);
    assert!(took < Duration::from_secs(5), "freed only after {took:?}");
    assert_eq!(node.healthz().0, 200);
}

/// Every symlink on the storage, resolved by the kernel from outside the node (as a backup
/// or a downstream job would): none may lead out of the home it is in.
fn assert_no_link_leads_out(storage: &std::path::Path) {
    let storage = std::fs::canonicalize(storage).unwrap();
    let mut stack = vec![storage.clone()];
    let mut links = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_symlink() {
                links += 1;
                let home =
                    storage.join(path.strip_prefix(&storage).unwrap().iter().next().unwrap());
                if let Ok(real) = std::fs::canonicalize(&path) {
                    assert!(
                        real.starts_with(&home),
                        "{} leads to {}, outside {}",
                        path.display(),
                        real.display(),
                        home.display()
                    );
                }
            }
        }
    }
    assert!(links > 0, "no link was made at all");
}

#[test]
fn links_made_through_links_never_lead_out_of_the_home() {
    let f = Fixture::new();
    let node = f.start();
    node.paramiko_ok("links", f.user("alice"), &[]);
    assert_no_link_leads_out(&f.storage());
    // A home inside another user's home is refused: the outer user could redirect it.
    let mut f = Fixture::new();
    f.add_user("inner", "ed25519");
    f.users[0].extra = "home = \"partners\"\n".into();
    f.users[1].extra = "home = \"partners/acme\"\n".into();
    f.write_users();
    let config = f.path().join("n1.toml");
    std::fs::write(&config, f.node_toml("n1")).unwrap();
    let out = run(Command::new(BIN)
        .args(["node", "check", "--config"])
        .arg(&config));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("users.inner.home") && err.contains("nested"),
        "{err}"
    );
}

/// Unmounts the bind mount at `path` when dropped, whatever happened in the test.
struct Mounted(std::path::PathBuf);

impl Mounted {
    fn bind(from: &std::path::Path, to: &std::path::Path) -> Mounted {
        run_ok(Command::new("mount").arg("--bind").arg(from).arg(to));
        Mounted(to.to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn a_vanished_storage_takes_the_node_out_and_gets_no_local_homes() {
    require("mount");
    let mut f = Fixture::new();
    f.add_user("bob", "ed25519");
    f.extra_config = "storage_check_interval_seconds = 1\n".into();
    // The storage is a mount of `real` (as an NFS share would be).
    let real = f.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let mount = Mounted::bind(&real, &f.storage());
    let node = f.start();
    let (alice, bob) = (f.user("alice"), f.user("bob"));
    node.sftp_ok(alice, "put /etc/hostname h.txt\n");
    assert!(real.join("alice/h.txt").exists());

    // The mount goes away under the running node.
    run_ok(Command::new("umount").arg("-l").arg(f.storage()));
    let took = wait_until("the node out of service", Duration::from_secs(5), || {
        let (status, body) = node.healthz();
        status == 503 && body["status"] == "storage_changed"
    });
    eprintln!("storage unmounted: /healthz said storage_changed after {took:?}");
    let out = node.sftp(bob, "ls\n", &[]);
    assert!(
        !out.status.success(),
        "a session was served on the local disk"
    );
    let local: Vec<_> = std::fs::read_dir(f.storage())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(local.is_empty(), "made on the local disk: {local:?}");

    // The same storage mounted again: served again.
    drop(mount);
    let _mount = Mounted::bind(&real, &f.storage());
    wait_until("the node back in service", Duration::from_secs(5), || {
        node.healthz().0 == 200
    });
    node.sftp_ok(bob, "put /etc/hostname b.txt\n");
    assert!(real.join("bob/b.txt").exists());
}

#[test]
fn client_strings_cannot_forge_log_lines() {
    let f = Fixture::new();
    let node = f.start();
    node.paramiko_ok("forge", f.user("alice"), &[]);
    node.wait_audit("the forged user's failure", |e| {
        e["event"] == "login_failed" && e["user"].as_str().is_some_and(|u| u.contains('\n'))
    });
    let log = node.log_text();
    assert!(!log.contains('\x1b'), "an escape code reached the log");
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-01-01T00:00:00"),
            "a forged line reached the log: {line}"
        );
    }
    assert!(
        log.contains("refused exec") && log.contains("\\n2026-01-01"),
        "{log}"
    );
}

#[test]
fn homes_and_files_are_private_unless_configured() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for (umask, home, file, dir) in [
        ("", 0o700, 0o600, 0o700),
        ("umask = \"027\"\n", 0o750, 0o640, 0o750),
    ] {
        let mut f = Fixture::new();
        f.extra_config = umask.into();
        let node = f.start();
        std::fs::write(f.path().join("up.txt"), "x").unwrap();
        std::fs::set_permissions(
            f.path().join("up.txt"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        node.sftp_ok(
            f.user("alice"),
            "put up.txt\nmkdir d\nput up.txt d/in.txt\n",
        );
        let h = f.storage().join("alice");
        assert_eq!(mode(&h), home, "home with {umask:?}");
        assert_eq!(mode(&h.join("up.txt")), file, "file with {umask:?}");
        assert_eq!(mode(&h.join("d")), dir, "folder with {umask:?}");
        assert_eq!(mode(&h.join("d/in.txt")), file);
    }
}

#[test]
fn truncating_a_published_file_replaces_it_whole_in_atomic_mode() {
    use std::os::unix::fs::MetadataExt;
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    let home = f.storage().join("alice");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("report.csv"), "0123456789").unwrap();
    // A downstream job reading the published file meanwhile.
    let mut reader = std::fs::File::open(home.join("report.csv")).unwrap();
    let before = std::fs::metadata(home.join("report.csv")).unwrap().ino();
    node.paramiko_ok(
        "truncate",
        alice,
        &["--path", "/report.csv", "--bytes", "4"],
    );
    assert_eq!(
        std::fs::read_to_string(home.join("report.csv")).unwrap(),
        "0123"
    );
    assert_ne!(
        std::fs::metadata(home.join("report.csv")).unwrap().ino(),
        before
    );
    let mut old = String::new();
    reader.read_to_string(&mut old).unwrap();
    assert_eq!(old, "0123456789", "the reader saw the file change under it");
    assert_eq!(
        std::fs::read_dir(&home).unwrap().count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn names_up_to_the_file_system_limit_upload_in_atomic_mode() {
    let f = Fixture::new();
    let node = f.start();
    for len in [200usize, 240, 255] {
        let name = "n".repeat(len);
        std::fs::write(f.path().join("src.txt"), format!("{len}")).unwrap();
        node.sftp_ok(f.user("alice"), &format!("put src.txt {name}\n"));
        assert_eq!(
            std::fs::read_to_string(f.storage().join("alice").join(&name)).unwrap(),
            format!("{len}")
        );
    }
}

/// A lab (three nodes behind the gateway with PROXY v2), stopped when dropped.
struct Lab {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    info: serde_json::Value,
}

impl Lab {
    fn up() -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("sftpha-lab-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("lab");
        let out = run_ok(
            Command::new(BIN)
                .args(["--format", "json", "lab", "up", "--dir"])
                .arg(&path),
        );
        let info = serde_json::from_slice(&out.stdout).expect("lab up prints JSON");
        Lab {
            _dir: dir,
            path,
            info,
        }
    }

    fn gateway(&self) -> std::net::SocketAddr {
        self.info["gateway"]["addr"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// A key login through the gateway from `source`, with the lab's user and pinned host key.
    fn login(&self, source: std::net::IpAddr) -> Result<Duration, String> {
        let start = Instant::now();
        let mut cmd = Command::new("sftp");
        cmd.args(["-P", &self.gateway().port().to_string(), "-i"])
            .arg(self.info["identity"].as_str().unwrap())
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
                "ConnectTimeout=10",
            ])
            .args(["-o", &format!("BindAddress={source}"), "-b", "-"])
            .arg(format!("{}@127.0.0.1", self.info["user"].as_str().unwrap()));
        let out = run_with_input(&mut cmd, b"ls\n");
        if out.status.success() {
            Ok(start.elapsed())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(BIN)
            .args(["lab", "down", "--dir"])
            .arg(&self.path)
            .output();
    }
}

#[test]
fn idle_sockets_through_the_gateway_do_not_fill_the_cluster() {
    require("sftp");
    let lab = Lab::up();
    lab.login(legit(1)).unwrap();
    // 1,550 sockets from 310 addresses through the gateway: the nodes see every real source
    // (PROXY v2) and hold at most their share of strangers each.
    let held = hold_idle(lab.gateway(), 310, 5);
    std::thread::sleep(Duration::from_millis(2200));
    let worst = slowest(
        "login through the gateway",
        10,
        Duration::from_millis(100),
        |i| lab.login(legit(20 + i as u8)),
    );
    eprintln!(
        "1,550 idle sockets through the gateway from 310 addresses ({} still open): slowest login {worst:?}",
        held.held.len()
    );
    assert!(worst < Duration::from_secs(2), "{worst:?}");
}
