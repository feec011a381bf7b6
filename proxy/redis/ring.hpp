#pragma once
// Consistent hashing of keys onto servers, ketama style: each server owns `points` positions on
// a 64-bit circle (XXH3 of "name#i"), and a key belongs to the first position at or after
// XXH3(key). Adding or removing a server moves only the keys of that server (about 1/n of them);
// the same server list gives the same answer in every worker and every replica. Pure: no I/O.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::redis {

class ring {
public:
    // `servers` must not be empty; their names (e.g. "10.0.0.5:6379") are what is hashed.
    explicit ring(std::vector<std::string> servers, std::size_t points = 160);

    std::size_t pick(std::string_view key) const noexcept;  // index into servers()
    std::size_t size() const noexcept { return servers_.size(); }
    const std::vector<std::string>& servers() const noexcept { return servers_; }

private:
    std::vector<std::string> servers_;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> points_;  // (position, server), sorted
};

}  // namespace sluice::redis
