#pragma once
// State of one upstream server that is shared by all workers and survives config reloads:
// keyed by (upstream name, server address), so a server that stays in the config keeps its
// health, ejection and breaker state, and a removed one is dropped with the last snapshot
// that referenced it. No Asio here.
//
// Concurrency: plain flags and counters are atomics (read on every pick); the state machines
// (outlier detection, circuit breaker) are guarded by `mutex`, taken once per request outcome.

#include "breaker/circuit_breaker.hpp"
#include "breaker/resource_limit.hpp"
#include "upstream/retry_budget.hpp"
#include "upstream/outlier.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace sluice::config {
struct config;
}

namespace sluice::upstream {

struct server_state {
    std::atomic<bool> healthy{true};               // active health checks (true until proven down)
    std::atomic<std::int64_t> ejected_until_ns{0};  // steady_clock ns; passive outlier ejection
    std::atomic<std::uint64_t> in_flight{0};        // requests in progress, all workers

    std::mutex mutex;  // guards the state machines below (added by the features that own them)
    outlier_detector outlier;  // passive ejection (upstream::record_outcome publishes ejected_until_ns)
    breaker::circuit_breaker breaker;  // the upstream's circuit_breaker table (idle when absent)
};

// State of a whole upstream shared by all workers and kept across reloads (by name): the retry
// budget and the concurrency caps of its circuit_breaker table.
struct upstream_state {
    retry_budget budget;
    breaker::upstream_caps caps;
};

// Hands out server_state by (upstream, address). Used when a config snapshot is published,
// never on the request path.
class state_registry {
public:
    std::shared_ptr<server_state> get(const std::string& upstream, const std::string& address);
    std::shared_ptr<upstream_state> get_upstream(const std::string& upstream);

    // Forgets entries no snapshot holds any more.
    void collect();

private:
    std::mutex mutex_;
    std::map<std::pair<std::string, std::string>, std::weak_ptr<server_state>> states_;
    std::map<std::string, std::weak_ptr<upstream_state>> upstreams_;
};

// Gives every server of `cfg` its shared state (existing for servers that stay).
void attach_states(config::config& cfg, state_registry& registry);

}  // namespace sluice::upstream
