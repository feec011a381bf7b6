#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace sluice::test {

child_process::child_process(const std::string& exe, const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::dup2(fds[1], STDOUT_FILENO);
        ::dup2(fds[1], STDERR_FILENO);
        ::execv(exe.c_str(), argv.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] { reader(fd); });
}

child_process::~child_process() {
    if (running()) {
        signal(SIGTERM);
        if (!wait_exit(std::chrono::seconds(5))) {
            signal(SIGKILL);
            wait_exit(std::chrono::seconds(5));
        }
    }
    if (reader_.joinable()) reader_.join();
}

void child_process::reader(int fd) {
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        std::lock_guard lock(mutex_);
        output_.append(buf, static_cast<std::size_t>(n));
        cv_.notify_all();
    }
    ::close(fd);
    std::lock_guard lock(mutex_);
    eof_ = true;
    cv_.notify_all();
}

std::optional<std::vector<std::string>> child_process::wait_for(const std::string& regex,
                                                                std::chrono::milliseconds timeout) {
    const std::regex re(regex);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex_);
    for (;;) {
        std::smatch m;
        if (std::regex_search(output_, m, re)) {
            std::vector<std::string> groups;
            for (const auto& g : m) groups.push_back(g.str());
            return groups;
        }
        if (eof_) return std::nullopt;
        if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return std::nullopt;
    }
}

std::size_t child_process::count(const std::string& regex) const {
    const std::regex re(regex);
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::distance(std::sregex_iterator(output_.begin(), output_.end(), re), std::sregex_iterator()));
}

bool child_process::wait_output_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return eof_; });
}

std::string child_process::output() const {
    std::lock_guard lock(mutex_);
    return output_;
}

void child_process::signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int st = 0;
        const pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            // Let the reader take in everything it printed before callers look at output().
            std::unique_lock lock(mutex_);
            cv_.wait_for(lock, std::chrono::seconds(2), [&] { return eof_; });
            return status_;
        }
        if (r < 0) return std::nullopt;
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        // Process exit has no waitable handle here; poll at a short interval (not a timing assertion).
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

bool child_process::running() {
    if (status_ || pid_ <= 0) return false;
    return !wait_exit(std::chrono::milliseconds(0)).has_value();
}

std::string bin_dir() { return SLUICE_BIN_DIR; }

backend start_backend(const std::string& kind, const std::string& name) {
    backend b;
    b.proc = std::make_unique<child_process>(bin_dir() + "/sluice-" + kind,
                                             std::vector<std::string>{"--listen", "127.0.0.1:0", "--name", name});
    auto m = b.proc->wait_for(R"(listening on 127\.0\.0\.1:(\d+))");
    if (!m) throw std::runtime_error("backend " + name + " did not start: " + b.proc->output());
    b.port = static_cast<unsigned short>(std::stoi((*m)[1]));
    return b;
}

proxy start_sluice(const std::string& toml) {
    static int counter = 0;
    proxy p;
    std::string text = toml;
    for (std::size_t pos; (pos = text.find("LISTEN")) != std::string::npos;) text.replace(pos, 6, "127.0.0.1:0");
    const char* tmp = std::getenv("TMPDIR");
    p.config_path = std::string(tmp ? tmp : "/tmp") + "/sluice-test-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter++) + ".toml";
    std::ofstream(p.config_path) << text;
    p.proc = std::make_unique<child_process>(bin_dir() + "/sluice", std::vector<std::string>{"-c", p.config_path});
    auto m = p.proc->wait_for(R"(listener "[^"]+" on 127\.0\.0\.1:(\d+))");
    if (!m) throw std::runtime_error("sluice did not start: " + p.proc->output());
    p.port = static_cast<unsigned short>(std::stoi((*m)[1]));
    return p;
}

unsigned short closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

long peak_rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

}  // namespace sluice::test
