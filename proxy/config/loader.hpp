#pragma once
// Loads TOML (toml++) into a validated config snapshot. Every problem is reported with the
// position of the offending key or value as FILE:LINE:COL: message; loading never throws.

#include "config/config.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

struct load_error {
    std::string file;
    int line = 0;    // 1-based; 0 when the error has no position (e.g. file unreadable)
    int column = 0;  // 1-based
    std::string message;
    std::string to_string() const;  // "FILE:LINE:COL: message" ("FILE: message" without position)
};

struct load_result {
    std::shared_ptr<config> cfg;  // null when errors is not empty
    std::vector<load_error> errors;
    bool ok() const { return cfg && errors.empty(); }
};

load_result load_file(const std::string& path);
load_result load_string(std::string_view toml_text, const std::string& source_name = "<string>");

// Value parsers shared with the rest of the proxy (and tested on their own).
std::optional<duration> parse_duration(std::string_view text);    // "250ms" "30s" "5m" "1h" "0s"
std::optional<std::uint64_t> parse_size(std::string_view text);   // "512" "64KiB" "8MiB" "1GiB" ("KB"=1000)
std::optional<endpoint> parse_endpoint(std::string_view text);    // "127.0.0.1:80" "[::1]:80" "host:80"

}  // namespace sluice::config
