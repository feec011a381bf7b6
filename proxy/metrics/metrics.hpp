#pragma once
// Prometheus metrics (prometheus-cpp core; served as text by the admin listener). The families
// are process-wide; each worker keeps a `worker_metrics` cache of the labelled series it has
// touched, so the request path never takes prometheus-cpp's family lock after the first hit.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::config {
struct config;
}

namespace sluice::metrics {

class registry {
    // Declared first: the family references below are registered in it during construction.
    std::shared_ptr<prometheus::Registry> registry_;

public:
    registry();
    registry(const registry&) = delete;
    registry& operator=(const registry&) = delete;

    // Text exposition format of every family; refreshes the gauges that mirror shared state
    // (upstream health) from `cfg` first.
    std::string serialize(const config::config* cfg);

    prometheus::Registry& prom() { return *registry_; }

    prometheus::Family<prometheus::Counter>& requests_total;
    prometheus::Family<prometheus::Histogram>& request_duration;
    prometheus::Family<prometheus::Counter>& upstream_requests_total;
    prometheus::Family<prometheus::Histogram>& upstream_duration;
    prometheus::Family<prometheus::Gauge>& upstream_healthy;
    prometheus::Family<prometheus::Gauge>& connections_active;
    prometheus::Family<prometheus::Counter>& connections_total;
    prometheus::Family<prometheus::Counter>& connections_rejected;
    prometheus::Family<prometheus::Counter>& bytes_total;
    prometheus::Family<prometheus::Gauge>& upstream_idle_connections;
    prometheus::Family<prometheus::Counter>& cache_requests;
    prometheus::Family<prometheus::Counter>& cache_store_errors;
    prometheus::Family<prometheus::Counter>& ratelimit_rejected;
    prometheus::Family<prometheus::Counter>& ratelimit_redis_errors;
    prometheus::Family<prometheus::Gauge>& circuit_state;
    prometheus::Family<prometheus::Gauge>& websocket_sessions_active;
    prometheus::Family<prometheus::Counter>& tls_handshake_failures;
    prometheus::Family<prometheus::Gauge>& config_generation;
    prometheus::Family<prometheus::Counter>& config_reloads_total;
    prometheus::Family<prometheus::Counter>& lua_errors_total;
};

// Per-worker view: lookups by plain string keys in a map this thread owns.
class worker_metrics {
public:
    worker_metrics(registry& r, unsigned worker_index) : r_(r), worker_index_(worker_index) {}

    void request_done(std::string_view route, unsigned status, double seconds, std::uint64_t bytes_in,
                      std::uint64_t bytes_out);
    // outcome: "success", "connect_failure", "timeout", "reset", "bad_response", "5xx"
    void upstream_done(std::string_view upstream, std::string_view server, std::string_view outcome, double seconds);
    prometheus::Gauge& connections_active(std::string_view listener);
    void connection_opened(std::string_view listener);
    void idle_upstream_connections(std::size_t n);
    prometheus::Gauge& websocket_sessions() { return r_.websocket_sessions_active.Add({}); }
    // result: "hit", "miss", "stale" or "bypass" (series kept per worker), or any other label.
    void cache_result(std::string_view result) {
        static constexpr std::array<std::string_view, 4> known{"hit", "miss", "stale", "bypass"};
        for (std::size_t i = 0; i < known.size(); ++i) {
            if (result != known[i]) continue;
            if (!cache_results_[i]) cache_results_[i] = &r_.cache_requests.Add({{"result", std::string(result)}});
            cache_results_[i]->Increment();
            return;
        }
        r_.cache_requests.Add({{"result", std::string(result)}}).Increment();
    }
    // reason: "listener_limit" or "per_ip_limit" (rare: no per-worker cache of the series)
    void connection_rejected(std::string_view listener, std::string_view reason) {
        r_.connections_rejected.Add({{"listener", std::string(listener)}, {"reason", std::string(reason)}}).Increment();
    }
    void lua_error(std::string_view route) { r_.lua_errors_total.Add({{"route", std::string(route)}}).Increment(); }
    void tls_handshake_failed(std::string_view listener) {
        r_.tls_handshake_failures.Add({{"listener", std::string(listener)}}).Increment();
    }

private:
    struct route_series {
        prometheus::Histogram* duration = nullptr;
        std::array<prometheus::Counter*, 600> by_status{};
    };
    registry& r_;
    unsigned worker_index_;
    std::unordered_map<std::string, route_series> routes_;
    std::unordered_map<std::string, prometheus::Counter*> upstream_counters_;
    std::unordered_map<std::string, prometheus::Histogram*> upstream_histograms_;
    std::unordered_map<std::string, prometheus::Gauge*> connections_;
    std::unordered_map<std::string, prometheus::Counter*> accepted_;
    prometheus::Counter* bytes_in_ = nullptr;
    prometheus::Counter* bytes_out_ = nullptr;
    prometheus::Gauge* idle_upstream_ = nullptr;
    std::array<prometheus::Counter*, 4> cache_results_{};
    std::string key_;  // scratch for composite keys
};

}  // namespace sluice::metrics
