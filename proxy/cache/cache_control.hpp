#pragma once
// Cache-Control directives (RFC 9111 §5.2, RFC 5861) of a request or a response, parsed from the
// field value (several fields joined by ", "). Names are case-insensitive; arguments may be tokens
// or quoted strings. The first occurrence of a directive wins. A delta-seconds argument too large
// to represent counts as 2^31 (§1.2.2); an invalid max-age or s-maxage counts as 0 (stale, as
// §4.2.1 encourages); other invalid arguments leave the directive absent. A field-qualified
// no-cache="..." or private="..." is treated as the unqualified directive (stricter).

#include <chrono>
#include <optional>
#include <string_view>

namespace sluice::cache {

struct cache_control {
    // Both directions.
    bool no_store = false;
    bool no_cache = false;
    std::optional<std::chrono::seconds> max_age;
    // Response.
    std::optional<std::chrono::seconds> s_maxage;
    bool is_public = false;
    bool is_private = false;
    bool must_revalidate = false;
    bool proxy_revalidate = false;
    std::optional<std::chrono::seconds> stale_while_revalidate;
    std::optional<std::chrono::seconds> stale_if_error;
    // Request.
    std::optional<std::chrono::seconds> max_stale;  // "max-stale" without an argument: seconds::max()
    std::optional<std::chrono::seconds> min_fresh;
    bool only_if_cached = false;
};

cache_control parse_cache_control(std::string_view value);

// delta-seconds (1*DIGIT): nullopt if not all digits; values above 2^31 become 2^31.
std::optional<std::chrono::seconds> parse_delta_seconds(std::string_view text);

}  // namespace sluice::cache
