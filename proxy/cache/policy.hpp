#pragma once
// What may be cached and for how long: RFC 9111 for a shared cache, with RFC 5861's stale
// extensions. Pure functions of header fields and times the caller passes (`now` is injected).
//
// Decisions beyond the RFC's musts, stricter on purpose:
//  - Only GET and HEAD are cacheable. HEAD is served from what GET stored; a HEAD response is
//    never stored (it has no body). Unsafe methods invalidate the target's entries (invalidates).
//  - A request with Authorization bypasses the cache unless allow_authorization; even then its
//    response is stored only with public, s-maxage or must-revalidate (§3.5).
//  - Responses with Set-Cookie, "Vary: *", no-store, or private (even field-qualified) are not
//    stored. A field-qualified no-cache is treated as plain no-cache.
//  - Statuses stored: 200 203 204 300 301 308 404 405 410 414 501 (heuristically cacheable,
//    §4.2.2; 206 is left out: ranges are not cached) and, with explicit freshness only, 302 307.
//  - Without explicit freshness (s-maxage, max-age, Expires) a heuristically cacheable response
//    (or one marked public) lives default_ttl; default_ttl = 0 means such responses are not
//    stored. No Last-Modified-based heuristic.
//  - An explicit lifetime of 0 (or no-cache) is stored only if it can be revalidated (ETag or
//    Last-Modified) or served on error (stale-if-error).
//  - must-revalidate, proxy-revalidate and no-cache forbid every stale use, stale-while-revalidate
//    and stale-if-error included. s-maxage forbids stale use the request asks for (max-stale) but
//    not the windows the response grants explicitly with stale-while-revalidate / stale-if-error.

#include "cache/cache_control.hpp"
#include "cache/entry.hpp"
#include "cache/header_view.hpp"

#include <optional>
#include <string_view>

namespace sluice::config {
struct cache_settings;
}

namespace sluice::cache {

// What the policy reads from [cache].
struct settings {
    seconds default_ttl{0};
    bool allow_authorization = false;
};
settings settings_from(const config::cache_settings& c);

// What the request allows (§5.2.1), decided before any lookup.
struct request_policy {
    bool cacheable = false;          // false: forward, never store, never coalesce
    std::string_view bypass_reason;  // when !cacheable: "method", "authorization" or "no-store"
    bool head = false;               // HEAD: served from GET's entries, its own response not stored
    bool no_cache = false;           // no-cache, max-age=0, or Pragma: no-cache without Cache-Control
    bool only_if_cached = false;     // answer 504 rather than forward
    bool authorization = false;      // Authorization present (allow_authorization is on)
    std::optional<seconds> max_age;
    std::optional<seconds> max_stale;  // seconds::max() for "max-stale" without a value
    std::optional<seconds> min_fresh;
};
request_policy check_request(std::string_view method, header_view request, const settings& s);

// Whether a response to `method` with `status` must drop the stored entries of its target
// (§4.4: an unsafe method that succeeded, 2xx or 3xx).
bool invalidates(std::string_view method, unsigned status) noexcept;

bool heuristically_cacheable(unsigned status) noexcept;
bool storable_status(unsigned status) noexcept;  // the heuristic set plus 302, 307
bool is_error_status(unsigned status) noexcept;  // 500 502 503 504: stale-if-error may apply

// Whether and how long a response may be stored (§3, §4.2).
struct storage_decision {
    bool store = false;
    // When !store: "bypass", "head", "status", "no-store", "private", "authorization",
    // "set-cookie", "vary-star" or "no-lifetime".
    std::string_view reason;
    freshness fresh;  // when store
};
storage_decision check_response(const request_policy& request, unsigned status, const header_list& response,
                                time_point request_time, time_point response_time, const settings& s);

// freshness_lifetime (§4.2.1): s-maxage, else max-age, else Expires - Date (an invalid Expires
// means already expired; no Date means response_time), else default_ttl when heuristics apply
// (`heuristic` is set), else 0.
seconds freshness_lifetime(const cache_control& cc, unsigned status, const header_list& response,
                           time_point response_time, const settings& s, bool* heuristic = nullptr);

// corrected_initial_age (§4.2.3): max(apparent_age, Age + response_delay), where apparent_age is
// response_time - Date (0 if negative or no Date).
seconds initial_age(const header_list& response, time_point request_time, time_point response_time);

// current_age at `now` (the Age header of a hit): initial age plus time resident.
seconds current_age(const entry& e, time_point now);
// lifetime - current_age: > 0 fresh, <= 0 stale (Cache-Status ttl).
seconds remaining_ttl(const entry& e, time_point now);

// The upstream headers kept in an entry: all but hop-by-hop fields (and those Connection names),
// Age, Content-Length, Set-Cookie and Set-Cookie2.
header_list stored_headers(const header_list& response);

// The entry for a storable response; `request` is the request that produced it (its Vary values
// become the secondary key). A missing Date is added as response_time (RFC 9110 §6.6.1). The body
// is left empty: append it as it streams, then insert.
entry make_entry(unsigned status, const header_list& response, const storage_decision& d, header_view request,
                 time_point request_time, time_point response_time);

// How a stored entry may answer a request at `now` (§4, RFC 5861).
enum class use {
    fresh,                   // serve it
    stale_allowed,           // stale, within the request's max-stale: serve it
    stale_while_revalidate,  // stale, within stale-while-revalidate: serve it, refresh in the background
    revalidate,              // forward a conditional request (conditional_headers); 304 -> refresh
};
use decide(const entry& e, const request_policy& request, time_point now);

// How long a store should keep `e` from `now` (the Redis EX): its remaining freshness plus the
// longer stale window, plus, if it has a validator, its lifetime again (at least 5 minutes) during
// which a stale copy can still be revalidated with a 304. At least 1 second.
seconds store_ttl(const entry& e, time_point now);

// After the forward failed (connect error, timeout, reset or is_error_status): whether `e` may be
// served instead. Fresh entries may; stale ones within stale-if-error; never a no-cache one.
bool usable_on_error(const entry& e, time_point now);

// If-None-Match (the ETag) and If-Modified-Since (the Last-Modified) for revalidating `e`.
header_list conditional_headers(const entry& e);

// Whether the client's own If-None-Match / If-Modified-Since (§13.1 of RFC 9110) say its copy of
// the 200 entry `e` is current, so a hit may answer 304. If-None-Match, when present, decides.
bool not_modified(const entry& e, header_view request);

// A stored response freshened by a 304 (§4.3.4): the 304's fields replace the stored ones of the
// same name (hop-by-hop fields, Age, Content-Length and Set-Cookie excepted; a 304 without Date
// gets response_time as its Date), freshness is recomputed from the merged fields, the 304's Age
// and the new times. `matched` is false when the 304's validators name
// another representation (then refetch in full). `decision.store` false: serve `updated` once and
// erase the entry (e.g. the 304 now says no-store).
struct refresh_result {
    entry updated;
    storage_decision decision;
    bool matched = true;
};
refresh_result refresh(const entry& stored, const header_list& not_modified_response, const request_policy& request,
                       time_point request_time, time_point response_time, const settings& s);

}  // namespace sluice::cache
