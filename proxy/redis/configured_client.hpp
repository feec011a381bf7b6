#pragma once
// A worker's Redis client for the [redis] table in force (used by the rate limiter and the
// cache store): built on first use, rebuilt when a reload changes [redis].servers. A replaced
// client is stopped and kept, not destroyed: a call suspended on it may still resume and touch
// it. The config generation is compared first, so a request costs no allocation and no list
// comparison while the config stays the same.

#include "config/config.hpp"
#include "redis/client.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace sluice::redis {

class configured_client {
public:
    explicit configured_client(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}

    // The client for cfg's [redis] servers; null when cfg has no [redis]. A different pointer
    // than last time means a new client (what sits on top of the old one must be rebuilt).
    client* get(const config::config& cfg);
    void stop();  // stops the current client (drain)

private:
    boost::asio::any_io_executor ex_;
    std::unique_ptr<client> client_;
    std::vector<config::endpoint> servers_;  // what client_ was built for
    std::uint64_t generation_ = 0;           // the config generation last checked
    std::vector<std::unique_ptr<client>> retired_;
};

}  // namespace sluice::redis
