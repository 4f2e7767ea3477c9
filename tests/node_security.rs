//! The node is safe to expose: jails hold, only SFTP is offered, bad clients hurt nobody else,
//! aborted uploads leave nothing, and bad configuration is refused clearly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::harness::*;

#[test]
fn users_cannot_escape_their_home() {
    let mut f = Fixture::new();
    f.add_user("bob", "ed25519");
    let outside = f.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "top secret").unwrap();
    let home = f.storage().join("alice");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(f.storage().join("bob")).unwrap();
    std::fs::write(f.storage().join("bob/private.txt"), "bob's").unwrap();
    // Links planted on the storage by someone else must not lead out either.
    std::os::unix::fs::symlink("../bob/private.txt", home.join("planted-rel")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), home.join("planted-abs")).unwrap();
    std::os::unix::fs::symlink(&outside, home.join("planted-dir")).unwrap();
    let node = f.start();
    node.paramiko_ok(
        "escape",
        f.user("alice"),
        &["--outside", outside.to_str().unwrap()],
    );
    // OpenSSH sftp: get through the planted links fails, `..` stays home.
    let out = node.sftp(f.user("alice"), "get planted-rel x\n", &[]);
    assert!(!out.status.success());
    let out = node.sftp(f.user("alice"), "get planted-dir/secret.txt x\n", &[]);
    assert!(!out.status.success());
    let listing = node.sftp_ok(f.user("alice"), "cd ../../..\npwd\nls\n");
    assert!(listing.contains("Remote working directory: /"), "{listing}");
    assert!(!listing.contains("bob"), "{listing}");
    // Nothing outside changed.
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "top secret"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    assert_eq!(
        std::fs::read_to_string(f.storage().join("bob/private.txt")).unwrap(),
        "bob's"
    );
    assert!(!f.path().join("x").exists());
}

#[test]
fn only_sftp_is_offered() {
    require("ssh");
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    let mut opts = node.ssh_options(alice);
    opts[0] = "-p".into();
    for args in [vec!["echo", "hello"], vec![], vec!["-s", "netconf"]] {
        let out = run(Command::new("ssh")
            .args(&opts)
            .arg("-T")
            .arg("alice@127.0.0.1")
            .args(&args)
            .stdin(std::process::Stdio::null()));
        assert!(
            !out.status.success(),
            "ssh {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("hello"));
    }
    // Port forwarding is refused: with ExitOnForwardFailure ssh gives up at once.
    let out = run(Command::new("ssh")
        .args(&opts)
        .args([
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "0:127.0.0.1:9",
            "alice@127.0.0.1",
        ])
        .stdin(std::process::Stdio::null()));
    assert!(!out.status.success());
    let out = run(Command::new("ssh")
        .args(&opts)
        .args(["-W", "127.0.0.1:9", "alice@127.0.0.1"])
        .stdin(std::process::Stdio::null()));
    assert!(!out.status.success());
    assert!(
        node.log_text().contains("refused exec"),
        "{}",
        node.log_text()
    );
    // The sftp subsystem itself still works.
    node.sftp_ok(alice, "pwd\n");
}

#[test]
fn malformed_packets_cost_only_their_session() {
    let f = Fixture::new();
    let node = f.start();
    node.paramiko_ok("malformed", f.user("alice"), &[]);
    assert!(node.child.id() > 0);
    let (status, health) = node.healthz();
    assert_eq!(status, 200, "{health}");
    // Garbage instead of an SSH banner, and a half-open connection, leave the node serving.
    let mut s = TcpStream::connect(node.sftp).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n\x00\xff\xfe garbage")
        .unwrap();
    let _half_open = TcpStream::connect(node.sftp).unwrap();
    node.sftp_ok(f.user("alice"), "pwd\n");
}

#[test]
fn paramiko_prefetch_of_a_large_file_does_not_stall() {
    let f = Fixture::new();
    let node = f.start();
    let local = f.path().join("prefetched.bin");
    node.paramiko_ok(
        "big-download",
        f.user("alice"),
        &["--size-mib", "128", "--local", local.to_str().unwrap()],
    );
}

/// A client that floods requests and never reads a reply is held back by flow control: the
/// node's memory stays bounded and everyone else is served.
#[test]
fn request_flood_is_bounded() {
    let f = Fixture::new();
    let node = f.start();
    std::fs::create_dir_all(f.storage().join("alice")).unwrap();
    random_file(&f.storage().join("alice/flood.bin"), 64 * 261120);
    let rss = |pid: i32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            / 1024
    };
    let before = rss(node.pid());
    let mut flood = node
        .paramiko_cmd("flood", f.user("alice"), &["--requests", "200000"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(flood.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert!(line.starts_with("flooding"), "{line}");
    let during = rss(node.pid());
    eprintln!(
        "request flood: {} node RSS {before} MiB -> {during} MiB",
        line.trim()
    );
    assert!(
        during < before + 200,
        "node grew from {before} MiB to {during} MiB under a request flood ({line})"
    );
    // Another client is served normally meanwhile.
    node.sftp_ok(f.user("alice"), "ls\n");
    drop(flood.stdin.take());
    flood.wait().unwrap();
    assert_eq!(node.healthz().0, 200);
}

#[test]
fn killed_upload_leaves_no_file() {
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    let out = node.paramiko("killed-upload", alice, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let home = f.storage().join("alice");
    eventually("temporary file removed", Duration::from_secs(10), || {
        std::fs::read_dir(&home)
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    });
    assert!(!home.join("killed.bin").exists());
    eventually("aborted upload counted", Duration::from_secs(5), || {
        node.metric("uploads_aborted_total") >= 1.0
    });

    // The same with OpenSSH's client killed by SIGKILL in the middle of a large put.
    random_file(&f.path().join("large.bin"), 256 * 1024 * 1024);
    let mut child = Command::new("sftp")
        .args(node.ssh_options(alice))
        // One 32 KiB request at a time: slow enough to be caught in the middle.
        .args(["-B", "32768", "-R", "1", "-b", "-", "alice@127.0.0.1"])
        .current_dir(f.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"put large.bin\n")
        .unwrap();
    eventually("upload in progress", Duration::from_secs(20), || {
        node.metric("open_files") >= 1.0
    });
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    eventually(
        "temporary file removed after kill",
        Duration::from_secs(10),
        || {
            std::fs::read_dir(&home)
                .map(|d| d.count() == 0)
                .unwrap_or(true)
        },
    );
}

#[test]
fn temporary_upload_file_is_hidden_and_renamed_on_close() {
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    let home = f.storage().join("alice");
    // A slow paramiko upload: while it runs, only the hidden temporary file exists on disk
    // and listings show nothing.
    let mut child = node
        .paramiko_cmd("upload-slow", alice, &["--chunks", "30", "--delay", "0.05"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    eventually("temp file on disk", Duration::from_secs(10), || {
        std::fs::read_dir(&home)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().contains(".sftpha-n1-"))
            })
            .unwrap_or(false)
    });
    assert!(
        !home.join("slow.bin").exists(),
        "final name visible during the upload"
    );
    let listing = node.sftp_ok(alice, "ls -la\n");
    assert!(!listing.contains("sftpha"), "temp file listed: {listing}");
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::metadata(home.join("slow.bin")).unwrap().len(),
        30 * 64 * 1024
    );
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 1);
}

#[test]
fn a_node_killed_mid_upload_removes_the_temporary_file_when_it_starts_again() {
    let f = Fixture::new();
    let mut node = f.start();
    let alice = f.user("alice");
    let home = f.storage().join("alice");
    std::fs::create_dir_all(home.join("in")).unwrap();
    let temps = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.contains(".sftpha-n1-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut client = node
        .paramiko_cmd(
            "upload-slow",
            alice,
            &[
                "--chunks",
                "400",
                "--delay",
                "0.05",
                "--remote",
                "in/slow.bin",
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("temp file on disk", Duration::from_secs(10), || {
        temps(&home.join("in")).len() == 1
    });
    // The node noted the upload in its journal before it made the file.
    let journal = f.storage().join(".sftpha/uploads");
    let logs: Vec<_> = std::fs::read_dir(&journal).unwrap().flatten().collect();
    assert_eq!(logs.len(), 1, "one log for the node process");
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let _ = client.kill();
    let _ = client.wait();
    assert_eq!(temps(&home.join("in")).len(), 1, "a crash leaves the file");

    let _again = f.start();
    eventually(
        "the restarted node removes what its earlier process left",
        Duration::from_secs(10),
        || temps(&home.join("in")).is_empty(),
    );
    assert!(!home.join("in/slow.bin").exists());
    eventually(
        "the dead process's log removed",
        Duration::from_secs(5),
        || std::fs::read_dir(&journal).unwrap().count() == 0,
    );
}

#[test]
fn resumable_mode_supports_reput() {
    let mut f = Fixture::new();
    f.extra_config = "upload_mode = \"resumable\"\n".into();
    let node = f.start();
    let alice = f.user("alice");
    random_file(&f.path().join("r.bin"), 3 * 1024 * 1024);
    let data = std::fs::read(f.path().join("r.bin")).unwrap();
    let home = f.storage().join("alice");
    std::fs::create_dir_all(&home).unwrap();
    // A first attempt that got a third of the way.
    std::fs::write(home.join("r.bin"), &data[..1024 * 1024]).unwrap();
    node.sftp_ok(alice, "reput r.bin\n");
    assert_eq!(std::fs::read(home.join("r.bin")).unwrap(), data);
    // Atomic mode resumes too: the partial file is copied, completed, and replaced whole.
    drop(node);
    let f2 = Fixture::new();
    let node = f2.start();
    let alice = f2.user("alice");
    std::fs::create_dir_all(f2.storage().join("alice")).unwrap();
    std::fs::write(f2.storage().join("alice/r.bin"), &data[..1024 * 1024]).unwrap();
    std::fs::write(f2.path().join("r.bin"), &data).unwrap();
    node.sftp_ok(alice, "reput r.bin\n");
    assert_eq!(
        std::fs::read(f2.storage().join("alice/r.bin")).unwrap(),
        data
    );
    assert_eq!(
        std::fs::read_dir(f2.storage().join("alice"))
            .unwrap()
            .count(),
        1,
        "no temporary file left"
    );
}

#[test]
fn permissions_limit_what_a_user_may_do() {
    let mut f = Fixture::new();
    f.users[0].extra = "permissions = [\"list\", \"read\"]\n".into();
    let home = f.storage().join("alice");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("report.csv"), "a,b\n").unwrap();
    let node = f.start();
    let alice = f.user("alice");
    let out = node.sftp_ok(alice, "ls\nget report.csv got.csv\n");
    assert!(out.contains("report.csv"));
    for denied in [
        "put got.csv new.csv",
        "mkdir d",
        "rm report.csv",
        "rename report.csv x.csv",
        "chmod 600 report.csv",
    ] {
        let out = node.sftp(alice, &format!("{denied}\n"), &[]);
        assert!(!out.status.success(), "`{denied}` was allowed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ermission denied"), "{denied}: {err}");
    }
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 1);
}

#[test]
fn bad_configuration_is_refused_with_exit_2() {
    let f = Fixture::new();
    f.write_users();
    let cases = [
        ("max_sesions = 3\n", "max_sesions"),
        ("upload_mode = \"quick\"\n", "quick"),
        ("proxy_trusted = [\"10.0.0.300/8\"]\n", "proxy_trusted"),
        ("max_sessions = 0\n", "max_sessions"),
    ];
    for (extra, needle) in cases {
        let config = f.path().join("bad.toml");
        std::fs::write(&config, f.node_toml("n1") + extra).unwrap();
        let out = run(Command::new(BIN)
            .args(["node", "run", "--config"])
            .arg(&config));
        assert_eq!(out.status.code(), Some(2), "{extra}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(needle) && err.contains("bad.toml"),
            "{extra}: {err}"
        );
    }
    // A world-readable host key is refused, as sshd refuses it.
    std::fs::set_permissions(
        &f.host_keys[0],
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let config = f.path().join("n1.toml");
    std::fs::write(&config, f.node_toml("n1")).unwrap();
    let out = run(Command::new(BIN)
        .args(["node", "run", "--config"])
        .arg(&config));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too open"));
    std::fs::set_permissions(
        &f.host_keys[0],
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    // Weak host keys are refused at start: DSA (no client accepts it any more, so the node
    // would say ready and nobody could connect) and RSA under 2048 bits.
    for (kind, bits, needle) in [
        ("dsa", "1024", "DSA host keys are refused"),
        ("rsa", "1024", "1024 bits is refused"),
    ] {
        let key = f.path().join(format!("weak_{kind}"));
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-N", "", "-t", kind, "-b", bits, "-f"])
                .arg(&key),
        );
        let text = f.node_toml("n1").replace(
            "host_keys = [",
            &format!("host_keys = [\"{}\", ", key.display()),
        );
        std::fs::write(&config, text).unwrap();
        for command in ["run", "check"] {
            let out = run(Command::new(BIN)
                .args(["node", command, "--config"])
                .arg(&config));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{kind} {command}: {err}");
            assert!(
                err.contains(needle) && err.contains(&key.display().to_string()),
                "{err}"
            );
        }
    }
    std::fs::write(&config, f.node_toml("n1")).unwrap();
    // An invalid users.toml names the user entry and key.
    std::fs::write(
        f.path().join("users.toml"),
        "[[users]]\nname = \"x\"\nkeys = [\"ssh-dss AAAA\"]\n",
    )
    .unwrap();
    let out = run(Command::new(BIN)
        .args(["node", "check", "--config"])
        .arg(&config));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("users[0].keys"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn login_grace_time_closes_idle_connections() {
    let mut f = Fixture::new();
    f.extra_config = "login_grace_seconds = 1\n".into();
    let node = f.start();
    let mut s = TcpStream::connect(node.sftp).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = start.elapsed();
    assert!(
        buf.starts_with(b"SSH-2.0-sftpha_"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    assert!(
        waited < Duration::from_secs(8),
        "connection held for {waited:?}"
    );
    node.sftp_ok(f.user("alice"), "pwd\n");
}
