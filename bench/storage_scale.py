#!/usr/bin/env python3
"""What a node's periodic tasks cost on a large storage: 1 million files in 10,000 homes.

Builds the storage once (empty files: only their number matters to a walk), writes a
users.toml with one user per home, and plants what a node that crashed 30 minutes ago leaves:
its upload journal and the temporary files it lists. Then, in one run:

- the reference: one walk of the whole tree (`find STORAGE -name '.*.sftpha-*'`), what the
  janitor of sftpha before the upload journal did every hour on every node;
- `sftpha node run` on that storage: how long its janitor's first sweep takes and what it
  removes (from the node's debug log), and the node's CPU while idle for --idle seconds (every
  periodic task: the users.toml watch, the storage check, the janitor).

    bench/storage_scale.py [--homes 10000] [--files-per-home 100] [--idle 60] [--keep DIR]

The storage goes in a `mktemp -d` folder under /var/tmp (disk, not tmpfs) and is removed at
the end unless --keep names a folder to build it in (and reuse on the next run).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import cpu_seconds  # noqa: E402

CRASHED = "n9"
GONE_PID = 1 << 30  # above any pid the kernel hands out


def build_storage(storage, homes, per_home):
    marker = storage / ".built"
    if marker.exists() and marker.read_text() == f"{homes} {per_home}":
        return 0.0
    started = time.monotonic()
    for h in range(homes):
        home = storage / f"u{h:05}"
        home.mkdir(parents=True, exist_ok=True)
        for f in range(per_home):
            fd = os.open(home / f"f{f:03}.dat", os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    marker.write_text(f"{homes} {per_home}")
    return time.monotonic() - started


def plant_crash(storage, homes, uploads):
    """A crashed node's journal and the temporary files it lists, all 30 minutes old."""
    journal = storage / ".sftpha" / "uploads"
    journal.mkdir(parents=True, exist_ok=True)
    old = time.time() - 1800
    lines = []
    for i in range(uploads):
        home = f"u{(i * 97) % homes:05}"
        temp = f".upload{i}.bin.sftpha-{CRASHED}-{GONE_PID}-{i}.part"
        path = storage / home / temp
        path.write_bytes(b"partial")
        os.utime(path, (old, old))
        lines.append(f"{home.encode().hex()} {'.'.encode().hex()} {temp.encode().hex()}\n")
    log = journal / f"{CRASHED}.{GONE_PID}.1.log"
    log.write_text("".join(lines))
    os.utime(log, (old, old))
    return log


def write_configs(work, storage, homes):
    key = work / "host_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    user_key = work / "user_ed25519"
    if not user_key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", user_key],
                       check=True)
    pub = (work / "user_ed25519.pub").read_text().strip()
    users = "".join(
        f'[[users]]\nname = "u{h:05}"\nhome = "u{h:05}"\nkeys = ["{pub}"]\n\n'
        for h in range(homes)
    )
    (work / "users.toml").write_text(users)
    (work / "node.toml").write_text(
        'name = "n1"\nlisten = "127.0.0.1:0"\nhealth_listen = "127.0.0.1:0"\n'
        f'storage = "{storage}"\nhost_keys = ["{key}"]\nusers = "users.toml"\n'
    )
    return (work / "users.toml").stat().st_size


def walk(storage):
    started = time.monotonic()
    out = subprocess.run(["find", storage, "-name", ".*.sftpha-*"], check=True,
                         capture_output=True, text=True).stdout
    return time.monotonic() - started, len(out.splitlines())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--homes", type=int, default=10000)
    p.add_argument("--files-per-home", type=int, default=100)
    p.add_argument("--uploads", type=int, default=200,
                   help="temporary files the crashed node left")
    p.add_argument("--idle", type=int, default=60, help="seconds of idle CPU measured")
    p.add_argument("--keep", type=Path, help="build (and reuse) the storage here")
    args = p.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="sftpha-scale.", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    storage = work / "storage"
    node = None
    try:
        built = build_storage(storage, args.homes, args.files_per_home)
        users_size = write_configs(work, storage, args.homes)
        log = plant_crash(storage, args.homes, args.uploads)
        files = args.homes * args.files_per_home
        print(f"storage: {files} files in {args.homes} homes"
              + (f" (built in {built:.0f} s)" if built else " (reused)"), flush=True)
        print(f"users.toml: {args.homes} users, {users_size / 1e6:.1f} MB", flush=True)

        walk(storage)  # warm the dentry and inode caches: the node gets them warm too
        walks = [walk(storage) for _ in range(3)]
        walk_s = sorted(w[0] for w in walks)[1]
        print(f"full walk (find, warm cache, median of 3): {walk_s:.2f} s, "
              f"{walks[0][1]} temporary files found", flush=True)

        binary = ROOT / "target/release/sftpha"
        env = dict(os.environ, SFTPHA_LOG="sftpha=debug")
        node_log = work / "node.log"
        started = time.monotonic()
        node = subprocess.Popen(
            [binary, "node", "run", "--config", work / "node.toml", "-q"],
            stdout=subprocess.PIPE, stderr=open(node_log, "w"), cwd=work, env=env)
        json.loads(node.stdout.readline())
        ready_s = time.monotonic() - started
        deadline = time.monotonic() + 30
        sweep = None
        while time.monotonic() < deadline and sweep is None:
            for line in node_log.read_text().splitlines():
                if "janitor" in line and "took" in line:
                    sweep = line
                    break
            time.sleep(0.1)
        if sweep is None:
            sys.exit(f"no janitor line in {node_log}")
        took = re.search(r"took=(\S+)", sweep).group(1)
        removed = re.search(r"\bremoved: (\d+)", sweep).group(1)
        left = sum(1 for _ in storage.glob(f"u*/.*.sftpha-{CRASHED}-*"))
        print(f"node ready in {ready_s:.2f} s ({args.homes} users loaded)", flush=True)
        print(f"janitor first sweep: {took}, removed {removed} of {args.uploads} "
              f"temporary files; {left} left; journal log removed: {not log.exists()}",
              flush=True)

        before = cpu_seconds(node.pid)
        time.sleep(args.idle)
        idle = cpu_seconds(node.pid) - before
        print(f"node CPU idle over {args.idle} s (users.toml watch every 1 s, storage check "
              f"every 2 s, janitor every 5 min): {idle:.2f} s = {100 * idle / args.idle:.2f}% "
              f"of one core", flush=True)
    finally:
        if node is not None:
            node.terminate()
            node.wait(timeout=30)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
