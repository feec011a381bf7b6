#pragma once
// Serves one downstream connection: the keep-alive loop, request limits and timeouts, routing,
// local answers (redirects, direct responses, errors) and handing requests to the proxy path.

#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace sluice::server {
class worker;
}

namespace sluice::http {

// Spawns the session coroutine on the worker's io_context.
void start_session(boost::asio::ip::tcp::socket socket, server::worker& w, const std::string& listener_name);

}  // namespace sluice::http
