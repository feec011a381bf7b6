#pragma once
// Minimal JSON string writing for the hot path (access log lines, error bodies): no DOM,
// no allocation beyond the output string.

#include <string>
#include <string_view>

namespace sluice::common {

// Appends `s` as a quoted JSON string, escaping quotes, backslashes and control characters;
// bytes that are not valid UTF-8 are written as \u00XX so the line stays valid JSON.
void append_json_string(std::string& out, std::string_view s);

}  // namespace sluice::common
