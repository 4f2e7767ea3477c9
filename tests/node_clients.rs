//! The node against the clients people use: OpenSSH sftp, rclone, lftp, paramiko, PuTTY psftp.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

fn tree(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.push((rel, sha256_file(&p)));
            }
        }
    }
    out.sort();
    out
}

fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    random_file(&root.join("big.bin"), 5 * 1024 * 1024 + 3);
    random_file(&root.join("empty.bin"), 0);
    random_file(&root.join("sub/mid.bin"), 300_000);
    random_file(&root.join("sub/deeper/tiny.txt"), 7);
    for i in 0..20 {
        random_file(&root.join(format!("sub/small-{i}.dat")), 4096 + i);
    }
}

#[test]
fn openssh_sftp_covers_every_operation() {
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    let local = f.path().join("local");
    std::fs::create_dir(&local).unwrap();
    random_file(&local.join("up.bin"), 3 * 1024 * 1024 + 11);
    random_file(&local.join("keep.bin"), 1000);
    let keep = local.join("keep.bin");
    // put -p must carry times and mode.
    std::fs::set_permissions(&keep, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000);
    std::fs::File::options()
        .write(true)
        .open(&keep)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let out = node.sftp_ok(
        alice,
        "mkdir dir\n\
         cd dir\n\
         put -f local/up.bin\n\
         put -p local/keep.bin\n\
         ls -l\n\
         get up.bin local/down.bin\n\
         rename up.bin moved.bin\n\
         symlink moved.bin link\n\
         ln moved.bin hard\n\
         chmod 600 moved.bin\n\
         ls -l\n\
         df\n\
         rm link\n\
         rm hard\n\
         rm moved.bin\n\
         rm keep.bin\n\
         cd ..\n\
         rmdir dir\n\
         ls -la\n",
    );
    assert_eq!(
        sha256_file(&local.join("up.bin")),
        sha256_file(&local.join("down.bin"))
    );
    // ls -l after chmod/symlink/ln: the listing shows types, modes and the link count.
    assert!(out.contains("-rw-------"), "{out}");
    assert!(out.contains("lrwxrwxrwx"), "{out}");
    assert!(out.contains("-rw-r-----"), "put -p kept mode 0640:\n{out}");
    assert!(
        out.contains("Jul 14  2017"),
        "put -p kept the mtime:\n{out}"
    );
    // df uses statvfs@openssh.com.
    assert!(out.contains("Avail"), "{out}");
    assert!(!f.storage().join("alice/dir").exists());
    let events: Vec<String> = node
        .audit_events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "login", "mkdir", "upload", "download", "rename", "setstat", "symlink", "hardlink",
        "remove", "rmdir",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "no `{expected}` in audit {events:?}"
        );
    }
}

#[test]
fn openssh_sftp_large_transfers_both_ciphers() {
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    random_file(&f.path().join("big.bin"), 64 * 1024 * 1024);
    for cipher in ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"] {
        let out = node.sftp(
            alice,
            "put big.bin\nget big.bin back.bin\n",
            &["-c", cipher],
        );
        assert!(
            out.status.success(),
            "{cipher}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            sha256_file(&f.path().join("big.bin")),
            sha256_file(&f.path().join("back.bin"))
        );
        std::fs::remove_file(f.path().join("back.bin")).unwrap();
    }
}

#[test]
fn rclone_copy_check_and_sync() {
    require("rclone");
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    let src = f.path().join("src");
    make_tree(&src);
    let remote = format!(
        ":sftp,host=127.0.0.1,port={},user=alice,key_file='{}',known_hosts_file='{}':",
        node.port(),
        alice.key.display(),
        node.known_hosts.display()
    );
    let rclone = |args: &[&str]| {
        let mut cmd = Command::new("rclone");
        cmd.args(args).args([
            "--config",
            "/dev/null",
            "--retries",
            "1",
            "--low-level-retries",
            "1",
        ]);
        run_ok(&mut cmd)
    };
    let dst = format!("{remote}data");
    rclone(&["copy", src.to_str().unwrap(), &dst]);
    // rclone check compares sizes and, downloading, every byte.
    rclone(&["check", "--download", src.to_str().unwrap(), &dst]);
    assert_eq!(tree(&src), tree(&f.storage().join("alice/data")));
    let back = f.path().join("back");
    rclone(&["copy", &dst, back.to_str().unwrap()]);
    assert_eq!(tree(&src), tree(&back));
    // Modification times survive (rclone sets them with setstat).
    let local = std::fs::metadata(src.join("big.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let remote_m = std::fs::metadata(f.storage().join("alice/data/big.bin"))
        .unwrap()
        .modified()
        .unwrap();
    let diff = local
        .duration_since(remote_m)
        .unwrap_or_else(|e| e.duration());
    assert!(diff.as_secs() <= 1, "mtime not preserved: {diff:?}");
    // Moves, deletes and directory removal.
    rclone(&[
        "moveto",
        &format!("{dst}/big.bin"),
        &format!("{dst}/moved.bin"),
    ]);
    rclone(&["delete", &format!("{dst}/sub")]);
    rclone(&["rmdirs", &format!("{dst}/sub")]);
    let out = rclone(&["lsf", "-R", &dst]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("moved.bin") && !listing.contains("sub/"),
        "{listing}"
    );
}

#[test]
fn lftp_mirror_both_ways() {
    require("lftp");
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    let src = f.path().join("src");
    make_tree(&src);
    let back = f.path().join("back");
    let connect = format!(
        "ssh -a -x -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -o BatchMode=yes",
        alice.key.display(),
        node.known_hosts.display()
    );
    let script = format!(
        "set sftp:connect-program \"{connect}\"; set net:max-retries 1; set cmd:fail-exit yes; \
         open -u alice, sftp://127.0.0.1:{port}; \
         mirror -R {src} /m; mirror /m {back}; rm -r /m/sub; cls -1 /m",
        port = node.port(),
        src = src.display(),
        back = back.display()
    );
    let out = run_ok(Command::new("lftp").args(["-c", &script]));
    assert_eq!(tree(&src), tree(&back));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("big.bin") && !listing.contains("sub"),
        "{listing}"
    );
}

#[test]
fn paramiko_operations() {
    let f = Fixture::new();
    let node = f.start();
    node.paramiko_ok("ops", f.user("alice"), &[]);
    // Append, edit and truncate behave the same in resumable mode (in place there).
    let mut f = Fixture::new();
    f.extra_config = "upload_mode = \"resumable\"\n".into();
    let node = f.start();
    node.paramiko_ok("ops", f.user("alice"), &[]);
}

#[test]
fn atomic_mode_keeps_every_open_flag_and_shows_the_writer_its_file() {
    let f = Fixture::new();
    let node = f.start();
    node.paramiko_ok("atomic", f.user("alice"), &[]);
    // Nothing hidden is left behind either.
    let left: Vec<_> = std::fs::read_dir(f.storage().join("alice"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn putty_psftp() {
    require("psftp");
    require("puttygen");
    let f = Fixture::new();
    let node = f.start();
    let alice = f.user("alice");
    let ppk = f.path().join("alice.ppk");
    run_ok(
        Command::new("puttygen")
            .arg(&alice.key)
            .args(["-O", "private", "-o"])
            .arg(&ppk),
    );
    let fp = String::from_utf8(
        run_ok(
            Command::new("ssh-keygen")
                .args(["-l", "-E", "sha256", "-f"])
                .arg(format!("{}.pub", node.host_keys[0].display())),
        )
        .stdout,
    )
    .unwrap();
    let fp = fp.split_whitespace().nth(1).unwrap().to_owned();
    random_file(&f.path().join("p.bin"), 2 * 1024 * 1024 + 5);
    let script = f.path().join("psftp.txt");
    std::fs::write(
        &script,
        "mkdir pdir\ncd pdir\nput p.bin\nren p.bin q.bin\nls\nget q.bin p-back.bin\ndel q.bin\ncd ..\nrmdir pdir\n",
    )
    .unwrap();
    let out = run_ok(
        Command::new("psftp")
            .args(["-batch", "-be", "-P", &node.port(), "-i"])
            .arg(&ppk)
            .args(["-hostkey", &fp, "-b"])
            .arg(&script)
            .arg("alice@127.0.0.1")
            .current_dir(f.path()),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("q.bin"), "{text}");
    assert_eq!(
        sha256_file(&f.path().join("p.bin")),
        sha256_file(&f.path().join("p-back.bin"))
    );
}

#[test]
fn every_host_and_user_key_type() {
    let mut f = Fixture::new();
    f.add_host_key("ecdsa");
    f.add_host_key("rsa");
    f.add_user("eve", "ecdsa");
    f.add_user("rob", "rsa");
    let node = f.start();
    let (_, health) = node.healthz();
    assert_eq!(health["host_key_fingerprints"].as_array().unwrap().len(), 3);
    for (user, algorithms) in [
        ("alice", "ssh-ed25519"),
        ("eve", "ecdsa-sha2-nistp256"),
        ("rob", "rsa-sha2-512"),
        ("rob", "rsa-sha2-256"),
    ] {
        let out = node.sftp(
            f.user(user),
            "pwd\n",
            &[
                "-o",
                &format!("HostKeyAlgorithms={algorithms}"),
                "-o",
                &format!("PubkeyAcceptedAlgorithms={algorithms}"),
            ],
        );
        assert!(
            out.status.success(),
            "{user} with {algorithms}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn password_login_with_argon2id() {
    let mut f = Fixture::new();
    let hash = {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        argon2::Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string()
    };
    f.users[0].password_hash = Some(hash);
    let node = f.start();
    let alice = f.user("alice");
    let ok = node
        .paramiko_cmd("password", alice, &["--password-env", "PW"])
        .env("PW", "correct horse")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = node
        .paramiko_cmd("password", alice, &["--password-env", "PW"])
        .env("PW", "wrong")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    node.wait_audit("failed password", |e| {
        e["event"] == "login_failed" && e["method"] == "password"
    });
    assert!(
        !node.log_text().contains("correct horse"),
        "password leaked to the log"
    );
    assert!(!std::fs::read_to_string(&node.audit)
        .unwrap()
        .contains("correct horse"));
}

/// sshfs, the client Linux users mount SFTP shares with, in both upload modes: a tree copied
/// in, a large file, a file written by the shell, edited in place, appended to, truncated,
/// and a git repository made and committed to, every byte checked from the storage side.
#[test]
fn sshfs_mount_works_in_both_upload_modes() {
    require("sshfs");
    require("fusermount3");
    require("git");
    for mode in ["atomic", "resumable"] {
        let mut f = Fixture::new();
        f.extra_config = format!("upload_mode = \"{mode}\"\n");
        let node = f.start();
        let alice = f.user("alice");
        let mnt = f.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let mount = Sshfs::mount(&node, alice, &mnt);
        let home = f.storage().join("alice");
        let sh = |script: &str| {
            let out = run(Command::new("sh").arg("-ec").arg(script).current_dir(&mnt));
            assert!(
                out.status.success(),
                "{mode}: `{script}` failed:\n{}{}\nnode log:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                node.log_text()
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        // sshfs closes a file (the SFTP CLOSE that publishes it) just after the shell's
        // close returns: the storage side shows it a moment later.
        let settled = |path: &std::path::Path, want: &str| {
            eventually(
                &format!("{mode}: {} is {want:?}", path.display()),
                std::time::Duration::from_secs(5),
                || std::fs::read_to_string(path).is_ok_and(|t| t == want),
            )
        };
        sh("echo hello > a.txt");
        settled(&home.join("a.txt"), "hello\n");
        sh("echo more >> a.txt");
        settled(&home.join("a.txt"), "hello\nmore\n");
        // An edit in place: two bytes overwritten in the middle, the rest kept.
        sh("printf XY | dd of=a.txt bs=1 seek=1 conv=notrunc status=none");
        settled(&home.join("a.txt"), "hXYlo\nmore\n");
        sh("truncate -s 3 a.txt");
        settled(&home.join("a.txt"), "hXY");
        let source = f.path().join("tree");
        make_tree(&source);
        sh(&format!("cp -r {} copied", source.display()));
        eventually(
            "the tree published",
            std::time::Duration::from_secs(10),
            || {
                // Files are published (renamed) while this looks: a vanished one means later.
                std::panic::catch_unwind(|| tree(&home.join("copied")))
                    .is_ok_and(|copied| copied == tree(&source))
            },
        );
        random_file(&f.path().join("big.bin"), 20 * 1024 * 1024);
        sh(&format!(
            "cp {} big.bin",
            f.path().join("big.bin").display()
        ));
        let want = sha256_file(&f.path().join("big.bin"));
        eventually(
            "big.bin published",
            std::time::Duration::from_secs(10),
            || {
                std::fs::read(home.join("big.bin")).is_ok_and(|data| {
                    use sha2::Digest;
                    format!("{:x}", sha2::Sha256::digest(&data)) == want
                })
            },
        );
        sh("mkdir repo && cd repo && git init -q && git config user.email t@example.com && git config user.name t \
            && echo one > f && git add f && git commit -qm one && echo two >> f && git commit -qam two");
        let log = sh("cd repo && git log --oneline | wc -l && git fsck --no-progress 2>&1 | wc -l");
        assert_eq!(
            log.split_whitespace().collect::<Vec<_>>(),
            ["2", "0"],
            "{mode}: git"
        );
        drop(mount);
        eventually(
            "every upload published",
            std::time::Duration::from_secs(10),
            || {
                !walk(&home)
                    .iter()
                    .any(|p| p.to_string_lossy().contains(".sftpha-"))
            },
        );
        let hidden: Vec<_> = walk(&home)
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(".sftpha-"))
            .collect();
        assert!(
            hidden.is_empty(),
            "{mode}: temporary files left: {hidden:?}"
        );
    }
}

/// An sshfs mount of a node, unmounted when dropped.
struct Sshfs(std::path::PathBuf);

impl Sshfs {
    fn mount(node: &NodeProc, user: &TestUser, at: &Path) -> Sshfs {
        let out = run(Command::new("sshfs")
            .arg(format!("{}@127.0.0.1:/", user.name))
            .arg(at)
            .args(["-p", &node.port()])
            .arg("-o")
            .arg(format!(
                "IdentityFile={},StrictHostKeyChecking=yes,UserKnownHostsFile={},BatchMode=yes,IdentitiesOnly=yes",
                user.key.display(),
                node.known_hosts.display()
            )));
        assert!(
            out.status.success(),
            "sshfs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Sshfs(at.to_owned())
    }
}

impl Drop for Sshfs {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3")
            .arg("-u")
            .arg(&self.0)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
            out.push(e.path());
        }
    }
    out
}
