// sluice: the command line, signal handling (SIGHUP reload, SIGTERM/SIGINT drain) and start-up.

#include "admin/admin_server.hpp"
#include "cache/coalescer.hpp"
#include "cache/memory_store.hpp"
#include "cache/worker_store.hpp"
#include "common/access_log.hpp"
#include "config/loader.hpp"
#include "config/store.hpp"
#include "metrics/metrics.hpp"
#include "server/server.hpp"
#include "limits/local_store.hpp"
#include "upstream/health_checker.hpp"
#include "upstream/server_state.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

namespace {

namespace asio = boost::asio;
using namespace sluice;

// Raises the open-file soft limit to the hard limit, as HAProxy does on its own and nginx does
// with worker_rlimit_nofile: every connection is a descriptor, and distributions default the
// soft limit to 1024.
void raise_fd_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    const auto before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) == 0)
        spdlog::info("open file limit raised from {} to {}", before, static_cast<unsigned long long>(rl.rlim_max));
}

// Everything that lives for the whole process; reload and drain act on it.
struct process {
    std::string config_path;
    config::store store;
    upstream::state_registry states;
    metrics::registry metrics;
    limits::local_store limit_store;  // rate-limit buckets: shared by workers, kept across reloads
    std::atomic<bool> draining{false};
};

// Loads, validates and publishes a new config on SIGHUP. Parsing happens here, on the main
// thread, never on a worker; in-flight requests keep the snapshot they started with.
void reload(process& p, server::server& srv, admin::admin_server* admin, upstream::health_checker& health) {
    auto r = config::load_file(p.config_path);
    if (!r.ok()) {
        p.metrics.config_reloads_total.Add({{"result", "error"}}).Increment();
        spdlog::error("reload failed, keeping generation {}:", p.store.generation());
        for (const auto& e : r.errors) spdlog::error("  {}", e.to_string());
        return;
    }
    const auto old = p.store.current();
    std::vector<std::string> changes;
    try {
        changes = srv.apply_listeners(*r.cfg);
    } catch (const std::exception& e) {
        p.metrics.config_reloads_total.Add({{"result", "error"}}).Increment();
        spdlog::error("reload failed, keeping generation {}: {}", p.store.generation(), e.what());
        return;
    }
    if (old->server.workers != r.cfg->server.workers || old->server.access_log != r.cfg->server.access_log)
        spdlog::warn("reload: [server] workers and access_log take effect on restart");
    if (old->admin.listen != r.cfg->admin.listen) spdlog::warn("reload: [admin] listen takes effect on restart");
    (void)admin;
    upstream::attach_states(*r.cfg, p.states);
    p.store.publish(std::move(r.cfg));
    health.update(p.store.current());
    p.metrics.config_reloads_total.Add({{"result", "ok"}}).Increment();
    for (const auto& c : changes) spdlog::info("reload: {}", c);
    spdlog::info("config reloaded: generation {}", p.store.generation());
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"sluice: programmable HTTP reverse proxy and load balancer"};
    std::string config_path = "conf/sluice.toml";
    bool test_only = false;
    bool version = false;
    app.add_option("-c,--config", config_path, "configuration file (TOML)");
    app.add_flag("-t,--test", test_only, "validate the configuration and exit (0 ok, 1 errors)");
    app.add_flag("--version", version, "print the version and exit");
    CLI11_PARSE(app, argc, argv);

    if (version) {
        std::cout << "sluice " << SLUICE_VERSION << '\n';
        return 0;
    }

    auto loaded = config::load_file(config_path);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << '\n';
        return 1;
    }
    if (test_only) {
        std::cout << "sluice: configuration " << config_path << " is valid\n";
        return 0;
    }

    std::signal(SIGPIPE, SIG_IGN);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    raise_fd_limit();

    std::unique_ptr<common::access_log> access_log;
    try {
        access_log = std::make_unique<common::access_log>(loaded.cfg->server.access_log);
    } catch (const std::exception& e) {
        std::cerr << "sluice: " << e.what() << '\n';
        return 1;
    }

    process p;
    p.config_path = config_path;
    upstream::attach_states(*loaded.cfg, p.states);
    p.store.publish(std::move(loaded.cfg));
    const auto cfg = p.store.current();

    asio::io_context main_ioc;
    // Signal handlers go in before any listener is announced: a SIGHUP or SIGTERM sent as soon
    // as the port is known must reach them, not the default action.
    asio::signal_set signals(main_ioc, SIGHUP, SIGTERM, SIGINT);
    server::server srv(p.store, *access_log, p.metrics, p.limit_store);
    // The response cache lives for the process (its size is read at start; a reload keeps it).
    cache::memory_store cache_store(cfg->cache.max_bytes, cfg->cache.max_object_bytes);
    cache::coalescer coalescer(cfg->cache.lock_timeout);
    // The admin listener's own access to the store (its own Redis client on the main thread).
    cache::worker_store admin_cache(main_ioc.get_executor(), p.metrics);
    admin_cache.set_memory(&cache_store);
    // Active health checks run from one thread for the whole process, not once per worker.
    upstream::health_checker health;
    health.update(cfg);
    std::unique_ptr<admin::admin_server> admin;
    try {
        srv.set_cache(&cache_store, &coalescer);
        for (const auto& b : srv.start(*cfg)) spdlog::info("listener \"{}\" on {}", b.name, b.address);
        if (cfg->admin.listen) {
            admin = std::make_unique<admin::admin_server>(main_ioc, admin::admin_context{p.store, p.metrics, p.draining, &admin_cache});
            spdlog::info("admin on {}", admin->listen(*cfg->admin.listen));
        }
    } catch (const std::exception& e) {
        spdlog::error("cannot start: {}", e.what());
        return 1;
    }
    spdlog::info("sluice {} started: {} worker(s), config generation {}", SLUICE_VERSION, cfg->server.workers,
                 cfg->generation);

    asio::steady_timer drain_timer(main_ioc);
    int exit_code = 0;

    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](boost::system::error_code ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                if (!p.draining) reload(p, srv, admin.get(), health);
            } else if (!p.draining) {
                p.draining = true;  // /readyz answers 503 from now on
                const auto timeout = p.store.current()->server.drain_timeout;
                spdlog::info("draining (timeout {} ms)", timeout.count());
                srv.drain([&] { asio::post(main_ioc, [&] {
                    spdlog::info("drained: every connection finished");
                    main_ioc.stop();
                }); });
                drain_timer.expires_after(timeout);
                drain_timer.async_wait([&](boost::system::error_code tec) {
                    if (tec) return;
                    spdlog::warn("drain timeout reached, exiting with connections still open");
                    main_ioc.stop();
                });
            } else {
                spdlog::warn("second signal: exiting at once");
                exit_code = 1;
                main_ioc.stop();
                return;
            }
            wait_signal();
        });
    };
    wait_signal();
    main_ioc.run();
    srv.stop();
    srv.join();
    spdlog::info("sluice stopped");
    return exit_code;
}
