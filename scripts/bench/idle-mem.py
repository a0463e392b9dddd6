#!/usr/bin/env python3
"""Server memory per idle WebSocket connection (shared/bench/README.md, method 5).

Starts SERVER (it must print 127.0.0.1:PORT once bound), reads its RSS, opens N connections
that each complete an RFC 6455 handshake and then sit idle, waits, reads RSS again:
(RSS after - RSS before) / N.

usage: idle-mem.py N -- SERVER ARGS...
"""
import base64
import os
import re
import selectors
import socket
import subprocess
import sys
import time

from procstat import rss_kib


def main():
    argv = sys.argv[1:]
    sep = argv.index("--")
    n = int(argv[0])
    server = subprocess.Popen(
        ["taskset", "-c", "0"] + argv[sep + 1 :],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    port = None
    for line in server.stdout:
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    time.sleep(0.5)
    before = rss_kib(server.pid)
    key = base64.b64encode(b"0123456789abcdef").decode()
    req = (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    socks = []
    ok = 0
    sel = selectors.DefaultSelector()
    batch = 100
    for start in range(0, n, batch):
        pending = {}
        for _ in range(min(batch, n - start)):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(req)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            pending[s] = b""
            socks.append(s)
        deadline = time.time() + 10
        while pending and time.time() < deadline:
            for k, _ in sel.select(timeout=1):
                s = k.fileobj
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                pending[s] += data
                if b"\r\n\r\n" in pending[s] or not data:
                    ok += pending[s].startswith(b"HTTP/1.1 101")
                    sel.unregister(s)
                    del pending[s]
        for s in pending:
            sel.unregister(s)
    time.sleep(2)
    after = rss_kib(server.pid)
    print(
        f'{{"server": "{os.path.basename(argv[sep + 1])}", "connections": {ok}, '
        f'"rss_before_kib": {before}, "rss_after_kib": {after}, '
        f'"kib_per_conn": {(after - before) / max(ok, 1):.3f}}}',
        flush=True,
    )
    for s in socks:
        s.close()
    server.terminate()
    server.wait()


if __name__ == "__main__":
    main()
