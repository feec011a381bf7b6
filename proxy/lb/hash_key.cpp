#include "lb/hash_key.hpp"

#include "config/config.hpp"

#include <xxhash.h>

namespace sluice::lb {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Value of `name` in "n1=v1<sep>n2=v2..." (names compared after trimming blanks).
std::optional<std::string_view> pair_value(std::string_view list, char sep, std::string_view name) {
    while (!list.empty()) {
        const auto end = list.find(sep);
        const std::string_view item = list.substr(0, end);
        list = end == std::string_view::npos ? std::string_view() : list.substr(end + 1);
        const auto eq = item.find('=');
        const std::string_view n = trim(item.substr(0, eq));
        if (n != name) continue;
        return eq == std::string_view::npos ? std::string_view() : trim(item.substr(eq + 1));
    }
    return std::nullopt;
}

std::optional<std::string_view> non_empty(std::optional<std::string_view> v) {
    if (v && v->empty()) return std::nullopt;
    return v;
}

}  // namespace

std::uint64_t hash_key(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name) {
    return pair_value(cookie_header, ';', name);
}

std::optional<std::string_view> query_value(std::string_view query, std::string_view name) {
    return pair_value(query, '&', name);
}

std::optional<std::string_view> extract_hash_key(const config::hash_key_spec& spec, std::string_view client_ip,
                                                 std::string_view path, std::string_view query,
                                                 const header_lookup& headers) {
    using source = config::hash_key_spec::source;
    switch (spec.from) {
        case source::client_ip: return non_empty(client_ip);
        case source::path: return non_empty(path);
        case source::query: return non_empty(query_value(query, spec.name));
        case source::header: return headers ? non_empty(headers(spec.name)) : std::nullopt;
        case source::cookie: {
            if (!headers) return std::nullopt;
            const auto cookie = headers("Cookie");
            return cookie ? non_empty(cookie_value(*cookie, spec.name)) : std::nullopt;
        }
    }
    return std::nullopt;
}

std::optional<std::uint64_t> request_hash(const config::hash_key_spec& spec, std::string_view client_ip,
                                          std::string_view path, std::string_view query,
                                          const header_lookup& headers) {
    const auto key = extract_hash_key(spec, client_ip, path, query, headers);
    if (!key) return std::nullopt;
    return hash_key(*key);
}

}  // namespace sluice::lb
