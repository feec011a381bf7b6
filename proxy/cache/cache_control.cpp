#include "cache/cache_control.hpp"

#include "cache/header_view.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

namespace sluice::cache {

namespace {

constexpr std::int64_t delta_seconds_cap = std::int64_t{1} << 31;

// The argument of `name=arg` with quotes removed (and backslash escapes resolved away: digits
// never need them, so a quoted-pair simply keeps the escaped character).
std::string_view unquote(std::string_view arg, std::string& scratch) {
    if (arg.size() < 2 || arg.front() != '"' || arg.back() != '"') return arg;
    arg = arg.substr(1, arg.size() - 2);
    if (arg.find('\\') == std::string_view::npos) return arg;
    scratch.clear();
    for (std::size_t i = 0; i < arg.size(); ++i) {
        if (arg[i] == '\\' && i + 1 < arg.size()) ++i;
        scratch += arg[i];
    }
    return scratch;
}

}  // namespace

std::optional<std::chrono::seconds> parse_delta_seconds(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::int64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        if (v < delta_seconds_cap) v = v * 10 + (c - '0');
    }
    return std::chrono::seconds(std::min(v, delta_seconds_cap));
}

cache_control parse_cache_control(std::string_view value) {
    cache_control cc;
    bool seen_max_age = false, seen_s_maxage = false, seen_swr = false, seen_sie = false, seen_max_stale = false,
         seen_min_fresh = false;
    std::string scratch;
    for_each_element(value, [&](std::string_view element) {
        std::string_view name = element;
        std::optional<std::string_view> arg;
        if (const auto eq = element.find('='); eq != std::string_view::npos) {
            name = trim(element.substr(0, eq));
            arg = unquote(trim(element.substr(eq + 1)), scratch);
        }
        const auto seconds_arg = [&]() { return arg ? parse_delta_seconds(*arg) : std::nullopt; };
        if (iequals(name, "no-store")) {
            cc.no_store = true;
        } else if (iequals(name, "no-cache")) {
            cc.no_cache = true;
        } else if (iequals(name, "private")) {
            cc.is_private = true;
        } else if (iequals(name, "public")) {
            cc.is_public = true;
        } else if (iequals(name, "must-revalidate")) {
            cc.must_revalidate = true;
        } else if (iequals(name, "proxy-revalidate")) {
            cc.proxy_revalidate = true;
        } else if (iequals(name, "only-if-cached")) {
            cc.only_if_cached = true;
        } else if (iequals(name, "max-age")) {
            if (!std::exchange(seen_max_age, true)) cc.max_age = seconds_arg().value_or(std::chrono::seconds(0));
        } else if (iequals(name, "s-maxage")) {
            if (!std::exchange(seen_s_maxage, true)) cc.s_maxage = seconds_arg().value_or(std::chrono::seconds(0));
        } else if (iequals(name, "stale-while-revalidate")) {
            if (!std::exchange(seen_swr, true)) cc.stale_while_revalidate = seconds_arg();
        } else if (iequals(name, "stale-if-error")) {
            if (!std::exchange(seen_sie, true)) cc.stale_if_error = seconds_arg();
        } else if (iequals(name, "max-stale")) {
            if (!std::exchange(seen_max_stale, true)) {
                cc.max_stale = arg ? seconds_arg() : std::optional(std::chrono::seconds::max());
            }
        } else if (iequals(name, "min-fresh")) {
            if (!std::exchange(seen_min_fresh, true)) cc.min_fresh = seconds_arg();
        }
    });
    return cc;
}

}  // namespace sluice::cache
