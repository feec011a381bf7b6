#include "route/transform.hpp"

#include "route/router.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace sluice::route {

namespace {

namespace http = boost::beast::http;
using boost::beast::iequals;

constexpr std::string_view via_token = "1.1 sluice";

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// Every non-empty value of `name`, joined with ", " (how several header lines combine, RFC 9110 5.3).
std::string joined_values(const http::fields& h, std::string_view name) {
    std::string out;
    auto [first, last] = h.equal_range(name);
    for (auto it = first; it != last; ++it) {
        std::string_view v = trim_ows(it->value());
        if (v.empty()) {
            continue;
        }
        if (!out.empty()) {
            out += ", ";
        }
        out += v;
    }
    return out;
}

// Appends `item` to the list header `name`, folding several existing lines into one.
void append_to_list(http::fields& h, std::string_view name, std::string_view item) {
    std::string value = joined_values(h, name);
    if (!value.empty()) {
        value += ", ";
    }
    value += item;
    h.set(name, value);
}

void apply_header_actions(http::fields& h, const std::vector<std::string>& remove, const config::header_list& set) {
    for (const auto& name : remove) {
        h.erase(name);
    }
    for (const auto& [name, value] : set) {
        h.set(name, value);
    }
}

// A request target split into its path (origin-form even for absolute-form targets) and query.
struct target_parts {
    std::string_view path;
    std::string_view query;  // without '?'
    bool has_query = false;

    explicit target_parts(std::string_view target) : path(target_path(target)) {
        auto q = target.find('?');
        if (q != std::string_view::npos) {
            query = target.substr(q + 1);
            has_query = true;
        }
    }

    void append_query(std::string& out) const {
        if (has_query) {
            out += '?';
            out += query;
        }
    }
};

}  // namespace

void remove_hop_by_hop(http::fields& h) {
    // Copy the listed names first: erasing them may erase Connection lines being read.
    std::string listed;
    auto [first, last] = h.equal_range(http::field::connection);
    for (auto it = first; it != last; ++it) {
        listed += it->value();
        listed += ',';
    }
    h.erase(http::field::connection);

    std::string_view rest = listed;
    while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view token = trim_ows(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        // Host is never treated as hop-by-hop: "Connection: host" would otherwise strip it upstream.
        if (!token.empty() && !iequals(token, "host")) {
            h.erase(token);
        }
    }

    for (auto f : {http::field::keep_alive, http::field::te, http::field::trailer, http::field::transfer_encoding,
                   http::field::upgrade, http::field::proxy_connection}) {
        h.erase(f);
    }

    constexpr std::string_view proxy_prefix = "proxy-";
    for (auto it = h.begin(); it != h.end();) {
        std::string_view name = it->name_string();
        if (name.size() >= proxy_prefix.size() && iequals(name.substr(0, proxy_prefix.size()), proxy_prefix)) {
            it = h.erase(it);
        } else {
            ++it;
        }
    }
}

void prepare_upstream_request(http::fields& h, const config::route& r, const forward_info& info) {
    auto host_it = h.find(http::field::host);
    std::optional<std::string> original_host;
    if (host_it != h.end()) {
        original_host.emplace(host_it->value());
    }

    remove_hop_by_hop(h);

    append_to_list(h, "X-Forwarded-For", info.client_ip);
    h.set("X-Forwarded-Proto", info.scheme);
    if (original_host) {
        h.set("X-Forwarded-Host", *original_host);
    } else {
        h.erase("X-Forwarded-Host");  // never pass on a client's own claim
    }
    h.set("X-Request-Id", info.request_id);
    append_to_list(h, "Via", via_token);

    apply_header_actions(h, r.remove_headers, r.set_headers);
}

void prepare_downstream_response(http::fields& h, const config::route& r, std::string_view request_id) {
    remove_hop_by_hop(h);
    h.set("X-Request-Id", request_id);
    apply_header_actions(h, r.remove_response_headers, r.set_response_headers);
}

std::string rewrite_target(const config::route& r, std::string_view target) {
    target_parts parts(target);
    std::string out;

    const auto& prefix = r.match.path_prefix;
    if (r.rewrite_prefix && prefix && parts.path.starts_with(*prefix)) {
        std::string_view remainder = parts.path.substr(prefix->size());
        out.reserve(r.rewrite_prefix->size() + remainder.size() + 1 + parts.query.size() + 1);
        out = *r.rewrite_prefix;
        if (out.ends_with('/') && remainder.starts_with('/')) {
            remainder.remove_prefix(1);
        }
        out += remainder;
        if (!out.starts_with('/')) {
            out.insert(out.begin(), '/');  // origin-form always starts with a slash
        }
    } else {
        out.reserve(parts.path.size() + parts.query.size() + 1);
        out = parts.path;
    }
    parts.append_query(out);
    return out;
}

std::string expand_location(std::string_view location, std::string_view scheme, std::string_view host,
                            std::string_view target) {
    target_parts parts(target);
    std::string request_uri(parts.path);
    parts.append_query(request_uri);

    const std::array<std::pair<std::string_view, std::string_view>, 5> variables{{
        {"scheme", scheme},
        {"host", host},
        {"request_uri", request_uri},
        {"path", parts.path},
        {"query", parts.query},
    }};

    std::string out;
    out.reserve(location.size() + request_uri.size() + host.size());
    std::size_t i = 0;
    while (i < location.size()) {
        bool expanded = false;
        if (location[i] == '$') {
            std::string_view rest = location.substr(i + 1);
            for (const auto& [name, value] : variables) {
                if (rest.starts_with(name)) {
                    out += value;
                    i += 1 + name.size();
                    expanded = true;
                    break;
                }
            }
        }
        if (!expanded) {
            out += location[i];
            ++i;
        }
    }
    return out;
}

bool valid_request_id(std::string_view id) {
    if (id.empty() || id.size() > 128) {
        return false;
    }
    for (unsigned char c : id) {
        if (c < 0x21 || c > 0x7E) {
            return false;
        }
    }
    return true;
}

std::string new_request_id() {
    // One generator per thread: no locking; seeded with a full seed sequence from random_device.
    thread_local std::mt19937_64 generator = [] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device(), device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }();

    constexpr char hex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (std::size_t half = 0; half < 2; ++half) {
        std::uint64_t bits = generator();
        for (std::size_t j = 0; j < 16; ++j) {
            id[half * 16 + j] = hex[bits & 0xF];
            bits >>= 4;
        }
    }
    return id;
}

}  // namespace sluice::route
