#pragma once
// Serves one downstream connection: the keep-alive loop, request limits and timeouts, routing,
// local answers (redirects, direct responses, errors) and handing requests to the proxy path.

#include "server/connection_limiter.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <string>

namespace sluice::server {
class worker;
class tls_bundle;
}  // namespace sluice::server

namespace sluice::http {

// Spawns the session coroutine on the worker's io_context. `slot` (the connection's place under
// the listener's connection limits) is released when the session ends.
void start_session(boost::asio::ip::tcp::socket socket, server::worker& w, const std::string& listener_name,
                   server::listener_connections::slot slot);

// The same behind a TLS handshake (deadline: the config's header_timeout).
void start_tls_session(boost::asio::ip::tcp::socket socket, server::worker& w, const std::string& listener_name,
                       std::shared_ptr<server::tls_bundle> tls, server::listener_connections::slot slot);

}  // namespace sluice::http
