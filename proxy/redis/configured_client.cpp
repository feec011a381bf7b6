#include "redis/configured_client.hpp"

namespace sluice::redis {

client* configured_client::get(const config::config& cfg) {
    if (!cfg.redis) return nullptr;
    if (client_ && cfg.generation == generation_) return client_.get();
    generation_ = cfg.generation;
    if (client_ && cfg.redis->servers == servers_) return client_.get();
    if (client_) {
        client_->stop();  // calls in flight finish on the old one
        retired_.push_back(std::move(client_));
    }
    std::vector<std::string> addresses;
    for (const auto& s : cfg.redis->servers) addresses.push_back(s.to_string());
    pool_options opts;
    opts.timeout = cfg.redis->timeout;
    opts.connections = cfg.redis->pool_size;
    client_ = std::make_unique<client>(ex_, addresses, opts);
    servers_ = cfg.redis->servers;
    return client_.get();
}

void configured_client::stop() {
    if (client_) client_->stop();
}

}  // namespace sluice::redis
