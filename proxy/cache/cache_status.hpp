#pragma once
// This cache's member of the Cache-Status response field (RFC 9211), e.g. "sluice; hit",
// "sluice; fwd=miss; stored", "sluice; fwd=stale; fwd-status=304",
// "sluice; hit; detail=stale-while-revalidate". Append it to any Cache-Status the upstream sent
// (the list runs from the origin's side to the client's).
//
// metric_result() is the `result` label of sluice_cache_requests_total:
//   hit     served from the cache without forwarding, fresh (a hit whose ttl is negative, e.g.
//           within the request's max-stale, counts as stale), or a collapsed waiter served from
//           the leader's fetch (e.g. "sluice; fwd=miss; collapsed"): misses count upstream fetches
//   stale   a stored response served although stale: stale-while-revalidate, stale-if-error, or
//           revalidated by the upstream (fwd=stale with fwd-status=304)
//   bypass  the cache did not handle the request (fwd=bypass, fwd=method)
//   miss    forwarded and answered by the upstream's new response (uri-miss, vary-miss, miss,
//           request, a revalidation answered by a full response)

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::cache {

struct cache_status {
    // Why the request went forward (RFC 9211 §2.2); none for a hit.
    enum class fwd { none, bypass, method, uri_miss, vary_miss, miss, request, stale };

    bool hit = false;
    fwd forward = fwd::none;
    std::optional<unsigned> fwd_status;  // the upstream's status for the forwarded request
    bool stored = false;                 // the response was (is being) stored
    bool collapsed = false;              // served from another request's fetch (coalescing)
    std::optional<std::int64_t> ttl;     // remaining freshness, seconds; negative when stale
    std::string key;                     // the cache key, only if it should be shown
    std::string detail;                  // e.g. "stale-while-revalidate", "stale-if-error"

    std::string to_string(std::string_view cache_name = "sluice") const;
    std::string_view metric_result() const noexcept;
};

std::string_view to_string(cache_status::fwd f) noexcept;  // "bypass", "uri-miss", ...; "" for none

}  // namespace sluice::cache
