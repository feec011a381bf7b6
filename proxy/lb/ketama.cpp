#include "lb/ketama.hpp"

#include <xxhash.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>

namespace sluice::lb {

namespace {

std::shared_ptr<const ketama::ring> build_ring(std::span<const ketama::server> servers,
                                               std::uint32_t points_per_weight) {
    const std::size_t n = servers.size();
    std::vector<std::size_t> points(n);
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) {
        points[i] = std::size_t{points_per_weight} * std::max<std::uint32_t>(servers[i].weight, 1);
        total += points[i];
    }
    if (total > ketama::max_points) {
        const double scale = static_cast<double>(ketama::max_points) / static_cast<double>(total);
        total = 0;
        for (auto& p : points) {
            p = std::max<std::size_t>(1, static_cast<std::size_t>(static_cast<double>(p) * scale));
            total += p;
        }
    }

    std::vector<std::pair<std::uint64_t, std::uint32_t>> points_list;
    points_list.reserve(total);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string& a = servers[i].address;
        for (std::size_t k = 0; k < points[i]; ++k) {
            points_list.emplace_back(XXH3_64bits_withSeed(a.data(), a.size(), k), static_cast<std::uint32_t>(i));
        }
    }
    // Ties (two points with one hash) are ordered by address, not by list position, so that the
    // ring does not depend on the order servers are written in.
    std::sort(points_list.begin(), points_list.end(), [&](const auto& x, const auto& y) {
        if (x.first != y.first) return x.first < y.first;
        return servers[x.second].address < servers[y.second].address;
    });
    auto r = std::make_shared<ketama::ring>();
    r->hashes.reserve(points_list.size());
    r->owners.reserve(points_list.size());
    for (const auto& [h, s] : points_list) {
        r->hashes.push_back(h);
        r->owners.push_back(s);
    }
    return r;
}

// Rings by server list, shared by the balancers of all workers. Taken when balancers are built
// (start, reload), never on the request path.
std::shared_ptr<const ketama::ring> shared_ring(std::span<const ketama::server> servers,
                                                std::uint32_t points_per_weight) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<const ketama::ring>> rings;

    std::string key = std::to_string(points_per_weight);
    for (const auto& s : servers) {
        key += '\n';
        key += s.address;
        key += ' ';
        key += std::to_string(s.weight);
    }
    std::lock_guard lock(mutex);
    std::erase_if(rings, [](const auto& kv) { return kv.second.expired(); });
    if (auto it = rings.find(key); it != rings.end()) {
        if (auto r = it->second.lock()) return r;
    }
    auto r = build_ring(servers, points_per_weight);
    rings[key] = r;
    return r;
}

}  // namespace

ketama::ketama(std::span<const server> servers, std::optional<double> balance_factor, std::uint64_t seed,
               std::uint32_t points_per_weight)
    : n_(servers.size()),
      factor_(balance_factor),
      ring_(shared_ring(servers, points_per_weight)),
      rng_(seed),
      seen_(servers.size(), 0) {}

std::size_t ketama::first_point(std::uint64_t hash) const {
    const auto& hashes = ring_->hashes;
    const auto it = std::lower_bound(hashes.begin(), hashes.end(), hash);
    return it == hashes.end() ? 0 : static_cast<std::size_t>(it - hashes.begin());
}

std::size_t ketama::owner(std::uint64_t hash) const {
    assert(!ring_->hashes.empty());
    return ring_->owners[first_point(hash)];
}

std::optional<std::size_t> ketama::pick(const pick_context& ctx) {
    assert(ctx.servers.size() == n_);
    const auto& hashes = ring_->hashes;
    const auto& owners = ring_->owners;
    if (hashes.empty() || ctx.servers.size() != n_) return std::nullopt;

    std::size_t candidates = 0;  // eligible servers not met yet on the walk
    std::size_t available = 0;
    std::uint64_t total_in_flight = 0;
    for (std::size_t i = 0; i < n_; ++i) {
        if (eligible(ctx, i)) ++candidates;
        if (ctx.servers[i].available) {
            ++available;
            total_in_flight += ctx.servers[i].in_flight;
        }
    }
    if (candidates == 0) return std::nullopt;

    std::uint64_t capacity = UINT64_MAX;
    if (factor_) {
        capacity = static_cast<std::uint64_t>(
            std::ceil(*factor_ * static_cast<double>(total_in_flight + 1) / static_cast<double>(available)));
    }

    const std::uint64_t hash = ctx.hash ? *ctx.hash : rng_();
    std::fill(seen_.begin(), seen_.end(), 0);
    std::optional<std::size_t> fallback;
    const std::size_t start = first_point(hash);
    for (std::size_t k = 0; k < hashes.size() && candidates > 0; ++k) {
        std::size_t p = start + k;
        if (p >= hashes.size()) p -= hashes.size();
        const std::size_t s = owners[p];
        if (seen_[s]) continue;
        seen_[s] = 1;
        if (!eligible(ctx, s)) continue;
        --candidates;
        if (ctx.servers[s].in_flight + 1 <= capacity) return s;
        if (!fallback) fallback = s;
    }
    return fallback;
}

}  // namespace sluice::lb
