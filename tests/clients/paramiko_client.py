#!/usr/bin/env python3
"""paramiko scenarios the integration tests run against a live sftpha node.

Usage: paramiko_client.py SCENARIO --port P --user U (--key FILE | --password-env VAR)
                          --known-hosts FILE [--home DIR] [--outside DIR]

Each scenario checks its own expectations and exits 0 when all hold; on the first failure
it prints what was expected and what happened, and exits 1.
"""

import argparse
import json
import hashlib
import os
import socket
import stat
import struct
import sys
import threading
import time

import paramiko


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def expect_error(fn, kinds, message):
    try:
        fn()
    except kinds:
        return
    except Exception as e:  # noqa: BLE001 - any other error is a failure
        fail(f"{message}: unexpected {type(e).__name__}: {e}")
    fail(f"{message}: no error raised")


def connect(args):
    if args.bind:
        # A source address of its own (127.0.0.0/8): throttles and limits count per source.
        sock = socket.create_connection(("127.0.0.1", args.port), timeout=10,
                                        source_address=(args.bind, 0))
        transport = paramiko.Transport(sock)
    else:
        transport = paramiko.Transport(("127.0.0.1", args.port))
    transport.start_client(timeout=10)
    key = transport.get_remote_server_key()
    known = paramiko.HostKeys(args.known_hosts)
    host = f"[127.0.0.1]:{args.port}"
    expect(known.check(host, key), f"host key {key.get_name()} {key.get_base64()[:20]}... not in known_hosts")
    if args.password_env:
        transport.auth_password(args.user, os.environ[args.password_env])
    else:
        pkey = paramiko.PKey.from_path(args.key)
        transport.auth_publickey(args.user, pkey)
    expect(transport.is_authenticated(), "not authenticated")
    return transport, paramiko.SFTPClient.from_transport(transport)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def scenario_ops(args):
    transport, sftp = connect(args)
    payload = os.urandom(3 * 1024 * 1024 + 17)
    sftp.mkdir("/ops")
    with sftp.open("/ops/data.bin", "wb") as f:
        f.set_pipelined(True)
        f.write(payload)
    st = sftp.stat("/ops/data.bin")
    expect(st.st_size == len(payload), f"size {st.st_size}")
    with sftp.open("/ops/data.bin", "rb") as f:
        f.prefetch()
        back = f.read()
    expect(sha(back) == sha(payload), "download differs from upload")
    # Random access reads.
    with sftp.open("/ops/data.bin", "rb") as f:
        f.seek(1000)
        expect(f.read(10) == payload[1000:1010], "seek read")
    sftp.utime("/ops/data.bin", (1_600_000_000, 1_600_000_123))
    expect(sftp.stat("/ops/data.bin").st_mtime == 1_600_000_123, "utime (setstat)")
    sftp.chmod("/ops/data.bin", 0o640)
    expect(stat.S_IMODE(sftp.stat("/ops/data.bin").st_mode) == 0o640, "chmod")
    sftp.chmod("/ops/data.bin", 0o4755)
    mode = sftp.stat("/ops/data.bin").st_mode
    expect(mode & 0o6000 == 0 and stat.S_IMODE(mode) == 0o755, f"setuid bit stripped: {oct(mode)}")
    sftp.truncate("/ops/data.bin", 100)
    expect(sftp.stat("/ops/data.bin").st_size == 100, "truncate")
    with sftp.open("/ops/data.bin", "rb") as f:
        f.chmod(0o600)
        f.utime((1_500_000_000, 1_500_000_000))
        expect(f.stat().st_mtime == 1_500_000_000, "fsetstat")
    sftp.rename("/ops/data.bin", "/ops/renamed.bin")
    expect("renamed.bin" in sftp.listdir("/ops"), "rename")
    with sftp.open("/ops/other.bin", "wb") as f:
        f.write(b"other")
    expect_error(lambda: sftp.rename("/ops/other.bin", "/ops/renamed.bin"), IOError,
                 "plain rename onto an existing file must fail (SFTP v3)")
    sftp.posix_rename("/ops/other.bin", "/ops/renamed.bin")
    with sftp.open("/ops/renamed.bin", "rb") as f:
        expect(f.read() == b"other", "posix-rename replaced the target")
    sftp.symlink("renamed.bin", "/ops/link")
    expect(sftp.readlink("/ops/link") == "renamed.bin", "readlink")
    expect(stat.S_ISLNK(sftp.lstat("/ops/link").st_mode), "lstat sees the link")
    expect(sftp.stat("/ops/link").st_size == 5, "stat follows the link")
    attrs = {a.filename: a for a in sftp.listdir_attr("/ops")}
    expect(set(attrs) == {"renamed.bin", "link"}, f"listdir {sorted(attrs)}")
    expect(attrs["link"].longname.startswith("l"), f"longname {attrs['link'].longname}")
    sftp.remove("/ops/link")
    expect(sftp.normalize(".") == "/", "realpath of . is /")
    expect(sftp.normalize("/ops/../ops/./x") == "/ops/x", "realpath cleans")
    expect_error(lambda: sftp.rmdir("/ops"), IOError, "rmdir of a non-empty directory")
    expect_error(lambda: sftp.stat("/nope"), FileNotFoundError, "stat of a missing file")
    # Appending and changing in place work in both modes (atomic mode copies, then replaces).
    with sftp.open("/ops/renamed.bin", "ab") as f:
        f.write(b"+more")
    with sftp.open("/ops/renamed.bin", "rb") as f:
        expect(f.read() == b"other+more", "append to an existing file")
    with sftp.open("/ops/renamed.bin", "r+") as f:
        f.seek(1)
        f.write(b"TH")
    with sftp.open("/ops/renamed.bin", "rb") as f:
        expect(f.read() == b"oTHer+more", "in-place change")
    sftp.truncate("/ops/renamed.bin", 5)
    with sftp.open("/ops/renamed.bin", "rb") as f:
        expect(f.read() == b"oTHer", "truncate by path")
    with sftp.open("/ops/renamed.bin", "wb") as f:
        f.write(b"other")
    # Exclusive create.
    expect_error(lambda: sftp.open("/ops/renamed.bin", "wx"), IOError, "exclusive create of an existing file")
    with sftp.open("/ops/new.bin", "wx") as f:
        f.write(b"new")
    expect(sftp.stat("/ops/new.bin").st_size == 3, "exclusive upload saved")
    sftp.remove("/ops/new.bin")
    sftp.open("/ops/empty.bin", "x").close()  # CREAT|EXCL alone: an empty file
    expect(sftp.stat("/ops/empty.bin").st_size == 0, "created empty")
    sftp.remove("/ops/empty.bin")
    sftp.remove("/ops/renamed.bin")
    sftp.rmdir("/ops")
    expect(sftp.listdir("/") == [], f"home empty at the end: {sftp.listdir('/')}")
    transport.close()


def scenario_escape(args):
    """Every way out of the home fails, and nothing outside is touched."""
    transport, sftp = connect(args)
    outside = args.outside  # a directory outside the storage, with secret.txt in it
    # `..` and absolute paths are clamped to the home.
    expect(sftp.normalize("../../../..") == "/", "realpath clamps ..")
    for path in ["../../../../etc/passwd", "/etc/passwd", "/../etc/passwd", outside + "/secret.txt",
                 "../" * 10 + outside.lstrip("/") + "/secret.txt"]:
        expect_error(lambda p=path: sftp.stat(p), FileNotFoundError, f"stat {path}")
        expect_error(lambda p=path: sftp.open(p, "rb"), FileNotFoundError, f"open {path}")
    expect(sftp.listdir("..") == sftp.listdir("/"), "listdir .. is the home")
    # Writing through `..` lands inside the home.
    with sftp.open("../../escaped.txt", "wb") as f:
        f.write(b"x")
    expect("escaped.txt" in sftp.listdir("/"), "../../escaped.txt was written inside the home")
    sftp.remove("/escaped.txt")
    # Symlinks made by the user cannot point outside.
    expect_error(lambda: sftp.symlink("../../../../etc", "/evil"), PermissionError, "symlink to ../../..")
    expect_error(lambda: sftp.symlink("a/../../x", "/evil2"), PermissionError, "symlink climbing via a/..")
    sftp.symlink("/etc/passwd", "/abs")  # stored relative: points at <home>/etc/passwd
    expect(sftp.readlink("/abs") == "etc/passwd", f"absolute target rewritten: {sftp.readlink('/abs')}")
    expect_error(lambda: sftp.stat("/abs"), FileNotFoundError, "absolute symlink resolves inside the home")
    sftp.remove("/abs")
    # Symlinks planted by somebody else (test setup) are not followed out.
    for planted in ["/planted-rel", "/planted-abs", "/planted-dir"]:
        expect_error(lambda p=planted: sftp.open(p, "rb"), (PermissionError, FileNotFoundError, IOError), f"open {planted}")
        expect_error(lambda p=planted: sftp.stat(p), (PermissionError, FileNotFoundError, IOError), f"stat {planted}")
    expect_error(lambda: sftp.listdir("/planted-dir"), (PermissionError, FileNotFoundError, IOError), "listdir through planted dir link")
    expect_error(lambda: sftp.open("/planted-dir/new.txt", "wb"), (PermissionError, FileNotFoundError, IOError), "write through planted dir link")
    expect_error(lambda: sftp.chmod("/planted-rel", 0o777), (PermissionError, FileNotFoundError, IOError), "chmod through planted link")
    expect_error(lambda: sftp.utime("/planted-abs", (1, 1)), (PermissionError, FileNotFoundError, IOError), "utime through planted link")
    # Hard links to things outside cannot be named.
    expect_error(lambda: hardlink(sftp, outside + "/secret.txt", "/hl"), (FileNotFoundError, IOError), "hardlink to outside")
    # Renames out of the home are clamped back in.
    with sftp.open("/mine.txt", "wb") as f:
        f.write(b"mine")
    sftp.rename("/mine.txt", "../../../mine2.txt")
    expect("mine2.txt" in sftp.listdir("/"), "rename through .. stays in the home")
    sftp.remove("/mine2.txt")
    # The hidden temporary files of uploads in progress are invisible.
    expect_error(lambda: sftp.stat("/.x.sftpha-n1-1-1.part"), FileNotFoundError, "temp names are not reachable")
    transport.close()


def open_raw(sftp, path, flags):
    """SSH_FXP_OPEN with exactly `flags` (paramiko's modes cannot say WRITE|TRUNC alone)."""
    _, response = sftp._request(paramiko.sftp.CMD_OPEN, path, flags, paramiko.SFTPAttributes())
    handle = response.get_binary()
    return paramiko.SFTPFile(sftp, handle, "r+")


def scenario_atomic(args):
    """What OpenSSH does with every open flag, and in atomic mode without giving up atomicity:
    append mode, a truncating open without CREAT, edits, and what other sessions see meanwhile."""
    transport, sftp = connect(args)
    observer_transport, observer = connect(args)
    # A new file in append mode: 23 bytes, then a seek to 11 and 11 more: appended (34).
    with sftp.open("/append.txt", "a") as f:
        f.write(b"x" * 23)
        f.seek(11)
        f.write(b"y" * 11)
    got = sftp.stat("/append.txt").st_size
    expect(got == 34, f"append mode appends whatever the offset: {got} bytes")
    # WRITE|TRUNC without CREAT replaces an existing file, as WRITE|CREAT|TRUNC does.
    write, trunc, creat = 0x02, 0x10, 0x08
    f = open_raw(sftp, "/append.txt", write | trunc)
    f.write(b"replaced")
    f.close()
    with sftp.open("/append.txt", "rb") as f:
        expect(f.read() == b"replaced", "WRITE|TRUNC without CREAT")
    expect_error(lambda: open_raw(sftp, "/missing.txt", write | trunc), FileNotFoundError,
                 "WRITE|TRUNC without CREAT on a missing file")
    # An edit: the writer sees its change at once under the final name, others see the old
    # whole file until the close, then the new one.
    f = sftp.open("/append.txt", "r+")
    f.seek(0)
    f.write(b"RE")
    f.flush()
    with sftp.open("/append.txt", "rb") as mine:
        expect(mine.read() == b"REplaced", "the writer reads its own change")
    with observer.open("/append.txt", "rb") as theirs:
        expect(theirs.read() == b"replaced", "others see the old file during the edit")
    sftp.truncate("/append.txt", 4)
    expect(sftp.stat("/append.txt").st_size == 4, "truncate of the open upload, by path")
    expect(observer.stat("/append.txt").st_size == 8, "others do not see the truncate yet")
    names = {a.filename: a.st_size for a in sftp.listdir_attr("/")}
    expect(names.get("append.txt") == 4, f"the writer's listing shows its file: {names}")
    f.close()
    with observer.open("/append.txt", "rb") as theirs:
        expect(theirs.read() == b"REpl", "others see the new whole file after the close")
    # A new file is listed for its writer (stat right after create, as sshfs does), not others.
    f = sftp.open("/fresh.txt", "w")
    f.write(b"abc")
    f.flush()
    expect(sftp.stat("/fresh.txt").st_size == 3, "stat of a file being created")
    expect("fresh.txt" in sftp.listdir("/"), "the writer lists its new file")
    expect("fresh.txt" not in observer.listdir("/"), "others do not")
    # Renamed before it is closed (git renames its lock files): published, then moved.
    sftp.rename("/fresh.txt", "/moved.txt")
    expect(observer.stat("/moved.txt").st_size == 3, "a renamed upload is published")
    f.write(b"def")
    f.close()
    with observer.open("/moved.txt", "rb") as theirs:
        expect(theirs.read() == b"abcdef", "writes after the rename land in the moved file")
    # An edit never silently drops another session's whole upload: if the file was replaced
    # meanwhile, the edit is refused at its close and the other upload stays.
    f = sftp.open("/moved.txt", "a")
    f.write(b"+mine")
    with observer.open("/moved.txt", "wb") as theirs:
        theirs.write(b"their whole new version")
    expect_error(lambda: close_checked(f), IOError, "an edit of a file replaced meanwhile is refused")
    with observer.open("/moved.txt", "rb") as theirs:
        expect(theirs.read() == b"their whole new version", "the other upload stayed")
    # A file with other hard links is not copied apart from them by an edit.
    hardlink_checked(sftp, "/moved.txt", "/linked.txt")
    expect_error(lambda: sftp.open("/linked.txt", "a"), IOError, "edit of a hard-linked file")
    expect_error(lambda: sftp.truncate("/linked.txt", 1), IOError, "truncate of a hard-linked file")
    with sftp.open("/linked.txt", "wb") as whole:
        whole.write(b"replaced whole")   # a whole new version is fine
    for name in ["/append.txt", "/moved.txt", "/linked.txt"]:
        sftp.remove(name)
    expect(sftp.listdir("/") == [], f"nothing left behind: {sftp.listdir('/')}")
    observer_transport.close()
    transport.close()


def hardlink(sftp, old, new):
    _, response = sftp._request(paramiko.sftp.CMD_EXTENDED, "hardlink@openssh.com", old, new)
    return response


def raw_channel(args):
    transport, _ = connect(args)
    chan = transport.open_session()
    chan.invoke_subsystem("sftp")
    return transport, chan


def send_packet(chan, payload):
    chan.sendall(struct.pack(">I", len(payload)) + payload)


def read_packet(chan, timeout=10):
    chan.settimeout(timeout)
    head = b""
    while len(head) < 4:
        chunk = chan.recv(4 - len(head))
        if not chunk:
            return None
        head += chunk
    (length,) = struct.unpack(">I", head)
    body = b""
    while len(body) < length:
        chunk = chan.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def scenario_malformed(args):
    """Bad packets cost the sender only: errors or a closed channel, never a crash."""
    # 1. Requests before INIT, truncated packets, unknown types: answered with errors.
    transport, chan = raw_channel(args)
    send_packet(chan, bytes([17]) + struct.pack(">I", 1) + struct.pack(">I", 1) + b"/")  # STAT before INIT
    reply = read_packet(chan)
    expect(reply is not None and reply[0] == 101, f"status before init: {reply!r}")
    send_packet(chan, bytes([1]) + struct.pack(">I", 3))  # INIT v3
    reply = read_packet(chan)
    expect(reply is not None and reply[0] == 2, f"version reply: {reply!r}")
    expect(b"posix-rename@openssh.com" in reply and b"limits@openssh.com" in reply, "extensions announced")
    send_packet(chan, bytes([17]) + struct.pack(">I", 2) + struct.pack(">I", 9999) + b"/")  # string longer than packet
    reply = read_packet(chan)
    expect(reply is not None and reply[0] == 101, f"truncated stat answered: {reply!r}")
    send_packet(chan, bytes([99]) + struct.pack(">I", 3))  # unknown type
    reply = read_packet(chan)
    expect(reply is not None and reply[0] == 101, f"unknown type answered: {reply!r}")
    code = struct.unpack(">I", reply[5:9])[0]
    expect(code == 8, f"unknown type is OP_UNSUPPORTED, got {code}")
    send_packet(chan, bytes([5]) + struct.pack(">I", 4) + struct.pack(">I", 2) + b"77" + struct.pack(">QI", 0, 10))  # READ bad handle
    reply = read_packet(chan)
    expect(reply is not None and reply[0] == 101, f"read on a bad handle answered: {reply!r}")
    send_packet(chan, bytes([6]) + struct.pack(">I", 5))  # WRITE cut short
    reply = read_packet(chan)
    expect(reply is not None and reply[0] == 101, f"short write answered: {reply!r}")
    send_packet(chan, bytes([200]) + struct.pack(">I", 6) + struct.pack(">I", 3) + b"zzz")  # unknown extension
    reply = read_packet(chan)
    expect(reply is not None and reply[0] == 101 and struct.unpack(">I", reply[5:9])[0] == 8, f"unknown extension: {reply!r}")
    # The session still works.
    send_packet(chan, bytes([16]) + struct.pack(">I", 7) + struct.pack(">I", 1) + b".")
    reply = read_packet(chan)
    expect(reply is not None and reply[0] == 104, f"realpath still answered: {reply!r}")
    transport.close()

    # 2. A packet length over the limit closes that session only.
    transport, chan = raw_channel(args)
    send_packet(chan, bytes([1]) + struct.pack(">I", 3))
    read_packet(chan)
    chan.sendall(struct.pack(">I", 0x7FFFFFFF) + b"\x06" * 100)
    reply = read_packet(chan, timeout=10)
    expect(reply is None, f"oversized packet closes the channel, got {reply!r}")
    transport.close()

    # 3. A client that vanishes mid-packet and mid-upload.
    transport, chan = raw_channel(args)
    send_packet(chan, bytes([1]) + struct.pack(">I", 3))
    read_packet(chan)
    chan.sendall(struct.pack(">I", 1000) + b"\x03\x00")  # half a packet
    transport.sock.shutdown(socket.SHUT_RDWR)
    transport.close()

    # 4. After all that, a normal client is served as usual.
    transport, sftp = connect(args)
    with sftp.open("/after.txt", "wb") as f:
        f.write(b"still fine")
    with sftp.open("/after.txt", "rb") as f:
        expect(f.read() == b"still fine", "normal session after abuse")
    sftp.remove("/after.txt")
    transport.close()


def scenario_killed_upload(args):
    """Start an upload, write part of it, then drop the TCP connection without closing."""
    transport, sftp = connect(args)
    f = sftp.open("/killed.bin", "wb")
    f.write(os.urandom(2 * 1024 * 1024))
    f.flush()
    other_transport, other = connect(args)
    names = other.listdir("/")
    expect("killed.bin" not in names, f"the final name is not visible to others during the upload: {names}")
    other_transport.close()
    expect(sftp.stat("/killed.bin").st_size == 2 * 1024 * 1024,
           "the uploading session sees its file under the final name")
    transport.sock.shutdown(socket.SHUT_RDWR)
    transport.sock.close()
    print("dropped", flush=True)


def scenario_big_download(args):
    """paramiko's get() prefetches the whole file at once (no cap on outstanding reads): the
    burst that deadlocks servers whose SFTP loop stops draining the channel."""
    transport, sftp = connect(args)
    size = args.size_mib * 1024 * 1024
    block = os.urandom(1024 * 1024)
    with sftp.open("/big-prefetch.bin", "wb") as f:
        f.set_pipelined(True)
        for _ in range(args.size_mib):
            f.write(block)
    local = args.local
    start = time.time()
    sftp.get("/big-prefetch.bin", local)
    expect(os.path.getsize(local) == size, f"downloaded {os.path.getsize(local)} of {size}")
    with open(local, "rb") as f:
        expect(all(f.read(len(block)) == block for _ in range(args.size_mib)), "content differs")
    print(f"downloaded {args.size_mib} MiB in {time.time() - start:.1f}s", flush=True)
    sftp.remove("/big-prefetch.bin")
    transport.close()


def raw_open_flood_file(args):
    """A raw SFTP channel with /flood.bin (the test made it) open for reading: (transport,
    channel, handle)."""
    transport, chan = raw_channel(args)
    send_packet(chan, bytes([1]) + struct.pack(">I", 3))
    read_packet(chan)
    name = b"/flood.bin"
    send_packet(chan, bytes([3]) + struct.pack(">I", 1) + struct.pack(">I", len(name)) + name
                + struct.pack(">II", 1, 0))
    reply = read_packet(chan)
    expect(reply is not None and reply[0] == 102, f"open: {reply!r}")
    return transport, chan, reply[9:9 + struct.unpack(">I", reply[5:9])[0]]


def scenario_flood(args):
    """Sends READ requests without ever reading a reply, until the node stops reading (no
    progress for a second) or --requests are sent; prints `flooding N` and holds the
    connection open until stdin closes."""
    transport, chan, handle = raw_open_flood_file(args)
    progress = [0]

    def sender():
        try:
            while progress[0] < args.requests:
                n = progress[0]
                packet = bytes([5]) + struct.pack(">I", 2 + n) + struct.pack(">I", len(handle)) \
                    + handle + struct.pack(">QI", (n % 64) * 261120, 261120)
                chan.sendall(struct.pack(">I", len(packet)) + packet)
                progress[0] += 1
        except Exception:  # noqa: BLE001 - the node may cut us: what we want to see
            pass

    threading.Thread(target=sender, daemon=True).start()
    last, since = -1, time.time()
    deadline = time.time() + 20
    while time.time() < deadline and progress[0] < args.requests:
        time.sleep(0.1)
        if progress[0] != last:
            last, since = progress[0], time.time()
        elif time.time() - since > 1.0:
            break  # the server pushes back: exactly what we want to see
    print(f"flooding {progress[0]}", flush=True)
    sys.stdin.read()
    os._exit(0)


def scenario_memflood(args):
    """Opens --connections logged-in connections, one after the other; on each, one SFTP
    session asks for the largest reads of /flood.bin and never reads a reply, until the node
    stops reading. Prints a JSON line with what it did, then holds everything until stdin
    closes. (One stalled session stalls its whole connection in the node, so each flood gets a
    connection of its own.)"""
    held = []
    sent = 0
    for _ in range(args.connections):
        transport, chan, handle = raw_open_flood_file(args)
        # 200 reads of 255 KiB: 50 MiB asked for, in 6 KiB of requests (never enough to
        # block this client's own socket).
        for n in range(200):
            packet = bytes([5]) + struct.pack(">I", 2 + n) + struct.pack(">I", len(handle)) + handle \
                + struct.pack(">QI", (n % 32) * 261120, 261120)
            chan.sendall(struct.pack(">I", len(packet)) + packet)
            sent += 1
        held.append((transport, chan))
    print(json.dumps({"connections": len(held), "requests": sent}), flush=True)
    sys.stdin.read()
    os._exit(0)


def scenario_vanish(args):
    """Fills the node's request and reply queues (READs whose replies are never read, so the
    SSH window closes), then vanishes without a word: the socket is shut and closed while the
    node is blocked. Prints `vanished`."""
    transport, chan, handle = raw_open_flood_file(args)
    progress = [0]

    def sender():
        try:
            while True:
                packet = bytes([5]) + struct.pack(">I", 2 + progress[0]) \
                    + struct.pack(">I", len(handle)) + handle + struct.pack(">QI", 0, 261120)
                chan.sendall(struct.pack(">I", len(packet)) + packet)
                progress[0] += 1
        except Exception:  # noqa: BLE001 - the socket goes away under it
            pass

    threading.Thread(target=sender, daemon=True).start()
    last, since = -1, time.time()
    deadline = time.time() + 20
    while time.time() < deadline:
        time.sleep(0.1)
        if progress[0] != last:
            last, since = progress[0], time.time()
        elif time.time() - since > 1.0:
            break
    expect(time.time() - since > 1.0, f"the node kept reading after {progress[0]} requests")
    transport.sock.shutdown(socket.SHUT_RDWR)
    transport.sock.close()
    print(f"vanished after {progress[0]} requests", flush=True)
    os._exit(0)


def scenario_sessions(args):
    """One logged-in connection opens as many SFTP sessions as it can, and in each as many
    directory handles as it can. Prints a JSON line with what it got, then holds everything
    until stdin closes."""
    transport, _ = connect(args)
    clients = []
    refused = 0
    for _ in range(args.sessions):
        try:
            clients.append(paramiko.SFTPClient.from_transport(transport))
        except Exception:  # noqa: BLE001 - refused channels are the point
            refused += 1
    handles = 0
    handle_errors = 0
    for client in clients:
        for _ in range(args.handles):
            try:
                client._request(paramiko.sftp.CMD_OPENDIR, "/")
                handles += 1
            except Exception:  # noqa: BLE001
                handle_errors += 1
                break
    print(json.dumps({"sessions": len(clients), "refused": refused, "handles": handles}), flush=True)
    sys.stdin.read()
    transport.close()


def scenario_links(args):
    """Links made through links: every way to a link that leads out is refused, the links
    that are allowed are stored in their shortest form. The test then resolves every link on
    the storage from outside."""
    transport, sftp = connect(args)
    sftp.symlink(".", "/dot")
    expect(sftp.readlink("/dot") == ".", f"dot: {sftp.readlink('/dot')}")
    sftp.mkdir("/d")
    sftp.mkdir("/d/e")
    attempts = [
        ("../../../etc/passwd", "/dot/dot/dot/evil"),  # the link's folder is the home itself
        ("../../../../", "/dot/dot/dot/dot/root"),
        ("dot/../../x", "/evil2"),                     # `..` taken after following `dot`
        ("missing/../../x", "/evil3"),                 # climbing out of what does not exist yet
        ("../..", "/d/up"),
        ("e/../../..", "/d/up2"),
        ("/d/../../..", "/d/e/up3"),
    ]
    for target, link in attempts:
        expect_error(lambda t=target, l=link: sftp.symlink(t, l), PermissionError,
                     f"symlink {link} -> {target}")
    sftp.symlink("/d/e", "/d/e/self")   # absolute: stored as the shortest relative path
    expect(sftp.readlink("/d/e/self") == ".", f"self: {sftp.readlink('/d/e/self')}")
    sftp.symlink("/dot/d", "/d/via-dot")  # through a link: stored as where it really leads
    expect(sftp.readlink("/d/via-dot") == ".", f"via-dot: {sftp.readlink('/d/via-dot')}")
    sftp.symlink("../../x", "/d/e/deep")
    # Moving a link, or its folder, to where it would lead out is refused.
    expect_error(lambda: sftp.rename("/d/e/deep", "/deep"), PermissionError, "rename a link up")
    expect_error(lambda: sftp.rename("/d/e", "/e"), PermissionError, "rename its folder up")
    expect_error(lambda: hardlink_checked(sftp, "/d/e/deep", "/deep2"), PermissionError,
                 "hard link of a link elsewhere")
    transport.close()


def close_checked(f):
    """SFTPFile.close swallows the server's answer: send the CLOSE and raise on an error."""
    f.flush()
    f._closed = True
    f.sftp._request(paramiko.sftp.CMD_CLOSE, f.handle)


def hardlink_checked(sftp, old, new):
    sftp._request(paramiko.sftp.CMD_EXTENDED, "hardlink@openssh.com", old, new)


def scenario_truncate(args):
    """Truncates --path to --bytes by path (SETSTAT size)."""
    transport, sftp = connect(args)
    sftp.truncate(args.path, args.bytes)
    transport.close()


def scenario_forge(args):
    """Tries to forge log lines: an exec request and a user name with a newline and escape
    codes."""
    forged = "\n2026-01-01T00:00:00.000000Z  INFO login user=root method=\"publickey\"\x1b[2J\x1b[1A"
    transport, _ = connect(args)
    chan = transport.open_session()
    try:
        chan.exec_command("ls" + forged)
    except paramiko.SSHException:
        pass
    transport.close()
    t = paramiko.Transport(("127.0.0.1", args.port))
    t.start_client(timeout=10)
    try:
        t.auth_password("x" + forged, "wrong")
    except paramiko.SSHException:
        pass
    t.close()


def scenario_password(args):
    transport, sftp = connect(args)
    with sftp.open("/pw.txt", "wb") as f:
        f.write(b"password login")
    sftp.remove("/pw.txt")
    transport.close()


def scenario_upload_slow(args):
    """Uploads a file slowly in chunks (for drain tests); prints progress lines."""
    transport, sftp = connect(args)
    data = os.urandom(64 * 1024)
    print("started", flush=True)
    with sftp.open(args.remote, "wb") as f:
        for _ in range(args.chunks):
            f.write(data)
            time.sleep(args.delay)
    print("completed", flush=True)
    st = sftp.stat(args.remote)
    expect(st.st_size == len(data) * args.chunks, f"size {st.st_size}")
    transport.close()


def scenario_session(args):
    """Holds one logged-in session open until stdin closes, then proves it still works."""
    transport, sftp = connect(args)
    # The local port lets a test find this very connection in a node's audit log.
    print(f"ready {transport.sock.getsockname()[1]}", flush=True)
    sys.stdin.read()
    expect(sftp.normalize(".") == "/", "the session still works")
    transport.close()
    print("done", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--key")
    parser.add_argument("--password-env")
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("--outside", default="/nonexistent")
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--remote", default="/slow.bin", help="upload-slow's remote path")
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--local", default="/dev/null")
    parser.add_argument("--requests", type=int, default=200000)
    parser.add_argument("--bind", default=None)
    parser.add_argument("--path", default="/")
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--handles", type=int, default=300)
    args = parser.parse_args()
    scenarios = {
        "ops": scenario_ops,
        "escape": scenario_escape,
        "malformed": scenario_malformed,
        "killed-upload": scenario_killed_upload,
        "atomic": scenario_atomic,
        "vanish": scenario_vanish,
        "memflood": scenario_memflood,
        "links": scenario_links,
        "truncate": scenario_truncate,
        "forge": scenario_forge,
        "sessions": scenario_sessions,
        "password": scenario_password,
        "big-download": scenario_big_download,
        "flood": scenario_flood,
        "upload-slow": scenario_upload_slow,
        "session": scenario_session,
    }
    scenarios[args.scenario](args)
    print("ok")


if __name__ == "__main__":
    main()
