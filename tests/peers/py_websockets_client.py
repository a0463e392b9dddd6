#!/usr/bin/env python3
"""RFC 6455 client for hybi's interop tests, built on the Python `websockets` library (17.4).

Usage: py_websockets_client.py URL SCENARIO[,SCENARIO...]|all

Each scenario runs on a connection of its own and prints `ok NAME` or `FAIL NAME reason`:
    text          a few text messages (ASCII, multi-byte UTF-8, empty), each echo must match
    binary        a few binary messages (all 256 byte values, empty), each echo must match
    frag-text     one text message sent as several fragments (a multi-byte character split across two)
    frag-binary   one binary message sent as several fragments
    big-text      a 1 MiB (1048576-byte) UTF-8 text message
    big-binary    a 1 MiB binary message
    ping          pings with payloads; each must be answered by a pong with the same payload
    close-1000    close with 1000; the peer must answer with 1000
    close-4001    close with 4001 and a reason; the peer must answer with 4001
  not part of `all` (for crates/hybi-cli/tests/interop_deflate.rs):
    deflate       text (small, multi-byte, empty, 4 KiB of varied text, 256 KiB of repeated text) and
                  binary (all 256 byte values, empty, 256 KiB of a repeated pattern) messages
    compressible  one 256 KiB text message of repeated text (easy to compress)
Each connection also prints `extensions VALUE`: the Sec-WebSocket-Extensions header the server answered
with, or `none`. Compression is offered (websockets' default: compression="deflate").
Exit status 0 only when every scenario passed; the last line is `passed N failed M`.
wss:// URLs trust the CA certificate in the PEM file $HYBI_TLS_CA when set (else the system's).
Interpreter: $HYBI_DEPS/py-websockets/bin/python (scripts/install-test-deps.sh).
"""
import asyncio
import os
import ssl
import sys

from websockets.asyncio.client import connect

TIMEOUT = 20  # seconds, per scenario


def say(line):
    print(line, flush=True)


def big_text():
    """Exactly 2**20 bytes of UTF-8 with 1-, 2-, 3- and 4-byte characters."""
    unit = "hybi \u00e9\u00e8 \u20ac \U0001d11e 0123456789 "
    text = unit * (2**20 // len(unit.encode("utf-8")))
    return text + "x" * (2**20 - len(text.encode("utf-8")))


def describe(got, want):
    if type(got) is not type(want):
        return "got a %s message, want %s" % (type(got).__name__, type(want).__name__)
    g = got.encode("utf-8") if isinstance(got, str) else got
    w = want.encode("utf-8") if isinstance(want, str) else want
    if len(g) != len(w):
        return "echo has %d bytes, want %d" % (len(g), len(w))
    i = next(i for i in range(len(w)) if g[i] != w[i])
    return "echo differs at byte %d" % i


async def echo_each(ws, messages):
    for want in messages:
        await ws.send(want)
        got = await ws.recv()
        if got != want:
            raise AssertionError(describe(got, want))


async def echo_fragmented(ws, fragments, text):
    whole = b"".join(fragments)
    if text:
        whole = whole.decode("utf-8")
    # websockets sends each item of an iterable as one frame (then an empty final continuation frame)
    await ws.send(fragments, text=text)
    got = await ws.recv()
    if got != whole:
        raise AssertionError(describe(got, whole))


async def s_text(ws):
    await echo_each(ws, ["hello", "h\u00e9llo w\u00f6rld \u20ac \U0001f600", "", "x" * 125, "y" * 126, "z" * 65536])


async def s_binary(ws):
    await echo_each(ws, [bytes(range(256)), b"", b"\x00\xff" * 40000])


async def s_frag_text(ws):
    # U+20AC is e2 82 ac: split across two fragments, so UTF-8 must be checked on the whole message
    await echo_fragmented(ws, [b"frag", b"ment", b"ed \xe2\x82", b"\xac text"], True)


async def s_frag_binary(ws):
    await echo_fragmented(ws, [b"\x00\x01", b"\x02", b"", b"\xfe\xff" * 100], False)


def compressible_text():
    """Exactly 2**18 bytes (256 KiB) of repeated ASCII text."""
    unit = "hybi permessage-deflate interop: the quick brown fox jumps over the lazy dog. "
    return (unit * (2**18 // len(unit) + 1))[: 2**18]


def varied_text(n):
    """n bytes of printable ASCII that compresses poorly (a fixed linear congruential sequence)."""
    out, x = [], 12345
    for _ in range(n):
        x = (x * 1103515245 + 12345) % 2**31
        out.append(chr(33 + (x >> 16) % 94))
    return "".join(out)


async def s_deflate(ws):
    await echo_each(ws, ["hello deflate", "h\u00e9llo w\u00f6rld \u20ac \U0001f600", "", varied_text(4096), compressible_text()])
    await echo_each(ws, [bytes(range(256)), b"", bytes(range(64)) * 4096])


async def s_compressible(ws):
    await echo_each(ws, [compressible_text()])


async def s_big_text(ws):
    await echo_each(ws, [big_text()])


async def s_big_binary(ws):
    await echo_each(ws, [os.urandom(2**20)])


async def s_ping(ws):
    for payload in (b"hybi-ping", b"\x00\xff\x80", b"", b"p" * 125):
        # the waiter completes only when a pong carrying exactly this payload arrives
        waiter = await ws.ping(payload)
        try:
            await asyncio.wait_for(waiter, 5)
        except asyncio.TimeoutError:
            raise AssertionError("no pong with payload %r" % payload)
    await echo_each(ws, ["after ping"])


async def close_with(ws, code, reason):
    await ws.send("before close")
    got = await ws.recv()
    if got != "before close":
        raise AssertionError(describe(got, "before close"))
    await ws.close(code, reason)
    rcvd = ws.protocol.close_rcvd
    if rcvd is None:
        raise AssertionError("no close frame from the peer")
    if rcvd.code != code:
        raise AssertionError("peer closed with %d, want %d" % (rcvd.code, code))


async def s_close_1000(ws):
    await close_with(ws, 1000, "")


async def s_close_4001(ws):
    await close_with(ws, 4001, "hybi says bye")


SCENARIOS = {
    "text": s_text,
    "binary": s_binary,
    "frag-text": s_frag_text,
    "frag-binary": s_frag_binary,
    "big-text": s_big_text,
    "big-binary": s_big_binary,
    "ping": s_ping,
    "close-1000": s_close_1000,
    "close-4001": s_close_4001,
}
# run only when named
EXTRA_SCENARIOS = {
    "deflate": s_deflate,
    "compressible": s_compressible,
}


def tls_for(url):
    """For wss://: a context trusting $HYBI_TLS_CA (a PEM file) when set, else the system's CAs."""
    if not url.startswith("wss:"):
        return None
    return ssl.create_default_context(cafile=os.environ.get("HYBI_TLS_CA") or None)


async def run(url, name):
    try:
        async with asyncio.timeout(TIMEOUT):
            async with connect(url, max_size=64 * 2**20, ping_interval=None, proxy=None, ssl=tls_for(url)) as ws:
                say("extensions %s" % (ws.response.headers.get("Sec-WebSocket-Extensions") or "none"))
                await {**SCENARIOS, **EXTRA_SCENARIOS}[name](ws)
                if not name.startswith("close"):
                    await ws.close()
        say("ok %s" % name)
        return True
    except TimeoutError:
        say("FAIL %s timed out after %d s" % (name, TIMEOUT))
    except Exception as e:  # report any failure as one line
        say("FAIL %s %s: %s" % (name, type(e).__name__, e))
    return False


async def main(url, names):
    results = [await run(url, n) for n in names]
    passed = sum(results)
    say("passed %d failed %d" % (passed, len(results) - passed))
    return 0 if all(results) else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: py_websockets_client.py URL SCENARIO[,SCENARIO...]|all\nscenarios: " + " ".join([*SCENARIOS, *EXTRA_SCENARIOS]))
    names = list(SCENARIOS) if sys.argv[2] == "all" else sys.argv[2].split(",")
    unknown = [n for n in names if n not in SCENARIOS and n not in EXTRA_SCENARIOS]
    if unknown:
        sys.exit("unknown scenario(s): %s; known: %s" % (" ".join(unknown), " ".join([*SCENARIOS, *EXTRA_SCENARIOS])))
    sys.exit(asyncio.run(main(sys.argv[1], names)))
