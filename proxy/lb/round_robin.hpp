#pragma once
// Smooth weighted round-robin, as nginx does it: each pick adds every server's weight to its
// current score, takes the highest and subtracts the total. Heavy servers are spread evenly
// through the sequence instead of picked in bursts. Not thread-safe: one instance per worker.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace sluice::lb {

class round_robin {
public:
    explicit round_robin(std::vector<std::uint32_t> weights);

    // The next server, skipping those marked in `excluded` (same size as weights, or empty
    // for none: unhealthy servers, servers already tried). nullopt when every one is excluded.
    std::optional<std::size_t> pick(std::span<const bool> excluded = {});

    std::size_t size() const { return weights_.size(); }

private:
    std::vector<std::uint32_t> weights_;
    std::vector<std::int64_t> current_;
};

}  // namespace sluice::lb
