#pragma once
// Response header values for rate-limited routes, in the structured-field form of
// draft-ietf-httpapi-ratelimit-headers-11 (RFC 8941 lists of strings with parameters):
//   RateLimit-Policy: "10/second";q=10;w=1;sluice-burst=20, "50/hour";q=50;w=3600
//   RateLimit: "10/second";r=3;t=1
//   Retry-After: 2                                         (RFC 9110 delay-seconds, 429 only)
// RateLimit-Policy lists every limit of the policy (q = its count, w = its period in seconds;
// the vendor parameter sluice-burst marks the limit that `burst` extends). RateLimit names one
// limit: the one that rejected the request, else the most restrictive one; r is how many more
// requests it admits now, t the seconds until it admits one more (on a 429, t equals Retry-After).

#include "config/config.hpp"
#include "limits/gcra.hpp"

#include <string>

namespace sluice::limits {

std::string policy_header(const config::rate_limit_policy& policy);
std::string ratelimit_header(const config::rate_limit_policy& policy, const decision& d);
std::string retry_after_header(const decision& d);

}  // namespace sluice::limits
