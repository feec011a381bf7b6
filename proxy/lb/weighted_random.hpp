#pragma once
// Weighted random choice. choices = 1: one draw with probability weight / total of the eligible
// servers (balance = "random"). choices = 2: nginx's "random two least_conn" (balance =
// "random_two"): two distinct weighted draws, the one with fewer requests in flight wins (ties:
// the first drawn). Unlike least_request, which turns to a load-adjusted round-robin when
// weights differ, random_two keeps drawing by weight and only compares the two it drew.

#include "lb/balancer.hpp"

#include <random>
#include <vector>

namespace sluice::lb {

class weighted_random final : public balancer {
public:
    weighted_random(std::vector<std::uint32_t> weights, unsigned choices, std::uint64_t seed);

    std::optional<std::size_t> pick(const pick_context& ctx) override;
    std::size_t size() const override { return weights_.size(); }

private:
    // A weighted draw among eligible servers other than `skip`; `total` is their weight sum.
    std::size_t draw(const pick_context& ctx, std::uint64_t total, std::optional<std::size_t> skip);

    std::vector<std::uint32_t> weights_;
    unsigned choices_;
    std::mt19937_64 rng_;
};

}  // namespace sluice::lb
