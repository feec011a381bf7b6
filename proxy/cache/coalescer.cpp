#include "cache/coalescer.hpp"

#include <xxhash.h>

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

namespace sluice::cache {

namespace {

constexpr std::size_t shard_count = 16;

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

}  // namespace

// Guarded by its shard's mutex.
struct coalescer::participant {
    bool leader = false;  // leads the flight now (cleared when it finishes or abandons)
    outcome state = outcome::pending;
    std::function<void(outcome)> fn;
    clock::time_point deadline{};
};

struct coalescer::flight {
    std::shared_ptr<participant> leader;
    std::deque<std::shared_ptr<participant>> waiters;  // pending only, oldest first
};

struct coalescer::shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, flight, string_hash, std::equal_to<>> flights;
};

namespace {

// Callbacks collected under a lock and run after it is released.
using wakeups = std::vector<std::pair<std::function<void(coalescer::outcome)>, coalescer::outcome>>;

void run(wakeups& w) {
    for (auto& [fn, o] : w) {
        if (fn) fn(o);
    }
}

}  // namespace

coalescer::coalescer(std::chrono::milliseconds lock_timeout)
    : lock_timeout_(lock_timeout), shards_(std::make_unique<shard[]>(shard_count)) {}

coalescer::~coalescer() = default;

coalescer::shard& coalescer::shard_of(std::string_view key) {
    return shards_[XXH3_64bits(key.data(), key.size()) % shard_count];
}

coalescer::ticket coalescer::join(std::string_view key, clock::time_point now) {
    ticket t;
    t.owner_ = this;
    t.key_ = std::string(key);
    t.self_ = std::make_shared<participant>();
    shard& s = shard_of(key);
    std::lock_guard lock(s.mutex);
    auto found = s.flights.find(key);
    if (found == s.flights.end()) {
        t.self_->leader = true;
        t.deadline_ = now;
        s.flights.emplace(t.key_, flight{t.self_, {}});
    } else {
        t.deadline_ = now + lock_timeout_;
        t.self_->deadline = t.deadline_;
        found->second.waiters.push_back(t.self_);
    }
    return t;
}

void coalescer::finish(const ticket& t, bool stored) {
    wakeups w;
    {
        shard& s = shard_of(t.key_);
        std::lock_guard lock(s.mutex);
        const auto found = s.flights.find(t.key_);
        if (found == s.flights.end() || found->second.leader != t.self_) return;  // not the leader
        const outcome o = stored ? outcome::stored : outcome::not_stored;
        for (auto& p : found->second.waiters) {
            p->state = o;
            w.emplace_back(std::move(p->fn), o);
        }
        t.self_->leader = false;
        s.flights.erase(found);
    }
    run(w);
}

void coalescer::abandon(const ticket& t) {
    wakeups w;
    {
        shard& s = shard_of(t.key_);
        std::lock_guard lock(s.mutex);
        const auto found = s.flights.find(t.key_);
        if (found == s.flights.end() || found->second.leader != t.self_) return;
        t.self_->leader = false;
        flight& f = found->second;
        if (f.waiters.empty()) {
            s.flights.erase(found);
        } else {
            std::shared_ptr<participant> next = std::move(f.waiters.front());
            f.waiters.pop_front();
            next->leader = true;
            next->state = outcome::lead;
            w.emplace_back(std::move(next->fn), outcome::lead);
            f.leader = std::move(next);
        }
    }
    run(w);
}

coalescer::outcome coalescer::leave(const ticket& t) {
    shard& s = shard_of(t.key_);
    std::lock_guard lock(s.mutex);
    if (t.self_->state != outcome::pending || t.self_->leader) return t.self_->state;
    if (const auto found = s.flights.find(t.key_); found != s.flights.end()) {
        auto& waiters = found->second.waiters;
        waiters.erase(std::remove(waiters.begin(), waiters.end(), t.self_), waiters.end());
    }
    t.self_->state = outcome::timed_out;
    t.self_->fn = nullptr;
    return outcome::timed_out;
}

void coalescer::on_done(const ticket& t, std::function<void(outcome)> fn) {
    outcome now_state;
    {
        shard& s = shard_of(t.key_);
        std::lock_guard lock(s.mutex);
        now_state = t.self_->state;
        if (now_state == outcome::pending && !t.self_->leader) {
            t.self_->fn = std::move(fn);
            return;
        }
    }
    if (now_state != outcome::pending && fn) fn(now_state);
}

bool coalescer::is_leader(const ticket& t) const {
    const shard& s = shards_[XXH3_64bits(t.key_.data(), t.key_.size()) % shard_count];
    std::lock_guard lock(s.mutex);
    return t.self_->leader;
}

coalescer::outcome coalescer::state(const ticket& t) const {
    const shard& s = shards_[XXH3_64bits(t.key_.data(), t.key_.size()) % shard_count];
    std::lock_guard lock(s.mutex);
    return t.self_->state;
}

std::size_t coalescer::expire(clock::time_point now) {
    wakeups w;
    for (std::size_t i = 0; i < shard_count; ++i) {
        shard& s = shards_[i];
        std::lock_guard lock(s.mutex);
        for (auto& [key, f] : s.flights) {
            auto& waiters = f.waiters;
            for (auto& p : waiters) {
                if (p->deadline > now) continue;
                p->state = outcome::timed_out;
                w.emplace_back(std::move(p->fn), outcome::timed_out);
            }
            waiters.erase(std::remove_if(waiters.begin(), waiters.end(),
                                         [](const auto& p) { return p->state != outcome::pending; }),
                          waiters.end());
        }
    }
    const std::size_t n = w.size();
    run(w);
    return n;
}

std::size_t coalescer::in_flight() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < shard_count; ++i) {
        std::lock_guard lock(shards_[i].mutex);
        n += shards_[i].flights.size();
    }
    return n;
}

std::size_t coalescer::waiting() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < shard_count; ++i) {
        std::lock_guard lock(shards_[i].mutex);
        for (const auto& [key, f] : shards_[i].flights) n += f.waiters.size();
    }
    return n;
}

// --- ticket ---

coalescer::ticket::ticket(ticket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      key_(std::move(other.key_)),
      self_(std::move(other.self_)),
      deadline_(other.deadline_) {}

coalescer::ticket& coalescer::ticket::operator=(ticket&& other) noexcept {
    if (this != &other) {
        reset();
        owner_ = std::exchange(other.owner_, nullptr);
        key_ = std::move(other.key_);
        self_ = std::move(other.self_);
        deadline_ = other.deadline_;
    }
    return *this;
}

coalescer::ticket::~ticket() { reset(); }

void coalescer::ticket::reset() noexcept {
    if (!owner_) return;
    // A leader that did not finish hands over; a pending waiter stops waiting.
    owner_->abandon(*this);
    owner_->leave(*this);
    owner_ = nullptr;
    self_.reset();
}

bool coalescer::ticket::leader() const { return owner_ && owner_->is_leader(*this); }

coalescer::outcome coalescer::ticket::state() const { return owner_ ? owner_->state(*this) : outcome::timed_out; }

void coalescer::ticket::on_done(std::function<void(outcome)> fn) {
    if (owner_) owner_->on_done(*this, std::move(fn));
}

coalescer::outcome coalescer::ticket::leave() { return owner_ ? owner_->leave(*this) : outcome::timed_out; }

void coalescer::ticket::finish(bool stored) {
    if (owner_) owner_->finish(*this, stored);
}

void coalescer::ticket::abandon() {
    if (owner_) owner_->abandon(*this);
}

}  // namespace sluice::cache
