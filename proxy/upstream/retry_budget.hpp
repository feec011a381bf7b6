#pragma once
// Retries: whether a failed attempt may be tried again (should_retry, a pure function of the
// outcome, the attempt count, the policy and the request), and how many retries may run at once
// (retry_budget, as Envoy's retry budgets: retries in flight <= budget_percent of the requests in
// flight, but always at least min_concurrent), so that an outage never multiplies the load.

#include "upstream/outcome.hpp"

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

namespace sluice::config {
struct retry_settings;
}

namespace sluice::upstream {

// RFC 9110 9.2.2: GET HEAD OPTIONS TRACE PUT DELETE (case-sensitive, as methods are).
bool idempotent(std::string_view method);

// The outcome is one the policy's `on` list names ("connect-failure", "timeout", "reset", "5xx",
// a status code).
bool retry_on(const outcome& o, const config::retry_settings& p);

// Whether to try again after attempt number `attempts_made` (1 after the first try) ended with `o`:
//  - attempts_made < p.attempts (attempts counts every try, the first included) and `o` is in `on`;
//  - and no byte of the request body went upstream (body_sent): bodies stream, so a sent body
//    cannot be replayed;
//  - and it is safe: a connect failure sent nothing, so any method; otherwise an idempotent
//    method, or a request whose body has not been sent (the server cannot have acted on an
//    incomplete request). A non-idempotent request without a body reached the server whole: no.
// The budget (retry_budget::try_retry) is checked after this, and the retry goes to a server not
// tried yet (pick_context::tried).
bool should_retry(const outcome& o, std::uint32_t attempts_made, const config::retry_settings& p,
                  std::string_view method, bool has_body, bool body_sent);

// Requests and retries in flight on one upstream, shared by all workers (atomics, lock-free).
class retry_budget {
public:
    // Retries allowed in flight: max(min_concurrent, budget_percent% of active requests).
    static std::uint64_t allowed(std::uint64_t active_requests, std::uint32_t budget_percent,
                                 std::uint32_t min_concurrent);

    // Counts one request (first try and retries alike) from start to end.
    class request {
    public:
        request() = default;
        explicit request(retry_budget& b) : budget_(&b) { b.requests_.fetch_add(1, std::memory_order_relaxed); }
        request(request&& o) noexcept : budget_(std::exchange(o.budget_, nullptr)) {}
        request& operator=(request&& o) noexcept;
        ~request() { release(); }
        void release();

    private:
        retry_budget* budget_ = nullptr;
    };

    // One retry attempt in flight, from try_retry until it ends.
    class retry {
    public:
        retry() = default;
        explicit retry(retry_budget& b) : budget_(&b) {}
        retry(retry&& o) noexcept : budget_(std::exchange(o.budget_, nullptr)) {}
        retry& operator=(retry&& o) noexcept;
        ~retry() { release(); }
        void release();

    private:
        retry_budget* budget_ = nullptr;
    };

    [[nodiscard]] request start_request() { return request(*this); }

    // A retry if the budget has room (counted until the returned object is released), else nullopt.
    [[nodiscard]] std::optional<retry> try_retry(const config::retry_settings& p);
    [[nodiscard]] std::optional<retry> try_retry(std::uint32_t budget_percent, std::uint32_t min_concurrent);

    std::uint64_t active_requests() const { return requests_.load(std::memory_order_relaxed); }
    std::uint64_t active_retries() const { return retries_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::uint64_t> retries_{0};
};

}  // namespace sluice::upstream
