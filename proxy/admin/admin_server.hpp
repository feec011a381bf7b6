#pragma once
// The admin listener: /metrics (Prometheus text), /healthz, /readyz (503 while draining),
// /config (effective config as JSON). Runs on the main thread's io_context, apart from the
// workers, so a busy data path never hides the admin endpoints.

#include "config/config.hpp"

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace sluice::config {
class store;
}
namespace sluice::metrics {
class registry;
}
namespace sluice::cache {
class worker_store;
}

namespace sluice::admin {

struct admin_context {
    const config::store& store;
    metrics::registry& metrics;
    const std::atomic<bool>& draining;
    cache::worker_store* cache = nullptr;  // POST /cache/purge (on the admin thread's executor)
};

class admin_server {
public:
    admin_server(boost::asio::io_context& ioc, admin_context ctx);
    ~admin_server();

    // Binds and starts accepting; returns the bound "ip:port". Throws on bind failure.
    std::string listen(const config::endpoint& ep);
    void close();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice::admin
