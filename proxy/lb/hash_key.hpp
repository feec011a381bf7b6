#pragma once
// The key consistent_hash balances on, taken from the request as `hash_key` says, and its hash.
// Pure functions over plain strings, so they need no HTTP library and no request object.

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace sluice::config {
struct hash_key_spec;
}

namespace sluice::lb {

// The value of the first request header field named `name` (case-insensitive), or nullopt.
using header_lookup = std::function<std::optional<std::string_view>(std::string_view name)>;

// XXH3 64-bit hash of a key (the same hash places servers on the ring).
std::uint64_t hash_key(std::string_view key);

// The key of one request: the client address ("client_ip"), a header value ("header:NAME"), a
// cookie value from the Cookie header ("cookie:NAME", names exact, value as sent), the path
// without the query ("path"), or a query parameter value ("query:NAME", raw, not percent-decoded).
// nullopt when the request has no such value or it is empty: the balancer then picks a random
// point, so keyless requests spread instead of all landing on the server of "".
// The result views into the arguments (or into what `headers` returned).
std::optional<std::string_view> extract_hash_key(const config::hash_key_spec& spec, std::string_view client_ip,
                                                 std::string_view path, std::string_view query,
                                                 const header_lookup& headers);

// hash_key(extract_hash_key(...)), for pick_context::hash.
std::optional<std::uint64_t> request_hash(const config::hash_key_spec& spec, std::string_view client_ip,
                                          std::string_view path, std::string_view query,
                                          const header_lookup& headers);

// Helpers, exposed for tests: the value of cookie `name` in a Cookie header ("a=1; b=2"), and of
// parameter `name` in a query string without the "?" ("a=1&b=2"); "" for a name without "=".
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);
std::optional<std::string_view> query_value(std::string_view query, std::string_view name);

}  // namespace sluice::lb
