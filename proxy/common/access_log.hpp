#pragma once
// One JSON object per line per request, written with a single write(2) to an O_APPEND file or
// stderr, so lines from different worker threads never interleave and no lock is taken.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::common {

struct access_record {
    std::chrono::system_clock::time_point ts;
    std::string_view request_id;
    std::string_view client;
    std::string_view method;
    std::string_view host;
    std::string_view path;
    unsigned status = 0;
    std::uint64_t bytes_in = 0;   // request body bytes received
    std::uint64_t bytes_out = 0;  // response body bytes sent
    double duration_ms = 0;
    std::string_view route;
    std::string_view upstream;
    std::string_view server;
    std::string_view error;       // error code when Sluice produced or cut the response
    std::string_view cache = "off";  // the route's cache result (off: the route does not cache)
    unsigned attempts = 0;        // upstream attempts made
};

// Formats a record as one JSON line (with the trailing newline).
std::string format_access_record(const access_record& r);

class access_log {
public:
    // spec: "stderr", "off", or a file path (created, appended to). Throws std::runtime_error
    // when the file cannot be opened.
    explicit access_log(const std::string& spec);
    ~access_log();
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    bool enabled() const { return fd_ >= 0; }
    void write(const access_record& r) const;

private:
    int fd_ = -1;
    bool owned_ = false;
};

}  // namespace sluice::common
