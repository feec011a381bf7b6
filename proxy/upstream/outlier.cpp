#include "upstream/outlier.hpp"

#include "config/config.hpp"
#include "upstream/server_state.hpp"

#include <algorithm>

namespace sluice::upstream {

namespace {

std::int64_t to_ns(outlier_detector::clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

std::chrono::milliseconds outlier_detector::ejection_time(std::uint32_t ejections, const config::outlier_settings& s) {
    const auto base = s.base_ejection.count();
    const auto cap = std::max(s.max_ejection.count(), base);
    const std::int64_t times = std::max<std::uint32_t>(ejections, 1);
    // base x times, capped; times is small but base x times must not overflow.
    if (base > 0 && times > cap / base) return std::chrono::milliseconds(cap);
    return std::chrono::milliseconds(std::min(base * times, cap));
}

void outlier_detector::decay(clock::time_point now, const config::outlier_settings& s) {
    if (ejections_ == 0 || now < ejected_until_) return;
    if (decay_from_ < ejected_until_) decay_from_ = ejected_until_;  // back in service since then
    const auto period = std::chrono::duration_cast<clock::duration>(s.base_ejection);
    if (period <= clock::duration::zero()) return;
    const auto steps = (now - decay_from_) / period;
    if (steps <= 0) return;
    if (steps >= ejections_) {
        ejections_ = 0;
        decay_from_ = now;
    } else {
        ejections_ -= static_cast<std::uint32_t>(steps);
        decay_from_ += steps * period;
    }
}

std::optional<outlier_detector::clock::time_point> outlier_detector::record(const outcome& o, clock::time_point now,
                                                                             const config::outlier_settings& s,
                                                                             std::size_t ejected_count,
                                                                             std::size_t pool_size) {
    if (ejected(now)) return std::nullopt;
    decay(now, s);
    if (!o.failure()) {
        failures_ = 0;
        return std::nullopt;
    }
    if (failures_ < UINT32_MAX) ++failures_;
    if (s.consecutive_failures == 0 || failures_ < s.consecutive_failures) return std::nullopt;
    if (!may_eject(ejected_count, pool_size, s.max_ejected_percent)) return std::nullopt;
    if (ejections_ < UINT32_MAX) ++ejections_;
    failures_ = 0;
    ejected_until_ = now + std::chrono::duration_cast<clock::duration>(ejection_time(ejections_, s));
    decay_from_ = ejected_until_;
    return ejected_until_;
}

bool may_eject(std::size_t ejected, std::size_t pool_size, std::uint32_t max_ejected_percent) {
    return (ejected + 1) * 100 <= std::size_t{max_ejected_percent} * pool_size;
}

bool is_ejected(const server_state& state, outlier_detector::clock::time_point now) {
    return to_ns(now) < state.ejected_until_ns.load(std::memory_order_relaxed);
}

std::size_t count_ejected(std::span<const config::upstream_server> servers, outlier_detector::clock::time_point now) {
    return static_cast<std::size_t>(std::count_if(servers.begin(), servers.end(), [&](const config::upstream_server& s) {
        return s.state && is_ejected(*s.state, now);
    }));
}

bool record_outcome(std::span<const config::upstream_server> servers, std::size_t index, const outcome& o,
                    outlier_detector::clock::time_point now, const config::outlier_settings& s) {
    server_state* state = index < servers.size() ? servers[index].state.get() : nullptr;
    if (!state) return false;
    // Counted before taking this server's lock: never two server locks at once.
    const std::size_t ejected = o.failure() ? count_ejected(servers, now) : 0;
    std::lock_guard lock(state->mutex);
    const auto until = state->outlier.record(o, now, s, ejected, servers.size());
    if (!until) return false;
    state->ejected_until_ns.store(to_ns(*until), std::memory_order_relaxed);
    return true;
}

}  // namespace sluice::upstream
