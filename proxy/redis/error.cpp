#include "redis/error.hpp"

namespace sluice::redis {

namespace {

class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "redis"; }
    std::string message(int ev) const override { return std::string(to_string(static_cast<errc>(ev))); }
};

}  // namespace

const std::error_category& category() noexcept {
    static const error_category_impl instance;
    return instance;
}

std::string_view to_string(errc e) noexcept {
    switch (e) {
    case errc::timeout: return "timeout";
    case errc::connection: return "connection";
    case errc::protocol: return "protocol";
    case errc::server: return "server";
    }
    return "unknown";
}

std::string_view error::prefix() const noexcept {
    if (code != errc::server) return {};
    const std::string_view m(message);
    return m.substr(0, m.find(' '));
}

}  // namespace sluice::redis
