#pragma once
// Passive outlier ejection for one server, as Envoy's consecutive-5xx detector: a run of
// `consecutive_failures` failed attempts (connect failure, timeout, reset, 5xx) ejects the server
// for base_ejection x (times ejected), at most max_ejection; a success ends the run. The
// multiplier decays by one per base_ejection spent back in service, so a server that recovered
// for good is again ejected briefly. An ejection that would put more than max_ejected_percent
// of the pool out is refused (the run keeps counting and ejects once there is room).
//
// A plain state machine: the clock and the settings are arguments (settings may change with a
// reload; the state stays). Not synchronised: callers hold server_state::mutex (record_outcome).

#include "upstream/outcome.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

namespace sluice::config {
struct outlier_settings;
struct upstream_server;
}  // namespace sluice::config

namespace sluice::upstream {

struct server_state;

class outlier_detector {
public:
    using clock = std::chrono::steady_clock;

    // Records an attempt's outcome at `now`. `ejected_count` servers of `pool_size` are out now (this one
    // not among them). Returns the end of the ejection when this outcome ejects the server.
    // Outcomes that arrive while the server is ejected (requests started before) are ignored.
    std::optional<clock::time_point> record(const outcome& o, clock::time_point now,
                                            const config::outlier_settings& s, std::size_t ejected_count,
                                            std::size_t pool_size);

    bool ejected(clock::time_point now) const { return now < ejected_until_; }
    clock::time_point ejected_until() const { return ejected_until_; }
    std::uint32_t consecutive_failures() const { return failures_; }
    // The current multiplier (times ejected, less decay as of the last record).
    std::uint32_t ejections() const { return ejections_; }

    // How long the next ejection would last with `ejections` already counted.
    static std::chrono::milliseconds ejection_time(std::uint32_t ejections, const config::outlier_settings& s);

private:
    void decay(clock::time_point now, const config::outlier_settings& s);

    std::uint32_t failures_ = 0;
    std::uint32_t ejections_ = 0;
    clock::time_point ejected_until_{};
    clock::time_point decay_from_{};  // last time the multiplier was decayed (or the server came back)
};

// Whether servers may still be ejected: with `ejected` of `pool_size` out, one more stays within
// max_ejected_percent.
bool may_eject(std::size_t ejected, std::size_t pool_size, std::uint32_t max_ejected_percent);

// Servers of an upstream that are ejected at `now` (by server_state::ejected_until_ns).
std::size_t count_ejected(std::span<const config::upstream_server> servers, outlier_detector::clock::time_point now);

bool is_ejected(const server_state& state, outlier_detector::clock::time_point now);

// Records an outcome for `servers[index]` under its mutex and publishes a new ejection in
// server_state::ejected_until_ns for the balancers. Returns true when it ejected the server.
// Concurrency: the ejected count is read without a pool-wide lock, so two workers ejecting two
// servers at the same instant may exceed max_ejected_percent by one; accepted to keep the
// request path free of a per-upstream lock.
bool record_outcome(std::span<const config::upstream_server> servers, std::size_t index, const outcome& o,
                    outlier_detector::clock::time_point now, const config::outlier_settings& s);

}  // namespace sluice::upstream
