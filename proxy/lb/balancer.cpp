#include "lb/balancer.hpp"

#include "config/config.hpp"
#include "lb/ketama.hpp"
#include "lb/least_request.hpp"
#include "lb/round_robin.hpp"
#include "lb/weighted_random.hpp"

#include <cassert>

namespace sluice::lb {

namespace {

// Smooth weighted round-robin behind the balancer interface: unavailable and tried servers are
// excluded; availability does not change the rotation of the others.
class round_robin_balancer final : public balancer {
public:
    explicit round_robin_balancer(std::vector<std::uint32_t> weights)
        : rr_(std::move(weights)), excluded_(new bool[rr_.size()]()) {}

    std::optional<std::size_t> pick(const pick_context& ctx) override {
        assert(ctx.servers.size() == rr_.size());
        if (ctx.servers.size() != rr_.size()) return std::nullopt;
        for (std::size_t i = 0; i < rr_.size(); ++i) excluded_[i] = !eligible(ctx, i);
        return rr_.pick(std::span<const bool>(excluded_.get(), rr_.size()));
    }

    std::size_t size() const override { return rr_.size(); }

private:
    round_robin rr_;
    std::unique_ptr<bool[]> excluded_;  // scratch (std::vector<bool> cannot be viewed as a span)
};

}  // namespace

std::unique_ptr<balancer> make_balancer(const config::upstream& u, std::uint64_t seed) {
    std::vector<std::uint32_t> weights;
    weights.reserve(u.servers.size());
    for (const auto& s : u.servers) weights.push_back(s.weight);

    switch (u.balance) {
        case config::balance_kind::round_robin:
            return std::make_unique<round_robin_balancer>(std::move(weights));
        case config::balance_kind::consistent_hash: {
            std::vector<ketama::server> servers;
            servers.reserve(u.servers.size());
            for (const auto& s : u.servers) servers.push_back({s.address.to_string(), s.weight});
            return std::make_unique<ketama>(servers, u.hash_balance_factor, seed);
        }
        case config::balance_kind::least_request:
            return std::make_unique<least_request>(std::move(weights), seed);
        case config::balance_kind::random_two:
            return std::make_unique<weighted_random>(std::move(weights), 2, seed);
        case config::balance_kind::random:
            return std::make_unique<weighted_random>(std::move(weights), 1, seed);
    }
    return std::make_unique<round_robin_balancer>(std::move(weights));
}

}  // namespace sluice::lb
