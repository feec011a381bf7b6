#include "cache/cache_status.hpp"

namespace sluice::cache {

namespace {

bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// sf-token (RFC 8941 §3.3.4): ALPHA or "*", then tchar, ":" or "/".
bool is_token(std::string_view s) {
    if (s.empty()) return false;
    const char first = s.front();
    if (!((first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z') || first == '*')) return false;
    for (char c : s) {
        if (!is_tchar(c) && c != ':' && c != '/') return false;
    }
    return true;
}

// sf-string: printable ASCII, with '"' and '\' escaped; anything else dropped.
void append_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        if (c < 0x20 || c > 0x7e) continue;
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

void append_token_or_string(std::string& out, std::string_view s) {
    if (is_token(s)) {
        out += s;
    } else {
        append_string(out, s);
    }
}

}  // namespace

std::string_view to_string(cache_status::fwd f) noexcept {
    switch (f) {
        case cache_status::fwd::bypass: return "bypass";
        case cache_status::fwd::method: return "method";
        case cache_status::fwd::uri_miss: return "uri-miss";
        case cache_status::fwd::vary_miss: return "vary-miss";
        case cache_status::fwd::miss: return "miss";
        case cache_status::fwd::request: return "request";
        case cache_status::fwd::stale: return "stale";
        case cache_status::fwd::none: break;
    }
    return "";
}

std::string cache_status::to_string(std::string_view cache_name) const {
    std::string out;
    append_token_or_string(out, cache_name);
    if (hit) out += "; hit";
    if (forward != fwd::none) {
        out += "; fwd=";
        out += cache::to_string(forward);
    }
    if (fwd_status) {
        out += "; fwd-status=";
        out += std::to_string(*fwd_status);
    }
    if (stored) out += "; stored";
    if (collapsed) out += "; collapsed";
    if (ttl) {
        out += "; ttl=";
        out += std::to_string(*ttl);
    }
    if (!key.empty()) {
        out += "; key=";
        append_string(out, key);
    }
    if (!detail.empty()) {
        out += "; detail=";
        append_token_or_string(out, detail);
    }
    return out;
}

std::string_view cache_status::metric_result() const noexcept {
    if (forward == fwd::bypass || forward == fwd::method) return "bypass";
    if (hit) return (ttl && *ttl < 0) || detail == "stale-while-revalidate" ? "stale" : "hit";
    if (detail == "stale-if-error") return "stale";
    if (forward == fwd::stale && fwd_status == 304u) return "stale";
    if (collapsed) return "hit";  // reused another request's fetch: no upstream request of its own
    return "miss";
}

}  // namespace sluice::cache
