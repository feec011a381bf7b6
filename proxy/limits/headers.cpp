#include "limits/headers.hpp"

namespace sluice::limits {

namespace {

// RFC 8941 sf-string: printable ASCII with '"' and '\' escaped (the loader allows nothing else
// in limit names; anything else is dropped rather than sent).
void append_sf_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c >= 0x20 && c < 0x7f) {
            out += c;
        }
    }
    out += '"';
}

}  // namespace

std::string policy_header(const config::rate_limit_policy& policy) {
    std::string out;
    const std::size_t burst_index = burst_limit(policy);
    for (std::size_t i = 0; i < policy.limits.size(); ++i) {
        const config::rate_limit_rule& rule = policy.limits[i];
        if (i > 0) {
            out += ", ";
        }
        append_sf_string(out, rule.name);
        out += ";q=" + std::to_string(rule.count) + ";w=" + std::to_string(rule.period_s);
        if (i == burst_index && policy.burst > 0) {
            out += ";sluice-burst=" + std::to_string(policy.burst);
        }
    }
    return out;
}

std::string ratelimit_header(const config::rate_limit_policy& policy, const decision& d) {
    std::string out;
    if (d.limit < policy.limits.size()) {
        append_sf_string(out, policy.limits[d.limit].name);
    }
    out += ";r=" + std::to_string(d.remaining) + ";t=" + std::to_string(d.reset_seconds());
    return out;
}

std::string retry_after_header(const decision& d) {
    const std::uint64_t s = d.retry_after_seconds();
    return std::to_string(s == 0 ? 1 : s);
}

}  // namespace sluice::limits
