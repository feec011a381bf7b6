#include "server/connection_limiter.hpp"

#include <functional>

namespace sluice::server {

listener_connections::slot& listener_connections::slot::operator=(slot&& o) noexcept {
    if (this != &o) {
        release();
        owner_ = std::move(o.owner_);
        ip_ = o.ip_;
        per_ip_ = o.per_ip_;
    }
    return *this;
}

void listener_connections::slot::release() {
    if (!owner_) return;
    if (per_ip_) {
        const auto key = key_of(ip_);
        auto& s = owner_->shard_of(key);
        std::lock_guard lock(s.mu);
        auto it = s.counts.find(key);
        if (it != s.counts.end() && --it->second == 0) s.counts.erase(it);
    }
    owner_->total_.fetch_sub(1, std::memory_order_relaxed);
    owner_.reset();
}

std::string listener_connections::key_of(const boost::asio::ip::address& ip) {
    // IPv4-mapped IPv6 addresses count as their IPv4 address.
    if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
        const auto b = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, ip.to_v6()).to_bytes();
        return std::string(b.begin(), b.end());
    }
    if (ip.is_v4()) {
        const auto b = ip.to_v4().to_bytes();
        return std::string(b.begin(), b.end());
    }
    const auto b = ip.to_v6().to_bytes();
    return std::string(b.begin(), b.end());
}

listener_connections::shard& listener_connections::shard_of(const std::string& key) {
    return shards_[std::hash<std::string>{}(key) % shards_.size()];
}
const listener_connections::shard& listener_connections::shard_of(const std::string& key) const {
    return shards_[std::hash<std::string>{}(key) % shards_.size()];
}

listener_connections::verdict listener_connections::admit(const std::shared_ptr<listener_connections>& self,
                                                          const boost::asio::ip::address& ip, limits lim,
                                                          slot& out) {
    auto& me = *self;
    // Reserve a place in the total first; give it back if it overshoots.
    const auto before = me.total_.fetch_add(1, std::memory_order_relaxed);
    if (lim.max_connections != 0 && before >= lim.max_connections) {
        me.total_.fetch_sub(1, std::memory_order_relaxed);
        return verdict::listener_full;
    }
    slot s;
    s.owner_ = self;
    s.ip_ = ip;
    if (lim.max_per_ip != 0) {
        const auto key = key_of(ip);
        auto& sh = me.shard_of(key);
        std::lock_guard lock(sh.mu);
        auto& n = sh.counts[key];
        if (n >= lim.max_per_ip) {
            if (n == 0) sh.counts.erase(key);
            s.owner_.reset();
            me.total_.fetch_sub(1, std::memory_order_relaxed);
            return verdict::ip_full;
        }
        ++n;
        s.per_ip_ = true;
    }
    out = std::move(s);
    return verdict::admitted;
}

std::uint32_t listener_connections::open_from(const boost::asio::ip::address& ip) const {
    const auto key = key_of(ip);
    const auto& s = shard_of(key);
    std::lock_guard lock(s.mu);
    auto it = s.counts.find(key);
    return it == s.counts.end() ? 0 : it->second;
}

std::size_t listener_connections::tracked_ips() const {
    std::size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard lock(s.mu);
        n += s.counts.size();
    }
    return n;
}

std::shared_ptr<listener_connections> connection_limiter::for_listener(const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = listeners_.find(name);
    if (it == listeners_.end()) it = listeners_.emplace(name, std::make_shared<listener_connections>()).first;
    return it->second;
}

}  // namespace sluice::server
