#pragma once
// Active health checks for every upstream that has a `health_check` table, run from one place
// for the whole process (its own thread and io_context), not once per worker. Each checked
// server gets an HTTP/1.1 GET of the check path every `interval`, each check bounded by
// `timeout` (resolve, connect, request, response head); `unhealthy` failures in a row set
// server_state::healthy to false, `healthy` successes in a row set it back, and each flip is
// logged. The balancers read that flag on every pick.
//
// Reload: update() with the new snapshot. Servers are identified by their server_state (shared
// across snapshots by state_registry), so a server that stays keeps its health and its run of
// results, and its checks continue with the new settings; removed servers stop being checked;
// servers whose upstream no longer has health checks are marked healthy. Snapshots whose
// servers have no state attached (null) are ignored.

#include "config/config.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace sluice::upstream {

class health_checker {
public:
    // Called on the checker's thread after a server's health flipped.
    using transition_handler =
        std::function<void(const std::string& upstream, const std::string& server, bool healthy)>;

    explicit health_checker(transition_handler on_transition = {});
    ~health_checker();  // stops checking and joins the thread
    health_checker(const health_checker&) = delete;
    health_checker& operator=(const health_checker&) = delete;

    // Checks the servers of `snap` from now on (asynchronous: applied on the checker's thread).
    // Thread-safe.
    void update(config::snapshot snap);

    // Servers being checked (as of the last applied update).
    std::size_t targets() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice::upstream
