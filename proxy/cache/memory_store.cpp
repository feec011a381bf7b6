#include "cache/memory_store.hpp"

#include "cache/key.hpp"

#include <xxhash.h>

#include <algorithm>

namespace sluice::cache {

namespace {

std::size_t auto_shards(std::uint64_t max_bytes, std::uint64_t max_object_bytes) {
    const std::uint64_t per_two_objects = 2 * std::max<std::uint64_t>(max_object_bytes, 1);
    return static_cast<std::size_t>(std::clamp<std::uint64_t>(max_bytes / per_two_objects, 1, memory_store::max_shards));
}

}  // namespace

memory_store::memory_store(std::uint64_t max_bytes, std::uint64_t max_object_bytes, std::size_t shards,
                           std::size_t max_variants)
    : max_bytes_(max_bytes),
      max_object_bytes_(max_object_bytes),
      shard_count_(shards == 0 ? auto_shards(max_bytes, max_object_bytes) : std::min(shards, max_shards)),
      max_variants_(std::max<std::size_t>(max_variants, 1)),
      shard_budget_(max_bytes / shard_count_),
      shards_(std::make_unique<shard[]>(shard_count_)) {}

memory_store::~memory_store() = default;

memory_store::shard& memory_store::shard_of(std::string_view primary) {
    return shards_[XXH3_64bits(primary.data(), primary.size()) % shard_count_];
}

void memory_store::remove(shard& s, lru_list::iterator it) {
    if (auto found = s.index.find(it->primary); found != s.index.end()) {
        auto& variants = found->second;
        variants.erase(std::remove(variants.begin(), variants.end(), it), variants.end());
        if (variants.empty()) s.index.erase(found);
    }
    s.bytes -= it->charge;
    bytes_.fetch_sub(it->charge, std::memory_order_relaxed);
    entries_.fetch_sub(1, std::memory_order_relaxed);
    s.lru.erase(it);
}

memory_store::lookup_result memory_store::lookup(std::string_view primary, header_view request) {
    lookup_result result;
    shard& s = shard_of(primary);
    std::lock_guard lock(s.mutex);
    const auto found = s.index.find(primary);
    if (found != s.index.end()) {
        // Newest first; variants usually share their Vary names, so compute the key once per list.
        const std::vector<std::string>* names = nullptr;
        std::string key;
        const auto& variants = found->second;
        for (auto v = variants.rbegin(); v != variants.rend(); ++v) {
            const entry& e = *(*v)->value;
            if (!names || *names != e.vary) {
                names = &e.vary;
                key = secondary_key(e.vary, request);
            }
            if (key == e.secondary) {
                s.lru.splice(s.lru.begin(), s.lru, *v);
                result.found = (*v)->value;
                break;
            }
        }
        result.vary_miss = !result.found;
    }
    (result.found ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
    return result;
}

memory_store::insert_result memory_store::insert(std::string_view primary, std::shared_ptr<const entry> e) {
    const std::uint64_t charge = e->charge() + primary.size() + node_overhead;
    if (e->object_bytes() > max_object_bytes_ || charge > shard_budget_) {
        refused_.fetch_add(1, std::memory_order_relaxed);
        return insert_result::too_large;
    }
    shard& s = shard_of(primary);
    std::lock_guard lock(s.mutex);
    if (const auto found = s.index.find(primary); found != s.index.end()) {
        // Drop the variant this one replaces and those that vary on other fields; then the oldest
        // variants beyond the limit.
        std::vector<lru_list::iterator> drop;
        std::size_t kept = 0;
        for (const auto it : found->second) {
            const entry& old = *it->value;
            if (old.vary != e->vary || old.secondary == e->secondary) {
                drop.push_back(it);
            } else {
                ++kept;
            }
        }
        for (const auto it : found->second) {
            if (kept < max_variants_) break;
            if (std::find(drop.begin(), drop.end(), it) == drop.end()) {
                drop.push_back(it);
                --kept;
            }
        }
        for (const auto it : drop) remove(s, it);
    }
    while (s.bytes + charge > shard_budget_ && !s.lru.empty()) {
        remove(s, std::prev(s.lru.end()));
        evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    s.lru.push_front(node{std::string(primary), std::move(e), charge});
    auto slot = s.index.find(primary);
    if (slot == s.index.end()) slot = s.index.emplace(std::string(primary), std::vector<lru_list::iterator>{}).first;
    slot->second.push_back(s.lru.begin());
    s.bytes += charge;
    bytes_.fetch_add(charge, std::memory_order_relaxed);
    entries_.fetch_add(1, std::memory_order_relaxed);
    inserts_.fetch_add(1, std::memory_order_relaxed);
    return insert_result::stored;
}

std::size_t memory_store::erase(std::string_view primary) {
    shard& s = shard_of(primary);
    std::lock_guard lock(s.mutex);
    const auto found = s.index.find(primary);
    if (found == s.index.end()) return 0;
    const std::vector<lru_list::iterator> variants = found->second;
    for (const auto it : variants) remove(s, it);
    return variants.size();
}

std::size_t memory_store::erase_prefix(std::string_view prefix) {
    std::size_t erased = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
        shard& s = shards_[i];
        std::lock_guard lock(s.mutex);
        for (auto it = s.lru.begin(); it != s.lru.end();) {
            const auto next = std::next(it);
            if (key_has_prefix(it->primary, prefix)) {
                remove(s, it);
                ++erased;
            }
            it = next;
        }
    }
    return erased;
}

void memory_store::clear() {
    for (std::size_t i = 0; i < shard_count_; ++i) {
        shard& s = shards_[i];
        std::lock_guard lock(s.mutex);
        while (!s.lru.empty()) remove(s, s.lru.begin());
    }
}

memory_store::counters memory_store::stats() const {
    counters c;
    c.hits = hits_.load(std::memory_order_relaxed);
    c.misses = misses_.load(std::memory_order_relaxed);
    c.inserts = inserts_.load(std::memory_order_relaxed);
    c.evictions = evictions_.load(std::memory_order_relaxed);
    c.refused = refused_.load(std::memory_order_relaxed);
    c.bytes = bytes_.load(std::memory_order_relaxed);
    c.entries = entries_.load(std::memory_order_relaxed);
    return c;
}

}  // namespace sluice::cache
