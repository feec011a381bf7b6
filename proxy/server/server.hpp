#pragma once
// Owns the worker threads and binds every listener once per worker (SO_REUSEPORT), resolving
// port 0 on the first bind so all workers share the kernel-chosen port.

#include "common/access_log.hpp"
#include "config/store.hpp"
#include "metrics/metrics.hpp"
#include "server/connection_limiter.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sluice::limits {
class local_store;
}
namespace sluice::cache {
class memory_store;
class coalescer;
}  // namespace sluice::cache

namespace sluice::server {

class worker;

struct bound_listener {
    std::string name;
    std::string address;  // "ip:port" actually bound
};

class server {
public:
    server(const config::store& store, const common::access_log& log, metrics::registry& metrics,
           limits::local_store& limit_store);
    ~server();

    // Creates cfg.server.workers workers, binds cfg.listeners and starts the threads.
    // Throws std::system_error when a listener cannot be bound.
    std::vector<bound_listener> start(const config::config& cfg);

    // Opens listeners new in `cfg`, closes those gone, re-binds those whose address changed;
    // established connections are never touched. Returns what changed, for the log.
    // Throws std::system_error when a new listener cannot be bound (nothing else changes then).
    std::vector<std::string> apply_listeners(const config::config& cfg);

    // Stops accepting and lets in-flight requests finish; `on_drained` runs (on some worker's
    // thread) once every worker is idle.
    void drain(std::function<void()> on_drained);
    void stop();
    void join();
    // The process's response cache, handed to every worker as it is created: call before start()
    // (workers read it from their own threads without a lock).
    void set_cache(cache::memory_store* store, cache::coalescer* coalescer);

private:
    const config::store& store_;
    bound_listener bind(const config::listener& l);

    const common::access_log& log_;
    metrics::registry& metrics_;
    limits::local_store& limit_store_;
    connection_limiter conn_limits_;  // before workers_: outlives them
    cache::memory_store* cache_store_ = nullptr;
    cache::coalescer* coalescer_ = nullptr;
    std::vector<std::unique_ptr<worker>> workers_;
    std::map<std::string, std::string> listening_;  // listener name -> configured address
};

}  // namespace sluice::server
