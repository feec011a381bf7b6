#include "lb/least_request.hpp"

#include <algorithm>
#include <cassert>

namespace sluice::lb {

least_request::least_request(std::vector<std::uint32_t> weights, std::uint64_t seed)
    : weights_(std::move(weights)), current_(weights_.size(), 0.0), rng_(seed) {
    std::replace(weights_.begin(), weights_.end(), std::uint32_t{0}, std::uint32_t{1});
    uniform_ = std::adjacent_find(weights_.begin(), weights_.end(), std::not_equal_to<>()) == weights_.end();
    candidates_.reserve(weights_.size());
}

std::optional<std::size_t> least_request::pick(const pick_context& ctx) {
    assert(ctx.servers.size() == weights_.size());
    if (ctx.servers.size() != weights_.size()) return std::nullopt;
    return uniform_ ? pick_two(ctx) : pick_weighted(ctx);
}

std::optional<std::size_t> least_request::pick_two(const pick_context& ctx) {
    candidates_.clear();
    for (std::size_t i = 0; i < weights_.size(); ++i)
        if (eligible(ctx, i)) candidates_.push_back(i);
    const std::size_t m = candidates_.size();
    if (m == 0) return std::nullopt;
    if (m == 1) return candidates_[0];
    // Two distinct draws: the second from the m - 1 others.
    const std::size_t a = std::uniform_int_distribution<std::size_t>(0, m - 1)(rng_);
    std::size_t b = std::uniform_int_distribution<std::size_t>(0, m - 2)(rng_);
    if (b >= a) ++b;
    const std::size_t first = candidates_[a];
    const std::size_t second = candidates_[b];
    return ctx.servers[second].in_flight < ctx.servers[first].in_flight ? second : first;
}

std::optional<std::size_t> least_request::pick_weighted(const pick_context& ctx) {
    std::optional<std::size_t> best;
    double total = 0;
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        if (!eligible(ctx, i)) continue;  // skipped servers keep their score, as round_robin
        const double w = static_cast<double>(weights_[i]) / static_cast<double>(ctx.servers[i].in_flight + 1);
        current_[i] += w;
        total += w;
        if (!best || current_[i] > current_[*best]) best = i;
    }
    if (best) current_[*best] -= total;
    return best;
}

}  // namespace sluice::lb
