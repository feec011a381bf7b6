#pragma once
// A child process for integration tests: started with fork/exec, stdout and stderr captured
// through a pipe by a reader thread, stopped by its PID (SIGTERM, then SIGKILL) when destroyed.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sluice::test {

class child_process {
public:
    child_process(const std::string& exe, const std::vector<std::string>& args);
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const { return pid_; }

    // Waits until the captured output matches `regex` (ECMAScript); returns the sub-matches
    // (index 0: whole match), or nullopt at the timeout or when the process exited first.
    std::optional<std::vector<std::string>> wait_for(const std::string& regex,
                                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Counts the matches of `regex` in the output so far.
    std::size_t count(const std::string& regex) const;
    std::string output() const;
    // Waits until the process's output pipe is closed (all output read); false on timeout.
    bool wait_output_closed(std::chrono::milliseconds timeout);

    void signal(int sig) const;
    // Waits for exit; returns the exit status (128+signal when killed), or nullopt on timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    bool running();

private:
    void reader(int fd);

    pid_t pid_ = -1;
    std::optional<int> status_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::string output_;
    bool eof_ = false;
    std::thread reader_;
};

// Where the built binaries are (build/bin).
std::string bin_dir();

// A reference backend (sluice-items or sluice-echo) on a kernel-chosen port.
struct backend {
    std::unique_ptr<child_process> proc;
    unsigned short port = 0;
    std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};
backend start_backend(const std::string& kind, const std::string& name);

// sluice on a config written to a temporary file; `toml` may contain the placeholder
// LISTEN, replaced by "127.0.0.1:0". The port comes from sluice's "listener ... on" log line.
struct proxy {
    std::unique_ptr<child_process> proc;
    unsigned short port = 0;
    std::string config_path;
};
proxy start_sluice(const std::string& toml);

// A TCP port on 127.0.0.1 with nothing listening (bound by the kernel, then closed).
unsigned short closed_port();

// Peak resident set size (VmHWM) of a process in KiB.
long peak_rss_kib(pid_t pid);

}  // namespace sluice::test
