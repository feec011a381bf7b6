#pragma once
// Consistent hashing on a ketama-style ring. Each server owns points_per_weight x weight points,
// placed by hashing its address with the point number (XXH3), so a server's points depend on
// nothing but its own address and weight: adding or removing a server moves only the keys of
// that server. A key goes to the owner of the first point at or after its hash (clockwise);
// when that server is unavailable or already tried, to the next distinct server on the ring,
// and back to it when it recovers (the ring itself never changes with health).
//
// Bounded loads (hash_balance_factor, as HAProxy's hash-balance-factor and Google's "consistent
// hashing with bounded loads"): a server is skipped while in_flight + 1 > ceil(factor x
// (total in-flight + 1) / available servers), so no server takes more than factor x the average.
// If every candidate is over the bound (only possible when some were tried), the first
// eligible server on the walk is taken anyway.

#include "lb/balancer.hpp"

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace sluice::lb {

class ketama final : public balancer {
public:
    struct server {
        std::string address;  // "host:port", the identity hashed onto the ring
        std::uint32_t weight = 1;
    };

    // Points per unit of weight. libketama and nginx use 160, but then a server's share of keys
    // is off its weight share by 1/sqrt(160) ~ 8% (one standard deviation), and removing one of 3
    // servers moved up to 40% of keys in our tests. With 2048 a weight-1 server is within ~2%
    // (over 90 random address sets: worst share 1/N + 1.2%, worst spread 8.3% at 100,000 keys).
    static constexpr std::uint32_t default_points_per_weight = 2048;
    // Memory cap (12 bytes a point): past it every server's points are scaled down in proportion,
    // and then a membership change also moves a few keys of other servers (sum of weights > 512).
    static constexpr std::size_t max_points = std::size_t{1} << 20;

    // The ring is immutable and shared by every balancer built for the same servers (all workers,
    // and reloads that keep the servers): built once, freed with the last balancer using it.
    ketama(std::span<const server> servers, std::optional<double> balance_factor, std::uint64_t seed,
           std::uint32_t points_per_weight = default_points_per_weight);

    std::optional<std::size_t> pick(const pick_context& ctx) override;
    std::size_t size() const override { return n_; }

    // The server owning `hash` when every server is available (the first point clockwise).
    std::size_t owner(std::uint64_t hash) const;
    std::size_t ring_size() const { return ring_->hashes.size(); }

    struct ring {
        std::vector<std::uint64_t> hashes;  // points, sorted
        std::vector<std::uint32_t> owners;  // server index of each point
    };

private:
    std::size_t first_point(std::uint64_t hash) const;

    std::size_t n_;
    std::optional<double> factor_;
    std::shared_ptr<const ring> ring_;
    std::mt19937_64 rng_;
    std::vector<char> seen_;  // scratch for pick: servers met on the walk
};

}  // namespace sluice::lb
