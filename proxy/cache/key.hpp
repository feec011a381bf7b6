#pragma once
// Cache keys. The primary key names a resource independently of the method (HEAD is served from
// what GET stored): scheme "://" host target, with the scheme and host lowercased and the
// scheme's default port dropped (so "Example.com:80" and "example.com" share entries; any other
// port is kept). The target is kept byte for byte, query included.
//
// Vary (RFC 9111 §4.1): a stored response lists request fields that select it; the secondary key
// is those fields' values in the request that produced it. A later request matches when its
// values give the same secondary key. Values are normalised: several fields joined by ",",
// whitespace around list commas and at both ends removed; an absent field differs from an empty
// one. "Vary: *" never matches, so such responses are not stored.

#include "cache/header_view.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::cache {

std::string primary_key(std::string_view scheme, std::string_view host, std::string_view target);

// The primary key of an absolute URL ("http://Host:80/items?id=1" -> "http://host/items?id=1"),
// as POST /cache/purge?key=URL receives it; an empty path becomes "/". nullopt unless the scheme
// is http or https with a host and no userinfo.
std::optional<std::string> primary_key_from_url(std::string_view url);

// The target part of a primary key ("/items?id=1"); "" if the key has none.
std::string_view key_target(std::string_view key) noexcept;

// Purge by prefix: a prefix starting with '/' matches keys whose target starts with it (every
// host); any other prefix matches keys starting with it (pass a URL through primary_key_from_url
// first so that its host is normalised).
bool key_has_prefix(std::string_view key, std::string_view prefix) noexcept;

// A response's Vary field value parsed: names lowercased, in order, duplicates dropped.
struct vary_spec {
    std::vector<std::string> names;
    bool star = false;  // "*" listed: the response varies on things outside the request
};
vary_spec parse_vary(std::string_view value);

// The secondary key of `request` for the field `names` (lowercase); "" when names is empty.
std::string secondary_key(std::span<const std::string> names, header_view request);

}  // namespace sluice::cache
