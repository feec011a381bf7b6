#pragma once
// The one error category of the proxy. Each error says where it came from (downstream client,
// upstream server, or Sluice itself), whether another attempt may help, and which HTTP status
// answers it; http::error_response is the only place that turns errors into responses.

#include <string_view>
#include <system_error>

namespace sluice::http {

enum class error {
    bad_request = 1,           // malformed request from the client
    uri_too_long,              // request line over max_header_bytes
    headers_too_large,         // header section over max_header_bytes or max_headers
    body_too_large,            // body over max_body_bytes
    header_timeout,            // request head not complete within header_timeout
    no_route,                  // no [[route]] matches
    rate_limited,              // a rate_limit policy rejected the request
    upstream_connect_failed,   // refused, unreachable, reset while connecting
    upstream_connect_timeout,  // no connection within timeouts.connect
    upstream_tls_failed,       // TLS handshake with the upstream failed (certificate not trusted, name, protocol)
    upstream_timeout,          // no response (or a stalled body) within timeouts.response
    upstream_reset,            // connection closed or reset before a complete response head
    upstream_bad_response,     // unparseable response from the upstream
    no_server,                 // every server of the upstream is excluded
    circuit_open,              // every server left is behind an open circuit breaker
    upstream_overflow,         // the upstream's max_connections / max_pending cap is reached
    lua_error,                 // a route's Lua filter failed: runtime error, instruction or memory limit
    internal,
};

enum class origin { downstream, upstream, internal };

const std::error_category& category() noexcept;
inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), category()}; }

unsigned status_of(error e) noexcept;        // 400, 414, 431, 413, 408, 404, 429, 502, 504, 503, 500 (lua_error: 500)
std::string_view code_of(error e) noexcept;  // short snake_case token used in JSON bodies and logs
origin origin_of(error e) noexcept;
bool retryable(error e) noexcept;            // another server might succeed (nothing was sent upstream)

// The JSON body of an error Sluice produces: {"error":"<code>","request_id":"<id>"}.
// circuit_open and upstream_overflow name the upstream: {"error":..,"upstream":..,"request_id":..}.
std::string error_body(error e, std::string_view request_id, std::string_view upstream = {});

}  // namespace sluice::http

template <>
struct std::is_error_code_enum<sluice::http::error> : std::true_type {};
