#pragma once
// One RESP2 reply, owned: a plain tree copied out of hiredis's reader, so it outlives the
// connection that read it. Strings are binary-safe; a nil bulk string or nil array is type::nil,
// distinct from an empty string or an empty array.

#include <string>
#include <vector>

namespace sluice::redis {

struct reply {
    enum class type { nil, status, error, integer, string, array };

    type kind = type::nil;
    long long integer = 0;        // type::integer
    std::string str;              // type::status, type::error, type::string (may hold NUL bytes)
    std::vector<reply> elements;  // type::array; elements may themselves be arrays

    bool is_nil() const noexcept { return kind == type::nil; }
    bool is_string() const noexcept { return kind == type::string; }
    bool is_integer() const noexcept { return kind == type::integer; }
    bool is_array() const noexcept { return kind == type::array; }
    bool is_status() const noexcept { return kind == type::status; }
    // An error nested in an array (EXEC, scripts); a top-level error reply becomes an errc::server result.
    bool is_error() const noexcept { return kind == type::error; }
};

}  // namespace sluice::redis
