#include "breaker/circuit_breaker.hpp"

#include <algorithm>
#include <chrono>

namespace sluice::breaker {

namespace {

std::int64_t to_ns(config::duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); }

// "30s", "1500ms": how the recovery timeout reads in a log line.
std::string duration_text(std::int64_t ns) {
    const std::int64_t ms = ns / 1'000'000;
    if (ms % 1000 == 0) {
        return std::to_string(ms / 1000) + "s";
    }
    return std::to_string(ms) + "ms";
}

}  // namespace

std::string_view to_string(state s) {
    switch (s) {
        case state::closed: return "closed";
        case state::half_open: return "half-open";
        case state::open: return "open";
    }
    return "closed";
}

bool counts_as_failure(const config::circuit_breaker_settings& cfg, attempt_result result, unsigned status) {
    switch (result) {
        case attempt_result::connect_failure: return cfg.on_connect_failure;
        case attempt_result::timeout: return cfg.on_timeout;
        case attempt_result::reset: return cfg.on_reset;
        case attempt_result::response:
            if (status >= 500 && status <= 599 && cfg.on_5xx) {
                return true;
            }
            return std::find(cfg.on_status.begin(), cfg.on_status.end(), status) != cfg.on_status.end();
    }
    return false;
}

transition circuit_breaker::move_to(state to, std::string reason) {
    transition t{state_, to, std::move(reason)};
    state_ = to;
    return t;
}

admission circuit_breaker::allow(std::int64_t now_ns, const config::circuit_breaker_settings& cfg) {
    admission a;
    if (state_ == state::closed) {
        a.allowed = true;
        return a;
    }
    if (state_ == state::open) {
        if (now_ns < open_until_) {
            return a;
        }
        a.changed = move_to(state::half_open, "recovery timeout " + duration_text(opened_for_) + " elapsed");
        probes_ = 0;
    }
    if (probes_ < std::max<std::uint32_t>(1, cfg.half_open_requests)) {
        ++probes_;
        a.allowed = true;
        a.probe = true;
    }
    return a;
}

std::optional<transition> circuit_breaker::on_success(std::int64_t /*now_ns*/) {
    switch (state_) {
        case state::closed:
            failures_ = 0;
            return std::nullopt;
        case state::half_open:
            failures_ = 0;
            probes_ = 0;
            return move_to(state::closed, "probe succeeded");
        case state::open:
            return std::nullopt;
    }
    return std::nullopt;
}

std::optional<transition> circuit_breaker::on_failure(std::int64_t now_ns,
                                                      const config::circuit_breaker_settings& cfg) {
    switch (state_) {
        case state::closed:
            ++failures_;
            if (failures_ < std::max<std::uint32_t>(1, cfg.failure_threshold)) {
                return std::nullopt;
            }
            break;
        case state::half_open:
            break;
        case state::open:
            return std::nullopt;
    }
    const std::string reason =
        state_ == state::closed ? std::to_string(failures_) + " consecutive failures" : std::string("probe failed");
    opened_for_ = to_ns(cfg.recovery_timeout);
    open_until_ = now_ns + opened_for_;
    failures_ = 0;
    probes_ = 0;
    return move_to(state::open, reason);
}

void circuit_breaker::on_probe_abandoned() {
    if (state_ == state::half_open && probes_ > 0) {
        --probes_;
    }
}

state circuit_breaker::current(std::int64_t now_ns) const {
    if (state_ == state::open && now_ns >= open_until_) {
        return state::half_open;
    }
    return state_;
}

}  // namespace sluice::breaker
