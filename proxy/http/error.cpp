#include "http/error.hpp"

#include "common/json.hpp"

#include <string>

namespace sluice::http {

namespace {

class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "sluice"; }
    std::string message(int ev) const override { return std::string(code_of(static_cast<error>(ev))); }
};

}  // namespace

const std::error_category& category() noexcept {
    static const error_category_impl instance;
    return instance;
}

unsigned status_of(error e) noexcept {
    switch (e) {
    case error::bad_request: return 400;
    case error::uri_too_long: return 414;
    case error::headers_too_large: return 431;
    case error::body_too_large: return 413;
    case error::header_timeout: return 408;
    case error::no_route: return 404;
    case error::rate_limited: return 429;
    case error::upstream_connect_failed: return 502;
    case error::upstream_connect_timeout: return 504;
    case error::upstream_tls_failed: return 502;
    case error::upstream_timeout: return 504;
    case error::upstream_reset: return 502;
    case error::upstream_bad_response: return 502;
    case error::no_server: return 503;
    case error::circuit_open: return 503;
    case error::upstream_overflow: return 503;
    case error::lua_error: return 500;
    case error::internal: return 500;
    }
    return 500;
}

std::string_view code_of(error e) noexcept {
    switch (e) {
    case error::bad_request: return "bad_request";
    case error::uri_too_long: return "uri_too_long";
    case error::headers_too_large: return "request_header_fields_too_large";
    case error::body_too_large: return "payload_too_large";
    case error::header_timeout: return "request_timeout";
    case error::no_route: return "no_route";
    case error::rate_limited: return "rate_limited";
    case error::upstream_connect_failed: return "upstream_connect_failed";
    case error::upstream_connect_timeout: return "upstream_connect_timeout";
    case error::upstream_tls_failed: return "upstream_tls_failed";
    case error::upstream_timeout: return "upstream_timeout";
    case error::upstream_reset: return "upstream_reset";
    case error::upstream_bad_response: return "upstream_bad_response";
    case error::no_server: return "no_healthy_upstream";
    case error::circuit_open: return "circuit_open";
    case error::upstream_overflow: return "upstream_overflow";
    case error::lua_error: return "lua_error";
    case error::internal: return "internal_error";
    }
    return "internal_error";
}

origin origin_of(error e) noexcept {
    switch (e) {
    case error::bad_request:
    case error::uri_too_long:
    case error::headers_too_large:
    case error::body_too_large:
    case error::header_timeout:
    case error::no_route:
    case error::rate_limited: return origin::downstream;
    case error::upstream_connect_failed:
    case error::upstream_connect_timeout:
    case error::upstream_tls_failed:
    case error::upstream_timeout:
    case error::upstream_reset:
    case error::upstream_bad_response:
    case error::no_server:
    case error::circuit_open:
    case error::upstream_overflow: return origin::upstream;
    case error::lua_error:
    case error::internal: return origin::internal;
    }
    return origin::internal;
}

bool retryable(error e) noexcept {
    return e == error::upstream_connect_failed || e == error::upstream_connect_timeout ||
           e == error::upstream_tls_failed;
}

std::string error_body(error e, std::string_view request_id, std::string_view upstream) {
    std::string body;
    body.reserve(64 + request_id.size());
    body += R"({"error":")";
    body += code_of(e);
    body += '"';
    if (!upstream.empty()) {
        body += R"(,"upstream":)";
        common::append_json_string(body, upstream);
    }
    body += R"(,"request_id":)";
    common::append_json_string(body, request_id);
    body += "}";
    return body;
}

}  // namespace sluice::http
