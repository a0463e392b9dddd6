// hybi benchmark peer: uWebSockets echo server.
//
// Binds 127.0.0.1 only. Usage: uws_echo [PORT]   (PORT 0 or absent = any free port)
// Prints "listening 127.0.0.1:PORT" once bound, then echoes every text/binary message
// with the same opcode. No compression, no idle timeout, no automatic pings, so that it
// behaves like the other echo peers (which have none of these either).
//
// Built at bench time by scripts/bench/build-uws.sh against the uWebSockets sources that the
// crates.io crate libuwebsockets-sys 0.0.10 vendors; those sources are never committed here.
#include "App.h"

#include <cstdio>
#include <cstdlib>

namespace {
struct Conn {};
}

int main(int argc, char **argv) {
    int port = argc > 1 ? std::atoi(argv[1]) : 0;

    uWS::App::WebSocketBehavior<Conn> behavior = {};
    behavior.compression = uWS::DISABLED;
    behavior.maxPayloadLength = 64 * 1024 * 1024;
    behavior.idleTimeout = 0;
    behavior.maxBackpressure = 64 * 1024 * 1024;
    behavior.sendPingsAutomatically = false;
    behavior.message = [](uWS::WebSocket<false, true, Conn> *ws, std::string_view msg, uWS::OpCode op) {
        ws->send(msg, op, false);
    };

    uWS::App()
        .ws<Conn>("/*", std::move(behavior))
        .listen("127.0.0.1", port, [](us_listen_socket_t *ls) {
            if (!ls) {
                std::fprintf(stderr, "uws_echo: listen failed\n");
                std::exit(1);
            }
            int bound = us_socket_local_port(0, (us_socket_t *) ls);
            std::printf("listening 127.0.0.1:%d\n", bound);
            std::fflush(stdout);
        })
        .run();
    return 0;
}
