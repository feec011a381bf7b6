#pragma once
// In-process rate-limit state for every policy with store = "local", shared by all workers of one
// process. Exact across threads without a global lock: keys are spread over 64 shards, each with
// its own mutex, and a check locks one shard only (the GCRA decision and its update happen under
// that lock, so N threads see exactly the admissions one thread would).
//
// A key is the policy name, the policy's limits and the client key, hashed to 128 bits with XXH3
// under a random per-process secret (so clients cannot aim collisions at each other, and a reload
// that changes a policy's limits starts its buckets afresh). Entries are fixed-size.
//
// Memory bound: at most max_keys entries in all (max_keys / 64 per shard). When a shard is full,
// its least recently used entry is dropped; entries whose buckets are all full again ("idle":
// they equal a fresh key) are dropped from the LRU end as checks pass by, and all at once by
// collect(). An entry is one std::list node (sizeof(entry) = 88 bytes + 16 of links) and one hash
// node (32 bytes) plus a bucket pointer: 172 bytes of heap measured with glibc's malloc
// (LocalStore.FloodOfDistinctKeysStaysWithinTheBound), so the default 100,000 keys take at most
// ~17 MB however many distinct clients arrive. The cost of the bound: under a flood of new keys,
// evicted clients start again with full buckets. One store serves all policies, so a flood
// against one policy can evict another's entries.

#include "config/config.hpp"
#include "limits/gcra.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace sluice::limits {

class local_store {
public:
    static constexpr std::size_t shard_count = 64;
    static constexpr std::size_t default_max_keys = 100'000;

    explicit local_store(std::size_t max_keys = default_max_keys);
    ~local_store();
    local_store(const local_store&) = delete;
    local_store& operator=(const local_store&) = delete;

    // Decides one request of `client_key` under `policy` at `now_ns` (steady clock), and counts it
    // if allowed. Thread-safe; locks one shard.
    decision check(const config::rate_limit_policy& policy, std::string_view client_key, std::int64_t now_ns);

    // Drops every idle entry (all buckets full at `now_ns`); returns how many. For a periodic
    // timer: locks one shard at a time.
    std::size_t collect(std::int64_t now_ns);

    std::size_t size() const;  // entries in all shards
    std::size_t max_keys() const { return per_shard_ * shard_count; }

private:
    struct key {
        std::uint64_t lo = 0;
        std::uint64_t hi = 0;
        friend bool operator==(const key&, const key&) = default;
    };
    struct key_hash {
        std::size_t operator()(const key& k) const noexcept { return static_cast<std::size_t>(k.lo); }
    };
    struct entry {
        key id;
        std::int64_t idle_at = 0;  // every bucket is full from then on
        std::array<std::int64_t, max_limits> tats{};
    };
    struct alignas(64) shard {
        std::mutex mutex;
        std::list<entry> lru;  // most recently used first
        std::unordered_map<key, std::list<entry>::iterator, key_hash> index;
    };

    key key_of(const config::rate_limit_policy& policy, std::string_view client_key) const;

    std::size_t per_shard_;
    std::array<unsigned char, 192> secret_{};
    std::unique_ptr<shard[]> shards_;
};

}  // namespace sluice::limits
