#pragma once
// Envoy's circuit breaking: a count of resources in use across all workers with a cap, beyond which
// requests fail fast (503) instead of queueing. One per upstream for each of max_connections
// (connections open to its servers) and max_pending (requests waiting for a connection).
//
// Lock-free: try_acquire is a compare-and-swap loop, so the cap is never exceeded even by
// concurrent workers. The cap is passed on each call so that a reload changes it at once; lowering
// it below the current count refuses new acquisitions until enough are released (nothing is
// taken away). Trade-off, as in Envoy: a cap is global, so one busy route can use up an
// upstream's slots for every route that shares it.

#include <atomic>
#include <cstdint>
#include <utility>

namespace sluice::breaker {

class resource_limit {
public:
    // Takes one unit if fewer than `max` are in use.
    bool try_acquire(std::uint64_t max) noexcept {
        std::uint64_t used = in_use_.load(std::memory_order_relaxed);
        while (used < max) {
            if (in_use_.compare_exchange_weak(used, used + 1, std::memory_order_acq_rel, std::memory_order_relaxed)) {
                return true;
            }
        }
        return false;
    }

    // Gives back one unit taken by try_acquire.
    void release() noexcept { in_use_.fetch_sub(1, std::memory_order_acq_rel); }

    std::uint64_t in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> in_use_{0};
};

// One unit of a resource_limit, given back when destroyed (move-only). Empty when refused.
class resource_slot {
public:
    resource_slot() = default;
    static resource_slot try_take(resource_limit& limit, std::uint64_t max) {
        resource_slot s;
        if (limit.try_acquire(max)) {
            s.limit_ = &limit;
        }
        return s;
    }
    resource_slot(resource_slot&& other) noexcept : limit_(std::exchange(other.limit_, nullptr)) {}
    resource_slot& operator=(resource_slot&& other) noexcept {
        if (this != &other) {
            reset();
            limit_ = std::exchange(other.limit_, nullptr);
        }
        return *this;
    }
    resource_slot(const resource_slot&) = delete;
    resource_slot& operator=(const resource_slot&) = delete;
    ~resource_slot() { reset(); }

    explicit operator bool() const { return limit_ != nullptr; }
    void reset() {
        if (limit_) {
            std::exchange(limit_, nullptr)->release();
        }
    }

private:
    resource_limit* limit_ = nullptr;
};

// The two caps of one upstream (config::circuit_breaker_settings max_connections, max_pending).
struct upstream_caps {
    resource_limit connections;
    resource_limit pending;
};

}  // namespace sluice::breaker
