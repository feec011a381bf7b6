#include "limits/limiter.hpp"

#include "limits/local_store.hpp"
#include "limits/redis_script.hpp"
#include "metrics/metrics.hpp"
#include "redis/client.hpp"
#include "redis/script.hpp"

#include <spdlog/spdlog.h>

namespace sluice::limits {

namespace asio = boost::asio;

limiter::limiter(asio::io_context& ioc, local_store& store, metrics::registry& metrics)
    : ioc_(ioc), store_(store), metrics_(metrics), redis_(ioc.get_executor()) {}

limiter::~limiter() = default;

void limiter::stop() { redis_.stop(); }

void limiter::collect() {
    store_.collect(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count());
}

redis::client* limiter::redis_for(const config::config& cfg) {
    auto* client = redis_.get(cfg);
    if (!client) return nullptr;
    if (!script_) script_ = std::make_unique<redis::script>(std::string(redis_script()));
    return client;
}

asio::awaitable<outcome> limiter::check(const config::config& cfg, const config::rate_limit_policy& policy,
                                        std::string_view key) {
    outcome out;
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    if (policy.store == config::rate_limit_store::local) {
        out.d = store_.check(policy, key, now_ns);
        out.allowed = out.d->allowed;
    } else {
        std::string why;
        if (auto* client = redis_for(cfg)) {
            // EVALSHA sha 1 KEY args...: the script's key and arguments, routed by the key.
            const std::vector<std::string> argv = build_args(policy, key);
            std::vector<std::string_view> keys{argv[3]};
            std::vector<std::string_view> args(argv.begin() + 4, argv.end());
            const auto r = co_await client->eval(*script_, std::move(keys), std::move(args));
            if (!r) {
                why = r.err().message;
            } else if (!r->is_array()) {
                why = "reply is not an array";
            } else {
                std::vector<std::int64_t> values;
                for (const auto& e : r->elements) {
                    if (!e.is_integer()) {
                        why = "reply element is not an integer";
                        break;
                    }
                    values.push_back(e.integer);
                }
                if (why.empty()) {
                    auto parsed = parse_reply(policy, values);
                    if (parsed.result) {
                        out.d = *parsed.result;
                        out.allowed = out.d->allowed;
                    } else {
                        why = parsed.error;
                    }
                }
            }
        } else {
            why = "no [redis] configured";
        }
        if (!why.empty()) {
            out.redis_error = true;
            out.d.reset();
            out.allowed = policy.allow_on_redis_error;
            metrics_.ratelimit_redis_errors.Add({{"limit", policy.name}}).Increment();
            const auto now = std::chrono::steady_clock::now();
            if (now - last_error_log_ > std::chrono::seconds(10)) {  // once per interval per worker
                last_error_log_ = now;
                spdlog::warn("rate limit \"{}\": redis error ({}); requests are {}", policy.name, why,
                             policy.allow_on_redis_error ? "allowed" : "denied");
            }
        }
    }
    if (!out.allowed) {
        const std::string label =
            out.d ? policy.name + " " + policy.limits[out.d->limit].name : policy.name + " redis_error";
        metrics_.ratelimit_rejected.Add({{"limit", label}}).Increment();
    }
    co_return out;
}

std::string_view client_key(const config::rate_limit_policy& policy, std::string_view client_ip,
                            std::string_view header_value, std::string_view route_name) {
    switch (policy.key) {
    case config::rate_limit_key::client_ip: return client_ip;
    case config::rate_limit_key::header: return header_value.empty() ? client_ip : header_value;
    case config::rate_limit_key::route: return route_name;
    }
    return client_ip;
}

}  // namespace sluice::limits
