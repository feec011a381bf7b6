#pragma once
// Least request, as Envoy does it. Equal weights: power of two choices — two distinct servers
// drawn at random among the eligible ones, the one with fewer requests in flight wins (ties: the
// first drawn), which avoids the herd that "always the least loaded" causes when several
// workers see the same counts. Unequal weights: smooth weighted round-robin whose weights are
// recomputed at every pick as weight / (in_flight + 1) (Envoy's active_request_bias = 1), so
// idle servers share traffic by weight and a loaded one gets less. With one eligible server,
// that one.

#include "lb/balancer.hpp"

#include <random>
#include <vector>

namespace sluice::lb {

class least_request final : public balancer {
public:
    least_request(std::vector<std::uint32_t> weights, std::uint64_t seed);

    std::optional<std::size_t> pick(const pick_context& ctx) override;
    std::size_t size() const override { return weights_.size(); }

private:
    std::optional<std::size_t> pick_two(const pick_context& ctx);
    std::optional<std::size_t> pick_weighted(const pick_context& ctx);

    std::vector<std::uint32_t> weights_;
    bool uniform_;
    std::vector<double> current_;  // smooth weighted scores (unequal weights)
    std::vector<std::size_t> candidates_;  // scratch
    std::mt19937_64 rng_;
};

}  // namespace sluice::lb
