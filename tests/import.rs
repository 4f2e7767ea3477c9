//! `sftpha import openssh` against a real OpenSSH SFTP server on a fake host (a `Match Group
//! sftp` block with ChrootDirectory and ForceCommand internal-sftp, key and password users,
//! two host key types), then a 3-node cluster provisioned from the import: the partners'
//! clients, OpenSSH sftp and paramiko with the known_hosts they used against the old server,
//! log in through the gateway with no change.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::fakehosts::FakeHosts;
use crate::harness::*;
use crate::provision::Site;

/// The name partners know the SFTP service by: their known_hosts lines carry it, and it
/// moves from the old server to the cluster's gateway (`HostKeyAlias` stands in for DNS).
const ALIAS: &str = "sftp.partner.test";
const OLD_PORT: u16 = 2200;
const GATEWAY_PORT: u16 = 2022;
const PASSWORD: &str = "correct horse battery";

/// The old server: its sshd, its accounts (its own /etc/passwd, group and shadow), homes and
/// the chroot folders, bound over the machine's paths in a mount namespace of its own.
struct OldServer {
    dir: tempfile::TempDir,
    addr: String,
    sshd: std::process::Child,
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(2000)).unwrap();
}

fn public(key: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", key.display()))
        .unwrap()
        .trim()
        .to_owned()
}

impl OldServer {
    fn start(hosts: &FakeHosts, i: usize) -> OldServer {
        require("mkpasswd");
        let dir = tempfile::Builder::new()
            .prefix("sftpha-oldsftp-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let addr = hosts.hosts[i].addr.to_string();
        for key in ["ed", "rsa", "two_a", "two_b", "two_c", "bad", "esc"] {
            keygen(&d.join(key), if key == "rsa" { "rsa" } else { "ed25519" });
        }
        keygen(&d.join("ssh_host_ed25519_key"), "ed25519");
        keygen(&d.join("ssh_host_rsa_key"), "rsa");
        // Host certificates for the service's name, signed by the partners' trusted CA.
        keygen(&d.join("host_ca"), "ed25519");
        for kind in ["ed25519", "rsa"] {
            run_ok(
                Command::new("ssh-keygen")
                    .args(["-q", "-s"])
                    .arg(d.join("host_ca"))
                    .args(["-I", "old sftp", "-h", "-n", ALIAS, "-V", "-5m:+52w"])
                    .arg(d.join(format!("ssh_host_{kind}_key.pub"))),
            );
        }

        // Accounts: uid 2001.. in group sftp (2000), and an administrator with a shell.
        let users = [
            ("ed", 2001),
            ("rsa", 2002),
            ("two", 2003),
            ("pw", 2004),
            ("bad", 2005),
            ("esc", 2006),
            ("gone", 2007),
        ];
        let mut passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let mut group = std::fs::read_to_string("/etc/group").unwrap();
        let mut shadow = std::fs::read_to_string("/etc/shadow").unwrap();
        for (name, uid) in users {
            passwd += &format!("{name}:x:{uid}:2000::/home/{name}:/usr/sbin/nologin\n");
            shadow += &format!("{name}:*:19000:0:99999:7:::\n");
        }
        passwd += "admin:x:2010:100::/home/admin:/bin/bash\n";
        group += "sftp:x:2000:\n";
        let hash = String::from_utf8(
            run_ok(Command::new("mkpasswd").args(["-m", "yescrypt", PASSWORD])).stdout,
        )
        .unwrap();
        let hash = hash.trim();
        assert!(hash.starts_with("$y$"), "{hash}");
        shadow = shadow.replace("pw:*:", &format!("pw:{hash}:"));
        let etc = d.join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(etc.join("passwd"), passwd).unwrap();
        std::fs::write(etc.join("group"), group).unwrap();
        std::fs::write(etc.join("shadow"), shadow).unwrap();
        chmod(&etc.join("shadow"), 0o640);

        // Homes with authorized_keys; `bad`'s is a folder, which no one can read as a file.
        let home = d.join("home");
        std::fs::create_dir(&home).unwrap();
        chmod(&home, 0o755);
        let keys = |name: &str, lines: &[String]| {
            let ssh = home.join(name).join(".ssh");
            std::fs::create_dir_all(&ssh).unwrap();
            std::fs::write(ssh.join("authorized_keys"), lines.join("\n") + "\n").unwrap();
        };
        keys("ed", &[public(&d.join("ed"))]);
        keys(
            "rsa",
            &[format!("# the bank's batch\n{}", public(&d.join("rsa")))],
        );
        keys(
            "two",
            &[
                public(&d.join("two_a")),
                format!(
                    "from=\"198.18.0.0/15,127.0.0.1\",no-pty,no-port-forwarding {}",
                    public(&d.join("two_b"))
                ),
                // Only from a network the partners are not in: refused, before and after.
                format!("from=\"203.0.113.0/24\" {}", public(&d.join("two_c"))),
            ],
        );
        keys("esc", &[public(&d.join("esc"))]);
        // An account the old server refuses (DenyUsers): not to be let in by the cluster.
        keys("gone", &[public(&d.join("ed"))]);
        std::fs::create_dir_all(home.join("bad/.ssh/authorized_keys")).unwrap();
        std::fs::create_dir_all(home.join("pw")).unwrap();
        std::fs::create_dir_all(home.join("admin")).unwrap();

        // Chroot folders: root-owned down to /srv/sftp/NAME, an `upload` folder each user owns.
        let sftp = d.join("sftp");
        std::fs::create_dir(&sftp).unwrap();
        chmod(&sftp, 0o755);
        for (name, uid) in users {
            if name == "esc" {
                continue;
            }
            let upload = sftp.join(name).join("upload");
            std::fs::create_dir_all(&upload).unwrap();
            chmod(&sftp.join(name), 0o755);
            std::fs::write(upload.join("hello.txt"), format!("hello {name}\n")).unwrap();
            chown(&upload, uid);
            chown(&upload.join("hello.txt"), uid);
        }
        // A chroot that is a link out of the data folder.
        std::os::unix::fs::symlink("/etc", sftp.join("esc")).unwrap();

        let root_keys = d.join("root_keys");
        std::fs::copy(format!("{}.pub", hosts.identity.display()), &root_keys).unwrap();
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress {addr}\nPort {OLD_PORT}\nHostKey {d}/ssh_host_ed25519_key\nHostKey {d}/ssh_host_rsa_key\nHostCertificate {d}/ssh_host_ed25519_key-cert.pub\nHostCertificate {d}/ssh_host_rsa_key-cert.pub\nPidFile {d}/sshd.pid\nAuthorizedKeysFile .ssh/authorized_keys\nPermitRootLogin prohibit-password\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\nDenyUsers gone\n\nMatch User root\n    AuthorizedKeysFile {}\n\nMatch Group sftp\n    ChrootDirectory /srv/sftp/%u\n    ForceCommand internal-sftp\n    AllowTcpForwarding no\n",
                root_keys.display(),
                d = d.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/srv/sftp").unwrap();
        let mounts: Vec<(PathBuf, &str)> = vec![
            (etc.join("passwd"), "/etc/passwd"),
            (etc.join("group"), "/etc/group"),
            (etc.join("shadow"), "/etc/shadow"),
            (home.clone(), "/home"),
            (sftp.clone(), "/srv/sftp"),
        ];
        let sshd = hosts.spawn_in(
            i,
            &mounts,
            &format!(
                "exec /usr/sbin/sshd -D -f '{}' -E '{}'",
                config.display(),
                d.join("sshd.log").display()
            ),
        );
        let target: std::net::SocketAddr = format!("{addr}:{OLD_PORT}").parse().unwrap();
        eventually("the old sshd", Duration::from_secs(10), || {
            std::net::TcpStream::connect_timeout(&target, Duration::from_millis(500)).is_ok()
        });
        OldServer { dir, addr, sshd }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// What partners have in known_hosts: both host keys, under the service's name.
    fn partners_known_hosts(&self) -> PathBuf {
        require("ssh-keyscan");
        let scan = run_ok(Command::new("ssh-keyscan").args([
            "-p",
            &OLD_PORT.to_string(),
            "-t",
            "ed25519,rsa",
            &self.addr,
        ]));
        let mut text = String::new();
        for line in String::from_utf8_lossy(&scan.stdout).lines() {
            let mut parts = line.split_whitespace();
            let (_, kind, key) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
            text += &format!("{ALIAS} {kind} {key}\n");
        }
        assert_eq!(text.lines().count(), 2, "{text}");
        let path = self.path().join("partners_known_hosts");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// What partners that trust the CA have in known_hosts: the CA for the service's name.
    fn partners_ca_known_hosts(&self) -> PathBuf {
        let path = self.path().join("partners_ca_known_hosts");
        std::fs::write(
            &path,
            format!(
                "@cert-authority {ALIAS} {}\n",
                public(&self.path().join("host_ca"))
            ),
        )
        .unwrap();
        path
    }

    /// The old server's line for the cluster's known_hosts (what the operator checks and
    /// adds before importing).
    fn operator_known_hosts_line(&self) -> String {
        let key = public(&self.path().join("ssh_host_ed25519_key"));
        let mut parts = key.split_whitespace();
        format!(
            "[{}]:{OLD_PORT} {} {}\n",
            self.addr,
            parts.next().unwrap(),
            parts.next().unwrap()
        )
    }
}

/// Where partners connect, with what they trust.
struct Partners<'a> {
    server: &'a OldServer,
    known: &'a Path,
    host: &'a str,
    port: u16,
}

/// OpenSSH sftp as a partner runs it: pinned host key under the service's name,
/// StrictHostKeyChecking=yes; a key file, or the password through sshpass.
fn partner_sftp(p: &Partners, user: &str, key: Option<&str>) -> Output {
    let (server, known, host, port) = (p.server, p.known, p.host, p.port);
    require("sftp");
    let batch = server.path().join(format!("batch-{user}"));
    let got = server.path().join(format!("got-{user}"));
    let _ = std::fs::remove_file(&got);
    std::fs::write(
        &batch,
        format!("ls\nget upload/hello.txt {}\n", got.display()),
    )
    .unwrap();
    let mut cmd = match key {
        Some(_) => Command::new("sftp"),
        None => {
            require("sshpass");
            let mut c = Command::new("sshpass");
            c.args(["-p", PASSWORD, "sftp"]);
            c
        }
    };
    cmd.arg("-P")
        .arg(port.to_string())
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10"])
        .arg("-o")
        .arg(format!("HostKeyAlias={ALIAS}"))
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .args(["-o", "GlobalKnownHostsFile=/dev/null"]);
    match key {
        Some(key) => {
            cmd.arg("-i").arg(server.path().join(key)).args([
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ]);
        }
        None => {
            // Before -b, which would otherwise turn BatchMode (no password prompt) on.
            cmd.args([
                "-o",
                "BatchMode=no",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "PreferredAuthentications=password",
            ]);
        }
    }
    cmd.arg("-b").arg(&batch).arg(format!("{user}@{host}"));
    run(&mut cmd)
}

/// paramiko as a partner runs it (tests/clients/paramiko_login.py).
fn paramiko(p: &Partners, user: &str, key: Option<&str>) -> Output {
    let (server, known, host, port) = (p.server, p.known, p.host, p.port);
    require("python3");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/paramiko_login.py");
    let credential = match key {
        Some(k) => server.path().join(k).display().to_string(),
        None => "env:OLD_PASSWORD".into(),
    };
    run(Command::new("python3")
        .arg(script)
        .args([host, &port.to_string(), user, ALIAS])
        .arg(known)
        .arg(credential)
        .env("OLD_PASSWORD", PASSWORD))
}

/// Every partner logs in to `host:port` with what they always used: OpenSSH sftp and
/// paramiko, every key of every user and the password; no host key warning.
fn every_partner_logs_in(server: &OldServer, known: &Path, host: &str, port: u16) {
    let partners = Partners {
        server,
        known,
        host,
        port,
    };
    let logins = [
        ("ed", Some("ed")),
        ("rsa", Some("rsa")),
        ("two", Some("two_a")),
        ("two", Some("two_b")),
        ("pw", None),
    ];
    for (user, key) in logins {
        let out = partner_sftp(&partners, user, key);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "sftp {user} ({key:?}) to {host}:{port}: {stderr}\nold sshd log:\n{}",
            std::fs::read_to_string(server.path().join("sshd.log")).unwrap_or_default()
        );
        assert_eq!(
            std::fs::read_to_string(server.path().join(format!("got-{user}"))).unwrap(),
            format!("hello {user}\n")
        );
        assert!(
            !stderr.to_lowercase().contains("warning"),
            "a host key warning for {user} at {host}:{port}: {stderr}"
        );
        let out = paramiko(&partners, user, key);
        assert!(
            out.status.success(),
            "paramiko {user} ({key:?}) to {host}:{port}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[\"upload\"]");
    }
    // Partners that trust the CA rather than a key are shown a valid certificate.
    let ca_known = server.partners_ca_known_hosts();
    let by_ca = Partners {
        known: &ca_known,
        ..partners
    };
    let out = partner_sftp(&by_ca, "ed", Some("ed"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ed by CA to {host}:{port}: {stderr}");
    assert!(!stderr.to_lowercase().contains("warning"), "{stderr}");
    // A key allowed only from elsewhere (from="203.0.113.0/24") is refused here as there.
    let out = partner_sftp(&partners, "two", Some("two_c"));
    assert!(
        !out.status.success(),
        "two_c logged in to {host}:{port} from outside its from="
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn problems_of(report: &Value) -> Vec<(String, String)> {
    report["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems list: {report:#}"))
        .iter()
        .map(|p| {
            (
                p["user"].as_str().unwrap_or("").to_owned(),
                p["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The whole migration: refusals first (an unknown host key, an unreadable authorized_keys,
/// a home that escapes the storage), then the import, a 3-node cluster provisioned from it,
/// and every old client in through the gateway with no change.
#[test]
fn an_openssh_sftp_server_moves_to_a_cluster_without_touching_a_partner() {
    let hosts = FakeHosts::new(5, true);
    let addr = |i: usize| hosts.hosts[i].addr.to_string();
    let mut server = OldServer::start(&hosts, 0);
    let known = server.partners_known_hosts();
    // The partners as they are today, against the old server.
    every_partner_logs_in(&server, &known, &server.addr, OLD_PORT);

    let nodes: Vec<String> = (1..4).map(addr).collect();
    let site = Site::builder(&hosts)
        .nodes(&nodes)
        .gateway(&addr(4))
        .build();
    let users_before = std::fs::read_to_string(site.path().join("users.toml")).unwrap();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "import",
            "openssh",
            "--host",
            &server.addr,
            "--port",
            "2200",
            "--ssh-user",
            "root",
        ];
        args.extend_from_slice(extra);
        site.json(&args)
    };

    // 1. The old server's host key is not in the cluster's known_hosts: refused, exit 3.
    let (code, report) = import(&[]);
    assert_eq!(code, 3, "{report:#}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("is not in"), "{message}");
    let known_hosts = site.path().join("known_hosts");
    let mut trusted = std::fs::read_to_string(&known_hosts).unwrap();
    trusted += &server.operator_known_hosts_line();
    std::fs::write(&known_hosts, trusted).unwrap();

    // 2. An unreadable authorized_keys and a home that escapes the storage: refused, exit 2,
    // each named, nothing written.
    let (code, report) = import(&[]);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(report["ok"], false);
    let problems = problems_of(&report);
    assert!(
        problems.iter().any(|(u, m)| u == "bad"
            && m.contains("/home/bad/.ssh/authorized_keys")
            && m.contains("cannot be read")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|(u, m)| u == "esc" && m.contains("escapes the storage") && m.contains("/etc")),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(report["written"].as_array().unwrap().is_empty());
    assert!(!site.path().join("keys").exists());
    assert_eq!(
        std::fs::read_to_string(site.path().join("users.toml")).unwrap(),
        users_before
    );
    // The human report says the same, and names the way out.
    let import_human = |extra: &[&str]| {
        let out = run(Command::new(BIN)
            .arg("-c")
            .arg(site.cluster())
            .args(["--format", "human", "import", "openssh", "--host"])
            .arg(&server.addr)
            .args(["--port", "2200", "--ssh-user", "root"])
            .args(extra));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, human) = import_human(&[]);
    assert_eq!(code, Some(2), "{human}");
    assert!(
        human.contains("REFUSED: 2 problem(s)") && human.contains("--skip"),
        "{human}"
    );

    // 3. A dry run without them plans everything and writes nothing.
    let ca = server.path().join("host_ca").display().to_string();
    let skip = ["--skip", "bad", "--skip", "esc", "--host-ca", ca.as_str()];
    // The old certificates name the service; the cluster's would not until cluster.toml
    // lists it: refused, naming the file and the fix.
    let (code, report) = import(&[&skip[..], &["--dry-run"]].concat());
    assert_eq!(code, 2, "{report:#}");
    let problems = problems_of(&report);
    assert!(
        problems.len() == 2
            && problems
                .iter()
                .all(|(_, m)| m.contains("-cert.pub") && m.contains(ALIAS)),
        "{problems:?}"
    );
    // The service's name, for the cluster's host certificates (as for the old server's).
    let mut cluster_toml = std::fs::read_to_string(site.cluster()).unwrap();
    cluster_toml += &format!("\n[keys]\nhost_names = [\"{ALIAS}\"]\n");
    std::fs::write(site.cluster(), cluster_toml).unwrap();
    let (code, human) = import_human(&[&skip[..], &["--dry-run"]].concat());
    assert_eq!(code, Some(0), "{human}");
    for part in [
        "(dry run: nothing was written)",
        "two [add] home two (from /srv/sftp/two), 3 key(s), password none",
        "pw [add] home pw (from /srv/sftp/pw), 0 key(s), password imported (yescrypt)",
        "admin: not SFTP-only",
        "-> keys/ssh_host_rsa_key [import]",
        "rsync -aHAX --numeric-ids -e 'ssh -p 2200' root@",
    ] {
        assert!(human.contains(part), "{part}:\n{human}");
    }
    let (code, report) = import(&[&skip[..], &["--dry-run"]].concat());
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["dry_run"], true);
    assert!(report["written"].as_array().unwrap().is_empty());
    assert!(!site.path().join("keys").exists());
    assert_eq!(
        std::fs::read_to_string(site.path().join("users.toml")).unwrap(),
        users_before
    );

    // 4. The import.
    let (code, report) = import(&skip);
    assert_eq!(code, 0, "{report:#}");
    let users: Vec<&str> = report["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["ed", "rsa", "two", "pw"], "{report:#}");
    let user = |name: &str| {
        report["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(user("ed")["home"], "ed");
    assert_eq!(user("ed")["old_folder"], "/srv/sftp/ed");
    assert_eq!(user("ed")["sftp"], "ForceCommand");
    assert_eq!(user("two")["keys"].as_array().unwrap().len(), 3);
    assert_eq!(user("two")["keys"][2]["from"], "203.0.113.0/24");
    assert_eq!(user("two")["keys"][1]["from"], "198.18.0.0/15,127.0.0.1");
    assert_eq!(
        user("two")["keys"][1]["options_honoured"],
        serde_json::json!(["no-pty", "no-port-forwarding"])
    );
    assert_eq!(user("pw")["password"]["status"], "imported");
    assert_eq!(user("pw")["password"]["scheme"], "yescrypt");
    assert_eq!(user("rsa")["keys"][0]["algorithm"], "ssh-rsa");
    let not_imported: Vec<(&str, &str)> = report["not_imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["user"].as_str().unwrap(), n["reason"].as_str().unwrap()))
        .collect();
    assert!(
        not_imported
            .iter()
            .any(|(u, r)| *u == "admin" && r.contains("not SFTP-only")),
        "{not_imported:?}"
    );
    assert!(
        not_imported
            .iter()
            .any(|(u, r)| *u == "gone" && r.contains("refuses its logins (DenyUsers gone)")),
        "{not_imported:?}"
    );
    assert_eq!(report["data_root"], "/srv/sftp");
    let commands = report["data"]["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 4);
    assert_eq!(
        commands[0],
        format!(
            "rsync -aHAX --numeric-ids -e 'ssh -p 2200' root@{}:/srv/sftp/ed/ /srv/sftpha/ed/",
            server.addr
        )
    );
    assert!(report["data"]["homes"][0]["kib"].as_u64().unwrap() > 0);
    let host_keys: Vec<(&str, &str)> = report["host_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["to"].as_str().unwrap(), k["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        host_keys,
        [
            ("keys/ssh_host_ed25519_key", "import"),
            ("keys/ssh_host_rsa_key", "import")
        ]
    );
    // The host keys are the old server's, byte for byte, 0600, and never printed.
    for kind in ["ed25519", "rsa"] {
        let name = format!("ssh_host_{kind}_key");
        let cluster_key = site.path().join("keys").join(&name);
        assert_eq!(
            std::fs::read(&cluster_key).unwrap(),
            std::fs::read(server.path().join(&name)).unwrap()
        );
        assert_eq!(
            std::fs::metadata(&cluster_key)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    let certificates = report["host_certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 2, "{report:#}");
    assert!(certificates
        .iter()
        .all(|c| c["carried_over"] == true && c["principals"][0] == ALIAS));
    assert_eq!(
        std::fs::read(site.path().join("keys/host_ca")).unwrap(),
        std::fs::read(server.path().join("host_ca")).unwrap()
    );
    assert!(!report.to_string().contains("PRIVATE KEY"));
    assert!(!report.to_string().contains("$y$"), "no hash is printed");
    // users.toml kept its comment and alice, and gained the four.
    let users_after = std::fs::read_to_string(site.path().join("users.toml")).unwrap();
    assert!(users_after.starts_with("# The partners of prov. Comments stay."));
    assert!(users_after.contains("name = \"alice\""));
    assert!(
        users_after.contains("'from=\"198.18.0.0/15,127.0.0.1\" ssh-ed25519"),
        "{users_after}"
    );
    // `users list` shows the imported keys and their from=.
    let (code, list) = site.json(&["users", "list"]);
    assert_eq!(code, 0, "{list:#}");
    let two = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "two")
        .unwrap();
    assert_eq!(two["keys"][1]["from"], "198.18.0.0/15,127.0.0.1", "{two:#}");
    assert_eq!(two["keys"][0]["from"], Value::Null);
    // Importing again changes nothing without --force.
    let (code, report) = import(&skip);
    assert_eq!(code, 2, "{report:#}");
    assert!(problems_of(&report)
        .iter()
        .any(|(u, m)| u == "ed" && m.contains("already has")));
    // With --force the users are replaced in place (alice and the comments stay) and the
    // host keys, the same, are unchanged.
    let (code, report) = import(&[&skip[..], &["--force"]].concat());
    assert_eq!(code, 0, "{report:#}");
    assert!(report["users"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["action"] == "replace"));
    assert!(report["host_keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["action"] == "unchanged"));
    let users_forced = std::fs::read_to_string(site.path().join("users.toml")).unwrap();
    assert!(users_forced.starts_with("# The partners of prov. Comments stay."));
    assert_eq!(
        users_forced.matches("[[users]]").count(),
        5,
        "{users_forced}"
    );

    // 5. The data moves (as the report's rsync would), then a 3-node cluster.
    for home in ["ed", "rsa", "two", "pw"] {
        run_ok(
            Command::new("cp")
                .arg("-a")
                .arg(server.path().join("sftp").join(home))
                .arg(hosts.dir.path().join("shared-storage")),
        );
    }
    let (code, report) = site.json(&["provision"]);
    assert_eq!(code, 0, "{report:#}");

    // 6. The old clients, unchanged, through the gateway: same known_hosts, same keys, same
    // password.
    every_partner_logs_in(&server, &known, &addr(4), GATEWAY_PORT);

    drop(hosts);
    let _ = server.sshd.wait();
}
