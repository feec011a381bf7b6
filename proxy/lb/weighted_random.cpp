#include "lb/weighted_random.hpp"

#include <algorithm>
#include <cassert>

namespace sluice::lb {

weighted_random::weighted_random(std::vector<std::uint32_t> weights, unsigned choices, std::uint64_t seed)
    : weights_(std::move(weights)), choices_(std::clamp(choices, 1u, 2u)), rng_(seed) {
    std::replace(weights_.begin(), weights_.end(), std::uint32_t{0}, std::uint32_t{1});
}

std::size_t weighted_random::draw(const pick_context& ctx, std::uint64_t total, std::optional<std::size_t> skip) {
    std::uint64_t r = std::uniform_int_distribution<std::uint64_t>(0, total - 1)(rng_);
    std::size_t last = 0;
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        if (!eligible(ctx, i) || i == skip) continue;
        if (r < weights_[i]) return i;
        r -= weights_[i];
        last = i;
    }
    return last;  // not reached: r < total
}

std::optional<std::size_t> weighted_random::pick(const pick_context& ctx) {
    assert(ctx.servers.size() == weights_.size());
    if (ctx.servers.size() != weights_.size()) return std::nullopt;
    std::uint64_t total = 0;
    std::size_t count = 0;
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        if (eligible(ctx, i)) {
            total += weights_[i];
            ++count;
        }
    }
    if (count == 0) return std::nullopt;
    const std::size_t first = draw(ctx, total, std::nullopt);
    if (choices_ == 1 || count == 1) return first;
    const std::size_t second = draw(ctx, total - weights_[first], first);
    return ctx.servers[second].in_flight < ctx.servers[first].in_flight ? second : first;
}

}  // namespace sluice::lb
