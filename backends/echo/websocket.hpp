// WebSocket echo session for sluice-echo (kept in its own translation unit: it is the only
// one that instantiates Beast's WebSocket templates).
#pragma once

#include "http_server.hpp"

namespace sluice::backends::echo {

// Completes the WebSocket handshake for `request` (an Upgrade request already read from
// `socket`), then echoes text and binary messages (up to 16 MiB) until the peer closes;
// Beast answers pings and sends the peer's close code back.
asio::awaitable<void> websocket_echo(asio::ip::tcp::socket socket, const Request& request,
                                     std::string backend_name);

}  // namespace sluice::backends::echo
