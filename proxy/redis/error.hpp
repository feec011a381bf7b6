#pragma once
// Errors of the Redis client, returned as values. Every kind but `server` means the connection
// that carried the call was dropped (or was never there): RESP is positional, so after a lost
// reply the stream cannot be trusted. Callers such as the rate limiter treat all kinds alike
// (fail open or closed); the kind and message are for logs, metrics and tests.

#include <string>
#include <string_view>
#include <system_error>

namespace sluice::redis {

enum class errc {
    timeout = 1,  // no reply (or no connection) within the call's deadline
    connection,   // down or reconnecting, refused, reset, closed by the server, pool stopped
    protocol,     // bytes that are not RESP2, or a reply nobody asked for
    server,       // an error reply (-ERR, -NOSCRIPT, -WRONGTYPE...); the connection stays in use
};

const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }
std::string_view to_string(errc e) noexcept;  // "timeout", "connection", "protocol", "server"

struct error {
    errc code = errc::connection;
    // For errc::server the reply text as sent ("NOSCRIPT No matching script..."); otherwise
    // "redis HOST:PORT: what happened".
    std::string message;

    // The first word of a server error ("ERR", "NOSCRIPT", "WRONGTYPE"); empty for other kinds.
    std::string_view prefix() const noexcept;
};

}  // namespace sluice::redis

template <>
struct std::is_error_code_enum<sluice::redis::errc> : std::true_type {};
