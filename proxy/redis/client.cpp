#include "redis/client.hpp"

#include <stdexcept>

namespace sluice::redis {

namespace asio = boost::asio;

namespace {

std::vector<endpoint> parse_all(const std::vector<std::string>& servers) {
    if (servers.empty()) throw std::invalid_argument("redis: no servers");
    std::vector<endpoint> out;
    for (const auto& s : servers) {
        auto ep = parse_endpoint(s);
        if (!ep) throw std::invalid_argument("redis: bad server address \"" + s + "\" (expected host:port)");
        out.push_back(std::move(*ep));
    }
    return out;
}

}  // namespace

client::client(asio::any_io_executor ex, const std::vector<std::string>& servers, pool_options options)
    : ring_(servers) {
    for (auto& ep : parse_all(servers)) pools_.push_back(std::make_unique<pool>(ex, std::move(ep), options));
}

// Not coroutines: the pool's awaitable is returned as is, so no frame here outlives the call.
asio::awaitable<result> client::execute(std::string_view key, command args) {
    return pool_for(key).execute(std::move(args));
}

asio::awaitable<std::vector<result>> client::pipeline(std::string_view key, std::vector<command> commands) {
    return pool_for(key).pipeline(std::move(commands));
}

asio::awaitable<result> client::eval(const script& s, std::vector<std::string_view> keys,
                                     std::vector<std::string_view> args) {
    pool& p = keys.empty() ? *pools_.front() : pool_for(keys.front());
    return p.eval(s, std::move(keys), std::move(args));
}

asio::awaitable<bool> client::wait_ready(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool all = true;
    for (auto& p : pools_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        all = co_await p->wait_ready(std::max(left, std::chrono::milliseconds(0))) && all;
    }
    co_return all;
}

void client::stop() {
    for (auto& p : pools_) p->stop();
}

}  // namespace sluice::redis
