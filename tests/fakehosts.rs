//! Fake hosts for provisioning tests: one network namespace per host with its own address in
//! 198.18.0.0/15 on a bridge in the root namespace (no default route: nothing goes further),
//! each running OpenSSH sshd in a private mount namespace where /etc/sftpha, /opt/sftpha,
//! /var/lib/sftpha, /var/log/sftpha, /etc/haproxy and /etc/keepalived are the host's own folders and /srv/sftpha is one
//! folder shared by all (the stand-in for an NFS mount), and /root is an empty folder of its
//! own. No systemd, as in a container ([`FakeHosts::new`]), or systemd as each host's PID 1
//! ([`FakeHosts::with_systemd`]: its own pid, mount, uts, ipc and cgroup namespaces, fresh
//! /tmp and /run, overlays on /etc and /var, /proc/sys read-only; sshd is its ssh.service).
//!
//! Everything is undone on drop: the processes inside the namespaces (all started by the
//! test, through sshd) are ended by PID (a systemd host is powered off: SIGRTMIN+4 to its
//! PID 1, then SIGKILL), then the cgroups, namespaces, veths and bridge are deleted.
//! Needs root (CI runs as root), iproute2, util-linux `unshare` and openssh-server; the
//! systemd hosts need systemd and python3 too.

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
    /// sshd (detached hosts) or the launcher of systemd's PID 1 (systemd hosts).
    sshd: Child,
    /// Set on a host that boots systemd as its PID 1 ([`FakeHosts::with_systemd`]).
    pub systemd: Option<SystemdHost>,
}

/// A fake host's systemd: its PID 1 (as this machine sees it) and its cgroup2 subtree.
pub struct SystemdHost {
    pub pid1: i32,
    pub cgroup: PathBuf,
    /// What boots it again ([`FakeHosts::reboot`]): cgroup tag, storage folder in `dir`.
    tag: String,
    storage: String,
}

impl FakeHost {
    /// `name` in this host's /var/lib/sftpha (provision's state_dir: pidfiles, markers).
    pub fn state_file(&self, name: &str) -> PathBuf {
        self.private_dir("/var/lib/sftpha").join(name)
    }

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
        FakeHosts::make(n, shared_storage, false)
    }

    /// `n` hosts like [`FakeHosts::new`]'s, each booting systemd (/lib/systemd/systemd) as
    /// PID 1 of its own pid, mount, uts, ipc and cgroup namespaces (see [`systemd_inner`]);
    /// sshd is systemd's ssh.service.
    pub fn with_systemd(n: usize, shared_storage: bool) -> FakeHosts {
        assert!(
            Path::new(SYSTEMD).exists(),
            "systemd fake hosts need {SYSTEMD} (apt-get install systemd; scripts/setup does)"
        );
        require("python3");
        FakeHosts::make(n, shared_storage, true)
    }

    fn make(n: usize, shared_storage: bool, systemd: bool) -> FakeHosts {
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
        let started = Instant::now();
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
            let (sshd, systemd) = if systemd {
                let own = |p: &Path| {
                    p.strip_prefix(hosts.dir.path())
                        .unwrap()
                        .display()
                        .to_string()
                };
                prepare_etc(&root, &name, addr, &host_key, &authorized);
                let storage = own(&storage);
                let (launcher, host) = boot_systemd(
                    hosts.dir.path(),
                    &name,
                    &netns,
                    &format!("{tag}-{i}"),
                    &storage,
                );
                (launcher, Some(host))
            } else {
                let sshd = spawn_in_namespace(
                    &netns,
                    &mounts,
                    &format!(
                        "exec /usr/sbin/sshd -D -f '{}' -E '{}'",
                        config.display(),
                        root.join("sshd.log").display()
                    ),
                );
                (sshd, None)
            };
            hosts.hosts.push(FakeHost {
                name,
                addr,
                netns,
                root,
                sshd,
                systemd,
            });
        }
        std::fs::write(&hosts.known_hosts, known).unwrap();
        if systemd {
            // ssh.service answers once systemd has brought the host up (about 1 s).
            for i in 0..hosts.hosts.len() {
                hosts.wait_for_ssh(i);
            }
            eprintln!(
                "{n} systemd fake hosts up in {} ms",
                started.elapsed().as_millis()
            );
            return hosts;
        }
        for host in &hosts.hosts {
            let addr = host.addr;
            eventually(&format!("sshd on {addr}"), Duration::from_secs(10), || {
                std::net::TcpStream::connect_timeout(&(addr, 22).into(), Duration::from_millis(500))
                    .is_ok()
            });
        }
        hosts
    }

    /// Waits (60 s at most) until systemd host `i` answers on ssh; fails at once, with its
    /// console, when its systemd died.
    fn wait_for_ssh(&self, i: usize) {
        let host = &self.hosts[i];
        let pid1 = host.systemd.as_ref().expect("a systemd host").pid1;
        eventually(
            &format!("ssh.service on {}", host.addr),
            Duration::from_secs(60),
            || {
                assert!(
                    alive(pid1),
                    "systemd (pid {pid1}) of {} died; its console:\n{}",
                    host.name,
                    std::fs::read_to_string(host.root.join("console.log")).unwrap_or_default()
                );
                self.ssh(i, "true").status.success()
            },
        );
    }

    /// Reboots systemd host `i`: powered off as on drop, then booted again in the same
    /// network namespace on the same /etc upper layer (units, enablement and sshd kept),
    /// private folders and storage; /run, /tmp and the rest of /var start empty. Returns when
    /// ssh answers.
    pub fn reboot(&mut self, i: usize) {
        power_off(std::slice::from_mut(&mut self.hosts[i]));
        let host = &self.hosts[i];
        let sd = host.systemd.as_ref().expect("a systemd host");
        let (launcher, booted) = boot_systemd(
            self.dir.path(),
            &host.name,
            &host.netns,
            &sd.tag,
            &sd.storage,
        );
        self.hosts[i].sshd = launcher;
        self.hosts[i].systemd = Some(booted);
        self.wait_for_ssh(i);
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
        if let Some(sd) = &self.hosts[i].systemd {
            let freeze = sd.cgroup.join("system.slice/ssh.service/cgroup.freeze");
            std::fs::write(freeze, if frozen { "1" } else { "0" }).expect("freeze ssh.service");
            return;
        }
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

/// systemd's own binary; a systemd fake host execs it as its PID 1.
pub const SYSTEMD: &str = "/lib/systemd/systemd";

/// Units masked in a systemd fake host's /etc: nothing in it may touch devices, the clock,
/// sysctls, kernel modules, filesystems or network configuration of the machine, and the
/// machine's own enabled services (database, timers, getty) do not start.
const MASKED: &[&str] = &[
    "systemd-tmpfiles-setup.service",
    "systemd-tmpfiles-setup-dev.service",
    "systemd-tmpfiles-setup-dev-early.service",
    "systemd-tmpfiles-clean.service",
    "systemd-tmpfiles-clean.timer",
    "systemd-sysctl.service",
    "systemd-binfmt.service",
    "systemd-modules-load.service",
    "systemd-sysusers.service",
    "systemd-remount-fs.service",
    "systemd-journald-audit.socket",
    "getty@tty1.service",
    "getty@.service",
    "getty.target",
    "getty-static.service",
    "console-getty.service",
    "container-getty@.service",
    "serial-getty@.service",
    "systemd-ask-password-console.path",
    "systemd-ask-password-wall.path",
    "systemd-logind.service",
    "systemd-user-sessions.service",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-hwdb-update.service",
    "kmod-static-nodes.service",
    "systemd-networkd.service",
    "systemd-networkd.socket",
    "systemd-networkd-wait-online.service",
    "systemd-network-generator.service",
    "systemd-resolved.service",
    "networking.service",
    "ifupdown-pre.service",
    "systemd-timesyncd.service",
    "systemd-time-wait-sync.service",
    "systemd-timedated.service",
    "hwclock.service",
    "apt-daily.timer",
    "apt-daily.service",
    "apt-daily-upgrade.timer",
    "apt-daily-upgrade.service",
    "e2scrub_all.timer",
    "e2scrub_all.service",
    "e2scrub_reap.service",
    "e2scrub@.service",
    "e2scrub_fail@.service",
    "fstrim.timer",
    "fstrim.service",
    "cron.service",
    "dpkg-db-backup.timer",
    "dpkg-db-backup.service",
    "man-db.timer",
    "man-db.service",
    "postgresql.service",
    "postgresql@.service",
    "systemd-pstore.service",
    "systemd-random-seed.service",
    "systemd-firstboot.service",
    "systemd-machine-id-commit.service",
    "systemd-pcrphase.service",
    "systemd-pcrphase-sysinit.service",
    "systemd-pcrphase-initrd.service",
    "systemd-repart.service",
    "systemd-fsck-root.service",
    "systemd-fsck@.service",
    "systemd-quotacheck.service",
    "quotaon.service",
    "systemd-boot-update.service",
    "ldconfig.service",
    "systemd-journal-catalog-update.service",
    "systemd-update-done.service",
    "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount",
    "sys-fs-fuse-connections.mount",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "dev-hugepages.mount",
    "dev-mqueue.mount",
    "systemd-rfkill.service",
    "systemd-rfkill.socket",
    "systemd-backlight@.service",
    "systemd-hibernate-resume@.service",
    "swap.target",
    "cryptsetup.target",
    "veritysetup.target",
    "integritysetup.target",
    "remote-fs.target",
    "systemd-coredump.socket",
];

/// Wants-links of the machine's /etc hidden (whiteouts) rather than masked: provision starts
/// these itself.
const UNWANTED: &[&str] = &[
    "multi-user.target.wants/haproxy.service",
    "multi-user.target.wants/keepalived.service",
];

/// Gives PID 1 a real tty as /dev/console (systemd logs to no console that is not a tty):
/// allocates a pty, prints its path and copies what is written to it into the log file.
const PTYLOG: &str = r#"import os, pty, sys
m, s = pty.openpty()
name = os.ttyname(s)
if os.fork():
    print(name)
    sys.exit(0)
os.setsid()
out = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
null = os.open("/dev/null", os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
while True:
    try:
        d = os.read(m, 65536)
    except OSError:
        break
    if not d:
        break
    os.write(out, d)
"#;

/// Whether the process `pid` exists.
fn alive(pid: i32) -> bool {
    rustix::process::Pid::from_raw(pid)
        .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

/// The upper layer of a systemd host's /etc overlay, written before it boots (in
/// `root/etc.upper`): masks, every generator masked, hostname, hosts, a machine-id of its own,
/// and sshd's config, host key and authorized_keys (ssh.service runs it).
fn prepare_etc(root: &Path, name: &str, addr: Ipv4Addr, host_key: &Path, authorized: &Path) {
    let upper = root.join("etc.upper");
    let units = upper.join("systemd/system");
    for dir in [
        units.join("multi-user.target.wants"),
        upper.join("systemd/system-generators"),
        upper.join("ssh"),
        root.join("etc.work"),
        root.join("var.ovl"),
        root.join("dev.stage"),
    ] {
        std::fs::create_dir_all(dir).unwrap();
    }
    for unit in MASKED {
        std::os::unix::fs::symlink("/dev/null", units.join(unit)).unwrap();
    }
    for unit in UNWANTED {
        run_ok(
            Command::new("mknod")
                .arg(units.join(unit))
                .args(["c", "0", "0"]),
        );
    }
    std::os::unix::fs::symlink(
        "/lib/systemd/system/ssh.service",
        units.join("multi-user.target.wants/ssh.service"),
    )
    .unwrap();
    for dir in [
        "/lib/systemd/system-generators",
        "/usr/lib/systemd/system-generators",
        "/etc/systemd/system-generators",
    ] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let masked = upper
                .join("systemd/system-generators")
                .join(entry.file_name());
            if !masked.exists() {
                std::os::unix::fs::symlink("/dev/null", masked).unwrap();
            }
        }
    }
    std::fs::write(upper.join("hostname"), format!("{name}\n")).unwrap();
    std::fs::write(
        upper.join("hosts"),
        format!("127.0.0.1 localhost\n{addr} {name}\n"),
    )
    .unwrap();
    let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap();
    std::fs::write(
        upper.join("machine-id"),
        format!("{}\n", uuid.trim().replace('-', "")),
    )
    .unwrap();
    let ssh = upper.join("ssh");
    std::fs::copy(host_key, ssh.join("sftpha_host_ed25519_key")).unwrap();
    std::fs::copy(authorized, ssh.join("sftpha_authorized_keys")).unwrap();
    std::fs::write(
        ssh.join("sshd_config"),
        format!(
            "ListenAddress {addr}\nPort 22\nHostKey /etc/ssh/sftpha_host_ed25519_key\nAuthorizedKeysFile /etc/ssh/sftpha_authorized_keys\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPrintMotd no\nUseDNS no\nSubsystem sftp internal-sftp\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("console.log"), "").unwrap();
}

/// The handle on the harness's folder inside a systemd host, taken before /tmp is covered.
const HANDLE: &str = "/run/.sftpha-hosts";

/// What runs as PID 1 of the new namespaces until it execs systemd: fresh /run and /tmp,
/// overlays on /etc (upper prepared by [`prepare_etc`]) and /var (upper on a tmpfs), the
/// private folders, shared storage and an empty /root bound from `dir` (through a handle
/// under the new /run: `dir` is under /tmp), a private /dev with a pty as console, a sysfs of
/// this netns and a cgroup2 mounted from inside the cgroup namespace, /proc/sys read-only but
/// /proc/sys/net; then systemd with `container=other`. What each step blocks (found with a
/// shell prototype, sentinels in the machine's /tmp checked after every boot): without the
/// tmpfs on /tmp, systemd-tmpfiles empties the machine's /tmp; without read-only /proc/sys,
/// PID 1 sets machine-wide sysctls (fs.file-max); without the uts namespace, the machine's
/// hostname; without the cgroup namespace and a cgroup2 of its own, the machine's cgroup
/// trees; without `container=other`, the clock; without the pid namespace, a poweroff is the
/// machine's. A graceful shutdown unmounts everything it sees: harmless only in this
/// private mount namespace.
fn systemd_inner(dir: &Path, name: &str, storage: &str) -> String {
    let b = format!("{HANDLE}/{name}");
    let mut binds = String::new();
    for path in PRIVATE_DIRS {
        binds += &format!(
            "mount --bind '{b}/{}' '{path}'\n",
            path.trim_start_matches('/').replace('/', "-")
        );
    }
    binds += &format!("mount --bind '{HANDLE}/{storage}' '{STORAGE}'\n");
    binds += &format!("mount --bind '{b}/root-home' /root\n");
    format!(
        r#"set -eu
[ "$$" = 1 ] || {{ echo "inner: not pid 1" >&2; exit 1; }}
mount --make-rprivate /
hostname '{name}'
mount -t tmpfs -o mode=755,nosuid,nodev,size=256m tmpfs /run
mkdir -p '{HANDLE}'
mount --bind '{dir}' '{HANDLE}'
mount -t tmpfs -o mode=1777,nosuid,nodev,size=512m tmpfs /tmp
mount -t overlay overlay -o 'lowerdir=/etc,upperdir={b}/etc.upper,workdir={b}/etc.work' /etc
mount -t tmpfs -o mode=755,size=1g tmpfs '{b}/var.ovl'
mkdir -p '{b}/var.ovl/upper' '{b}/var.ovl/work'
mount -t overlay overlay -o 'lowerdir=/var,upperdir={b}/var.ovl/upper,workdir={b}/var.ovl/work' /var
[ "$(stat -fc %T /etc)" = overlayfs ] && [ "$(stat -fc %T /var)" = overlayfs ] || {{ echo "inner: overlay missing" >&2; exit 1; }}
[ "$(stat -fc %T /tmp)" = tmpfs ] && [ "$(stat -fc %T /run)" = tmpfs ] || {{ echo "inner: tmpfs missing" >&2; exit 1; }}
{binds}D='{b}/dev.stage'
mount -t tmpfs -o mode=755,nosuid,size=16m tmpfs "$D"
for n in null zero full random urandom tty; do : > "$D/$n"; mount --bind "/dev/$n" "$D/$n"; done
: > "$D/console"
mkdir -p "$D/pts" "$D/shm" "$D/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$D/pts"
ln -s pts/ptmx "$D/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m tmpfs "$D/shm"
ln -s /proc/self/fd "$D/fd"; ln -s /proc/self/fd/0 "$D/stdin"; ln -s /proc/self/fd/1 "$D/stdout"; ln -s /proc/self/fd/2 "$D/stderr"
mount --move "$D" /dev
tty=$(/usr/bin/python3 '{HANDLE}/ptylog.py' '{b}/console.log')
mount --bind "$tty" /dev/console
umount -l /sys
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mount -o remount,bind,ro,nosuid,nodev,noexec /sys
mount --bind /proc/sys /proc/sys
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,ro /proc/sys
if [ -e /proc/sysrq-trigger ]; then mount --bind /proc/sysrq-trigger /proc/sysrq-trigger; mount -o remount,bind,ro /proc/sysrq-trigger; fi
touch /proc/sys/fs/file-max 2>/dev/null && {{ echo "inner: /proc/sys is writable" >&2; exit 1; }}
umount -l '{HANDLE}'; rmdir '{HANDLE}'
exec env -i container=other PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin {SYSTEMD} --unit=multi-user.target --show-status=no --log-target=journal-or-kmsg </dev/null >/dev/console 2>&1
"#,
        dir = dir.display()
    )
}

/// Boots systemd for host `name` in `netns`: the launcher moves itself into a fresh cgroup2
/// child (`<cgroup2 mount>/sftpha-<tag>`), joins the netns and unshares pid, mount, uts, ipc
/// and cgroup namespaces; its child there runs [`systemd_inner`]. Returns the launcher (the
/// `unshare` process) and the host's PID 1.
fn boot_systemd(
    dir: &Path,
    name: &str,
    netns: &str,
    tag: &str,
    storage: &str,
) -> (Child, SystemdHost) {
    use std::os::unix::process::CommandExt;
    let ptylog = dir.join("ptylog.py");
    if !ptylog.exists() {
        std::fs::write(&ptylog, PTYLOG).unwrap();
    }
    let mount = String::from_utf8(
        run_ok(Command::new("findmnt").args(["-n", "-t", "cgroup2", "-o", "TARGET"])).stdout,
    )
    .unwrap();
    let mount = mount
        .lines()
        .next()
        .expect("a cgroup2 mount")
        .trim()
        .to_owned();
    let cgroup = Path::new(&mount).join(format!("sftpha-{tag}"));
    std::fs::create_dir(&cgroup).unwrap();
    let log = std::fs::File::create(dir.join(name).join("launcher.log")).unwrap();
    let launcher = Command::new("sh")
        .arg("-c")
        .arg(
            r#"echo $$ > "$1/cgroup.procs" && exec ip netns exec "$2" unshare --pid --fork --mount --mount-proc --propagation private --uts --ipc --cgroup -- sh -c "$3""#,
        )
        .arg("launcher")
        .arg(&cgroup)
        .arg(netns)
        .arg(systemd_inner(dir, name, storage))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("start the launcher");
    let unshare = launcher.id();
    let mut pid1 = None;
    eventually(&format!("{name}'s PID 1"), Duration::from_secs(10), || {
        pid1 = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
            .ok()
            .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()));
        pid1.is_some()
    });
    let pid1: i32 = pid1.unwrap();
    let ours = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let theirs = std::fs::read_link(format!("/proc/{pid1}/ns/pid")).unwrap();
    assert_ne!(
        ours, theirs,
        "{name}'s PID 1 ({pid1}) is in our pid namespace"
    );
    (
        launcher,
        SystemdHost {
            pid1,
            cgroup,
            tag: tag.to_owned(),
            storage: storage.to_owned(),
        },
    )
}

/// Powers the systemd hosts off: SIGRTMIN+4 to each PID 1 (a container's poweroff), at most
/// 15 s, then SIGKILL to PID 1 (which ends its pid namespace), then their cgroup subtrees
/// are removed, deepest first. Not SIGTERM to every process: systemd re-executes on SIGTERM
/// and its Restart=always services come back.
fn power_off(hosts: &mut [FakeHost]) {
    let pid1s: Vec<i32> = hosts
        .iter()
        .filter_map(|h| h.systemd.as_ref().map(|s| s.pid1))
        .collect();
    for &pid in &pid1s {
        if alive(pid) {
            // SAFETY: kill(2) with a pid this harness started (checked to be a PID 1 of
            // another pid namespace when it booted) and a valid signal number.
            unsafe {
                libc::kill(pid, libc::SIGRTMIN() + 4);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while pid1s.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for host in hosts.iter_mut() {
        let Some(sd) = &mut host.systemd else {
            continue;
        };
        if alive(sd.pid1) {
            eprintln!("{}: systemd did not power off in 15 s; SIGKILL", host.name);
            // SAFETY: as above.
            unsafe {
                libc::kill(sd.pid1, libc::SIGKILL);
            }
        }
        let _ = host.sshd.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut dirs: Vec<PathBuf> = Vec::new();
            collect_dirs(&sd.cgroup, &mut dirs);
            // deepest first
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in &dirs {
                let _ = std::fs::remove_dir(d);
            }
            if !sd.cgroup.exists() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if sd.cgroup.exists() {
            eprintln!("{}: {} is still there", host.name, sd.cgroup.display());
        }
        // Down: never signal that pid again (it may be reused).
        sd.pid1 = 0;
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    out.push(dir.to_owned());
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_dirs(&entry.path(), out);
        }
    }
}

impl Drop for FakeHosts {
    fn drop(&mut self) {
        use rustix::process::{kill_process, Pid, Signal};
        power_off(&mut self.hosts);
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

/// A systemd fake host: systemd is PID 1 (in namespaces of its own), the system comes up
/// (running, or degraded), ssh.service is what answers, and powering off leaves no process,
/// no cgroup and no namespace behind.
#[test]
fn a_systemd_fake_host_boots_and_leaves_nothing() {
    let t0 = Instant::now();
    let hosts = FakeHosts::with_systemd(1, true);
    let boot = t0.elapsed();
    let state = hosts.ssh(0, "timeout 30 systemctl is-system-running --wait");
    let state = String::from_utf8_lossy(&state.stdout).trim().to_owned();
    let failed = hosts.ssh_ok(0, "systemctl --failed --no-legend --plain");
    eprintln!(
        "systemd host up in {} ms: {state}; failed units: {failed:?}",
        boot.as_millis()
    );
    assert!(
        state == "running" || state == "degraded",
        "is-system-running: {state}; failed units: {failed}"
    );
    assert_eq!(hosts.ssh_ok(0, "cat /proc/1/comm").trim(), "systemd");
    assert_eq!(hosts.ssh_ok(0, "systemctl is-active ssh").trim(), "active");
    assert_eq!(hosts.ssh_ok(0, "hostname").trim(), "h1");
    assert_eq!(
        hosts
            .ssh_ok(0, "stat -fc %T /tmp /run /etc /var")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["tmpfs", "tmpfs", "overlayfs", "overlayfs"]
    );
    hosts.ssh_ok(
        0,
        "echo shared > /srv/sftpha/file && echo mine > /etc/sftpha/mine",
    );
    assert!(hosts.dir.path().join("shared-storage/file").exists());
    assert!(
        !Path::new("/etc/sftpha/mine").exists(),
        "the machine's /etc is untouched"
    );
    let sd = hosts.hosts[0].systemd.as_ref().unwrap();
    let (pid1, cgroup) = (sd.pid1, sd.cgroup.clone());
    let netns = hosts.hosts[0].netns.clone();
    assert!(!hosts.pids(0).is_empty());
    let t1 = Instant::now();
    drop(hosts);
    eprintln!("powered off in {} ms", t1.elapsed().as_millis());
    assert!(!alive(pid1), "systemd (pid {pid1}) still runs");
    assert!(!cgroup.exists(), "{} was not removed", cgroup.display());
    let left =
        String::from_utf8(run_ok(Command::new("ip").args(["netns", "list"])).stdout).unwrap();
    assert!(!left.contains(&netns), "{netns} was not removed");
}
