#include "server/worker.hpp"

#include "cache/worker_store.hpp"
#include "http/session.hpp"
#include "http/tunnel.hpp"
#include "lua/runtime.hpp"

#include <spdlog/spdlog.h>

namespace sluice::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

worker::worker(unsigned index, const config::store& store, const common::access_log& log, metrics::registry& metrics,
               limits::local_store& limit_store, connection_limiter& conn_limits)
    : index_(index),
      snapshot_(store),
      log_(log),
      conn_limits_(conn_limits),
      metrics_(metrics, index),
      limiter_(ioc_, limit_store, metrics),
      pool_(ioc_),
      sweep_timer_(ioc_),
      cache_store_(std::make_unique<cache::worker_store>(ioc_.get_executor(), metrics)) {}

void worker::set_cache(cache::memory_store* store, cache::coalescer* coalescer) {
    cache_store_->set_memory(store);
    coalescer_ = coalescer;
}

worker::~worker() {
    stop();
    join();
}

tcp::endpoint worker::listen(const std::string& listener_name, const tcp::endpoint& ep, std::shared_ptr<tls_bundle> tls) {
    auto entry = std::make_shared<acceptor_entry>(
        acceptor_entry{listener_name, tcp::acceptor(ioc_), std::move(tls), conn_limits_.for_listener(listener_name)});
    auto& a = entry->acceptor;
    a.open(ep.protocol());
    a.set_option(asio::socket_base::reuse_address(true));
    int one = 1;
    if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
    a.bind(ep);
    a.listen(asio::socket_base::max_listen_connections);
    const auto bound = a.local_endpoint();
    if (!started_) {
        acceptors_.push_back(std::move(entry));
    } else {
        // Added by a reload while running: hand it to the worker's thread.
        asio::post(ioc_, [this, entry]() {
            acceptors_.push_back(entry);
            if (!draining_) accept_loop(entry);
        });
    }
    return bound;
}

void worker::set_tls(const std::string& listener_name, std::shared_ptr<tls_bundle> tls) {
    asio::post(ioc_, [this, listener_name, tls = std::move(tls)] {
        for (auto& a : acceptors_)
            if (a->name == listener_name) a->tls = tls;
    });
}

void worker::unlisten(const std::string& listener_name) {
    asio::post(ioc_, [this, listener_name] {
        std::erase_if(acceptors_, [&](const std::shared_ptr<acceptor_entry>& a) {
            if (a->name != listener_name) return false;
            boost::system::error_code ec;
            a->acceptor.close(ec);
            return true;
        });
    });
}

void worker::accept_loop(std::shared_ptr<acceptor_entry> a) {
    auto& acceptor = a->acceptor;
    acceptor.async_accept([this, a = std::move(a)](boost::system::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !a->acceptor.is_open()) return;
        if (!ec) {
            listener_connections::slot slot;
            if (admit(*a, socket, slot)) {
                if (a->tls) http::start_tls_session(std::move(socket), *this, a->name, a->tls, std::move(slot));
                else http::start_session(std::move(socket), *this, a->name, std::move(slot));
            }
        } else if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space) {
            // Out of file descriptors: back off briefly instead of spinning.
            spdlog::warn("worker {}: accept on {}: {}", index_, a->name, ec.message());
            auto t = std::make_shared<asio::steady_timer>(ioc_, std::chrono::milliseconds(50));
            t->async_wait([this, a, t](boost::system::error_code) {
                if (!draining_ && a->acceptor.is_open()) accept_loop(a);
            });
            return;
        }
        accept_loop(a);
    });
}

bool worker::admit(const acceptor_entry& a, tcp::socket& socket, listener_connections::slot& slot) {
    listener_connections::limits lim;
    for (const auto& l : snapshot()->listeners) {
        if (l.name == a.name) {
            lim = {l.max_connections, l.max_connections_per_ip};
            break;
        }
    }
    boost::system::error_code ec;
    const auto peer = socket.remote_endpoint(ec);
    if (ec) {  // already gone
        socket.close(ec);
        return false;
    }
    const auto v = listener_connections::admit(a.conns, peer.address(), lim, slot);
    if (v == listener_connections::verdict::admitted) return true;
    metrics_.connection_rejected(a.name, v == listener_connections::verdict::listener_full ? "listener_limit"
                                                                                           : "per_ip_limit");
    // Closed before reading anything: the client sees the connection end at once.
    socket.close(ec);
    return false;
}

void worker::schedule_sweep() {
    sweep_timer_.expires_after(std::chrono::seconds(1));
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        pool_.sweep();
        metrics_.idle_upstream_connections(pool_.idle_count());
        if (index_ == 0) limiter_.collect();  // the store is shared: one worker sweeps it
        if (lua_) lua_->collect();            // scripts of generations no request uses any more
        schedule_sweep();
    });
}

void worker::start() {
    started_ = true;
    for (auto& a : acceptors_) accept_loop(a);
    schedule_sweep();
    thread_ = std::thread([this] { ioc_.run(); });
}

void worker::drain(std::function<void()> on_idle) {
    asio::post(ioc_, [this, on_idle = std::move(on_idle)]() mutable {
        draining_ = true;
        on_idle_ = std::move(on_idle);
        limiter_.stop();
        for (auto& a : acceptors_) {
            boost::system::error_code ec;
            a->acceptor.close(ec);
        }
        // Sessions waiting for a next request are closed now; busy ones close after their response.
        for (auto* s : idle_) {
            boost::system::error_code ec;
            s->cancel(ec);
        }
        for (auto* t : std::vector<http::tunnel_control*>(tunnels_.begin(), tunnels_.end())) t->request_close();
        if (sessions_ == 0 && on_idle_) std::exchange(on_idle_, nullptr)();
    });
}

void worker::session_ended() {
    --sessions_;
    if (draining_ && sessions_ == 0 && on_idle_) std::exchange(on_idle_, nullptr)();
}

void worker::stop() { ioc_.stop(); }

void worker::join() {
    if (thread_.joinable()) thread_.join();
}

lua::runtime& worker::lua() {
    if (!lua_) {
        lua_ = std::make_unique<lua::runtime>(index_, lua::limits{},
                                              [this](std::string_view msg) { spdlog::info("lua [worker {}] {}", index_, msg); });
    }
    return *lua_;
}

lb::balancer& worker::balancer(const config::config& cfg, std::size_t upstream_index) {
    if (cfg.generation != balancer_generation_ || balancers_.size() != cfg.upstreams.size()) {
        balancers_.clear();
        balancers_.reserve(cfg.upstreams.size());
        // A different seed per worker: random choices do not move in lockstep across threads.
        for (const auto& u : cfg.upstreams) balancers_.push_back(lb::make_balancer(u, 0x5111CEull + index_));
        balancer_generation_ = cfg.generation;
    }
    return *balancers_[upstream_index];
}

}  // namespace sluice::server
