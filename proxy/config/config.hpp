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

namespace sluice::upstream {
struct server_state;
struct upstream_state;
class tls_client;
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

// One certificate chain and key (PEM files); `names` are the SNI names it serves ("*.x.com"
// wildcards allowed). The first certificate of a listener is the default.
struct tls_certificate {
    std::vector<std::string> names;
    std::string cert;
    std::string key;
};

struct tls_settings {
    std::vector<tls_certificate> certs;
};

struct listener {
    std::string name;
    endpoint listen;
    std::optional<tls_settings> tls;  // TLS termination when present
    // Open downstream connections allowed on this listener (all workers together) and from one
    // client IP; 0 = no limit. A connection over either is closed right after accept
    // (server::connection_limiter).
    std::uint32_t max_connections = 0;
    std::uint32_t max_connections_per_ip = 0;
};

// round_robin: smooth weighted (nginx). consistent_hash: ketama ring on hash_key (lb/ketama).
// least_request: power of two choices on in-flight requests, Envoy-style (lb/least_request).
// random_two: nginx's "random two least_conn": two weighted random draws, the less loaded wins.
// random: one weighted random draw (lb/random).
enum class balance_kind { round_robin, consistent_hash, least_request, random_two, random };

// Where consistent_hash takes its key: "client_ip", "header:NAME", "cookie:NAME", "path",
// "query:NAME" (lb::extract_hash_key).
struct hash_key_spec {
    enum class source { client_ip, header, cookie, path, query };
    source from = source::client_ip;
    std::string name;  // header (case-insensitive), cookie or query parameter (exact) name
    friend bool operator==(const hash_key_spec&, const hash_key_spec&) = default;
};

// Inclusive range of HTTP status codes.
struct status_range {
    std::uint16_t first = 200;
    std::uint16_t last = 399;
    friend bool operator==(const status_range&, const status_range&) = default;
};

// Active health checks: GET `path` on each server every `interval`; `unhealthy` consecutive
// failures mark it down, `healthy` consecutive successes bring it back (upstream::health_checker).
struct health_check_settings {
    std::string path = "/healthz";
    duration interval{5'000};
    duration timeout{1'000};  // whole check: connect, request, response head
    std::uint32_t unhealthy = 3;
    std::uint32_t healthy = 2;
    std::vector<status_range> expected{status_range{200, 399}};
    bool expects(unsigned status) const {
        for (const status_range& r : expected)
            if (status >= r.first && status <= r.last) return true;
        return false;
    }
};

// Passive outlier ejection (upstream::outlier_detector): `consecutive_failures` connect failures,
// timeouts, resets or 5xx in a row eject a server for base_ejection x times ejected (at most
// max_ejection); never more than max_ejected_percent of the servers at once.
struct outlier_settings {
    std::uint32_t consecutive_failures = 5;  // 0: passive ejection off
    duration base_ejection{30'000};
    duration max_ejection{300'000};
    std::uint32_t max_ejected_percent = 50;
};

// When a failed attempt is tried again on another server (upstream::should_retry) and how many
// retries may run at once (upstream::retry_budget).
struct retry_settings {
    std::uint32_t attempts = 2;  // tries in all, the first included; 1 = never retry
    bool on_connect_failure = true;
    bool on_timeout = false;
    bool on_reset = false;
    bool on_5xx = false;                   // "5xx": any status 500..599
    std::vector<std::uint16_t> on_status;  // e.g. 502, 503 (400..599)
    std::uint32_t budget_percent = 20;     // retries in flight <= this % of active requests...
    std::uint32_t min_concurrent = 3;      // ...but always at least this many (Envoy's default)
};

struct upstream_server {
    endpoint address;
    std::uint32_t weight = 1;  // 1..1000
    // Shared runtime state (health, ejection, breaker), attached when the snapshot is published
    // (config::attach_state); null in a snapshot that was only loaded, e.g. by `sluice -t`.
    std::shared_ptr<sluice::upstream::server_state> state;
};

// Per-server circuit breaker (breaker::circuit_breaker) and per-upstream concurrency caps
// (breaker::resource_limit, Envoy's meaning). `failure_threshold` counted failures in a row open a
// server; after `recovery_timeout` it admits `half_open_requests` probes: a success closes it, a
// failure opens it again.
struct circuit_breaker_settings {
    std::uint32_t failure_threshold = 5;   // 1..1'000'000
    duration recovery_timeout{30'000};
    std::uint32_t half_open_requests = 1;  // probes admitted at once while half-open
    std::uint32_t max_connections = 1024;  // upstream requests in progress (attempts), all workers
    std::uint32_t max_pending = 256;       // requests waiting for a connection, all workers
    // What counts as a failure (`on`): default ["connect-failure", "timeout", "5xx"].
    bool on_connect_failure = true;
    bool on_timeout = true;
    bool on_reset = false;                 // "reset": connection lost before the response completed
    bool on_5xx = true;                    // "5xx": any status 500..599
    std::vector<std::uint16_t> on_status;  // e.g. 502, 503 (500..599)
};

struct upstream_timeouts {
    duration connect{2'000};
    duration response{30'000};  // from request sent to response head received
    duration idle{60'000};      // idle pooled connection lifetime
};

// TLS to the servers of an upstream (`tls = true` or `tls = { ca_file, server_name, verify }`).
struct upstream_tls_settings {
    std::string ca_file;      // trusted CAs (PEM); empty: the system trust store
    std::string server_name;  // SNI and the name the certificate must carry; empty: each server's host
    bool verify = true;       // false: encrypted but unauthenticated (never for production)
    std::shared_ptr<sluice::upstream::tls_client> client;  // the OpenSSL client context, built by the loader
};

struct upstream {
    std::string name;
    balance_kind balance = balance_kind::round_robin;
    std::vector<upstream_server> servers;
    upstream_timeouts timeouts;
    std::uint32_t keepalive = 32;  // idle pooled connections kept per server per worker
    hash_key_spec hash_key;                     // consistent_hash only
    std::optional<double> hash_balance_factor;  // consistent_hash bounded loads (> 1.0); absent: off
    std::optional<health_check_settings> health_check;  // absent: no active checks
    outlier_settings outlier;
    retry_settings retries;
    std::optional<circuit_breaker_settings> circuit_breaker;  // absent: no breaker, no caps
    std::optional<upstream_tls_settings> tls;                 // absent: plain TCP
    // Retry budget and caps shared by workers, attached with the servers' state (attach_states).
    std::shared_ptr<sluice::upstream::upstream_state> shared;
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

// One limit of a rate-limit policy: `count` requests per `period_s` seconds.
struct rate_limit_rule {
    std::string name;            // canonical: "10/second", "50/hour", "5/10s"; header identifier, metric label
    std::uint64_t count = 0;     // 1..1'000'000'000 and at most 1'000'000 per second
    std::uint64_t period_s = 0;  // 1 second .. 366 days
    friend bool operator==(const rate_limit_rule&, const rate_limit_rule&) = default;
};

enum class rate_limit_key { client_ip, header, route };
enum class rate_limit_store { local, redis };

// [rate_limit.NAME]: every limit must admit a request (GCRA per limit, limits::check); `burst`
// adds to the limit with the shortest period.
struct rate_limit_policy {
    std::string name;  // letters, digits, '_' and '-'
    rate_limit_key key = rate_limit_key::client_ip;
    std::string key_header;               // key = "header:NAME": NAME as written (case-insensitive)
    std::vector<rate_limit_rule> limits;  // 1..8, distinct
    std::uint64_t burst = 0;              // 0..1'000'000'000
    rate_limit_store store = rate_limit_store::local;
    bool allow_on_redis_error = true;     // on_redis_error = "allow" (default) | "deny"
};

// [redis]: the servers shared by the Redis-backed features (rate limits, cache).
struct redis_settings {
    std::vector<endpoint> servers;  // at least one; keys spread over them by consistent hashing
    duration timeout{200};          // per command, connect included
    std::uint32_t pool_size = 4;    // connections per server (1..1024)
};

enum class cache_store { memory, redis };

// [cache]: the response cache of the routes with cache = true (cache::policy, cache::memory_store,
// cache::coalescer). Always present: without a [cache] table the defaults apply.
struct cache_settings {
    cache_store store = cache_store::memory;      // redis: needs [redis]
    std::uint64_t max_bytes = 256ull << 20;       // memory store: all entries
    std::uint64_t max_object_bytes = 8ull << 20;  // one response (body + headers); <= max_bytes
    duration default_ttl{0};    // lifetime of cacheable responses that give none; 0: not stored
    duration lock_timeout{5'000};  // coalesced misses wait this long for the leading fetch
    bool allow_authorization = false;  // cache requests with Authorization (responses must allow it)
};

// A route's Lua filter (lua/runtime): the file as read when the config was loaded (the loader
// checks its syntax), so workers compile it from memory. Each worker compiles it once into its
// own Lua state; the object's identity marks the config generation it belongs to.
struct lua_script {
    std::string path;    // as written in the config
    std::string source;  // the file's contents
};

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
    bool websocket = false;          // Upgrade: websocket is forwarded and the connection tunnelled
    bool cache = false;              // responses may be cached (config::cache_settings)
    std::size_t upstream_index = 0;  // index into config::upstreams (resolved by the loader)
    std::string rate_limit;              // policy name; empty: not limited
    std::size_t rate_limit_index = 0;    // index into config::rate_limits when rate_limit is set
    std::shared_ptr<const lua_script> lua;  // on_request / on_response filter; null: none
};

struct config {
    std::string source;           // file it was loaded from ("<string>" for text)
    std::uint64_t generation = 0; // set by the store when the snapshot is published
    server_settings server;
    admin_settings admin;
    std::vector<listener> listeners;
    std::vector<upstream> upstreams;
    std::vector<route> routes;
    std::vector<rate_limit_policy> rate_limits;  // sorted by name
    std::optional<redis_settings> redis;         // absent: no [redis] table
    cache_settings cache;
};

using snapshot = std::shared_ptr<const config>;

}  // namespace sluice::config
