#include "lb/round_robin.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace sluice::lb {

round_robin::round_robin(std::vector<std::uint32_t> weights)
    : weights_(std::move(weights)), current_(weights_.size(), 0) {
    // A weight of 0 would starve the server forever; treat it as the smallest real weight.
    std::replace(weights_.begin(), weights_.end(), std::uint32_t{0}, std::uint32_t{1});
}

std::optional<std::size_t> round_robin::pick(std::span<const bool> excluded) {
    assert(excluded.empty() || excluded.size() == weights_.size());
    auto is_excluded = [&](std::size_t i) { return i < excluded.size() && excluded[i]; };

    std::optional<std::size_t> best;
    std::int64_t total = 0;
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        if (is_excluded(i)) {
            continue;  // excluded servers keep their score untouched, as nginx skips them
        }
        current_[i] += weights_[i];
        total += weights_[i];
        // Strictly greater: ties go to the lowest index.
        if (!best || current_[i] > current_[*best]) {
            best = i;
        }
    }
    if (best) {
        current_[*best] -= total;
    }
    return best;
}

}  // namespace sluice::lb
