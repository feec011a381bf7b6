#pragma once
// Downstream connection limits per listener and per client IP (like HAProxy's frontend maxconn
// and nginx's limit_conn by $binary_remote_addr). Shared by every worker of the process: one
// counter set per listener name, kept across reloads so changing a limit never resets the count
// of connections already open.
//
// A connection over a limit is closed right after accept (as Envoy's connection_limit filter
// does): nothing is read from it, so it costs the proxy no parsing and no upstream work.

#include <boost/asio/ip/address.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sluice::server {

// The counts of one listener. Totals are one atomic; per-IP counts live in mutex-guarded
// shards so workers accepting from different clients rarely meet.
class listener_connections {
public:
    struct limits {
        std::uint32_t max_connections = 0;  // 0: no limit
        std::uint32_t max_per_ip = 0;       // 0: no limit
    };
    enum class verdict { admitted, listener_full, ip_full };

    // A held connection: releases its counts when destroyed (move-only).
    class slot {
    public:
        slot() = default;
        slot(slot&& o) noexcept : owner_(std::move(o.owner_)), ip_(o.ip_), per_ip_(o.per_ip_) {}
        slot& operator=(slot&& o) noexcept;
        slot(const slot&) = delete;
        slot& operator=(const slot&) = delete;
        ~slot() { release(); }
        explicit operator bool() const { return owner_ != nullptr; }

    private:
        friend class listener_connections;
        void release();
        std::shared_ptr<listener_connections> owner_;
        boost::asio::ip::address ip_;
        bool per_ip_ = false;
    };

    // Counts the connection from `ip` if both limits allow it. `self` is the shared_ptr owning
    // this object (slots keep it alive past a reload that drops the listener).
    static verdict admit(const std::shared_ptr<listener_connections>& self, const boost::asio::ip::address& ip,
                         limits lim, slot& out);

    std::uint64_t open() const { return total_.load(std::memory_order_relaxed); }
    std::uint32_t open_from(const boost::asio::ip::address& ip) const;
    std::size_t tracked_ips() const;  // distinct client IPs with a counted connection

private:
    struct shard {
        mutable std::mutex mu;
        std::unordered_map<std::string, std::uint32_t> counts;  // key: address bytes
    };
    static std::string key_of(const boost::asio::ip::address& ip);
    shard& shard_of(const std::string& key);
    const shard& shard_of(const std::string& key) const;

    std::atomic<std::uint64_t> total_{0};
    std::array<shard, 16> shards_;
};

// Process-wide registry: listener name -> its counts.
class connection_limiter {
public:
    std::shared_ptr<listener_connections> for_listener(const std::string& name);

private:
    std::mutex mu_;
    std::map<std::string, std::shared_ptr<listener_connections>, std::less<>> listeners_;
};

}  // namespace sluice::server
