#include "upstream/server_state.hpp"

#include "config/config.hpp"

namespace sluice::upstream {

std::shared_ptr<server_state> state_registry::get(const std::string& upstream, const std::string& address) {
    std::lock_guard lock(mutex_);
    auto& slot = states_[{upstream, address}];
    if (auto existing = slot.lock()) return existing;
    auto fresh = std::make_shared<server_state>();
    slot = fresh;
    return fresh;
}

std::shared_ptr<upstream_state> state_registry::get_upstream(const std::string& upstream) {
    std::lock_guard lock(mutex_);
    auto& slot = upstreams_[upstream];
    if (auto existing = slot.lock()) return existing;
    auto fresh = std::make_shared<upstream_state>();
    slot = fresh;
    return fresh;
}

void state_registry::collect() {
    std::lock_guard lock(mutex_);
    std::erase_if(states_, [](const auto& kv) { return kv.second.expired(); });
    std::erase_if(upstreams_, [](const auto& kv) { return kv.second.expired(); });
}

void attach_states(config::config& cfg, state_registry& registry) {
    registry.collect();
    for (auto& u : cfg.upstreams) {
        u.shared = registry.get_upstream(u.name);
        for (auto& s : u.servers) s.state = registry.get(u.name, s.address.to_string());
    }
}

}  // namespace sluice::upstream
