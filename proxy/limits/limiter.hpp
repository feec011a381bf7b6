#pragma once
// The rate-limit check of the request path, for one worker: the shared local store for
// store = "local", the worker's own Redis client (built lazily on the worker's thread from
// [redis]) for store = "redis", with the policy's fail-open/fail-closed rule on Redis errors.

#include "config/config.hpp"
#include "limits/gcra.hpp"
#include "redis/configured_client.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::redis {
class client;
class script;
}  // namespace sluice::redis

namespace sluice::metrics {
class registry;
}

namespace sluice::limits {

class local_store;

struct outcome {
    bool allowed = true;
    std::optional<decision> d;  // absent when Redis failed and the policy allowed the request
    bool redis_error = false;
};

class limiter {
public:
    limiter(boost::asio::io_context& ioc, local_store& store, metrics::registry& metrics);
    ~limiter();

    // Checks one request against `policy` under `client_key`.
    boost::asio::awaitable<outcome> check(const config::config& cfg, const config::rate_limit_policy& policy,
                                          std::string_view client_key);

    void stop();  // stops the Redis client (drain)
    void collect();  // drops idle keys of the shared local store (called periodically by one worker)

private:
    redis::client* redis_for(const config::config& cfg);

    boost::asio::io_context& ioc_;
    local_store& store_;
    metrics::registry& metrics_;
    redis::configured_client redis_;  // the [redis] client in force
    std::unique_ptr<redis::script> script_;
    std::chrono::steady_clock::time_point last_error_log_{};
};

// The key a request is limited under: the client address, a header's value (the client
// address when the header is absent, so a client cannot escape by omitting it), or the route.
std::string_view client_key(const config::rate_limit_policy& policy, std::string_view client_ip,
                            std::string_view header_value, std::string_view route_name);

}  // namespace sluice::limits
