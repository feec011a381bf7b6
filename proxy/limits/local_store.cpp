#include "limits/local_store.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

namespace sluice::limits {

namespace {

// Idle entries dropped from the LRU end per check: keeps a quiet shard shrinking at O(1) cost.
constexpr int trim_per_check = 2;

}  // namespace

local_store::local_store(std::size_t max_keys)
    : per_shard_(std::max<std::size_t>(1, max_keys / shard_count)), shards_(std::make_unique<shard[]>(shard_count)) {
    std::random_device random;
    for (std::size_t i = 0; i < secret_.size(); i += 4) {
        const auto word = static_cast<std::uint32_t>(random());
        for (std::size_t b = 0; b < 4; ++b) {
            secret_[i + b] = static_cast<unsigned char>(word >> (8 * b));
        }
    }
}

local_store::~local_store() = default;

local_store::key local_store::key_of(const config::rate_limit_policy& policy, std::string_view client_key) const {
    // One contiguous, length-prefixed input (so that no two (policy, client key) pairs give the
    // same bytes), hashed in one call: much cheaper than XXH3's streaming API for short keys.
    const std::size_t size = 2 * sizeof(std::uint64_t) + policy.name.size() + client_key.size() +
                             policy.limits.size() * 2 * sizeof(std::uint64_t);
    std::array<char, 512> stack;
    std::string heap;
    char* out = stack.data();
    if (size > stack.size()) {
        heap.resize(size);
        out = heap.data();
    }
    char* const begin = out;
    auto put = [&](const void* data, std::size_t n) {
        std::memcpy(out, data, n);
        out += n;
    };
    auto field = [&](std::string_view text) {
        const std::uint64_t n = text.size();
        put(&n, sizeof n);
        put(text.data(), text.size());
    };
    field(policy.name);
    for (const config::rate_limit_rule& rule : policy.limits) {
        const std::uint64_t shape[2] = {rule.count, rule.period_s};
        put(shape, sizeof shape);
    }
    field(client_key);
    const XXH128_hash_t h = XXH3_128bits_withSecret(begin, size, secret_.data(), secret_.size());
    return key{h.low64, h.high64};
}

decision local_store::check(const config::rate_limit_policy& policy, std::string_view client_key,
                            std::int64_t now_ns) {
    const std::size_t n = std::min(policy.limits.size(), max_limits);
    const key id = key_of(policy, client_key);
    shard& s = shards_[id.hi % shard_count];
    std::lock_guard lock(s.mutex);

    for (int i = 0; i < trim_per_check && !s.lru.empty() && s.lru.back().idle_at <= now_ns; ++i) {
        s.index.erase(s.lru.back().id);
        s.lru.pop_back();
    }

    entry* e = nullptr;
    if (auto it = s.index.find(id); it != s.index.end()) {
        s.lru.splice(s.lru.begin(), s.lru, it->second);
        e = &*it->second;
    } else if (s.index.size() >= per_shard_) {
        // Full: the least recently used entry makes room, and its nodes are reused.
        auto victim = std::prev(s.lru.end());
        auto node = s.index.extract(victim->id);
        s.lru.splice(s.lru.begin(), s.lru, victim);
        *victim = entry{id};
        node.key() = id;
        s.index.insert(std::move(node));
        e = &*victim;
    } else {
        s.lru.push_front(entry{id});
        s.index.emplace(id, s.lru.begin());
        e = &s.lru.front();
    }

    const std::span<std::int64_t> tats(e->tats.data(), n);
    const decision d = limits::check(policy, tats, now_ns);
    if (d.allowed) {
        e->idle_at = idle_at(tats);
    }
    return d;
}

std::size_t local_store::collect(std::int64_t now_ns) {
    std::size_t dropped = 0;
    for (std::size_t i = 0; i < shard_count; ++i) {
        shard& s = shards_[i];
        std::lock_guard lock(s.mutex);
        for (auto it = s.lru.begin(); it != s.lru.end();) {
            if (it->idle_at <= now_ns) {
                s.index.erase(it->id);
                it = s.lru.erase(it);
                ++dropped;
            } else {
                ++it;
            }
        }
    }
    return dropped;
}

std::size_t local_store::size() const {
    std::size_t total = 0;
    for (std::size_t i = 0; i < shard_count; ++i) {
        shard& s = shards_[i];
        std::lock_guard lock(s.mutex);
        total += s.index.size();
    }
    return total;
}

}  // namespace sluice::limits
