#pragma once
// The text of OpenSSL's oldest queued error (for messages naming what failed to load).

#include <openssl/err.h>

#include <string>

namespace sluice::common {

inline std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    if (e == 0) return "unknown error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

}  // namespace sluice::common
