#include "common/access_log.hpp"

#include "common/json.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <stdexcept>
#include <unistd.h>

namespace sluice::common {

namespace {

void append_field(std::string& out, std::string_view key, std::string_view value) {
    out += ",\"";
    out += key;
    out += "\":";
    append_json_string(out, value);
}

void append_number(std::string& out, std::string_view key, std::uint64_t value) {
    out += ",\"";
    out += key;
    out += "\":";
    out += std::to_string(value);
}

}  // namespace

std::string format_access_record(const access_record& r) {
    std::string out;
    out.reserve(384);
    // ts as RFC 3339 UTC with milliseconds
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.ts.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[96];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    out += "{\"ts\":\"";
    out += ts;
    out += '"';
    append_field(out, "request_id", r.request_id);
    append_field(out, "client", r.client);
    append_field(out, "method", r.method);
    append_field(out, "host", r.host);
    append_field(out, "path", r.path);
    append_number(out, "status", r.status);
    append_number(out, "bytes_in", r.bytes_in);
    append_number(out, "bytes", r.bytes_out);
    char dur[32];
    std::snprintf(dur, sizeof dur, "%.3f", r.duration_ms);
    out += ",\"duration_ms\":";
    out += dur;
    append_field(out, "route", r.route);
    append_field(out, "upstream", r.upstream);
    append_field(out, "server", r.server);
    if (!r.error.empty()) append_field(out, "error", r.error);
    append_field(out, "cache", r.cache);
    append_number(out, "attempts", r.attempts);
    out += "}\n";
    return out;
}

access_log::access_log(const std::string& spec) {
    if (spec == "off") return;
    if (spec == "stderr") {
        fd_ = STDERR_FILENO;
        return;
    }
    fd_ = ::open(spec.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) throw std::runtime_error("cannot open access log " + spec + ": " + std::strerror(errno));
    owned_ = true;
}

access_log::~access_log() {
    if (owned_) ::close(fd_);
}

void access_log::write(const access_record& r) const {
    if (fd_ < 0) return;
    const std::string line = format_access_record(r);
    // O_APPEND (or a pipe/tty for stderr): one write per line keeps lines whole.
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        const ssize_t n = ::write(fd_, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // logging must never break serving
        }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

}  // namespace sluice::common
