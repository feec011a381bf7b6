#pragma once
// Consistent hashing of keys onto servers, ketama style, with the same placement as the
// balancer's lb::ketama at weight 1 and the same number of points: each server owns `points`
// positions on a 64-bit circle, XXH3_64bits_withSeed(address, i), and a key belongs to the
// first position at or after XXH3_64bits(key) (lb::hash_key). Adding or removing a server moves only the keys of that server (about 1/n
// of them); the same server list, in any order, gives the same answer in every worker and every
// replica. Pure: no I/O.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::redis {

class ring {
public:
    // `servers` must not be empty; their names (e.g. "10.0.0.5:6379") are what is hashed.
    // 2048 points: a server's share of keys is within ~2% of 1/n (one standard deviation).
    explicit ring(std::vector<std::string> servers, std::uint32_t points = 2048);

    std::size_t pick(std::string_view key) const noexcept;  // index into servers()
    std::size_t size() const noexcept { return servers_.size(); }
    const std::vector<std::string>& servers() const noexcept { return servers_; }

private:
    std::vector<std::string> servers_;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> points_;  // (position, server), sorted
};

}  // namespace sluice::redis
