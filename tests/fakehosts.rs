//! Fake hosts for provisioning tests: one network namespace per host with its own address in
//! 198.18.0.0/15 on a bridge in the root namespace (no default route: nothing goes further),
//! each running OpenSSH sshd in a private mount namespace where /etc/sftpha, /opt/sftpha,
//! /var/lib/sftpha, /var/log/sftpha, /etc/haproxy and /etc/keepalived are the host's own folders and /srv/sftpha is one
//! folder shared by all (the stand-in for an NFS mount), and /root is an empty folder of its
//! own. No systemd, as in a container.
//!
//! Everything is undone on drop: the processes inside the namespaces (all started by the
//! test, through sshd) are ended by PID, then the namespaces, veths and bridge are deleted.
//! Needs root (CI runs as root), iproute2, util-linux `unshare` and openssh-server.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::harness::*;

/// The folders each host has to itself, mounted over these paths inside its namespace.
pub const PRIVATE_DIRS: [&str; 6] = [
    "/etc/sftpha",
    "/opt/sftpha",
    "/var/lib/sftpha",
    "/var/log/sftpha",
    "/etc/haproxy",
    "/etc/keepalived",
];
/// The storage path every host shares.
pub const STORAGE: &str = "/srv/sftpha";

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct FakeHost {
    pub name: String,
    pub addr: Ipv4Addr,
    pub netns: String,
    /// This host's folders: `root/etc-sftpha`, ... and its sshd files.
    pub root: PathBuf,
    sshd: Child,
}

impl FakeHost {
    /// This host's own folder that is mounted at `path` (one of [`PRIVATE_DIRS`]) inside it.
    pub fn private_dir(&self, path: &str) -> PathBuf {
        self.root
            .join(path.trim_start_matches('/').replace('/', "-"))
    }
}

pub struct FakeHosts {
    pub dir: tempfile::TempDir,
    pub hosts: Vec<FakeHost>,
    /// The root namespace's address on the bridge (where sftpha connects from).
    pub gateway_addr: Ipv4Addr,
    bridge: String,
    /// Private key that logs in as root on every host.
    pub identity: PathBuf,
    /// known_hosts with every host's sshd key.
    pub known_hosts: PathBuf,
}

fn ip(args: &[&str]) {
    run_ok(Command::new("ip").args(args));
}

/// A /24 in 198.18.0.0/15 that no interface of this machine uses yet.
fn free_subnet(seed: u32) -> u8 {
    let used = String::from_utf8(run_ok(Command::new("ip").args(["-o", "-4", "addr"])).stdout)
        .unwrap_or_default();
    (0..200)
        .map(|i| ((seed + i) % 200 + 20) as u8)
        .find(|octet| !used.contains(&format!("198.18.{octet}.")))
        .expect("a free /24 in 198.18.0.0/16")
}

impl FakeHosts {
    /// `n` hosts named h1..hn; `shared_storage = false` gives each its own /srv/sftpha.
    pub fn new(n: usize, shared_storage: bool) -> FakeHosts {
        for program in ["ip", "unshare", "ssh-keygen", "ssh"] {
            require(program);
        }
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "fake hosts need OpenSSH's sshd (apt-get install openssh-server; scripts/setup does)"
        );
        assert!(
            rustix::process::geteuid().is_root(),
            "fake hosts need root (network and mount namespaces)"
        );
        let dir = tempfile::Builder::new()
            .prefix("sftpha-hosts-")
            .tempdir()
            .unwrap();
        let seed = std::process::id() * 7 + COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{:05x}", seed % 0xfffff);
        let octet = free_subnet(seed);
        let bridge = format!("sfb{tag}");
        let gateway_addr = Ipv4Addr::new(198, 18, octet, 1);
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let mut hosts = FakeHosts {
            dir,
            hosts: Vec::new(),
            gateway_addr,
            bridge: bridge.clone(),
            identity: PathBuf::new(),
            known_hosts: PathBuf::new(),
        };
        ip(&["addr", "add", &format!("{gateway_addr}/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for dir in PRIVATE_DIRS.iter().chain([&STORAGE, &"/run/sshd"]) {
            // Mount points inside the namespaces; empty on the machine itself.
            std::fs::create_dir_all(dir).unwrap();
        }
        let identity = hosts.dir.path().join("id_ed25519");
        keygen(&identity, "ed25519");
        hosts.identity = identity.clone();
        hosts.known_hosts = hosts.dir.path().join("known_hosts");
        let shared = hosts.dir.path().join("shared-storage");
        std::fs::create_dir(&shared).unwrap();
        let mut known = String::new();
        for i in 1..=n {
            let name = format!("h{i}");
            let addr = Ipv4Addr::new(198, 18, octet, 10 + i as u8);
            let netns = format!("sftpha-{tag}-{i}");
            let root = hosts.dir.path().join(&name);
            std::fs::create_dir(&root).unwrap();
            ip(&["netns", "add", &netns]);
            let (outer, inner) = (format!("sfh{tag}{i}"), format!("sfn{tag}{i}"));
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ]);
            ip(&["link", "set", &outer, "master", &bridge, "up"]);
            ip(&["link", "set", &inner, "netns", &netns]);
            ip(&["-n", &netns, "link", "set", &inner, "name", "eth0"]);
            ip(&[
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &netns, "link", "set", "eth0", "up"]);
            ip(&["-n", &netns, "link", "set", "lo", "up"]);

            let mut mounts = String::new();
            for path in PRIVATE_DIRS {
                let own = root.join(path.trim_start_matches('/').replace('/', "-"));
                std::fs::create_dir(&own).unwrap();
                mounts += &format!("mount --bind '{}' '{path}' && ", own.display());
            }
            let storage = if shared_storage {
                shared.clone()
            } else {
                let own = root.join("storage");
                std::fs::create_dir(&own).unwrap();
                own
            };
            mounts += &format!("mount --bind '{}' '{STORAGE}' && ", storage.display());
            // root's home of its own, empty: a login's bash then reads no .bashrc (this
            // machine's starts pyenv, ~100 ms a command, which made every host look slow).
            let home = root.join("root-home");
            std::fs::create_dir(&home).unwrap();
            mounts += &format!("mount --bind '{}' /root && ", home.display());

            let host_key = root.join("ssh_host_ed25519_key");
            keygen(&host_key, "ed25519");
            let public = std::fs::read_to_string(format!("{}.pub", host_key.display())).unwrap();
            let mut parts = public.split_whitespace();
            known += &format!(
                "{addr} {} {}\n",
                parts.next().unwrap(),
                parts.next().unwrap()
            );
            let authorized = root.join("authorized_keys");
            std::fs::copy(format!("{}.pub", identity.display()), &authorized).unwrap();
            let config = root.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "ListenAddress {addr}\nPort 22\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n",
                    host_key.display(),
                    root.join("sshd.pid").display(),
                    authorized.display()
                ),
            )
            .unwrap();
            let sshd = spawn_in_namespace(
                &netns,
                &mounts,
                &format!(
                    "exec /usr/sbin/sshd -D -f '{}' -E '{}'",
                    config.display(),
                    root.join("sshd.log").display()
                ),
            );
            hosts.hosts.push(FakeHost {
                name,
                addr,
                netns,
                root,
                sshd,
            });
        }
        std::fs::write(&hosts.known_hosts, known).unwrap();
        for host in &hosts.hosts {
            let addr = host.addr;
            eventually(&format!("sshd on {addr}"), Duration::from_secs(10), || {
                std::net::TcpStream::connect_timeout(&(addr, 22).into(), Duration::from_millis(500))
                    .is_ok()
            });
        }
        hosts
    }

    /// Starts `command` (a shell command) in host `i`'s network namespace, in a mount
    /// namespace of its own where each `(folder or file, path)` of `mounts` is bound over
    /// `path` (which must exist on the machine). Ended with the hosts, like everything in
    /// the namespace.
    pub fn spawn_in(&self, i: usize, mounts: &[(PathBuf, &str)], command: &str) -> Child {
        let mut script = String::new();
        for (own, path) in mounts {
            script += &format!("mount --bind '{}' '{path}' && ", own.display());
        }
        spawn_in_namespace(&self.hosts[i].netns, &script, command)
    }

    /// Runs `script` as root on host `i` (0-based) with OpenSSH, host key checked.
    pub fn ssh(&self, i: usize, script: &str) -> std::process::Output {
        run(Command::new("ssh")
            .arg("-i")
            .arg(&self.identity)
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.known_hosts.display()))
            .arg(format!("root@{}", self.hosts[i].addr))
            .arg(script))
    }

    pub fn ssh_ok(&self, i: usize, script: &str) -> String {
        let out = self.ssh(i, script);
        assert!(
            out.status.success(),
            "`{script}` on {} failed: {}",
            self.hosts[i].name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Freezes (or thaws) host `i`'s sshd: its kernel still accepts TCP, nobody answers, as a
    /// host that hangs. Only the sshd this harness started, by PID.
    pub fn freeze_sshd(&self, i: usize, frozen: bool) {
        use rustix::process::{kill_process, Pid, Signal};
        let pid = Pid::from_raw(self.hosts[i].sshd.id() as i32).expect("a pid");
        let signal = if frozen { Signal::STOP } else { Signal::CONT };
        kill_process(pid, signal).expect("signal the sshd");
    }

    /// PIDs of every process inside host `i`'s network namespace.
    pub fn pids(&self, i: usize) -> Vec<i32> {
        let out = run(Command::new("ip").args(["netns", "pids", &self.hosts[i].netns]));
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

/// `sh -c "MOUNTS COMMAND"` in `netns`, in a private mount namespace.
fn spawn_in_namespace(netns: &str, mounts: &str, command: &str) -> Child {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            netns,
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
        ])
        .arg(format!("{mounts}{command}"))
        .stdin(Stdio::null())
        .spawn()
        .expect("start a process in the namespace")
}

impl Drop for FakeHosts {
    fn drop(&mut self) {
        use rustix::process::{kill_process, Pid, Signal};
        for (i, host) in self.hosts.iter_mut().enumerate() {
            let _ = &host.sshd;
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut signal = Signal::TERM;
            loop {
                let out = Command::new("ip")
                    .args(["netns", "pids", &host.netns])
                    .output();
                let pids: Vec<i32> = out
                    .map(|o| {
                        String::from_utf8_lossy(&o.stdout)
                            .split_whitespace()
                            .filter_map(|p| p.parse().ok())
                            .collect()
                    })
                    .unwrap_or_default();
                if pids.is_empty() {
                    break;
                }
                if Instant::now() > deadline {
                    signal = Signal::KILL;
                }
                for pid in pids {
                    if let Some(pid) = Pid::from_raw(pid) {
                        let _ = kill_process(pid, signal);
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
                if Instant::now() > deadline + Duration::from_secs(5) {
                    eprintln!("fake host {i}: processes left in {}", host.netns);
                    break;
                }
            }
            let _ = host.sshd.wait();
            let _ = Command::new("ip")
                .args(["netns", "del", &host.netns])
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
    }
}

/// The fake hosts themselves: reachable over SSH with pinned keys, private folders per host,
/// one shared storage folder, nothing routed out, and nothing left behind.
#[test]
fn fake_hosts_have_private_folders_and_shared_storage() {
    let hosts = FakeHosts::new(2, true);
    hosts.ssh_ok(
        0,
        "echo one > /etc/sftpha/mine && echo shared > /srv/sftpha/file",
    );
    assert_eq!(
        hosts.ssh_ok(1, "ls -A /etc/sftpha; cat /srv/sftpha/file"),
        "shared\n",
        "h2 sees the storage, not h1's /etc/sftpha"
    );
    assert!(hosts.hosts[0]
        .private_dir("/etc/sftpha")
        .join("mine")
        .exists());
    let client = hosts.ssh_ok(0, "echo $SSH_CLIENT");
    assert!(
        client.starts_with(&format!("{} ", hosts.gateway_addr)),
        "sftpha reaches the hosts from the bridge address: {client}"
    );
    assert!(
        !Path::new("/etc/sftpha/mine").exists(),
        "the machine's own /etc is untouched"
    );
    assert_eq!(
        hosts.ssh_ok(0, "ip route | grep -c default || true").trim(),
        "0",
        "no route out of the test network"
    );
    // A process started over SSH outlives the session (as a node started by provision must).
    hosts.ssh_ok(0, "nohup sleep 600 >/dev/null 2>&1 </dev/null &");
    assert!(hosts.pids(0).len() >= 2, "sshd and the sleeper");
    let netns: Vec<String> = hosts.hosts.iter().map(|h| h.netns.clone()).collect();
    drop(hosts);
    let left =
        String::from_utf8(run_ok(Command::new("ip").args(["netns", "list"])).stdout).unwrap();
    for ns in netns {
        assert!(!left.contains(&ns), "{ns} was not removed");
    }

    let unshared = FakeHosts::new(2, false);
    unshared.ssh_ok(0, "echo only-here > /srv/sftpha/file");
    assert!(!unshared.ssh(1, "cat /srv/sftpha/file").status.success());
}
