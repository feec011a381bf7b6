#pragma once
// A private redis-server for integration tests, on 127.0.0.1 and a port chosen by the kernel
// (bound, closed, then given to redis-server; another port is tried if someone takes it first),
// without persistence. Stopped by its PID when destroyed.

#include "support/process.hpp"

#include <memory>
#include <string>

namespace sluice::test {

class redis_server {
public:
    redis_server();                              // a free port
    explicit redis_server(unsigned short port);  // this port (e.g. a restart after kill()); throws if it fails
    ~redis_server();
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    unsigned short port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    bool running() const { return proc_ && proc_->running(); }

    // SIGKILL, then waits for the exit: connections are cut without a goodbye, as in a crash.
    void kill();

private:
    bool start(unsigned short port);

    unsigned short port_ = 0;
    std::unique_ptr<child_process> proc_;
    std::string failure_;  // output of the last start that failed
};

// Where redis-server is: $REDIS_SERVER, else /usr/bin/redis-server.
std::string redis_server_path();

}  // namespace sluice::test
