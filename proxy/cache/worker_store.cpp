#include "cache/worker_store.hpp"

#include "cache/redis_store.hpp"
#include "metrics/metrics.hpp"
#include "redis/client.hpp"

#include <spdlog/spdlog.h>

namespace sluice::cache {

namespace asio = boost::asio;

namespace {
time_point now_seconds() {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}
}  // namespace

worker_store::worker_store(asio::any_io_executor ex, metrics::registry& metrics)
    : client_(std::move(ex)), metrics_(metrics) {}

worker_store::~worker_store() = default;

void worker_store::stop() { client_.stop(); }

redis_store* worker_store::redis_for(const config::config& cfg) {
    auto* client = client_.get(cfg);
    if (!client) return nullptr;
    if (client != store_client_) {
        // A new client ([redis] changed on reload): a suspended call may still use the old store,
        // so it is kept (until the worker_store goes; [redis] server changes are rare).
        if (redis_) retired_stores_.push_back(std::move(redis_));
        redis_ = std::make_unique<redis_store>(*client);
        store_client_ = client;
    }
    return redis_.get();
}

void worker_store::failed(std::string_view op, std::string_view why) {
    metrics_.cache_store_errors.Add({{"op", std::string(op)}}).Increment();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_error_log_ > std::chrono::seconds(10)) {  // once per interval per worker
        last_error_log_ = now;
        spdlog::warn("cache: redis {} failed ({}); requests bypass the cache", op, why);
    }
}

asio::awaitable<worker_store::lookup_result> worker_store::lookup(const config::config& cfg, std::string_view primary,
                                                                  header_view request) {
    lookup_result out;
    if (auto* m = memory_for(cfg)) {
        auto r = m->lookup(primary, request);
        out.found = std::move(r.found);
        out.vary_miss = r.vary_miss;
        co_return out;
    }
    auto* rs = redis_for(cfg);
    if (!rs) {
        out.failed = true;
        co_return out;
    }
    auto r = co_await rs->lookup(std::string(primary), request);
    if (r.failed) failed("lookup", r.error);
    out.found = std::move(r.found);
    out.vary_miss = r.vary_miss;
    out.failed = r.failed;
    co_return out;
}

asio::awaitable<bool> worker_store::insert(const config::config& cfg, std::string_view primary,
                                           std::shared_ptr<const entry> e) {
    if (auto* m = memory_for(cfg)) co_return m->insert(primary, std::move(e)) == memory_store::insert_result::stored;
    auto* rs = redis_for(cfg);
    if (!rs) co_return false;
    if (e->object_bytes() > cfg.cache.max_object_bytes) co_return false;
    auto err = co_await rs->insert(std::string(primary), std::move(e), now_seconds());
    if (err) failed("store", *err);
    co_return !err;
}

asio::awaitable<std::optional<std::size_t>> worker_store::erase(const config::config& cfg, std::string_view primary) {
    if (auto* m = memory_for(cfg)) co_return m->erase(primary);
    auto* rs = redis_for(cfg);
    if (!rs) co_return std::nullopt;
    auto r = co_await rs->erase(std::string(primary));
    if (r.error) {
        failed("purge", *r.error);
        co_return std::nullopt;
    }
    co_return r.erased;
}

asio::awaitable<std::optional<std::size_t>> worker_store::erase_prefix(const config::config& cfg,
                                                                       std::string_view prefix) {
    if (auto* m = memory_for(cfg)) co_return m->erase_prefix(prefix);
    auto* rs = redis_for(cfg);
    if (!rs) co_return std::nullopt;
    auto r = co_await rs->erase_prefix(std::string(prefix));
    if (r.error) {
        failed("purge", *r.error);
        co_return std::nullopt;
    }
    co_return r.erased;
}

}  // namespace sluice::cache
