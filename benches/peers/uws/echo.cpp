// uws-echo [HOST:]PORT: a uWebSockets echo server for the bench harness (the shape of
// uWebSockets' examples/EchoServer.cpp). Upgrades on any path and sends every text or
// binary message back as it came; one thread, one event loop; settings in peer.h.
#include "peer.h"

int main(int argc, char **argv) {
    peer::Addr addr = peer::listen_addr(argc, argv);
    peer::exit_on_signals();

    struct PerSocketData {};
    auto behavior = peer::behavior<PerSocketData>();
    behavior.message = [](auto *ws, std::string_view message, uWS::OpCode opCode) {
        // Compressed from 1 KiB on, as wsreactor and Node ws do (ignored without compression).
        ws->send(message, opCode, message.size() >= 1024);
    };

    uWS::App app;
    app.ws<PerSocketData>("/*", std::move(behavior));
    peer::listen_and_run(app, addr, "uws-echo");
    return 0;
}
