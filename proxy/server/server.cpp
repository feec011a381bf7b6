#include "server/server.hpp"

#include "server/tls_context.hpp"
#include "server/worker.hpp"

#include <atomic>

namespace sluice::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Listener addresses are usually literal IPs; a name ("localhost") is resolved once at start-up.
tcp::endpoint resolve_listen_address(const config::endpoint& e) {
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(e.host, ec);
    if (!ec) return {ip, e.port};
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    const auto results = resolver.resolve(e.host, std::to_string(e.port), tcp::resolver::passive);
    return results.begin()->endpoint();
}

}  // namespace

server::server(const config::store& store, const common::access_log& log, metrics::registry& metrics,
               limits::local_store& limit_store)
    : store_(store), log_(log), metrics_(metrics), limit_store_(limit_store) {}

server::~server() {
    stop();
    join();
}

bound_listener server::bind(const config::listener& l) {
    // TLS contexts are built before anything binds, so a bad certificate changes nothing.
    tcp::endpoint ep = resolve_listen_address(l.listen);
    std::shared_ptr<tls_bundle> tls = l.tls ? std::make_shared<tls_bundle>(*l.tls) : nullptr;
    for (auto& w : workers_) {
        const auto actual = w->listen(l.name, ep, tls);
        ep.port(actual.port());  // port 0: the first bind picks, the others follow
    }
    listening_[l.name] = l.listen.to_string();
    const bool v6 = ep.address().is_v6();
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
    std::string address = v6 ? "[" : "";
    address += ep.address().to_string();
    address += v6 ? "]:" : ":";
    address += std::to_string(ep.port());
    return {l.name, std::move(address)};
}

std::vector<bound_listener> server::start(const config::config& cfg) {
    const unsigned n = cfg.server.workers == 0 ? 1 : cfg.server.workers;
    for (unsigned i = 0; i < n; ++i) {
        workers_.push_back(std::make_unique<worker>(i, store_, log_, metrics_, limit_store_, conn_limits_));
        workers_.back()->set_cache(cache_store_, coalescer_);  // before its thread starts
    }
    std::vector<bound_listener> bound;
    for (const auto& l : cfg.listeners) bound.push_back(bind(l));
    for (auto& w : workers_) w->start();
    return bound;
}

std::vector<std::string> server::apply_listeners(const config::config& cfg) {
    std::vector<std::string> changes;
    std::map<std::string, std::string> wanted;
    for (const auto& l : cfg.listeners) wanted[l.name] = l.listen.to_string();
    // Certificates are read again for every TLS listener that stays (they may have been renewed).
    std::vector<std::pair<std::string, std::shared_ptr<tls_bundle>>> tls_updates;
    for (const auto& l : cfg.listeners) {
        auto it = listening_.find(l.name);
        if (it != listening_.end() && it->second == l.listen.to_string())
            tls_updates.emplace_back(l.name, l.tls ? std::make_shared<tls_bundle>(*l.tls) : nullptr);
    }
    // Close what is gone or moved first, so a moved listener can take over an address.
    for (auto it = listening_.begin(); it != listening_.end();) {
        auto w = wanted.find(it->first);
        if (w != wanted.end() && w->second == it->second) {
            ++it;
            continue;
        }
        for (auto& wk : workers_) wk->unlisten(it->first);
        changes.push_back("listener \"" + it->first + "\" on " + it->second + " closed");
        it = listening_.erase(it);
    }
    for (const auto& l : cfg.listeners) {
        if (listening_.count(l.name)) continue;
        const auto b = bind(l);
        changes.push_back("listener \"" + b.name + "\" on " + b.address);
    }
    for (auto& [name, tls] : tls_updates)
        for (auto& w : workers_) w->set_tls(name, tls);
    return changes;
}

void server::drain(std::function<void()> on_drained) {
    auto remaining = std::make_shared<std::atomic<std::size_t>>(workers_.size());
    auto done = std::make_shared<std::function<void()>>(std::move(on_drained));
    for (auto& w : workers_)
        w->drain([remaining, done] {
            if (remaining->fetch_sub(1) == 1) (*done)();
        });
}

void server::set_cache(cache::memory_store* store, cache::coalescer* coalescer) {
    cache_store_ = store;
    coalescer_ = coalescer;
}

void server::stop() {
    for (auto& w : workers_) w->stop();
}

void server::join() {
    for (auto& w : workers_) w->join();
}

}  // namespace sluice::server
