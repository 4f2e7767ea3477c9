#!/usr/bin/env python3
"""sftpha node vs OpenSSH sshd (internal-sftp), side by side on loopback, in one run; and the
same sftpha node through each balancer: the bundled gateway and HAProxy.

Both servers get the same host key type, the same user key, storage on the same file system
(tmpfs by default, so that ext4's inode-allocation history cannot favour either side),
and are driven by the same OpenSSH sftp client with the same cipher and key exchange
(curve25519-sha256). For every workload it
reports throughput, server CPU seconds per GiB (user + system of the server's processes,
children included), and the ratio sftpha / OpenSSH. The servers alternate run by run and each
figure is the median of --reps runs.

The balancers sit in front of the same node, both sending PROXY v2 to it (the node trusts
127.0.0.1 as a production node trusts its gateways): `sftpha gateway run`, and HAProxy with
the configuration `sftpha provision` renders from templates/haproxy.cfg.j2 (rendered here with
jinja2, the only change being its `bind` on 127.0.0.1 instead of every address). For each
balancer it reports the throughput it costs against connecting to the node directly and its
own CPU seconds per GiB (user + system of the gateway process, of the haproxy process).

    bench/compare.py [--reps 5] [--size-mib 1024] [--files 2000] [--logins 50] [--markdown]
                     [--only-proxies] [--no-gateway] [--no-haproxy] [--ciphers aes128-gcm]

Needs root only for sshd's root login; as another user, sshd serves that user.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CIPHERS = ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"]
KEX = "curve25519-sha256"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The release binary, where cargo builds it (CARGO_TARGET_DIR is honoured).
BINARY = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release/sftpha"


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def cpu_seconds(pid):
    """utime + stime + reaped children's cutime + cstime of `pid`, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / CLK_TCK


class Server:
    def __init__(self, name, pid, port, remote_dir, login, known_hosts, local_dir, proxy_pid=None):
        self.name, self.pid, self.port = name, pid, port
        self.remote_dir, self.login = remote_dir, login
        self.known_hosts, self.local_dir = known_hosts, local_dir
        # The balancer in front of the node, when there is one: its CPU is reported apart.
        self.proxy_pid = proxy_pid

    def sftp_command(self, key, cipher, login=None, extra=()):
        """OpenSSH's sftp reading its batch from stdin, logged in as `login` (default: ours)."""
        return [
            "sftp", "-q", "-b", "-", "-P", str(self.port), "-i", str(key), "-c", cipher,
            "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            # The same key exchange on both sides: OpenSSH pairs would otherwise pick the
            # post-quantum sntrup761 hybrid, which russh lacks and which costs ~90 ms a login.
            "-o", f"KexAlgorithms={KEX}", *extra,
            f"{login or self.login}@127.0.0.1",
        ]

    def sftp(self, key, cipher, batch, extra=()):
        subprocess.run(self.sftp_command(key, cipher, extra=extra), input=batch.encode(),
                       check=True, stdout=subprocess.DEVNULL, cwd=self.local_dir)


def start_sftpha(work, host_key, user_pub, users=("bench",)):
    """The node, serving `users` (all with the user key, sharing one home `bench`)."""
    d = work / "sftpha"
    (d / "storage").mkdir(parents=True)
    (d / "users.toml").write_text("".join(
        f'[[users]]\nname = "{name}"\nhome = "bench"\nkeys = ["{user_pub}"]\n' for name in users))
    (d / "node.toml").write_text(
        'name = "bench1"\nlisten = "127.0.0.1:0"\nhealth_listen = "127.0.0.1:0"\n'
        f'storage = "storage"\nhost_keys = ["{host_key}"]\nusers = "users.toml"\n'
        # As behind a balancer in production: PROXY headers accepted from 127.0.0.1.
        'proxy_protocol = "optional"\nproxy_trusted = ["127.0.0.1/32"]\n'
    )
    proc = subprocess.Popen([BINARY, "node", "run", "--config", d / "node.toml", "-q",
                             "--ready-file", d / "ready.json"],
                            stdout=subprocess.PIPE, stderr=open(d / "node.log", "w"))
    ready = json.loads(proc.stdout.readline())
    port = int(ready["sftp"].rsplit(":", 1)[1])
    return proc, Server("sftpha", proc.pid, port, "", "bench", None, work / "local")


def start_gateway(work, node):
    """The bundled gateway in front of the sftpha node (PROXY v2 towards it)."""
    d = work / "gateway"
    d.mkdir()
    health = json.loads((work / "sftpha" / "ready.json").read_text())["health"]
    (d / "gateway.toml").write_text(
        'name = "bench-gw"\nlisten = "127.0.0.1:0"\nhealth_listen = "127.0.0.1:0"\n'
        f'[[backends]]\nname = "bench1"\naddress = "127.0.0.1:{node.port}"\n'
        f'health_url = "http://{health}/healthz"\n'
    )
    proc = subprocess.Popen([BINARY, "gateway", "run", "--config", d / "gateway.toml", "-q"],
                            stdout=subprocess.PIPE, stderr=open(d / "gateway.log", "w"))
    ready = json.loads(proc.stdout.readline())
    port = int(ready["listen"].rsplit(":", 1)[1])
    return proc, Server("gateway", node.pid, port, "", "bench", None, work / "local", proc.pid)


def start_haproxy(work, node):
    """HAProxy in front of the sftpha node, configured as `sftpha provision` renders it."""
    import jinja2
    d = work / "haproxy"
    d.mkdir()
    health = json.loads((work / "sftpha" / "ready.json").read_text())["health"]
    port = free_port()
    # The defaults of cluster.toml's [gateway] and [node] (src/config/cluster.rs), as
    # provision hands them to the template (src/render.rs, Renderer::base).
    interval = 1000
    context = {
        "cluster": {"name": "bench"},
        "settings": {"max_sessions": 500},
        "gateway": {"port": port, "balance": "leastconn", "health_interval_ms": interval,
                    "health_fall": 2, "health_rise": 2, "connect_timeout_ms": 1000},
        "health_timeout_ms": min(interval, 2000),
        "nodes": [{"name": "bench1", "host": "127.0.0.1", "port": node.port,
                   "health_port": int(health.rsplit(":", 1)[1])}],
    }
    template = (ROOT / "templates/haproxy.cfg.j2").read_text()
    cfg = jinja2.Template(template, keep_trailing_newline=True).render(context)
    bind = f"bind :{port}\n"
    assert bind in cfg, "templates/haproxy.cfg.j2 no longer binds `:PORT`: update start_haproxy"
    # Loopback only, like every other server of this benchmark.
    cfg = cfg.replace(bind, f"bind 127.0.0.1:{port}\n")
    (d / "haproxy.cfg").write_text(cfg)
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    sh(haproxy, "-c", "-q", "-f", str(d / "haproxy.cfg"))
    # -db: in the foreground and one process (its threads included in its CPU time), where
    # provision runs it with -D; the data path is the same.
    log = open(d / "haproxy.log", "w")
    proc = subprocess.Popen([haproxy, "-db", "-f", d / "haproxy.cfg"], stdout=log, stderr=log)
    wait_for_port(port)
    return proc, Server("haproxy", node.pid, port, "", "bench", None, work / "local", proc.pid)


def start_sshd(work, host_key, user_pub, max_startups=100):
    d = work / "openssh"
    d.mkdir()
    storage = d / "storage"
    storage.mkdir()
    login = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    (d / "authorized_keys").write_text(user_pub + "\n")
    os.chmod(d / "authorized_keys", 0o600)
    port = free_port()
    config = d / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {d}/sshd.pid\n"
        f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\nForceCommand internal-sftp\n"
        f"AllowTcpForwarding no\nX11Forwarding no\nMaxStartups {max_startups}\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    proc = subprocess.Popen([sshd, "-D", "-e", "-f", config], stderr=open(d / "sshd.log", "w"))
    wait_for_port(port)
    return proc, Server("openssh", proc.pid, port, str(storage) + "/", login, None, work / "local")


def wait_for_port(port, limit=10):
    import socket
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {limit} s")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def proxy_cpu(server):
    """CPU seconds of the balancer in front of `server` (0 without one): the sum of its threads'
    run time from /proc/PID/task/*/schedstat, user + system in nanoseconds, where /proc/PID/stat
    counts 10 ms ticks, too coarse for the 8 MB of the small-file workloads. Both balancers
    keep their threads for their whole life, so no exited thread's time is missed."""
    if not server.proxy_pid:
        return 0.0
    total = 0
    for task in Path(f"/proc/{server.proxy_pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def measure(server, key, cipher, batch, settle=0.3):
    """(seconds, server cpu seconds, balancer cpu seconds) of one sftp batch."""
    time.sleep(settle)
    cpu0, proxy0 = cpu_seconds(server.pid), proxy_cpu(server)
    t0 = time.perf_counter()
    server.sftp(key, cipher, batch)
    elapsed = time.perf_counter() - t0
    time.sleep(settle)  # let the server reap its session processes
    return elapsed, cpu_seconds(server.pid) - cpu0, proxy_cpu(server) - proxy0


def turn(servers, rep):
    """`servers` rotated by `rep`."""
    k = rep % len(servers)
    return servers[k:] + servers[:k]


def medians(runs):
    """{server: (value, cpu, balancer cpu)}, each the median over the runs."""
    return {name: tuple(statistics.median(r[i] for r in rs) for i in range(3))
            for name, rs in runs.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--file-kib", type=int, default=4)
    ap.add_argument("--logins", type=int, default=50)
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--no-gateway", dest="gateway", action="store_false",
                    help="skip sftpha through the bundled gateway")
    ap.add_argument("--no-haproxy", dest="haproxy", action="store_false",
                    help="skip sftpha through HAProxy")
    ap.add_argument("--only-proxies", action="store_true",
                    help="skip OpenSSH sshd: only the node directly and through the balancers")
    ap.add_argument("--ciphers", default=",".join(c.split("@")[0] for c in CIPHERS),
                    help="comma-separated ciphers to run (default: %(default)s)")
    ap.add_argument("--no-logins", dest="logins_run", action="store_false",
                    help="skip the sequential logins")
    ap.add_argument("--each-run", action="store_true",
                    help="also print every run's figures on stderr, not only the medians")
    ap.add_argument("--binary", type=Path,
                    default=Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release/sftpha",
                    help="the sftpha binary (default: %(default)s)")
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where both servers' storage and the client's files live (default: tmpfs "
                         "/dev/shm, so that file-system state does not skew the comparison)")
    args = ap.parse_args()
    global BINARY
    BINARY = args.binary
    ciphers = [c for c in CIPHERS if c.split("@")[0] in args.ciphers.split(",")]
    if not ciphers:
        ap.error(f"--ciphers: none of {args.ciphers!r} is one of {', '.join(CIPHERS)}")

    work = Path(tempfile.mkdtemp(prefix="sftpha-bench-", dir=args.dir))
    procs = []
    try:
        local = work / "local"
        local.mkdir()
        host_key, user_key, user_pub, host_pub = make_keys(work)
        with open(local / "big.bin", "wb") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(args.size_mib):
                f.write(chunk)
        small = local / "small"
        small.mkdir()
        for i in range(args.files):
            (small / f"f{i:05}.dat").write_bytes(os.urandom(args.file_kib * 1024))

        servers = []
        starts = [start_sftpha]
        if not args.only_proxies:
            starts.append(start_sshd)
        if args.gateway:
            starts.append(lambda w, h, u: start_gateway(w, servers[0]))
        if args.haproxy:
            starts.append(lambda w, h, u: start_haproxy(w, servers[0]))
        for start in starts:
            proc, server = start(work, host_key, user_pub)
            procs.append(proc)
            trust(server, work, host_pub)
            servers.append(server)
        for server in servers:
            # One login first: a balancer's first check, a server's first session, out of the figures.
            server.sftp(user_key, ciphers[0], "pwd\n")

        gib = args.size_mib / 1024
        small_gib = args.files * args.file_kib / (1024 * 1024)
        results = []  # (workload, cipher, {server: (value, cpu_per_gib)}), value MB/s or s
        for cipher in ciphers:
            workloads = [
                ("1 GiB upload" if args.size_mib == 1024 else f"{args.size_mib} MiB upload",
                 lambda s: f"put big.bin {s.remote_dir}big.bin\n", args.size_mib * 1048576, gib),
                ("1 GiB download" if args.size_mib == 1024 else f"{args.size_mib} MiB download",
                 lambda s: f"get {s.remote_dir}big.bin /dev/null\n", args.size_mib * 1048576, gib),
                (f"{args.files} x {args.file_kib} KiB upload",
                 lambda s: f"put -r small {s.remote_dir}small\n", args.files * args.file_kib * 1024, small_gib),
                (f"{args.files} x {args.file_kib} KiB download",
                 lambda s: f"get -r {s.remote_dir}small small-back\n", args.files * args.file_kib * 1024, small_gib),
            ]
            for name, batch, nbytes, gibs in workloads:
                # Servers alternate run by run, so drift of a shared machine hits both alike,
                # and the order turns each round, so none always follows the same one.
                runs = {server.name: [] for server in servers}
                for rep in range(args.reps):
                    for server in turn(servers, rep):
                        shutil.rmtree(local / "small-back", ignore_errors=True)
                        secs, cpu, proxy = measure(server, user_key, cipher, batch(server))
                        runs[server.name].append((nbytes / secs / 1e6, cpu / gibs, proxy / gibs))
                        if args.each_run:
                            print(f"  {name} {cipher.split('@')[0]} {server.name}: {nbytes / secs / 1e6:.1f} MB/s, "
                                  f"server {cpu / gibs:.2f} s/GiB, balancer {proxy / gibs:.2f} s/GiB",
                                  file=sys.stderr, flush=True)
                row = medians(runs)
                results.append((name, cipher, row))
                report_row(name, cipher, row, "MB/s")
        # Sequential logins: one `pwd` session each.
        if args.logins_run:
            runs = {server.name: [] for server in servers}
            for rep in range(args.reps):
                for server in turn(servers, rep):
                    time.sleep(0.3)
                    cpu0, proxy0 = cpu_seconds(server.pid), proxy_cpu(server)
                    t0 = time.perf_counter()
                    for _ in range(args.logins):
                        server.sftp(user_key, ciphers[0], "pwd\n")
                    elapsed = time.perf_counter() - t0
                    time.sleep(0.3)
                    per_login = 1000 / args.logins
                    runs[server.name].append((args.logins / elapsed,
                                              (cpu_seconds(server.pid) - cpu0) * per_login,
                                              (proxy_cpu(server) - proxy0) * per_login))
            row = medians(runs)
            results.append((f"{args.logins} sequential logins", ciphers[0], row))
            report_row(f"{args.logins} sequential logins", ciphers[0], row, "logins/s", cpu_unit="ms/login")
        if args.markdown:
            print_markdown(results)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


PROXIES = [("gateway", "gateway"), ("haproxy", "HAProxy")]


def units(name):
    """(throughput unit, cpu unit) of a workload."""
    return ("logins/s", "ms/login") if "logins" in name else ("MB/s", "s/GiB")


def cost(row, proxy):
    """How much throughput `proxy` costs against the node directly, in per cent."""
    return 100 * (1 - row[proxy][0] / row["sftpha"][0])


def ratio(a, b):
    return a / b if b else float("nan")


def make_keys(work):
    """(host key, user key, user public key line, host public key) in `work`, ed25519 both."""
    host_key, user_key = work / "host_ed25519", work / "user_ed25519"
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key))
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(user_key))
    user_pub = Path(str(user_key) + ".pub").read_text().strip()
    host_pub = " ".join(Path(str(host_key) + ".pub").read_text().split()[:2])
    return host_key, user_key, user_pub, host_pub


def trust(server, work, host_pub):
    """A known_hosts file with `server`'s host key, for the client to check it against."""
    server.known_hosts = work / f"known_hosts_{server.name}"
    server.known_hosts.write_text(f"[127.0.0.1]:{server.port} {host_pub}\n")


def stop(procs):
    """SIGTERM to each server (the node drains), SIGKILL to one still there after 30 s."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def report_row(name, cipher, row, unit, cpu_unit="cpu s/GiB"):
    ours = row["sftpha"]
    line = f"{name:<28} {cipher:<31} sftpha {ours[0]:8.1f} {unit}"
    if "openssh" in row:
        ref = row["openssh"]
        line += (f"  openssh {ref[0]:8.1f} {unit}  ratio {ours[0] / ref[0]:5.2f}x | {cpu_unit} "
                 f"sftpha {ours[1]:6.2f} openssh {ref[1]:6.2f} ratio {ratio(ours[1], ref[1]):5.2f}x")
    else:
        line += f" | {cpu_unit} sftpha {ours[1]:6.2f}"
    for key, label in PROXIES:
        if key in row:
            line += (f" | via {label} {row[key][0]:8.1f} {unit} ({cost(row, key):+5.1f}% cost, "
                     f"{label} {row[key][2]:.2f} {cpu_unit})")
    print(line, flush=True)


def print_markdown(results):
    if any("openssh" in row for _, _, row in results):
        print()
        print("| workload | cipher | sftpha | OpenSSH | speed ratio | server CPU sftpha | server CPU OpenSSH | CPU ratio | sftpha via gateway | gateway cost |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, cipher, row in results:
            ours, ref = row["sftpha"], row["openssh"]
            unit, cpu_unit = units(name)
            print(f"| {name} | {cipher.split('@')[0]} | {ours[0]:.1f} {unit} | {ref[0]:.1f} {unit} | "
                  f"{ours[0] / ref[0]:.2f}x | {ours[1]:.2f} {cpu_unit} | {ref[1]:.2f} {cpu_unit} | "
                  f"{ratio(ours[1], ref[1]):.2f}x | "
                  + (f"{row['gateway'][0]:.1f} {unit} | {cost(row, 'gateway'):+.1f}% |"
                     if "gateway" in row else "- | - |"))
    if all(key in row for _, _, row in results for key, _ in PROXIES):
        print()
        print("| workload | cipher | direct | via gateway | gateway cost | via HAProxy | HAProxy cost "
              "| gateway CPU | HAProxy CPU | CPU gateway/HAProxy |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, cipher, row in results:
            unit, cpu_unit = units(name)
            gw, ha = row["gateway"], row["haproxy"]
            print(f"| {name} | {cipher.split('@')[0]} | {row['sftpha'][0]:.1f} {unit} "
                  f"| {gw[0]:.1f} {unit} | {cost(row, 'gateway'):+.1f}% "
                  f"| {ha[0]:.1f} {unit} | {cost(row, 'haproxy'):+.1f}% "
                  f"| {gw[2]:.2f} {cpu_unit} | {ha[2]:.2f} {cpu_unit} | {ratio(gw[2], ha[2]):.2f}x |")


if __name__ == "__main__":
    # SIGTERM (a timeout, CI) cleans up like Ctrl-C: servers stopped, temporary files removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
