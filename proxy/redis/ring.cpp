#include "redis/ring.hpp"

#include <xxhash.h>

#include <algorithm>
#include <stdexcept>

namespace sluice::redis {

ring::ring(std::vector<std::string> servers, std::uint32_t points) : servers_(std::move(servers)) {
    if (servers_.empty()) throw std::invalid_argument("redis ring: no servers");
    points = std::max<std::uint32_t>(points, 1);
    points_.reserve(servers_.size() * points);
    for (std::size_t s = 0; s < servers_.size(); ++s) {
        const std::string& a = servers_[s];
        for (std::uint32_t k = 0; k < points; ++k)
            points_.emplace_back(XXH3_64bits_withSeed(a.data(), a.size(), k), static_cast<std::uint32_t>(s));
    }
    // Ties broken by address, not list position: the ring does not depend on the order of the list.
    std::sort(points_.begin(), points_.end(), [this](const auto& x, const auto& y) {
        if (x.first != y.first) return x.first < y.first;
        return servers_[x.second] < servers_[y.second];
    });
}

std::size_t ring::pick(std::string_view key) const noexcept {
    if (servers_.size() == 1) return 0;
    const std::uint64_t h = XXH3_64bits(key.data(), key.size());
    auto it = std::lower_bound(points_.begin(), points_.end(), h,
                               [](const auto& p, std::uint64_t v) { return p.first < v; });
    if (it == points_.end()) it = points_.begin();  // wrap around the circle
    return it->second;
}

}  // namespace sluice::redis
