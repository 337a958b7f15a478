// uws-pubsub [HOST:]PORT: a uWebSockets pub/sub server for the broadcast benchmark, the
// counterpart of the `Room` handler in benches/broadcast.rs. A text message "sub" subscribes
// the socket to the topic "room" and is answered "ok"; any other message is published to the
// room, to everyone in it but the sender. Settings in peer.h.
#include "peer.h"

int main(int argc, char **argv) {
    peer::Addr addr = peer::listen_addr(argc, argv);
    peer::exit_on_signals();

    struct PerSocketData {};
    uWS::App app;
    auto behavior = peer::behavior<PerSocketData>();
    behavior.message = [&app](auto *ws, std::string_view message, uWS::OpCode opCode) {
        if (opCode == uWS::OpCode::TEXT && message == "sub") {
            ws->subscribe("room");
            ws->send("ok", uWS::OpCode::TEXT);
        } else if (ws->isSubscribed("room")) {
            // WebSocket::publish skips the sender, but refuses a sender that subscribes to
            // nothing; such a sender cannot be in the room, so the app's publish, which
            // reaches every subscriber, reaches the same sockets.
            ws->publish("room", message, opCode);
        } else {
            app.publish("room", message, opCode);
        }
    };
    app.ws<PerSocketData>("/*", std::move(behavior));
    peer::listen_and_run(app, addr, "uws-pubsub");
    return 0;
}
