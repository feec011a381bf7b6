#include "config/store.hpp"

namespace sluice::config {

void store::publish(std::shared_ptr<config> cfg) {
    cfg->generation = generation_.load(std::memory_order_relaxed) + 1;
    const auto gen = cfg->generation;
    current_.store(std::move(cfg), std::memory_order_release);
    generation_.store(gen, std::memory_order_release);
}

}  // namespace sluice::config
