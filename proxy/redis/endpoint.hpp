#pragma once
// The address of one Redis server, as written in [redis].servers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::redis {

struct endpoint {
    std::string host;  // name or IP literal (IPv6 without brackets)
    std::uint16_t port = 6379;
    std::string to_string() const;  // "host:port", "[::1]:port"
};

// "host:port", "[v6]:port" or "host" (port 6379); nullopt when malformed.
std::optional<endpoint> parse_endpoint(std::string_view text);

}  // namespace sluice::redis
