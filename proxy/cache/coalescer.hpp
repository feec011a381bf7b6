#pragma once
// Request coalescing (nginx's proxy_cache_lock): of concurrent misses for one key, the first leads
// (fetches upstream and stores), the others wait for it instead of going upstream too. No sockets,
// no timers: the caller injects time and wires the wake-up to its executor.
//
//  - join(key, now): the first caller for a key gets a leader ticket; later ones get waiter
//    tickets with deadline() = now + lock_timeout.
//  - A waiter registers on_done(fn). fn(outcome) runs exactly once, on the thread that resolves
//    the wait (the leader's, or the one calling expire), outside any lock, or at once on the
//    caller's thread if the wait has already ended. It should only post a wake-up to the
//    waiter's own executor.
//  - Leader finish(true): waiters get `stored` (look the key up again; on a miss there, e.g. a
//    Vary mismatch or an eviction, go upstream without joining again). finish(false): waiters get
//    `not_stored` and go upstream on their own (the response was not cacheable, nothing to share).
//  - Leader abandons (abandon() or its ticket destroyed unfinished: upstream failed, client gone):
//    the oldest waiter is promoted and gets `lead`: from then on its ticket is the leader and
//    must finish or abandon in turn. Promotion rather than "all retry" keeps a stampede from
//    following a failure; each waiter still bounds its wait by its deadline.
//  - Timeout: a waiter whose deadline passed gives up with leave() (its own timer) or is resolved
//    `timed_out` by expire(now) (a sweep); either way it goes upstream itself, like
//    proxy_cache_lock_timeout, and may store what it gets. leave() also drops a waiter whose
//    client went away. A leader's own wait is bounded by the upstream timeouts.
//
// Thread-safe: keys spread over 16 shards, each with a mutex. The coalescer must outlive its
// tickets.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::cache {

class coalescer {
public:
    using clock = std::chrono::steady_clock;

    enum class outcome {
        pending,     // still waiting
        stored,      // the leader stored the response: look it up again
        not_stored,  // the leader's response was not stored: go upstream yourself
        lead,        // the leader gave up and this waiter now leads
        timed_out,   // deadline passed (expire or leave): go upstream yourself
    };

    class ticket;

    explicit coalescer(std::chrono::milliseconds lock_timeout);
    ~coalescer();
    coalescer(const coalescer&) = delete;
    coalescer& operator=(const coalescer&) = delete;

    ticket join(std::string_view key, clock::time_point now);

    // Resolves every waiter whose deadline is <= now as timed_out (their callbacks run here);
    // returns how many.
    std::size_t expire(clock::time_point now);

    std::size_t in_flight() const;  // keys being fetched
    std::size_t waiting() const;    // waiters not yet resolved
    std::chrono::milliseconds lock_timeout() const noexcept { return lock_timeout_; }

private:
    struct participant;
    struct flight;
    struct shard;

    shard& shard_of(std::string_view key);
    void finish(const ticket& t, bool stored);
    void abandon(const ticket& t);
    outcome leave(const ticket& t);
    void on_done(const ticket& t, std::function<void(outcome)> fn);
    bool is_leader(const ticket& t) const;
    outcome state(const ticket& t) const;

    std::chrono::milliseconds lock_timeout_;
    std::unique_ptr<shard[]> shards_;
};

// One caller's part in a fetch: leader or waiter. Move-only; destroying a leader ticket that did
// not finish abandons (promotes a waiter); destroying a pending waiter leaves.
class coalescer::ticket {
public:
    ticket() = default;
    ticket(ticket&& other) noexcept;
    ticket& operator=(ticket&& other) noexcept;
    ~ticket();

    explicit operator bool() const noexcept { return owner_ != nullptr; }
    bool leader() const;  // true from join, or after a promotion (outcome lead)
    clock::time_point deadline() const noexcept { return deadline_; }  // waiters: give up then
    outcome state() const;                                              // waiters: pending until resolved

    // Waiter: fn(outcome) once the wait ends (see the class comment); at once if it has.
    void on_done(std::function<void(outcome)> fn);
    // Waiter: stop waiting. Returns timed_out if still pending (fn will not run), else the outcome
    // it already got (if `lead`, this ticket is now the leader and must finish).
    outcome leave();

    // Leader: the fetch is over; `stored`: the response is in the store. Wakes every waiter.
    void finish(bool stored);
    // Leader: the fetch failed or was dropped; the oldest waiter is promoted.
    void abandon();

private:
    friend class coalescer;
    void reset() noexcept;

    coalescer* owner_ = nullptr;
    std::string key_;
    std::shared_ptr<participant> self_;
    clock::time_point deadline_{};
};

}  // namespace sluice::cache
