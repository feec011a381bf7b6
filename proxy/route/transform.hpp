#pragma once
// Header and target rewriting between downstream and upstream: what DESIGN.md promises about
// X-Forwarded-*, X-Request-Id, Via and hop-by-hop headers, plus each route's header actions.
// Pure functions over Beast field containers, testable without sockets.

#include "config/config.hpp"

#include <boost/beast/http/fields.hpp>

#include <string>
#include <string_view>

namespace sluice::route {

struct forward_info {
    std::string_view client_ip;   // peer address of the downstream connection
    std::string_view scheme;      // "http" or "https"
    std::string_view request_id;  // the id chosen for this request
};

// Removes Connection, every header Connection lists, Keep-Alive, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-Connection and other Proxy-* headers.
void remove_hop_by_hop(boost::beast::http::fields& h);

// Request headers as they go upstream: hop-by-hop removed, X-Forwarded-For appended,
// X-Forwarded-Proto and X-Forwarded-Host set, X-Request-Id set, "Via: 1.1 sluice" appended,
// then the route's remove_headers and set_headers applied. Framing headers (Content-Length /
// chunked) are the caller's job.
void prepare_upstream_request(boost::beast::http::fields& h, const config::route& r, const forward_info& info);

// Response headers as they go downstream: hop-by-hop removed, X-Request-Id set, the route's
// remove_response_headers and set_response_headers applied.
void prepare_downstream_response(boost::beast::http::fields& h, const config::route& r,
                                 std::string_view request_id);

// The target sent upstream: rewrite_prefix replaces the matched path_prefix; query kept.
std::string rewrite_target(const config::route& r, std::string_view target);

// The Location of a redirect route with $scheme $host $request_uri $path $query expanded.
std::string expand_location(std::string_view location, std::string_view scheme, std::string_view host,
                            std::string_view target);

// An incoming X-Request-Id is kept when it is 1..128 visible ASCII characters.
bool valid_request_id(std::string_view id);

// A fresh random request id (32 lowercase hex characters), cheap: per-thread generator.
std::string new_request_id();

}  // namespace sluice::route
