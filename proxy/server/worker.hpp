#pragma once
// One worker thread: its own io_context, its own acceptor per listener (SO_REUSEPORT, so the
// kernel spreads connections), its own upstream pool and balancer state. Nothing here is shared
// with other workers except the config store, which is read lock-free.

#include "common/access_log.hpp"
#include "config/store.hpp"
#include "lb/balancer.hpp"
#include "limits/limiter.hpp"
#include "metrics/metrics.hpp"
#include "server/connection_limiter.hpp"
#include "upstream/pool.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace sluice::http {
struct tunnel_control;
}
namespace sluice::cache {
class memory_store;
class coalescer;
class worker_store;
}  // namespace sluice::cache
namespace sluice::lua {
class runtime;
}

namespace sluice::server {

class tls_bundle;

class worker {
public:
    worker(unsigned index, const config::store& store, const common::access_log& log, metrics::registry& metrics,
           limits::local_store& limit_store, connection_limiter& conn_limits);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    // Opens an acceptor on `ep` with SO_REUSEPORT; returns the bound endpoint (port 0 resolved).
    // Safe from any thread: accepting starts on the worker's thread.
    boost::asio::ip::tcp::endpoint listen(const std::string& listener_name, const boost::asio::ip::tcp::endpoint& ep,
                                          std::shared_ptr<tls_bundle> tls);
    // Replaces the TLS contexts of a listener (certificates reloaded); null makes it plain.
    // Connections already accepted keep the contexts they started with.
    void set_tls(const std::string& listener_name, std::shared_ptr<tls_bundle> tls);
    // Closes the named listener's acceptor (established connections are untouched).
    void unlisten(const std::string& listener_name);

    void start();  // runs the io_context on a new thread
    // Stops accepting, closes idle keep-alive connections, lets in-flight requests finish;
    // `on_idle` is called (on this worker's thread) once no session is left.
    void drain(std::function<void()> on_idle);
    void stop();  // stops the io_context at once
    void join();

    // --- used by sessions, on this worker's thread only ---
    boost::asio::io_context& ioc() { return ioc_; }
    const config::snapshot& snapshot() { return snapshot_.get(); }
    upstream::pool& pool() { return pool_; }
    const common::access_log& access_log() const { return log_; }
    metrics::worker_metrics& metrics() { return metrics_; }
    limits::limiter& limiter() { return limiter_; }
    // The process's response cache: its memory store and coalescer (null until set_cache, before
    // start()); cache_store() is this worker's access to the store [cache] names (memory or Redis).
    void set_cache(cache::memory_store* store, cache::coalescer* coalescer);
    cache::worker_store* cache_store() { return cache_store_.get(); }
    cache::coalescer* coalescer() { return coalescer_; }
    lb::balancer& balancer(const config::config& cfg, std::size_t upstream_index);
    // This worker's Lua state, created on first use (workers without Lua routes have none).
    lua::runtime& lua();
    std::vector<lb::server_view>& server_views() { return views_; }  // scratch for one pick
    bool draining() const { return draining_; }
    unsigned index() const { return index_; }

    // Session bookkeeping for draining: a session waiting for its next request registers its
    // socket as idle so drain() can close it; an active session unregisters it.
    void session_started() { ++sessions_; }
    void session_ended();
    void set_idle(boost::asio::ip::tcp::socket* s) { idle_.insert(s); }
    // Open WebSocket tunnels, asked to close (1001) when the worker drains.
    void add_tunnel(http::tunnel_control* t) { tunnels_.insert(t); }
    void remove_tunnel(http::tunnel_control* t) { tunnels_.erase(t); }
    void clear_idle(boost::asio::ip::tcp::socket* s) { idle_.erase(s); }

private:
    struct acceptor_entry {
        std::string name;
        boost::asio::ip::tcp::acceptor acceptor;
        std::shared_ptr<tls_bundle> tls;
        std::shared_ptr<listener_connections> conns;  // shared by every worker's acceptor
    };
    void accept_loop(std::shared_ptr<acceptor_entry> a);
    // Counts `socket` under its listener's limits; false (socket closed, metric counted) when over.
    bool admit(const acceptor_entry& a, boost::asio::ip::tcp::socket& socket, listener_connections::slot& slot);
    void schedule_sweep();

    unsigned index_;
    // Declared before the io_context: coroutine frames destroyed with it may still hold a
    // lua::request_call that refers to the state.
    std::unique_ptr<lua::runtime> lua_;
    boost::asio::io_context ioc_{1};
    config::cached_snapshot snapshot_;
    const common::access_log& log_;
    connection_limiter& conn_limits_;
    metrics::worker_metrics metrics_;
    limits::limiter limiter_;
    upstream::pool pool_;
    std::vector<std::shared_ptr<acceptor_entry>> acceptors_;
    boost::asio::steady_timer sweep_timer_;
    std::uint64_t balancer_generation_ = 0;
    std::vector<std::unique_ptr<lb::balancer>> balancers_;
    std::vector<lb::server_view> views_;
    std::size_t sessions_ = 0;
    std::unordered_set<boost::asio::ip::tcp::socket*> idle_;
    std::unordered_set<http::tunnel_control*> tunnels_;
    std::unique_ptr<cache::worker_store> cache_store_;
    cache::coalescer* coalescer_ = nullptr;
    bool draining_ = false;
    bool started_ = false;
    std::function<void()> on_idle_;
    std::thread thread_;
};

}  // namespace sluice::server
