#pragma once
// The load-balancer interface: given the servers of one upstream as the caller sees them now
// (weights, in-flight requests, availability) and the servers already tried for this request,
// choose one. Implementations are pure functions of that input plus their own small state
// (a round-robin score, a hash ring, a random generator): no sockets, no clock, no locks.
// One instance per worker thread and upstream, rebuilt when the config snapshot changes;
// not thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

namespace sluice::config {
struct upstream;
}

namespace sluice::lb {

// One server as the balancer sees it, in the order of config::upstream::servers.
struct server_view {
    std::uint32_t weight = 1;      // from the config (1..1000)
    std::uint64_t in_flight = 0;   // requests in progress on it, all workers
    bool available = true;         // healthy, not ejected, breaker allows a request
};

struct pick_context {
    std::span<const server_view> servers;  // same size as the balancer
    std::span<const bool> tried;           // servers already tried for this request; empty: none
    // consistent_hash: the request's key hash (lb::hash_key / lb::request_hash). Absent (the key
    // is missing from the request): a random point on the ring. Ignored by the other balancers.
    std::optional<std::uint64_t> hash;
};

class balancer {
public:
    virtual ~balancer() = default;

    // A server that is available and not tried, or nullopt when there is none.
    virtual std::optional<std::size_t> pick(const pick_context& ctx) = 0;

    // Number of servers it was built for.
    virtual std::size_t size() const = 0;
};

// The balancer named by `u.balance`, for `u.servers`; `seed` seeds its random choices (give each
// worker its own).
std::unique_ptr<balancer> make_balancer(const config::upstream& u, std::uint64_t seed);

// True when server i may be picked: available and not already tried.
inline bool eligible(const pick_context& ctx, std::size_t i) {
    return ctx.servers[i].available && !(i < ctx.tried.size() && ctx.tried[i]);
}

}  // namespace sluice::lb
