#pragma once
// The embedded cache store: entries in memory, shared by every worker of the process.
//
// Sharded LRU: keys hash to one of up to 16 shards, each with its own mutex, LRU list and byte
// budget (max_bytes / shards), so a lookup or insert locks one shard. Fewer shards are used when
// max_bytes is small next to max_object_bytes, so that the largest object fits a shard budget
// twice. Invariant: bytes() <= max_bytes after every call (each shard stays within its budget);
// eviction is least recently used within the shard, so globally approximate. What is counted is
// entry::charge() plus the key and a node allowance; an evicted entry still held by a reader (a
// hit being streamed) lives on outside the count until that reader drops it.
//
// A primary key holds up to max_variants variants (Vary); inserting a variant whose Vary names
// differ from the stored ones drops those (the resource changed what it varies on); inserting one
// with the same secondary key replaces it. Freshness is not the store's business: it returns what
// it has, the caller decides (policy: decide).

#include "cache/entry.hpp"
#include "cache/header_view.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::cache {

class memory_store {
public:
    static constexpr std::size_t max_shards = 16;
    static constexpr std::size_t default_max_variants = 16;
    static constexpr std::uint64_t node_overhead = 128;  // list node, index slot, key allocation

    // shards = 0: chosen from the sizes (see above); tests pass 1 for an exact LRU order.
    memory_store(std::uint64_t max_bytes, std::uint64_t max_object_bytes, std::size_t shards = 0,
                 std::size_t max_variants = default_max_variants);
    ~memory_store();
    memory_store(const memory_store&) = delete;
    memory_store& operator=(const memory_store&) = delete;

    struct lookup_result {
        std::shared_ptr<const entry> found;  // null: miss
        bool vary_miss = false;              // the key has variants, none for this request
    };
    // The most recently stored variant of `primary` whose secondary key matches `request`; marks it
    // most recently used. Counts a hit or a miss.
    lookup_result lookup(std::string_view primary, header_view request);

    enum class insert_result { stored, too_large };
    // too_large: object_bytes() > max_object_bytes, or the charge exceeds a shard budget. Evicts
    // least recently used entries of the shard until it fits.
    insert_result insert(std::string_view primary, std::shared_ptr<const entry> e);

    std::size_t erase(std::string_view primary);        // every variant; returns how many
    std::size_t erase_prefix(std::string_view prefix);  // key_has_prefix; locks one shard at a time
    void clear();

    struct counters {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::uint64_t inserts = 0;
        std::uint64_t evictions = 0;  // dropped to make room (not erased, not replaced)
        std::uint64_t refused = 0;    // too_large
        std::uint64_t bytes = 0;
        std::uint64_t entries = 0;
    };
    counters stats() const;
    std::uint64_t bytes() const noexcept { return bytes_.load(std::memory_order_relaxed); }
    std::size_t size() const noexcept { return entries_.load(std::memory_order_relaxed); }
    std::uint64_t max_bytes() const noexcept { return max_bytes_; }
    std::uint64_t max_object_bytes() const noexcept { return max_object_bytes_; }
    std::size_t shard_count() const noexcept { return shard_count_; }

private:
    struct node {
        std::string primary;
        std::shared_ptr<const entry> value;
        std::uint64_t charge = 0;
    };
    using lru_list = std::list<node>;
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    struct shard {
        std::mutex mutex;
        lru_list lru;  // most recently used first
        // primary -> its variants, oldest stored first
        std::unordered_map<std::string, std::vector<lru_list::iterator>, string_hash, std::equal_to<>> index;
        std::uint64_t bytes = 0;
    };

    shard& shard_of(std::string_view primary);
    // Unlinks one node (index and list) and updates the counts; the caller holds the shard lock.
    void remove(shard& s, lru_list::iterator it);

    std::uint64_t max_bytes_;
    std::uint64_t max_object_bytes_;
    std::size_t shard_count_;
    std::size_t max_variants_;
    std::uint64_t shard_budget_;
    std::unique_ptr<shard[]> shards_;
    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<std::size_t> entries_{0};
    std::atomic<std::uint64_t> hits_{0}, misses_{0}, inserts_{0}, evictions_{0}, refused_{0};
};

}  // namespace sluice::cache
