#pragma once
// One request/response exchange on a downstream connection, shared between the session (which
// reads the request head and answers locally) and proxy_pass (which forwards to an upstream).
// Beast-heavy: include only from the session and proxy-path translation units.

#include "config/config.hpp"
#include "http/error.hpp"
#include "http/stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::server {
class worker;
}
namespace sluice::lua {
class request_call;
}

namespace sluice::http {

using request_parser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;

struct cache_request;  // http/cache_glue.hpp

template <class Stream>
struct exchange {
    Stream& ds;
    boost::beast::flat_buffer& dbuf;
    request_parser& parser;
    server::worker& w;
    const config::config& cfg;  // the snapshot this request started with
    const config::route& route;
    std::string_view request_id;
    std::string_view client_ip;
    std::string_view scheme;
    bool client_keep_alive = true;
    bool websocket = false;  // a WebSocket upgrade on a route that allows it
    const config::header_list* extra_response_headers = nullptr;  // e.g. RateLimit, set on the response
    cache_request* cache = nullptr;  // a caching route: Cache-Status, capture, stale-if-error
    // The upstream to forward to: the route's, or the one its Lua filter chose (set_upstream).
    std::size_t upstream_index = 0;
    const std::string* hash_key = nullptr;  // consistent_hash key chosen by the Lua filter
    const std::string* body = nullptr;      // the whole body, already read for req:body()
    lua::request_call* lua = nullptr;       // the route's filter: on_response
    bool discard_response = false;   // a background cache refresh: no request body, nothing goes downstream

    // Outcome, for the session and the access log.
    std::optional<error> err;       // set when the exchange failed
    bool response_started = false;  // a response head went downstream: no error response possible
    bool close_downstream = false;  // the connection cannot carry another request
    unsigned status = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::string server;  // last upstream server tried
    unsigned attempts = 0;
};

// Forwards the request to the route's upstream and relays the response, streaming both bodies;
// a WebSocket upgrade answered 101 becomes a byte tunnel until either side closes.
template <class Stream>
boost::asio::awaitable<void> proxy_pass(exchange<Stream>& ex);

extern template boost::asio::awaitable<void> proxy_pass<plain_stream>(exchange<plain_stream>&);
extern template boost::asio::awaitable<void> proxy_pass<tls_stream>(exchange<tls_stream>&);

}  // namespace sluice::http
