#!/usr/bin/env python3
"""Memory a node keeps after a flood of wrong passwords (SECURITY.md, row 1).

    bench/guess_memory.py BINARY CONNECTIONS TRIES SOURCES [NAME=VALUE ...]

Starts BINARY as a node (throttle off, one password user) in a temporary folder, with the
environment variables given (e.g. MALLOC_MMAP_THRESHOLD_=131072), makes one wrong guess to warm
up, then CONNECTIONS connections from SOURCES addresses of 127.66.0.0/16 each try TRIES wrong
passwords, at once. Prints RSS at rest, the peak and RSS 3 s after the flood. Needs paramiko;
the users.toml is made by the sftpha on PATH or next to this repository's target/release.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paramiko

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) // 1024
    raise SystemExit(f"no {field}")


def guesses(port, n, tries, sources):
    def one(i):
        src = f"127.66.{(i % sources) // 250}.{(i % sources) % 250 + 1}"
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(src, 0))
            t = paramiko.Transport(s)
            t.start_client(timeout=30)
            for _ in range(tries):
                try:
                    t.auth_password("bob", "wrong")
                except paramiko.AuthenticationException:
                    pass
            t.close()
        except Exception:  # noqa: BLE001 - refused or cut: the node's business
            pass
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)


def main():
    binary, conns, tries, sources = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    env = dict(os.environ)
    env.update(kv.split("=", 1) for kv in sys.argv[5:])
    tool = shutil.which("sftpha") or os.path.join(ROOT, "target/release/sftpha")
    d = tempfile.mkdtemp(prefix="sftpha-guess-")
    try:
        os.mkdir(f"{d}/storage")
        subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-f", f"{d}/host"], check=True)
        subprocess.run([tool, "--yes", "-c", f"{d}/c/cluster.toml", "init"], check=True, capture_output=True)
        subprocess.run([tool, "-c", f"{d}/c/cluster.toml", "users", "add", "bob", "--password", "--no-push"],
                       input=b"correct horse battery\n", check=True, capture_output=True)
        shutil.copy(f"{d}/c/users.toml", f"{d}/users.toml")
        with open(f"{d}/node.toml", "w") as f:
            f.write('name = "n1"\nlisten = "127.0.0.1:0"\nhealth_listen = "127.0.0.1:0"\nstorage = "storage"\n'
                    'host_keys = ["host"]\nusers = "users.toml"\nauth_fail_limit = 0\n')
        node = subprocess.Popen([binary, "node", "run", "--config", f"{d}/node.toml"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        port = int(json.loads(node.stdout.readline())["sftp"].rsplit(":", 1)[1])
        guesses(port, 1, 1, 1)
        time.sleep(1)
        base = status(node.pid, "VmRSS:")
        guesses(port, conns, tries, sources)
        time.sleep(3)
        print(f"{os.path.basename(binary)} {' '.join(sys.argv[5:])} {conns} connections x {tries} "
              f"from {sources} addresses: at rest {base} MiB, peak {status(node.pid, 'VmHWM:')} MiB, "
              f"after {status(node.pid, 'VmRSS:')} MiB")
        node.send_signal(signal.SIGKILL)
        node.wait()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
