#pragma once
// HTTP-date (RFC 9110 §5.6.7): parsing the three formats a recipient must accept, and writing the
// preferred one. Whole seconds, UTC.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::cache {

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate), "Sunday, 06-Nov-94 08:49:37 GMT" (RFC 850; a
// two-digit year is 19yy from 70, else 20yy) or "Sun Nov  6 08:49:37 1994" (asctime). The weekday
// is not checked against the date. nullopt for anything else, e.g. "0" or "-1".
std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text);

// IMF-fixdate.
std::string format_http_date(std::chrono::sys_seconds t);

}  // namespace sluice::cache
