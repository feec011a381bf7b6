#include "redis/endpoint.hpp"

#include <charconv>

namespace sluice::redis {

std::string endpoint::to_string() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<endpoint> parse_endpoint(std::string_view text) {
    endpoint out;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        out.host = std::string(text.substr(1, close - 1));
        const auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (!rest.starts_with(':')) return std::nullopt;
            port = rest.substr(1);
            if (port.empty()) return std::nullopt;
        }
    } else {
        const auto colon = text.rfind(':');
        if (colon != std::string_view::npos) {
            if (text.find(':') != colon) return std::nullopt;  // bare IPv6 needs brackets
            port = text.substr(colon + 1);
            if (port.empty()) return std::nullopt;
            text = text.substr(0, colon);
        }
        out.host = std::string(text);
    }
    if (out.host.empty()) return std::nullopt;
    if (!port.empty()) {
        unsigned value = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
            return std::nullopt;
        out.port = static_cast<std::uint16_t>(value);
    }
    return out;
}

}  // namespace sluice::redis
