#pragma once
// Consecutive-failure circuit breaker of one upstream server (the circuitbreaker library's words):
//   closed    -> open       after `failure_threshold` counted failures in a row (a success resets the count)
//   open      -> half_open  once `recovery_timeout` has passed (on the next allow())
//   half_open -> closed     when a probe succeeds
//   half_open -> open       when a probe fails (the recovery timer starts again)
// While open every request is refused; while half-open at most `half_open_requests` probes are in
// flight. Results that arrive while open (requests admitted before it opened) are ignored.
//
// Not thread-safe: the caller holds upstream::server_state::mutex. Time is passed in (steady clock,
// ns) and so is the config, on every call, so the state survives reloads that change thresholds
// (a changed recovery_timeout applies from the next opening). Every state change is returned, for
// the caller to log ("server X: closed -> open (5 consecutive failures)") and export as
// sluice_circuit_state{upstream,server} (0 closed, 1 half-open, 2 open).

#include "config/config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::breaker {

enum class state : std::uint8_t { closed = 0, half_open = 1, open = 2 };

std::string_view to_string(state s);  // "closed", "half-open", "open"

struct transition {
    state from = state::closed;
    state to = state::closed;
    std::string reason;  // "5 consecutive failures", "recovery timeout 30s elapsed", "probe succeeded", "probe failed"
};

// The answer of allow().
struct admission {
    bool allowed = false;
    bool probe = false;  // a half-open probe: report its result, or on_probe_abandoned() if there is none
    std::optional<transition> changed;  // open -> half_open happened in this call
    explicit operator bool() const { return allowed; }
};

// How an attempt on the server ended, for counts_as_failure().
enum class attempt_result { response, connect_failure, timeout, reset };

// Whether an attempt counts as a failure under `cfg.on_*`. `status` is the upstream's response
// status when result is `response`. Sluice's own refusals (caps, rate limits) are not attempts.
bool counts_as_failure(const config::circuit_breaker_settings& cfg, attempt_result result, unsigned status);

class circuit_breaker {
public:
    // Whether a request may go to this server now. A half-open admission takes a probe slot.
    admission allow(std::int64_t now_ns, const config::circuit_breaker_settings& cfg);

    // The result of a request this breaker admitted.
    std::optional<transition> on_success(std::int64_t now_ns);
    std::optional<transition> on_failure(std::int64_t now_ns, const config::circuit_breaker_settings& cfg);

    // A probe ended without a verdict (the client went away, Sluice refused it): frees its slot.
    void on_probe_abandoned();

    // The state as the metric shows it: an open breaker whose recovery timeout has passed reads
    // half_open, which is what the next allow() makes it.
    state current(std::int64_t now_ns) const;

    std::uint32_t consecutive_failures() const { return failures_; }
    std::uint32_t probes_in_flight() const { return probes_; }

private:
    transition move_to(state to, std::string reason);

    state state_ = state::closed;
    std::uint32_t failures_ = 0;    // consecutive counted failures while closed
    std::uint32_t probes_ = 0;      // half-open probes admitted and not yet reported
    std::int64_t open_until_ = 0;   // while open: when it may turn half-open
    std::int64_t opened_for_ = 0;   // recovery timeout in force when it opened (for the reason text)
};

}  // namespace sluice::breaker
