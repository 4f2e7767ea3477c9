#!/usr/bin/env python3
"""An old paramiko client: logs in as it always did and lists its folder.

Usage: paramiko_login.py HOST PORT USER HOST_KEY_ALIAS KNOWN_HOSTS (KEY_FILE | env:VAR)

The server's host key must be in KNOWN_HOSTS under HOST_KEY_ALIAS (the name the partner
pinned), and the key types the file knows are preferred, as paramiko's SSHClient does.
Prints the names in the start folder as JSON; exits 3 on a host key that is not known, 1 on
any other failure.
"""

import json
import os
import socket
import sys

import paramiko


def main():
    host, port, user, alias, known_hosts, credential = sys.argv[1:7]
    known = paramiko.HostKeys(known_hosts)
    pinned = known.lookup(alias)
    if pinned is None:
        print(f"no key for {alias} in {known_hosts}", file=sys.stderr)
        return 1
    sock = socket.create_connection((host, int(port)), timeout=10)
    transport = paramiko.Transport(sock)
    options = transport.get_security_options()
    first = [t for t in pinned.keys() if t in options.key_types]
    options.key_types = first + [t for t in options.key_types if t not in first]
    transport.start_client(timeout=10)
    key = transport.get_remote_server_key()
    if not known.check(alias, key):
        print(f"host key {key.get_name()} is not the one pinned for {alias}", file=sys.stderr)
        return 3
    if credential.startswith("env:"):
        transport.auth_password(user, os.environ[credential[4:]])
    else:
        transport.auth_publickey(user, paramiko.PKey.from_path(credential))
    if not transport.is_authenticated():
        print("not authenticated", file=sys.stderr)
        return 1
    sftp = paramiko.SFTPClient.from_transport(transport)
    print(json.dumps(sorted(sftp.listdir("."))))
    transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
