#include "metrics/metrics.hpp"

#include "config/config.hpp"
#include "upstream/server_state.hpp"

#include <prometheus/text_serializer.h>


namespace sluice::metrics {

namespace {

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
    static const prometheus::Histogram::BucketBoundaries b{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                           0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    return b;
}

}  // namespace

registry::registry()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_total(prometheus::BuildCounter()
                         .Name("sluice_requests_total")
                         .Help("Requests answered, by route and status code")
                         .Register(*registry_)),
      request_duration(prometheus::BuildHistogram()
                           .Name("sluice_request_duration_seconds")
                           .Help("Time from request head received to response complete, by route")
                           .Register(*registry_)),
      upstream_requests_total(prometheus::BuildCounter()
                                  .Name("sluice_upstream_requests_total")
                                  .Help("Upstream attempts by upstream, server and outcome")
                                  .Register(*registry_)),
      upstream_duration(prometheus::BuildHistogram()
                            .Name("sluice_upstream_response_seconds")
                            .Help("Time from request sent upstream to response head received")
                            .Register(*registry_)),
      upstream_healthy(prometheus::BuildGauge()
                           .Name("sluice_upstream_healthy")
                           .Help("1 when the server takes traffic (healthy, not ejected), else 0")
                           .Register(*registry_)),
      connections_active(prometheus::BuildGauge()
                             .Name("sluice_connections_active")
                             .Help("Open downstream connections by listener")
                             .Register(*registry_)),
      connections_total(prometheus::BuildCounter()
                            .Name("sluice_connections_total")
                            .Help("Downstream connections accepted by listener")
                            .Register(*registry_)),
      connections_rejected(prometheus::BuildCounter()
                               .Name("sluice_connections_rejected_total")
                               .Help("Downstream connections closed at accept by a connection limit, by listener "
                                     "and reason (listener_limit, per_ip_limit)")
                               .Register(*registry_)),
      bytes_total(prometheus::BuildCounter()
                      .Name("sluice_body_bytes_total")
                      .Help("Body bytes relayed, by direction (in: from clients, out: to clients)")
                      .Register(*registry_)),
      upstream_idle_connections(prometheus::BuildGauge()
                                    .Name("sluice_upstream_idle_connections")
                                    .Help("Idle keep-alive connections in the upstream pools, by worker")
                                    .Register(*registry_)),
      cache_requests(prometheus::BuildCounter()
                         .Name("sluice_cache_requests_total")
                         .Help("Requests on caching routes by result (hit, miss, stale, bypass)")
                         .Register(*registry_)),
      cache_store_errors(prometheus::BuildCounter()
                             .Name("sluice_cache_store_errors_total")
                             .Help("Cache store operations Redis could not answer (op: lookup, store, purge); "
                                   "a failed lookup is served as a bypass")
                             .Register(*registry_)),
      ratelimit_rejected(prometheus::BuildCounter()
                             .Name("sluice_ratelimit_rejected_total")
                             .Help("Requests rejected with 429, by policy and limit")
                             .Register(*registry_)),
      ratelimit_redis_errors(prometheus::BuildCounter()
                                 .Name("sluice_ratelimit_redis_errors_total")
                                 .Help("Rate-limit checks that Redis could not answer, by policy")
                                 .Register(*registry_)),
      circuit_state(prometheus::BuildGauge()
                        .Name("sluice_circuit_state")
                        .Help("Circuit breaker state per server: 0 closed, 1 half-open, 2 open")
                        .Register(*registry_)),
      websocket_sessions_active(prometheus::BuildGauge()
                                    .Name("sluice_websocket_sessions_active")
                                    .Help("WebSocket (Upgrade) tunnels open")
                                    .Register(*registry_)),
      tls_handshake_failures(prometheus::BuildCounter()
                                 .Name("sluice_tls_handshake_failures_total")
                                 .Help("Failed or abandoned TLS handshakes by listener")
                                 .Register(*registry_)),
      config_generation(prometheus::BuildGauge()
                            .Name("sluice_config_generation")
                            .Help("Generation number of the configuration in force")
                            .Register(*registry_)),
      config_reloads_total(prometheus::BuildCounter()
                               .Name("sluice_config_reloads_total")
                               .Help("Configuration reloads by result (ok, error)")
                               .Register(*registry_)),
      lua_errors_total(prometheus::BuildCounter()
                           .Name("sluice_lua_errors_total")
                           .Help("Lua filter calls that failed (runtime error, instruction or memory limit), by route")
                           .Register(*registry_)) {}

std::string registry::serialize(const config::config* cfg) {
    if (cfg) {
        config_generation.Add({}).Set(static_cast<double>(cfg->generation));
        for (const auto& u : cfg->upstreams)
            for (const auto& s : u.servers) {
                if (!s.state) continue;
                const bool ejected = s.state->ejected_until_ns.load(std::memory_order_relaxed) >
                                     std::chrono::steady_clock::now().time_since_epoch().count();
                const bool up = s.state->healthy.load(std::memory_order_relaxed) && !ejected;
                upstream_healthy.Add({{"upstream", u.name}, {"server", s.address.to_string()}}).Set(up ? 1 : 0);
                if (u.circuit_breaker) {
                    std::lock_guard lock(s.state->mutex);
                    const auto now_ns = std::chrono::steady_clock::now().time_since_epoch().count();
                    circuit_state.Add({{"upstream", u.name}, {"server", s.address.to_string()}})
                        .Set(static_cast<double>(s.state->breaker.current(now_ns)));
                }
            }
    }
    return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void worker_metrics::request_done(std::string_view route, unsigned status, double seconds, std::uint64_t bytes_in,
                                  std::uint64_t bytes_out) {
    if (route.empty()) route = "none";  // answered before any route matched
    auto it = routes_.find(std::string(route));
    if (it == routes_.end()) {
        it = routes_.emplace(std::string(route), route_series{}).first;
        it->second.duration = &r_.request_duration.Add({{"route", std::string(route)}}, latency_buckets());
    }
    auto& series = it->second;
    const unsigned code = status < series.by_status.size() ? status : 0;
    auto*& counter = series.by_status[code];
    if (!counter) counter = &r_.requests_total.Add({{"route", std::string(route)}, {"code", std::to_string(status)}});
    counter->Increment();
    series.duration->Observe(seconds);
    if (!bytes_in_) {
        bytes_in_ = &r_.bytes_total.Add({{"direction", "in"}});
        bytes_out_ = &r_.bytes_total.Add({{"direction", "out"}});
    }
    if (bytes_in) bytes_in_->Increment(static_cast<double>(bytes_in));
    if (bytes_out) bytes_out_->Increment(static_cast<double>(bytes_out));
}

void worker_metrics::upstream_done(std::string_view upstream, std::string_view server, std::string_view outcome,
                                   double seconds) {
    key_.assign(upstream).append("\n").append(server).append("\n").append(outcome);
    auto it = upstream_counters_.find(key_);
    if (it == upstream_counters_.end())
        it = upstream_counters_
                 .emplace(key_, &r_.upstream_requests_total.Add({{"upstream", std::string(upstream)},
                                                                 {"server", std::string(server)},
                                                                 {"outcome", std::string(outcome)}}))
                 .first;
    it->second->Increment();
    if (outcome == "success" || outcome == "5xx") {
        key_.assign(upstream).append("\n").append(server);
        auto h = upstream_histograms_.find(key_);
        if (h == upstream_histograms_.end())
            h = upstream_histograms_
                    .emplace(key_, &r_.upstream_duration.Add(
                                       {{"upstream", std::string(upstream)}, {"server", std::string(server)}},
                                       latency_buckets()))
                    .first;
        h->second->Observe(seconds);
    }
}

prometheus::Gauge& worker_metrics::connections_active(std::string_view listener) {
    auto it = connections_.find(std::string(listener));
    if (it == connections_.end())
        it = connections_.emplace(std::string(listener), &r_.connections_active.Add({{"listener", std::string(listener)}}))
                 .first;
    return *it->second;
}

void worker_metrics::connection_opened(std::string_view listener) {
    auto it = accepted_.find(std::string(listener));
    if (it == accepted_.end())
        it = accepted_.emplace(std::string(listener), &r_.connections_total.Add({{"listener", std::string(listener)}}))
                 .first;
    it->second->Increment();
    connections_active(listener).Increment();
}

void worker_metrics::idle_upstream_connections(std::size_t n) {
    if (!idle_upstream_) idle_upstream_ = &r_.upstream_idle_connections.Add({{"worker", std::to_string(worker_index_)}});
    idle_upstream_->Set(static_cast<double>(n));
}

}  // namespace sluice::metrics
