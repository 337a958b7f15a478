// What the two uWebSockets peers share: the listen address from the command line, the
// WebSocket settings, listening, and exiting on a signal. API as in uWebSockets' examples.
#pragma once

#include "App.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace peer {

struct Addr {
    std::string host;
    int port;
};

// argv[1] is HOST:PORT (as scripts/bench-lib.sh's start_server appends it) or a bare PORT
// (host 127.0.0.1).
inline Addr listen_addr(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s [HOST:]PORT\n", argv[0]);
        std::exit(2);
    }
    std::string arg = argv[1];
    auto colon = arg.rfind(':');
    if (colon == std::string::npos) {
        return {"127.0.0.1", std::atoi(arg.c_str())};
    }
    return {arg.substr(0, colon), std::atoi(arg.c_str() + colon + 1)};
}

// A bench server needs no cleanup; _Exit is async-signal-safe.
inline void exit_on_signals() {
    auto on_term = [](int) { std::_Exit(0); };
    std::signal(SIGTERM, on_term);
    std::signal(SIGINT, on_term);
}

// The settings of both peers: no compression, 16 MiB messages (as wsreactor's echo example),
// no idle timeout (0 = disabled, which requires automatic pings off), and a backpressure
// limit no benchmark reaches, so no message is ever dropped or a socket closed for it.
// With UWS_COMPRESSION=1 in the environment, permessage-deflate as wsreactor's defaults
// have it: the shared compressor (no server context takeover) and a decompressor per
// socket (the client keeps its context).
template <class UserData>
uWS::App::WebSocketBehavior<UserData> behavior() {
    uWS::App::WebSocketBehavior<UserData> b;
    b.compression = uWS::DISABLED;
    if (const char *on = std::getenv("UWS_COMPRESSION"); on && std::string(on) == "1") {
        b.compression = uWS::CompressOptions(uWS::SHARED_COMPRESSOR | uWS::DEDICATED_DECOMPRESSOR);
    }
    b.maxPayloadLength = 16 * 1024 * 1024;
    b.idleTimeout = 0;
    b.maxBackpressure = 256 * 1024 * 1024;
    b.closeOnBackpressureLimit = false;
    b.resetIdleTimeoutOnSend = false;
    b.sendPingsAutomatically = false;
    return b;
}

// Listens on addr (exclusively: a port another process holds is an error, not shared) and
// runs the event loop; exits with status 1 if the port cannot be had.
inline void listen_and_run(uWS::App &app, const Addr &addr, const char *name) {
    app.listen(addr.host, addr.port, LIBUS_LISTEN_EXCLUSIVE_PORT, [&](auto *listen_socket) {
        if (!listen_socket) {
            std::fprintf(stderr, "%s: failed to listen on %s:%d\n", name, addr.host.c_str(), addr.port);
            std::exit(1);
        }
        std::fprintf(stderr, "%s: listening on %s:%d\n", name, addr.host.c_str(), addr.port);
    });
    app.run();
}

}  // namespace peer
