#pragma once
// The cache store as one worker (or the admin listener) uses it: the process's memory store, or,
// with [cache] store = "redis", a redis_store over a Redis client this object owns (built lazily
// on its executor's thread from [redis], rebuilt when a reload changes the servers, as the rate
// limiter does). Redis failures come back as values and are counted in
// sluice_cache_store_errors_total{op}; the request path turns them into a bypass.
// Single-threaded: used from its executor's thread only.

#include "cache/entry.hpp"
#include "cache/header_view.hpp"
#include "cache/memory_store.hpp"
#include "config/config.hpp"
#include "redis/configured_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::redis {
class client;
}
namespace sluice::metrics {
class registry;
}

namespace sluice::cache {

class redis_store;

class worker_store {
public:
    worker_store(boost::asio::any_io_executor ex, metrics::registry& metrics);
    ~worker_store();
    worker_store(const worker_store&) = delete;
    worker_store& operator=(const worker_store&) = delete;

    void set_memory(memory_store* m) { memory_ = m; }
    memory_store* memory() const { return memory_; }

    // The memory store when `cfg` uses it, else null (then use the awaitable calls below).
    memory_store* memory_for(const config::config& cfg) const {
        return cfg.cache.store == config::cache_store::memory ? memory_ : nullptr;
    }
    // Whether `cfg` has a usable store at all.
    bool enabled(const config::config& cfg) const {
        return cfg.cache.store == config::cache_store::redis ? cfg.redis.has_value() : memory_ != nullptr;
    }

    struct lookup_result {
        std::shared_ptr<const entry> found;
        bool vary_miss = false;
        bool failed = false;  // the store did not answer: bypass
    };
    // `request` must stay valid until the call completes.
    boost::asio::awaitable<lookup_result> lookup(const config::config& cfg, std::string_view primary,
                                                 header_view request);
    // True when stored. A Redis failure is counted (op="store") and logged at most every 10 s.
    boost::asio::awaitable<bool> insert(const config::config& cfg, std::string_view primary,
                                        std::shared_ptr<const entry> e);
    // Every variant of `primary`; nullopt when the store did not answer.
    boost::asio::awaitable<std::optional<std::size_t>> erase(const config::config& cfg, std::string_view primary);
    boost::asio::awaitable<std::optional<std::size_t>> erase_prefix(const config::config& cfg,
                                                                    std::string_view prefix);

    void stop();  // stops the Redis client (drain)

private:
    redis_store* redis_for(const config::config& cfg);
    void failed(std::string_view op, std::string_view why);

    redis::configured_client client_;  // declared first: outlives the stores built on its clients
    metrics::registry& metrics_;
    memory_store* memory_ = nullptr;
    std::unique_ptr<redis_store> redis_;
    const redis::client* store_client_ = nullptr;  // the client redis_ was built on
    std::vector<std::unique_ptr<redis_store>> retired_stores_;
    std::chrono::steady_clock::time_point last_error_log_{};
};

}  // namespace sluice::cache
