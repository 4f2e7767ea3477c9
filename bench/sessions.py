#!/usr/bin/env python3
"""Many sessions on one server: sftpha node vs OpenSSH sshd (internal-sftp), in one run.

Two workloads, each run against both servers, the servers alternating rep by rep:

1. Idle sessions: --sessions SSH connections, each logged in with the sftp subsystem open
   (an asyncssh client in this process, --login-concurrency logins under way at a time),
   held open together. Reported: logins per second to get there, server CPU per login, the
   server's RSS and PSS (/proc/PID/smaps_rollup; for sshd summed over the listener and every
   per-session process), memory per session (the rise over the server as it started / sessions),
   threads (sftpha) or processes (sshd), CPU the server spends while the sessions sit idle,
   and RSS once they are closed again.
2. Concurrent transfers: --clients OpenSSH `sftp` processes (the real client, with the
   cipher and key exchange of bench/compare.py) log in, wait at a barrier until all are in,
   then each uploads a --size-mib file, waits at a second barrier, and downloads it again.
   Reported per direction: aggregate throughput (all bytes / first start to last end),
   per-client throughput min / median / max, slowest / median (fairness), server CPU per GiB.

Both servers are started as bench/compare.py starts them. sshd gets `MaxStartups` of
--sessions (its default, 10:30:100, drops unauthenticated connections at random from 10 on,
which a fair comparison must not suffer from); `MaxSessions` (channels per connection) is left
at 10, one is used. The node runs with its defaults (max_sessions, open-file limit) and serves
--users users sharing one home, so that no user exceeds the default `max_sessions_per_user`
(100). Storage and the client's file are on tmpfs (/dev/shm); the run refuses to start when
--clients x --size-mib does not fit, and every uploaded file is removed after each server's
turn.

    bench/sessions.py [--sessions 1000] [--clients 100] [--size-mib 64] [--reps 3]

Progress and each rep's figures go to stderr; the medians, as Markdown tables, to stdout.

Needs root for sshd's root login, as bench/compare.py, and `asyncssh` (scripts/setup).
"""

import argparse
import asyncio
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from compare import CIPHERS, KEX, CLK_TCK, make_keys, start_sftpha, start_sshd, stop, trust

CIPHER = CIPHERS[0]
# Bounds on every wait, so that a stuck server or client ends the run instead of hanging it.
LOGIN_TIMEOUT = 60
BARRIER_TIMEOUT = 120
TRANSFER_TIMEOUT = 600
CLOSE_TIMEOUT = 60
# How long sessions sit idle before memory is read (jemalloc purges freed pages after ~1 s)
# and over how long their idle CPU is measured.
SETTLE = 3.0
IDLE_WINDOW = 5.0
# jemalloc hands freed pages back over 10 s (dirty_decay_ms): RSS once the sessions are gone
# is read after that.
AFTER_CLOSE = 12.0


def process_tree(pid):
    """`pid` and every live descendant of it."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def tree_cpu(pid):
    """CPU seconds of `pid`'s tree: each live process's own time plus what it reaped.

    /proc/PID/stat counts in clock ticks, rounded per process: an sshd session process that
    used 8 ms shows 0. So the root (the node, or sshd's listener, whose reaped children are
    summed in nanoseconds) is read there, and each live descendant's own time from its
    threads' /proc/PID/task/TID/schedstat (nanoseconds).
    """
    total = 0.0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
            if p == pid:
                own = (utime + stime) / CLK_TCK
            else:
                own = sum(int((t / "schedstat").read_text().split()[0])
                          for t in Path(f"/proc/{p}/task").iterdir()) / 1e9
        except (OSError, ValueError):
            continue
        total += own + (cutime + cstime) / CLK_TCK
    return total


def tree_memory(pid):
    """(RSS KiB, PSS KiB, processes, threads) summed over `pid`'s tree."""
    rss = pss = procs = threads = 0
    for p in process_tree(pid):
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in rollup.splitlines()[1:])
        rss += int(fields["Rss"].split()[0])
        pss += int(fields["Pss"].split()[0])
        procs += 1
        threads += int(next(l.split()[1] for l in status.splitlines() if l.startswith("Threads:")))
    return rss, pss, procs, threads


def sessions_left(pid):
    """Sessions a server still serves: sshd's child processes, the node's `conn-N` threads
    (its other threads come and go: jemalloc starts background threads as it needs them)."""
    tree = process_tree(pid)
    conn_threads = 0
    for t in Path(f"/proc/{pid}/task").iterdir():
        try:
            conn_threads += (t / "comm").read_text().startswith("conn-")
        except OSError:
            pass
    return len(tree) - 1 + conn_threads


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


# --- 1. idle sessions ----------------------------------------------------------------------

async def hold_sessions(server, key, known_hosts, args, logins, fresh):
    """Opens args.sessions SFTP sessions, measures, closes them; returns the figures."""
    sem = asyncio.Semaphore(args.login_concurrency)
    conns, failures = [], []

    async def one(i):
        async with sem:
            try:
                conn = await asyncio.wait_for(asyncssh.connect(
                    "127.0.0.1", server.port, username=logins[i % len(logins)],
                    client_keys=[str(key)], known_hosts=str(known_hosts),
                    kex_algs=[KEX], encryption_algs=[CIPHER]), LOGIN_TIMEOUT)
            except (OSError, asyncssh.Error, asyncio.TimeoutError) as e:
                failures.append(f"connect: {e!r}")
                return
            conns.append(conn)
            try:
                await asyncio.wait_for(conn.start_sftp_client(), LOGIN_TIMEOUT)
            except (OSError, asyncssh.Error, asyncio.TimeoutError) as e:
                failures.append(f"sftp: {e!r}")

    # Per session is counted against the server as it started, not as the last rep left it
    # (memory an earlier rep's transfers left behind counts against the sessions).
    base_rss, base_pss = fresh
    cpu0 = tree_cpu(server.pid)
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(args.sessions)))
    elapsed = time.perf_counter() - t0
    login_cpu = tree_cpu(server.pid) - cpu0
    ok = args.sessions - len(failures)
    await asyncio.sleep(SETTLE)
    rss, pss, procs, threads = tree_memory(server.pid)
    cpu1 = tree_cpu(server.pid)
    await asyncio.sleep(IDLE_WINDOW)
    idle_cpu = (tree_cpu(server.pid) - cpu1) / IDLE_WINDOW
    for conn in conns:
        conn.close()
    await asyncio.wait_for(asyncio.gather(*(c.wait_closed() for c in conns),
                                          return_exceptions=True), CLOSE_TIMEOUT)
    if failures:
        print(f"  {server.name}: {len(failures)} of {args.sessions} sessions failed, first: "
              f"{failures[0]}", file=sys.stderr)
    return {
        "sessions": ok,
        "logins_per_s": ok / elapsed,
        "cpu_ms_per_login": login_cpu / max(ok, 1) * 1000,
        "rss_mib": rss / 1024, "pss_mib": pss / 1024,
        "rss_kib_per_session": (rss - base_rss) / max(ok, 1),
        "pss_kib_per_session": (pss - base_pss) / max(ok, 1),
        "threads": threads, "procs": procs,
        "idle_cpu_percent": idle_cpu * 100,
    }


def idle_sessions(server, key, args, logins, fresh):
    result = asyncio.run(hold_sessions(server, key, server.known_hosts, args, logins, fresh))
    wait_until(lambda: sessions_left(server.pid) == 0, CLOSE_TIMEOUT,
               f"{server.name} to end its sessions")
    time.sleep(AFTER_CLOSE)
    result["rss_after_mib"] = tree_memory(server.pid)[0] / 1024
    return result


# --- 2. concurrent transfers ---------------------------------------------------------------

def transfers(server, key, args, work, logins):
    """--clients sftp processes, barriers around an upload phase and a download phase."""
    sync = Path(tempfile.mkdtemp(prefix="sync-", dir=work))
    clients = []
    ready = lambda stage: all((sync / f"{stage}.{i}").exists() for i in range(args.clients))
    check = lambda: [p.poll() for p in clients if p.poll() not in (None, 0)]
    in_login = lambda: sum(not (sync / f"ready.{i}").exists() for i in range(len(clients)))
    try:
        for i in range(args.clients):
            # Logins are started --login-concurrency at a time, as in the idle phase (all at
            # once, one source would exceed the node's per_source_max_startups).
            wait_until(lambda: in_login() < args.login_concurrency or check(), BARRIER_TIMEOUT,
                       "clients to log in")
            cmd = server.sftp_command(key, CIPHER, login=logins[i % len(logins)])
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=open(sync / f"err.{i}", "w"), cwd=work / "local")
            clients.append(p)
            # sftp reads its batch a line at a time: this one runs once it has logged in.
            p.stdin.write(f"!touch {sync}/ready.{i}\n".encode())
            p.stdin.flush()

        def phase(name, command):
            wait_until(lambda: ready("ready" if name == "up" else "end-up") or check(),
                       BARRIER_TIMEOUT, f"{args.clients} clients at the barrier")
            if check():
                raise RuntimeError(f"{server.name}: a client failed, see {sync}/err.*")
            cpu0 = tree_cpu(server.pid)
            for i, p in enumerate(clients):
                p.stdin.write(f"!date +%s.%N > {sync}/start-{name}.{i}\n{command(i)}\n"
                              f"!date +%s.%N > {sync}/end-{name}.{i}\n".encode())
                p.stdin.flush()
            wait_until(lambda: ready(f"end-{name}") or check(), TRANSFER_TIMEOUT,
                       f"{args.clients} transfers")
            if check():
                raise RuntimeError(f"{server.name}: a client failed, see {sync}/err.*")
            cpu = tree_cpu(server.pid) - cpu0
            stamp = lambda what, i: float((sync / f"{what}-{name}.{i}").read_text())
            starts = [stamp("start", i) for i in range(args.clients)]
            ends = [stamp("end", i) for i in range(args.clients)]
            nbytes = args.size_mib << 20
            rates = sorted(nbytes / (e - s) / 1e6 for s, e in zip(starts, ends))
            median = statistics.median(rates)
            return {
                "aggregate": nbytes * args.clients / (max(ends) - min(starts)) / 1e6,
                "min": rates[0], "median": median, "max": rates[-1],
                "fairness": rates[0] / median,
                "cpu_s_per_gib": cpu / (args.clients * args.size_mib / 1024),
            }

        up = phase("up", lambda i: f"put src.bin {server.remote_dir}c{i}.bin")
        down = phase("down", lambda i: f"get {server.remote_dir}c{i}.bin /dev/null")
        for p in clients:
            p.stdin.close()
        for p in clients:
            p.wait(timeout=BARRIER_TIMEOUT)
        return {"up": up, "down": down}
    finally:
        for p in clients:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(sync, ignore_errors=True)
        storage = work / server.name / "storage"
        for f in storage.rglob("c*.bin"):
            f.unlink()


# --- the run -------------------------------------------------------------------------------

def check_room(args, work):
    need = (args.clients + 1) * (args.size_mib << 20)
    free = shutil.disk_usage(work).free
    available = next(int(l.split()[1]) * 1024 for l in Path("/proc/meminfo").read_text().splitlines()
                     if l.startswith("MemAvailable:"))
    if need * 1.2 > min(free, available):
        raise SystemExit(f"sessions.py: {args.clients} x {args.size_mib} MiB needs "
                         f"{need / 2**30:.1f} GiB on {work} and in memory; free "
                         f"{free / 2**30:.1f} GiB, available {available / 2**30:.1f} GiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--login-concurrency", type=int, default=16,
                    help="logins under way at once (the node's per_source_max_startups is 20)")
    ap.add_argument("--users", type=int, default=10,
                    help="sftpha users the sessions are spread over (max_sessions_per_user is 100)")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where both servers' storage and the client's file live (default tmpfs)")
    args = ap.parse_args()
    # The client holds --sessions sockets and starts 2 x --clients processes.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = Path(tempfile.mkdtemp(prefix="sftpha-sessions-", dir=args.dir))
    check_room(args, work)
    procs = []
    try:
        local = work / "local"
        local.mkdir()
        host_key, user_key, user_pub, host_pub = make_keys(work)
        with open(local / "src.bin", "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        logins = [f"bench{i}" for i in range(max(args.users, 1))]

        servers = []
        for start in (lambda w, h, u: start_sftpha(w, h, u, users=logins),
                      lambda w, h, u: start_sshd(w, h, u, max_startups=max(args.sessions, 100))):
            proc, server = start(work, host_key, user_pub)
            procs.append(proc)
            trust(server, work, host_pub)
            servers.append(server)
        # sftpha's sessions are spread over its users; sshd serves the one login it runs as.
        logins_of = {"sftpha": logins, "openssh": [servers[1].login]}

        fresh = {s.name: tree_memory(s.pid)[:2] for s in servers}
        idle = {s.name: [] for s in servers}
        moved = {s.name: [] for s in servers}
        for rep in range(args.reps):
            # Alternate the order, so drift of a shared machine hits both alike.
            for s in (servers if rep % 2 == 0 else servers[::-1]):
                r = idle_sessions(s, user_key, args, logins_of[s.name], fresh[s.name])
                idle[s.name].append(r)
                print(f"rep {rep + 1} {s.name:<7} idle: {r['sessions']} sessions, "
                      f"{r['logins_per_s']:.0f} logins/s, RSS {r['rss_mib']:.1f} MiB "
                      f"({r['rss_kib_per_session']:.0f} KiB/session), PSS {r['pss_mib']:.1f} MiB "
                      f"({r['pss_kib_per_session']:.0f} KiB/session), {r['threads']} threads, "
                      f"{r['procs']} processes, idle CPU {r['idle_cpu_percent']:.1f}%, "
                      f"RSS after {r['rss_after_mib']:.1f} MiB", file=sys.stderr, flush=True)
            if args.clients:
                for s in (servers if rep % 2 == 0 else servers[::-1]):
                    r = transfers(s, user_key, args, work, logins_of[s.name])
                    moved[s.name].append(r)
                    for d in ("up", "down"):
                        x = r[d]
                        print(f"rep {rep + 1} {s.name:<7} {d:<4}: {x['aggregate']:.0f} MB/s, "
                              f"per client {x['min']:.1f}/{x['median']:.1f}/{x['max']:.1f} MB/s, "
                              f"slowest/median {x['fairness']:.2f}, {x['cpu_s_per_gib']:.2f} CPU s/GiB",
                              file=sys.stderr, flush=True)
        report(args, idle, moved)
    finally:
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def report(args, idle, moved):
    ours, ref = idle["sftpha"], idle["openssh"]
    rows = [
        # (figure, key, format)
        ("sessions open", "sessions", "{:.0f}"),
        ("logins per second to get there", "logins_per_s", "{:.1f}"),
        ("server CPU per login (ms)", "cpu_ms_per_login", "{:.2f}"),
        ("server RSS with the sessions (MiB)", "rss_mib", "{:.1f}"),
        ("server PSS with the sessions (MiB)", "pss_mib", "{:.1f}"),
        ("RSS per session (KiB)", "rss_kib_per_session", "{:.0f}"),
        ("PSS per session (KiB)", "pss_kib_per_session", "{:.0f}"),
        ("threads (sftpha) / threads of all processes (sshd)", "threads", "{:.0f}"),
        ("processes", "procs", "{:.0f}"),
        ("server CPU while the sessions idle (% of a core)", "idle_cpu_percent", "{:.2f}"),
        (f"server RSS {AFTER_CLOSE:.0f} s after they closed (MiB)", "rss_after_mib", "{:.1f}"),
    ]
    print(f"\n{args.sessions} idle SFTP sessions, median of {args.reps}\n")
    print("| figure | sftpha | OpenSSH | sftpha / OpenSSH |")
    print("|---|---:|---:|---:|")
    for name, key, fmt in rows:
        a, b = median_of(ours, key), median_of(ref, key)
        print(f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {f'{a / b:.2f}x' if b else '-'} |")
    if not args.clients:
        return
    print(f"\n{args.clients} concurrent clients, {args.size_mib} MiB each, "
          f"{CIPHER.split('@')[0]}, median of {args.reps}\n")
    print("| direction | server | aggregate MB/s | per client min / median / max MB/s | "
          "slowest / median | server CPU s/GiB |")
    print("|---|---|---:|---:|---:|---:|")
    for d in ("up", "down"):
        for name in ("sftpha", "openssh"):
            rs = [r[d] for r in moved[name]]
            m = {k: median_of(rs, k) for k in rs[0]}
            print(f"| {'upload' if d == 'up' else 'download'} | {name} | {m['aggregate']:.0f} | "
                  f"{m['min']:.1f} / {m['median']:.1f} / {m['max']:.1f} | {m['fairness']:.2f} | "
                  f"{m['cpu_s_per_gib']:.2f} |")
        a = median_of([r[d] for r in moved["sftpha"]], "aggregate")
        b = median_of([r[d] for r in moved["openssh"]], "aggregate")
        ca = median_of([r[d] for r in moved["sftpha"]], "cpu_s_per_gib")
        cb = median_of([r[d] for r in moved["openssh"]], "cpu_s_per_gib")
        print(f"| {'upload' if d == 'up' else 'download'} | ratio | {a / b:.2f}x | | | {ca / cb:.2f}x |")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
