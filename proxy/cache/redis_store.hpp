#pragma once
// The shared cache store: entries in Redis (serialize / parse_entry), one instance per worker over
// that worker's redis::client (its pooled, pipelined connections), so every worker and every
// replica sees the same entries. All keys of one primary key live on the server the ring picks
// for the primary key, so a lookup is one pipelined round trip (two when the resource varies).
//
// Layout ("sluice:cache:" prefix left out):
//   e:PRIMARY              the entry of a resource that does not vary
//   v:PRIMARY              the Vary names of the stored variants, '\n'-joined; absent: no Vary
//   e:PRIMARY \x1f SECOND  one variant (SECOND = secondary_key of the request that produced it)
//   i:PRIMARY              the set of that URL's variant keys (for purge)
// Every key has a TTL: store_ttl of its entry (remaining freshness + stale windows + revalidation
// time if it has a validator); v: and i: live as long as their longest-lived variant. A Lua
// script stores atomically: a non-varying entry drops v:, a variant drops e:PRIMARY, and Vary
// names that differ from the stored ones drop the old variants (as the memory store does).
//
// Purge: by key, a script drops e:, every variant listed in i:, v: and i: (O(variants), one
// round trip; also used for the invalidation by unsafe methods); by prefix, SCAN MATCH over every
// server ("e:PREFIX*" when the prefix is a URL; every e: key, filtered by key_has_prefix, when it
// is a path: O(keys in Redis), an admin operation), then the by-key script for each URL found.
//
// Errors: every call returns whether Redis answered; the caller turns a failure into a bypass.
// An entry that does not parse (corrupt, another version) is a miss.

#include "cache/entry.hpp"
#include "cache/header_view.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::redis {
class client;
}

namespace sluice::cache {

class redis_store {
public:
    static constexpr std::string_view key_prefix = "sluice:cache:";

    explicit redis_store(redis::client& client) : client_(client) {}

    struct lookup_result {
        std::shared_ptr<const entry> found;  // null: miss
        bool vary_miss = false;
        bool failed = false;  // Redis did not answer (error below)
        std::string error;
    };
    // `request` must stay valid until the call completes.
    boost::asio::awaitable<lookup_result> lookup(std::string primary, header_view request);

    // Stores `e` with EX store_ttl(e, now). Empty optional on success, else why it failed.
    boost::asio::awaitable<std::optional<std::string>> insert(std::string primary, std::shared_ptr<const entry> e,
                                                              time_point now);

    struct erase_result {
        std::size_t erased = 0;  // entries (variants) dropped
        std::optional<std::string> error;
    };
    boost::asio::awaitable<erase_result> erase(std::string primary);
    // Prefix as memory_store::erase_prefix (key_has_prefix).
    boost::asio::awaitable<erase_result> erase_prefix(std::string prefix);

    // The Redis keys of a primary key (exposed for tests).
    static std::string entry_key(std::string_view primary, std::string_view secondary = {});
    static std::string vary_key(std::string_view primary);
    static std::string index_key(std::string_view primary);
    // A glob matching `s` literally (SCAN MATCH): * ? [ ] \ escaped.
    static std::string glob_escape(std::string_view s);

private:
    redis::client& client_;
};

}  // namespace sluice::cache
