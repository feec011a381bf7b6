#pragma once
// The Redis client of one worker: one pool per [redis].servers entry, each key sent to the
// server the ring picks for it, so every worker and every replica agree on where a key lives.
// Same threading and lifetime rules as redis::pool.

#include "redis/pool.hpp"
#include "redis/ring.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::redis {

class client {
public:
    // `servers` as in the config ("host:port"); throws std::invalid_argument when one is
    // malformed or the list is empty (config time, not the request path).
    client(boost::asio::any_io_executor ex, const std::vector<std::string>& servers, pool_options options = {});

    pool& pool_for(std::string_view key) { return *pools_[ring_.pick(key)]; }
    pool& shard(std::size_t index) { return *pools_.at(index); }
    std::size_t shard_of(std::string_view key) const noexcept { return ring_.pick(key); }
    std::size_t size() const noexcept { return pools_.size(); }
    const ring& shards() const noexcept { return ring_; }

    // The command on the server owning `key` (usually one of the command's arguments).
    boost::asio::awaitable<result> execute(std::string_view key, command args);
    // The same with the arguments inline: co_await c.execute(key, "INCR", key).
    template <class... Args>
    boost::asio::awaitable<result> execute(std::string_view key, std::string_view name, const Args&... args) {
        return pool_for(key).execute(command{name, std::string_view(args)...});
    }
    // A pipelined batch on the server owning `key`; every command should touch that server's keys only.
    boost::asio::awaitable<std::vector<result>> pipeline(std::string_view key, std::vector<command> commands);
    // EVALSHA with NOSCRIPT fallback (pool::eval) on the server owning keys[0] (server 0 without keys).
    boost::asio::awaitable<result> eval(const script& s, std::vector<std::string_view> keys,
                                        std::vector<std::string_view> args);

    // Waits until every server has an open connection; false at the timeout.
    boost::asio::awaitable<bool> wait_ready(std::chrono::milliseconds timeout);

    void stop();  // pool::stop() on every server

private:
    ring ring_;
    std::vector<std::unique_ptr<pool>> pools_;
};

}  // namespace sluice::redis
