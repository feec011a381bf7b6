#include "route/router.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cstddef>

namespace sluice::route {

namespace {

constexpr char ascii_lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

bool iends_with(std::string_view s, std::string_view suffix) noexcept {
    return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

// The bare host name of a Host value or pattern: port, IPv6 brackets and one trailing dot removed
// ("Example.COM.:8080" -> "Example.COM", "[::1]:8080" -> "::1"). Case is left to the comparisons.
std::string_view bare_host(std::string_view host) noexcept {
    if (!host.empty() && host.front() == '[') {
        auto close = host.find(']');
        return close == std::string_view::npos ? host.substr(1) : host.substr(1, close - 1);
    }
    // A single colon separates the port; more than one is an unbracketed IPv6 address.
    auto colon = host.find(':');
    if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
        host = host.substr(0, colon);
    }
    if (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    return host;
}

bool headers_match(const std::vector<config::header_match>& wanted, const boost::beast::http::fields& headers) {
    for (const auto& hm : wanted) {
        auto [first, last] = headers.equal_range(hm.name);
        if (first == last) {
            return false;
        }
        if (hm.value) {
            bool found = std::any_of(first, last, [&](const auto& f) { return f.value() == *hm.value; });
            if (!found) {
                return false;
            }
        }
    }
    return true;
}

bool route_matches(const config::route_match& m, std::string_view method, std::string_view host,
                   std::string_view path, const boost::beast::http::fields& headers) {
    if (!host_matches(m.host, host)) {
        return false;
    }
    if (m.path_exact && path != *m.path_exact) {
        return false;
    }
    if (m.path_prefix && !path.starts_with(*m.path_prefix)) {
        return false;
    }
    if (m.regex) {
        if (!re2::RE2::FullMatch(path, *m.regex)) {
            return false;
        }
    } else if (m.path_regex) {
        return false;  // a regex that was never compiled matches nothing
    }
    if (!m.methods.empty() &&
        std::find(m.methods.begin(), m.methods.end(), method) == m.methods.end()) {
        return false;
    }
    return headers_match(m.headers, headers);
}

}  // namespace

const config::route* match(const config::config& cfg, std::string_view method, std::string_view host,
                           std::string_view path, const boost::beast::http::fields& headers) {
    for (const auto& r : cfg.routes) {
        if (route_matches(r.match, method, host, path, headers)) {
            return &r;
        }
    }
    return nullptr;
}

bool host_matches(std::string_view pattern, std::string_view host) {
    if (pattern == "*") {
        return true;
    }
    std::string_view name = bare_host(host);
    if (pattern.starts_with("*.")) {
        std::string_view suffix = bare_host(pattern.substr(1));  // ".example.com"
        // At least one character before the suffix: "*.example.com" does not match "example.com".
        return name.size() > suffix.size() && iends_with(name, suffix);
    }
    return iequals(bare_host(pattern), name);
}

std::string_view target_path(std::string_view target) {
    if (!target.empty() && target.front() != '/') {
        // Absolute form: scheme "://" authority [path] ["?" query].
        auto scheme_end = target.find("://");
        if (scheme_end != std::string_view::npos) {
            auto path_start = target.find_first_of("/?", scheme_end + 3);
            if (path_start == std::string_view::npos || target[path_start] == '?') {
                return "/";
            }
            target = target.substr(path_start);
        }
    }
    return target.substr(0, target.find('?'));
}

}  // namespace sluice::route
