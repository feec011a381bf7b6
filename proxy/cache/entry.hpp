#pragma once
// One stored response: what the memory store keeps behind a shared_ptr and what the Redis store
// keeps as a blob (serialize / parse_entry). Built by cache::make_entry from an upstream response
// (policy.hpp), which decides what it holds:
//  - headers: the upstream's, minus hop-by-hop fields (Connection and the fields it names,
//    Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authenticate,
//    Proxy-Authorization), Age (recomputed on every hit), Content-Length (the body is whole: the
//    sender sets it from body.size()) and Set-Cookie (never stored: such responses are refused).
//    Route header transforms are applied when serving, not stored.
//  - body: the whole decoded-from-framing body (chunking removed, Content-Encoding kept as is).
// Times are whole seconds of the system clock (the same clock as Date); the freshness fields are
// fixed when stored and recomputed when a 304 refreshes the entry.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/header_view.hpp"

namespace sluice::cache {

using seconds = std::chrono::seconds;
using time_point = std::chrono::sys_seconds;

// Freshness data of a stored response (RFC 9111 §4.2, RFC 5861).
struct freshness {
    seconds lifetime{0};                // freshness_lifetime
    seconds initial_age{0};             // corrected_initial_age at response_time
    seconds stale_while_revalidate{0};  // 0 when absent or forbidden (must-revalidate, ...)
    seconds stale_if_error{0};          // 0 when absent or forbidden
    bool no_cache = false;              // stored, but every use must be validated first
    bool no_stale = false;              // never served stale past the windows above, even if the
                                        // request allows (must-revalidate, proxy-revalidate, s-maxage)
    bool heuristic = false;             // lifetime is default_ttl (no explicit freshness)
    friend bool operator==(const freshness&, const freshness&) = default;
};

struct entry {
    std::uint16_t status = 200;
    header_list headers;
    std::string body;
    time_point request_time{};   // when the request that produced it was sent upstream
    time_point response_time{};  // when its response head arrived: "stored at"
    freshness fresh;
    std::string etag;            // validators for revalidation ("" when absent)
    std::string last_modified;
    std::vector<std::string> vary;  // names the response's Vary lists, lowercased, in order
    std::string secondary;          // secondary_key(vary, request that produced it)

    // Body plus header names and values: what max_object_bytes limits.
    std::uint64_t object_bytes() const noexcept;
    // object_bytes plus every other field and a fixed allowance for the allocations: what the
    // memory store counts against max_bytes.
    std::uint64_t charge() const noexcept;

    friend bool operator==(const entry&, const entry&) = default;
};

// Versioned, length-prefixed binary form, little-endian, with an XXH3-64 checksum of everything
// before it at the end:
//   "SLCE" u8 version=1 u8 flags u16 status
//   i64 request_time i64 response_time i64 lifetime i64 initial_age i64 swr i64 sie  (seconds)
//   str etag, str last_modified, str secondary, u32 n + n str vary, u32 n + n (str name, str value),
//   u64 body length + body, u64 checksum          (str = u32 length + bytes)
std::string serialize(const entry& e);

struct parse_result {
    std::shared_ptr<entry> value;  // null on error
    std::string error;             // why, when value is null: "truncated", "bad magic", ...
    explicit operator bool() const noexcept { return value != nullptr; }
};

// Reads what serialize wrote. Any other input, truncated, extended or corrupted, gives an error,
// never undefined behaviour; lengths are checked against the bytes left before any allocation.
parse_result parse_entry(std::string_view blob);

}  // namespace sluice::cache
