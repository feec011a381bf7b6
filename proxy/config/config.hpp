#pragma once
// The validated, immutable configuration snapshot. Built by config::load_*, never changed after;
// shared as std::shared_ptr<const config> so a request keeps the snapshot it started with.
// No Asio here: this header is included everywhere.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace re2 {
class RE2;
}

namespace sluice::config {

using duration = std::chrono::milliseconds;

// host:port as written; host may be a name, an IPv4 address or a bracketed IPv6 address.
struct endpoint {
    std::string host;
    std::uint16_t port = 0;
    std::string to_string() const;  // "host:port" ("[::1]:80" for IPv6)
    friend bool operator==(const endpoint&, const endpoint&) = default;
};

struct server_settings {
    unsigned workers = 0;  // 0 = one per CPU core (resolved by the loader)
    duration drain_timeout{30'000};
    std::string access_log = "stderr";  // "stderr" | "off" | a file path
    duration header_timeout{10'000};
    duration idle_timeout{60'000};
    std::uint64_t max_header_bytes = 64 * 1024;  // request line + headers
    std::uint32_t max_headers = 100;             // header fields per request
    std::uint64_t max_body_bytes = 1ull << 30;   // per request
};

struct admin_settings {
    std::optional<endpoint> listen;  // absent: no admin listener
};

struct listener {
    std::string name;
    endpoint listen;
};

enum class balance_kind { round_robin };

struct upstream_server {
    endpoint address;
    std::uint32_t weight = 1;  // 1..1000
};

struct upstream_timeouts {
    duration connect{2'000};
    duration response{30'000};  // from request sent to response head received
    duration idle{60'000};      // idle pooled connection lifetime
};

struct upstream {
    std::string name;
    balance_kind balance = balance_kind::round_robin;
    std::vector<upstream_server> servers;
    upstream_timeouts timeouts;
    std::uint32_t keepalive = 32;  // idle pooled connections kept per server per worker
};

struct header_match {
    std::string name;                  // case-insensitive
    std::optional<std::string> value;  // absent: header present with any value
};

struct route_match {
    std::string host = "*";  // "*", "example.com" or "*.example.com" (case-insensitive, port ignored)
    std::optional<std::string> path_prefix;
    std::optional<std::string> path_exact;
    std::optional<std::string> path_regex;     // RE2 syntax, full match against the path
    std::shared_ptr<const re2::RE2> regex;     // compiled path_regex
    std::vector<std::string> methods;          // empty: any method
    std::vector<header_match> headers;         // all must match
};

struct redirect_action {
    unsigned status = 302;  // 301 302 303 307 308
    std::string location;   // may use $scheme $host $request_uri $path $query
};

struct direct_response_action {
    unsigned status = 200;
    std::string body;
    std::string content_type = "text/plain";
};

using header_list = std::vector<std::pair<std::string, std::string>>;

struct route {
    std::string name;  // "route[N]" when not given
    route_match match;
    // exactly one of: upstream, redirect, direct_response
    std::string upstream;
    std::optional<redirect_action> redirect;
    std::optional<direct_response_action> direct_response;
    std::optional<std::string> rewrite_prefix;  // replaces match.path_prefix in the forwarded path
    header_list set_headers;                    // request headers set (replaced) before forwarding
    std::vector<std::string> remove_headers;    // request headers removed before forwarding
    header_list set_response_headers;
    std::vector<std::string> remove_response_headers;
    std::size_t upstream_index = 0;  // index into config::upstreams (resolved by the loader)
};

struct config {
    std::string source;           // file it was loaded from ("<string>" for text)
    std::uint64_t generation = 0; // set by the store when the snapshot is published
    server_settings server;
    admin_settings admin;
    std::vector<listener> listeners;
    std::vector<upstream> upstreams;
    std::vector<route> routes;
};

using snapshot = std::shared_ptr<const config>;

}  // namespace sluice::config
