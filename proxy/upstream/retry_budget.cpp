#include "upstream/retry_budget.hpp"

#include "config/config.hpp"

#include <algorithm>

namespace sluice::upstream {

bool idempotent(std::string_view method) {
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
           method == "DELETE";
}

bool retry_on(const outcome& o, const config::retry_settings& p) {
    switch (o.type) {
        case outcome::kind::connect_failure: return p.on_connect_failure;
        case outcome::kind::timeout: return p.on_timeout;
        case outcome::kind::reset: return p.on_reset;
        case outcome::kind::response:
            if (p.on_5xx && o.status >= 500 && o.status <= 599) return true;
            return std::find(p.on_status.begin(), p.on_status.end(), o.status) != p.on_status.end();
    }
    return false;
}

bool should_retry(const outcome& o, std::uint32_t attempts_made, const config::retry_settings& p,
                  std::string_view method, bool has_body, bool body_sent) {
    if (attempts_made >= p.attempts || !retry_on(o, p) || body_sent) return false;
    if (o.type == outcome::kind::connect_failure) return true;
    return idempotent(method) || has_body;
}

std::uint64_t retry_budget::allowed(std::uint64_t active_requests, std::uint32_t budget_percent,
                                    std::uint32_t min_concurrent) {
    return std::max<std::uint64_t>(min_concurrent, active_requests * budget_percent / 100);
}

std::optional<retry_budget::retry> retry_budget::try_retry(const config::retry_settings& p) {
    return try_retry(p.budget_percent, p.min_concurrent);
}

std::optional<retry_budget::retry> retry_budget::try_retry(std::uint32_t budget_percent, std::uint32_t min_concurrent) {
    const std::uint64_t limit = allowed(active_requests(), budget_percent, min_concurrent);
    std::uint64_t current = retries_.load(std::memory_order_relaxed);
    do {
        if (current + 1 > limit) return std::nullopt;
    } while (!retries_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return retry(*this);
}

void retry_budget::request::release() {
    if (budget_) std::exchange(budget_, nullptr)->requests_.fetch_sub(1, std::memory_order_relaxed);
}

retry_budget::request& retry_budget::request::operator=(request&& o) noexcept {
    if (this != &o) {
        release();
        budget_ = std::exchange(o.budget_, nullptr);
    }
    return *this;
}

void retry_budget::retry::release() {
    if (budget_) std::exchange(budget_, nullptr)->retries_.fetch_sub(1, std::memory_order_relaxed);
}

retry_budget::retry& retry_budget::retry::operator=(retry&& o) noexcept {
    if (this != &o) {
        release();
        budget_ = std::exchange(o.budget_, nullptr);
    }
    return *this;
}

}  // namespace sluice::upstream
