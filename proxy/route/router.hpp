#pragma once
// Picks the route for a request: the first [[route]] whose every match condition holds.

#include "config/config.hpp"

#include <boost/beast/http/fields.hpp>

#include <string_view>

namespace sluice::route {

// host: the Host header as received (port and case are ignored); path: the target's path
// without the query string.
const config::route* match(const config::config& cfg, std::string_view method, std::string_view host,
                           std::string_view path, const boost::beast::http::fields& headers);

// Host pattern check on its own: "*" matches any host, "*.example.com" any subdomain of
// example.com (not example.com itself), anything else an exact, case-insensitive name.
bool host_matches(std::string_view pattern, std::string_view host);

// The path part of a request target ("/a/b?x=1" -> "/a/b"); absolute-form targets
// ("http://h/a?x") give their path ("/a").
std::string_view target_path(std::string_view target);

}  // namespace sluice::route
