#!/usr/bin/env python3
"""Echo server for hybi's interop tests, built on Tornado 3.2.2, the last Tornado with Hixie-76.

Usage: tornado3_server.py PORT      (PORT 0 picks a free port; listens on 127.0.0.1 only)

Speaks Hixie-76/HyBi-00 (enabled with allow_draft76; Tornado refuses it without an Origin header) and
Sec-WebSocket-Version 7, 8 and 13. Text comes back as text, binary as binary; Tornado answers pings, and
answers a close frame with an EMPTY close frame (no code).

Workaround: Tornado 3.2's Hixie-76 close writes the str "\xff\x00" to the stream, which Python 3's Tornado
rejects (AssertionError), so the FF 00 answer is never sent. We let the stream take a str of U+0000..U+00FF
by writing its latin-1 bytes; nothing else in the library passes a str.

One line per event on stdout:
    listening PORT | open CLASS | text NBYTES | binary NBYTES | close
Interpreter: $HYBI_DEPS/py-tornado3/bin/python (scripts/install-test-deps.sh).
"""
import sys

import tornado.httpserver
import tornado.ioloop
import tornado.iostream
import tornado.netutil
import tornado.web
import tornado.websocket


_write = tornado.iostream.BaseIOStream.write


def write_bytes(self, data, callback=None):
    if isinstance(data, str):
        data = data.encode("latin-1")
    return _write(self, data, callback)


tornado.iostream.BaseIOStream.write = write_bytes


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Echo(tornado.websocket.WebSocketHandler):
    def allow_draft76(self):
        return True

    def open(self):
        say("open %s" % type(self.ws_connection).__name__)

    def on_message(self, message):
        binary = isinstance(message, bytes)
        say("%s %d" % ("binary" if binary else "text", len(message if binary else message.encode("utf-8"))))
        self.write_message(message, binary=binary)

    def on_close(self):
        say("close")


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: tornado3_server.py PORT")
    sockets = tornado.netutil.bind_sockets(int(sys.argv[1]), address="127.0.0.1")
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/.*", Echo)]))
    server.add_sockets(sockets)
    say("listening %d" % sockets[0].getsockname()[1])
    tornado.ioloop.IOLoop.instance().start()


if __name__ == "__main__":
    main()
