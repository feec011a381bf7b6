#pragma once
// Holds the config snapshot in force. Publishing swaps it atomically; readers on the hot path
// compare a generation number (one relaxed atomic load) and take the shared_ptr only when it
// changed, so workers never contend on the snapshot.

#include "config/config.hpp"

#include <atomic>
#include <memory>

namespace sluice::config {

class store {
public:
    // Assigns the next generation number to cfg and makes it current.
    void publish(std::shared_ptr<config> cfg);

    snapshot current() const { return current_.load(std::memory_order_acquire); }
    std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

private:
    std::atomic<std::shared_ptr<const config>> current_;
    std::atomic<std::uint64_t> generation_{0};
};

// A per-thread view of the store: refreshes its copy only when the generation moved.
class cached_snapshot {
public:
    explicit cached_snapshot(const store& s) : store_(s) {}
    const snapshot& get() {
        if (auto g = store_.generation(); g != generation_ || !snap_) {
            snap_ = store_.current();
            generation_ = snap_ ? snap_->generation : 0;
        }
        return snap_;
    }

private:
    const store& store_;
    snapshot snap_;
    std::uint64_t generation_ = 0;
};

}  // namespace sluice::config
