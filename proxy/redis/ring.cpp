#include "redis/ring.hpp"

#include <xxhash.h>

#include <algorithm>
#include <stdexcept>

namespace sluice::redis {

ring::ring(std::vector<std::string> servers, std::size_t points) : servers_(std::move(servers)) {
    if (servers_.empty()) throw std::invalid_argument("redis ring: no servers");
    if (points == 0) points = 1;
    points_.reserve(servers_.size() * points);
    for (std::size_t s = 0; s < servers_.size(); ++s) {
        for (std::size_t i = 0; i < points; ++i) {
            const std::string label = servers_[s] + "#" + std::to_string(i);
            points_.emplace_back(XXH3_64bits(label.data(), label.size()), static_cast<std::uint32_t>(s));
        }
    }
    std::sort(points_.begin(), points_.end());
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
