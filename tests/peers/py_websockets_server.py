#!/usr/bin/env python3
"""RFC 6455 echo server for hybi's interop tests, built on the Python `websockets` library (17.4).

Usage: py_websockets_server.py PORT      (PORT 0 picks a free port)

Listens on 127.0.0.1 only. Every text or binary message is sent back unchanged (websockets reassembles
fragmented messages, so they come back as one message); websockets itself answers pings and echoes the
close frame's code and reason. Prints one line per event on stdout:
    listening PORT
    open PATH version=N
    extensions VALUE                       (the Sec-WebSocket-Extensions it answered with, or `none`)
    frame OPCODE len=N fin=True|False      (every frame received, so tests can see fragmentation)
    text NBYTES | binary NBYTES           (every message received)
    close CODE REASON
With $HYBI_TLS_CERT and $HYBI_TLS_KEY (PEM files) set, it serves TLS (wss://).
permessage-deflate is accepted when offered (websockets' default: compression="deflate").
Runs until killed. Interpreter: $HYBI_DEPS/py-websockets/bin/python (scripts/install-test-deps.sh).
"""
import asyncio
import logging
import os
import ssl
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def say(line):
    print(line, flush=True)


class FrameLog(logging.Handler):
    """websockets logs each received frame at DEBUG level as ("< %s", frame): print it as one line."""

    def emit(self, record):
        if record.msg == "< %s" and record.args and hasattr(record.args[0], "opcode"):
            frame = record.args[0]
            say("frame %s len=%d fin=%s" % (frame.opcode.name, len(frame.data), frame.fin))


async def echo(ws):
    say("open %s version=%s" % (ws.request.path, ws.request.headers.get("Sec-WebSocket-Version")))
    say("extensions %s" % (ws.response.headers.get("Sec-WebSocket-Extensions") or "none"))
    try:
        async for msg in ws:
            if isinstance(msg, str):
                say("text %d" % len(msg.encode("utf-8")))
            else:
                say("binary %d" % len(msg))
            await ws.send(msg)
    except ConnectionClosed:
        pass
    try:
        await asyncio.wait_for(ws.wait_closed(), 10)
    except asyncio.TimeoutError:
        pass
    rcvd = ws.protocol.close_rcvd
    if rcvd is None:
        say("close none (no close frame received)")
    else:
        say("close %d %s" % (rcvd.code, rcvd.reason))


def tls_context():
    """A TLS context from $HYBI_TLS_CERT and $HYBI_TLS_KEY, or None for plain ws://."""
    cert, key = os.environ.get("HYBI_TLS_CERT"), os.environ.get("HYBI_TLS_KEY")
    if not (cert and key):
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


async def main(port):
    log = logging.getLogger("websockets.server")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(FrameLog())
    # 1 MiB messages are part of the tests: raise the default 1 MiB limit. No keepalive pings.
    async with serve(echo, "127.0.0.1", port, max_size=64 * 2**20, ping_interval=None, ssl=tls_context()) as server:
        say("listening %d" % server.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: py_websockets_server.py PORT")
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
