// sluice: the command line, signal handling (SIGHUP reload, SIGTERM/SIGINT drain) and start-up.

#include "common/access_log.hpp"
#include "config/loader.hpp"
#include "config/store.hpp"
#include "server/server.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

namespace {

namespace asio = boost::asio;
using namespace sluice;

void print_errors(const config::load_result& r) {
    for (const auto& e : r.errors) std::cerr << e.to_string() << '\n';
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
        print_errors(loaded);
        return 1;
    }
    if (test_only) {
        std::cout << "sluice: configuration " << config_path << " is valid\n";
        return 0;
    }

    std::signal(SIGPIPE, SIG_IGN);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");

    std::unique_ptr<common::access_log> access_log;
    try {
        access_log = std::make_unique<common::access_log>(loaded.cfg->server.access_log);
    } catch (const std::exception& e) {
        std::cerr << "sluice: " << e.what() << '\n';
        return 1;
    }

    config::store store;
    const auto drain_timeout = loaded.cfg->server.drain_timeout;
    store.publish(std::move(loaded.cfg));
    const auto cfg = store.current();

    server::server srv(store, *access_log);
    try {
        for (const auto& b : srv.start(*cfg)) spdlog::info("listener \"{}\" on {}", b.name, b.address);
    } catch (const std::exception& e) {
        spdlog::error("cannot start: {}", e.what());
        return 1;
    }
    spdlog::info("sluice {} started: {} worker(s), config generation {}", SLUICE_VERSION,
                 cfg->server.workers, cfg->generation);

    asio::io_context main_ioc;
    asio::signal_set signals(main_ioc, SIGHUP, SIGTERM, SIGINT);
    asio::steady_timer drain_timer(main_ioc);
    bool draining = false;
    int exit_code = 0;

    std::function<void()> wait_signal = [&] {
        signals.async_wait([&](boost::system::error_code ec, int sig) {
            if (ec) return;
            if (sig == SIGHUP) {
                auto r = config::load_file(config_path);
                if (!r.ok()) {
                    spdlog::error("reload failed, keeping generation {}:", store.generation());
                    for (const auto& e : r.errors) spdlog::error("  {}", e.to_string());
                } else {
                    store.publish(std::move(r.cfg));
                    spdlog::info("config reloaded: generation {} (listener changes apply on restart)",
                                 store.generation());
                }
            } else if (!draining) {
                draining = true;
                spdlog::info("draining (timeout {} ms)", drain_timeout.count());
                srv.drain([&] { asio::post(main_ioc, [&] { main_ioc.stop(); }); });
                drain_timer.expires_after(drain_timeout);
                drain_timer.async_wait([&](boost::system::error_code tec) {
                    if (tec) return;
                    spdlog::warn("drain timeout reached, exiting");
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
