#include "cache/policy.hpp"

#include "cache/http_date.hpp"
#include "cache/key.hpp"
#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <vector>

namespace sluice::cache {

namespace {

constexpr seconds age_cap{std::int64_t{1} << 31};

constexpr std::array<std::string_view, 9> hop_by_hop{"connection",       "keep-alive", "proxy-connection",
                                                     "te",               "trailer",    "transfer-encoding",
                                                     "upgrade",          "proxy-authenticate",
                                                     "proxy-authorization"};

bool listed(std::string_view name, std::span<const std::string_view> names) {
    return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return iequals(n, name); });
}

// Fields never copied into an entry, neither from the first response nor from a 304.
bool excluded(std::string_view name, const std::vector<std::string>& connection_named) {
    static constexpr std::array<std::string_view, 4> also{"age", "content-length", "set-cookie", "set-cookie2"};
    if (listed(name, hop_by_hop) || listed(name, also)) return true;
    return std::any_of(connection_named.begin(), connection_named.end(),
                       [&](const std::string& n) { return iequals(n, name); });
}

std::vector<std::string> connection_options(const header_list& fields) {
    std::vector<std::string> names;
    if (const auto c = get_field(fields, "connection")) {
        for_each_element(*c, [&](std::string_view e) { names.emplace_back(e); });
    }
    return names;
}

seconds clamp_age(seconds s) { return std::clamp(s, seconds(0), age_cap); }

// An entity-tag without its weakness indicator (weak comparison, RFC 9110 §8.8.3.2).
std::string_view opaque_tag(std::string_view tag) {
    tag = trim(tag);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
}

bool weak_match(std::string_view a, std::string_view b) {
    return !opaque_tag(a).empty() && opaque_tag(a) == opaque_tag(b);
}

cache_control response_cache_control(const header_list& response) {
    return parse_cache_control(get_field(response, "cache-control").value_or(""));
}

}  // namespace

settings settings_from(const config::cache_settings& c) {
    return settings{std::chrono::duration_cast<seconds>(c.default_ttl), c.allow_authorization};
}

request_policy check_request(std::string_view method, header_view request, const settings& s) {
    request_policy p;
    const bool get = method == "GET";
    const bool head = method == "HEAD";
    if (!get && !head) {
        p.bypass_reason = "method";
        return p;
    }
    if (request.has("authorization")) {
        if (!s.allow_authorization) {
            p.bypass_reason = "authorization";
            return p;
        }
        p.authorization = true;
    }
    if (const auto value = request.get("cache-control")) {
        const cache_control cc = parse_cache_control(*value);
        if (cc.no_store) {
            p.bypass_reason = "no-store";
            return p;
        }
        p.no_cache = cc.no_cache || (cc.max_age && cc.max_age->count() == 0);
        p.only_if_cached = cc.only_if_cached;
        p.max_age = cc.max_age;
        p.max_stale = cc.max_stale;
        p.min_fresh = cc.min_fresh;
    } else if (const auto pragma = request.get("pragma")) {
        for_each_element(*pragma, [&](std::string_view e) { p.no_cache = p.no_cache || iequals(e, "no-cache"); });
    }
    p.cacheable = true;
    p.head = head;
    return p;
}

bool invalidates(std::string_view method, unsigned status) noexcept {
    const bool safe = method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE";
    return !safe && status >= 200 && status < 400;
}

bool heuristically_cacheable(unsigned status) noexcept {
    switch (status) {
        case 200: case 203: case 204: case 300: case 301: case 308:
        case 404: case 405: case 410: case 414: case 501:
            return true;
        default:
            return false;
    }
}

bool storable_status(unsigned status) noexcept {
    return heuristically_cacheable(status) || status == 302 || status == 307;
}

bool is_error_status(unsigned status) noexcept {
    return status == 500 || status == 502 || status == 503 || status == 504;
}

seconds freshness_lifetime(const cache_control& cc, unsigned status, const header_list& response,
                           time_point response_time, const settings& s, bool* heuristic) {
    if (heuristic) *heuristic = false;
    if (cc.s_maxage) return *cc.s_maxage;
    if (cc.max_age) return *cc.max_age;
    if (const auto expires = get_field(response, "expires")) {
        const auto when = parse_http_date(*expires);
        if (!when) return seconds(0);  // invalid, e.g. "0": already expired
        const auto date = get_field(response, "date");
        const time_point date_value = date ? parse_http_date(*date).value_or(response_time) : response_time;
        return clamp_age(*when - date_value);
    }
    if (heuristically_cacheable(status) || cc.is_public) {
        if (heuristic) *heuristic = true;
        return s.default_ttl;
    }
    return seconds(0);
}

seconds initial_age(const header_list& response, time_point request_time, time_point response_time) {
    seconds apparent_age{0};
    if (const auto date = get_field(response, "date")) {
        if (const auto d = parse_http_date(*date)) apparent_age = clamp_age(response_time - *d);
    }
    seconds age_value{0};
    if (const auto age = get_field(response, "age")) {
        std::string_view first = *age;
        first = trim(first.substr(0, first.find(',')));
        age_value = parse_delta_seconds(first).value_or(seconds(0));
    }
    const seconds response_delay = clamp_age(response_time - request_time);
    return clamp_age(std::max(apparent_age, age_value + response_delay));
}

seconds current_age(const entry& e, time_point now) {
    return clamp_age(e.fresh.initial_age + clamp_age(now - e.response_time));
}

seconds remaining_ttl(const entry& e, time_point now) { return e.fresh.lifetime - current_age(e, now); }

storage_decision check_response(const request_policy& request, unsigned status, const header_list& response,
                                time_point request_time, time_point response_time, const settings& s) {
    storage_decision d;
    const auto refuse = [&](std::string_view why) {
        d.reason = why;
        return d;
    };
    if (!request.cacheable) return refuse("bypass");
    if (request.head) return refuse("head");
    if (!storable_status(status)) return refuse("status");
    const cache_control cc = response_cache_control(response);
    if (cc.no_store) return refuse("no-store");
    if (cc.is_private) return refuse("private");
    if (request.authorization && !(cc.is_public || cc.s_maxage || cc.must_revalidate)) {
        return refuse("authorization");
    }
    if (get_field(response, "set-cookie") || get_field(response, "set-cookie2")) return refuse("set-cookie");
    if (const auto vary = get_field(response, "vary"); vary && parse_vary(*vary).star) return refuse("vary-star");

    bool heuristic = false;
    const seconds lifetime = freshness_lifetime(cc, status, response, response_time, s, &heuristic);
    // no-cache needs no lifetime (every use is validated); otherwise an explicit one, or a
    // heuristic one that default_ttl makes non-zero.
    const bool is_explicit = cc.s_maxage || cc.max_age || get_field(response, "expires");
    if (!is_explicit && !cc.no_cache && (!heuristic || lifetime.count() == 0)) return refuse("no-lifetime");

    const bool forbid_stale = cc.must_revalidate || cc.proxy_revalidate || cc.no_cache;
    d.fresh.lifetime = lifetime;
    d.fresh.initial_age = initial_age(response, request_time, response_time);
    d.fresh.no_cache = cc.no_cache;
    d.fresh.no_stale = forbid_stale || cc.s_maxage.has_value();
    d.fresh.heuristic = heuristic;
    if (!forbid_stale) {
        d.fresh.stale_while_revalidate = cc.stale_while_revalidate.value_or(seconds(0));
        d.fresh.stale_if_error = cc.stale_if_error.value_or(seconds(0));
    }
    const bool validators = get_field(response, "etag") || get_field(response, "last-modified");
    const bool usable = (lifetime.count() > 0 && !cc.no_cache) || validators || d.fresh.stale_if_error.count() > 0;
    if (!usable) return refuse("no-lifetime");
    d.store = true;
    return d;
}

header_list stored_headers(const header_list& response) {
    const std::vector<std::string> named = connection_options(response);
    header_list out;
    out.reserve(response.size());
    for (const auto& field : response) {
        if (!excluded(field.first, named)) out.push_back(field);
    }
    return out;
}

entry make_entry(unsigned status, const header_list& response, const storage_decision& d, header_view request,
                 time_point request_time, time_point response_time) {
    entry e;
    e.status = static_cast<std::uint16_t>(status);
    e.headers = stored_headers(response);
    if (!get_field(e.headers, "date")) e.headers.emplace_back("Date", format_http_date(response_time));
    e.request_time = request_time;
    e.response_time = response_time;
    e.fresh = d.fresh;
    e.etag = std::string(trim(get_field(response, "etag").value_or("")));
    e.last_modified = std::string(trim(get_field(response, "last-modified").value_or("")));
    if (const auto vary = get_field(response, "vary")) e.vary = parse_vary(*vary).names;
    e.secondary = secondary_key(e.vary, request);
    return e;
}

use decide(const entry& e, const request_policy& request, time_point now) {
    if (e.fresh.no_cache || request.no_cache) return use::revalidate;
    const seconds age = current_age(e, now);
    const seconds ttl = e.fresh.lifetime - age;
    bool constrained = false;
    if (request.max_age && age > *request.max_age) constrained = true;
    if (request.min_fresh && ttl < *request.min_fresh) constrained = true;
    if (constrained) return use::revalidate;
    if (ttl.count() > 0) return use::fresh;
    const seconds staleness = -ttl;
    if (request.max_stale && !e.fresh.no_stale && staleness <= *request.max_stale) return use::stale_allowed;
    if (staleness < e.fresh.stale_while_revalidate) return use::stale_while_revalidate;
    return use::revalidate;
}

seconds store_ttl(const entry& e, time_point now) {
    seconds ttl = std::max(remaining_ttl(e, now), seconds(0));
    ttl += std::max(e.fresh.stale_while_revalidate, e.fresh.stale_if_error);
    if (!e.etag.empty() || !e.last_modified.empty()) ttl += std::max(e.fresh.lifetime, seconds(300));
    return std::clamp(ttl, seconds(1), age_cap);
}

bool usable_on_error(const entry& e, time_point now) {
    if (e.fresh.no_cache) return false;
    const seconds ttl = remaining_ttl(e, now);
    return ttl.count() > 0 || -ttl < e.fresh.stale_if_error;
}

header_list conditional_headers(const entry& e) {
    header_list out;
    if (!e.etag.empty()) out.emplace_back("If-None-Match", e.etag);
    if (!e.last_modified.empty()) out.emplace_back("If-Modified-Since", e.last_modified);
    return out;
}

bool not_modified(const entry& e, header_view request) {
    if (e.status != 200) return false;
    if (const auto inm = request.get("if-none-match")) {
        bool match = false;
        for_each_element(*inm, [&](std::string_view tag) {
            match = match || tag == "*" || (!e.etag.empty() && weak_match(tag, e.etag));
        });
        return match;
    }
    if (const auto ims = request.get("if-modified-since")) {
        const auto since = parse_http_date(*ims);
        const auto modified = parse_http_date(e.last_modified);
        return since && modified && *modified <= *since;
    }
    return false;
}

refresh_result refresh(const entry& stored, const header_list& not_modified_response, const request_policy& request,
                       time_point request_time, time_point response_time, const settings& s) {
    refresh_result r;
    const auto new_etag = get_field(not_modified_response, "etag");
    const auto new_lm = get_field(not_modified_response, "last-modified");
    if (new_etag && !stored.etag.empty()) {
        r.matched = weak_match(*new_etag, stored.etag);
    } else if (new_lm && !stored.last_modified.empty()) {
        r.matched = trim(*new_lm) == stored.last_modified;
    }

    // Merge: each field name of the 304 replaces every stored field of that name.
    const std::vector<std::string> named = connection_options(not_modified_response);
    header_list merged;
    merged.reserve(stored.headers.size() + not_modified_response.size());
    for (const auto& field : stored.headers) {
        const bool replaced = std::any_of(not_modified_response.begin(), not_modified_response.end(),
                                          [&](const auto& f) { return iequals(f.first, field.first); }) &&
                              !excluded(field.first, named);
        if (!replaced) merged.push_back(field);
    }
    for (const auto& field : not_modified_response) {
        if (!excluded(field.first, named)) merged.push_back(field);
    }
    // The stored Date describes the old response: without a new one, the 304's arrival stands in.
    if (!get_field(not_modified_response, "date")) {
        std::erase_if(merged, [](const auto& f) { return iequals(f.first, "date"); });
        merged.emplace_back("Date", format_http_date(response_time));
    }
    // The 304's Age counts for the refreshed freshness, though it is not stored.
    header_list decided = merged;
    for (const auto& field : not_modified_response) {
        if (iequals(field.first, "age")) decided.push_back(field);
    }

    request_policy as_get = request;
    as_get.head = false;  // a HEAD may revalidate what GET stored
    as_get.cacheable = true;
    r.decision = check_response(as_get, stored.status, decided, request_time, response_time, s);
    r.updated.status = stored.status;
    r.updated.headers = std::move(merged);
    r.updated.body = stored.body;
    r.updated.request_time = request_time;
    r.updated.response_time = response_time;
    r.updated.fresh = r.decision.store ? r.decision.fresh : freshness{};
    r.updated.etag = std::string(trim(get_field(r.updated.headers, "etag").value_or("")));
    r.updated.last_modified = std::string(trim(get_field(r.updated.headers, "last-modified").value_or("")));
    r.updated.vary = stored.vary;
    r.updated.secondary = stored.secondary;
    return r;
}

}  // namespace sluice::cache
