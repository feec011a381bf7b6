#include "support/redis_server.hpp"

#include <signal.h>

#include <cstdlib>
#include <stdexcept>

namespace sluice::test {

std::string redis_server_path() {
    const char* env = std::getenv("REDIS_SERVER");
    return env && *env ? env : "/usr/bin/redis-server";
}

redis_server::redis_server() {
    for (int attempt = 0; attempt < 5; ++attempt)
        if (start(closed_port())) return;
    throw std::runtime_error("redis-server did not start: " + failure_);
}

redis_server::redis_server(unsigned short port) {
    if (!start(port))
        throw std::runtime_error("redis-server did not start on port " + std::to_string(port) + ": " + failure_);
}

redis_server::~redis_server() = default;  // child_process stops it (SIGTERM, then SIGKILL)

bool redis_server::start(unsigned short port) {
    const char* tmp = std::getenv("TMPDIR");
    proc_ = std::make_unique<child_process>(
        redis_server_path(), std::vector<std::string>{"--port", std::to_string(port), "--bind", "127.0.0.1",
                                                      "--save", "", "--appendonly", "no", "--daemonize", "no",
                                                      "--dir", tmp ? tmp : "/tmp", "--loglevel", "notice"});
    if (proc_->wait_for("Ready to accept connections")) {
        port_ = port;
        return true;
    }
    failure_ = proc_->output();
    proc_.reset();  // exited (port taken) or hung: stopped by PID
    return false;
}

void redis_server::kill() {
    if (!proc_) return;
    proc_->signal(SIGKILL);
    proc_->wait_exit(std::chrono::seconds(5));
}

}  // namespace sluice::test
