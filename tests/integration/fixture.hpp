#pragma once
// Shared set-up for integration tests: backends and sluice as real processes.

#include "support/http_client.hpp"
#include "support/process.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <sstream>
#include <stdexcept>
#include <string>

namespace sluice::test {

// The [[upstream]] block for a list of backends with optional weights.
inline std::string upstream_block(const std::string& name, const std::vector<std::pair<const backend*, int>>& servers,
                                  const std::string& extra = {}) {
    std::string s = "[[upstream]]\nname = \"" + name + "\"\nservers = [";
    for (std::size_t i = 0; i < servers.size(); ++i) {
        if (i) s += ", ";
        s += "{ address = \"" + servers[i].first->address() + "\", weight = " + std::to_string(servers[i].second) + " }";
    }
    s += "]\n" + extra + "\n";
    return s;
}

inline std::string server_block(const std::string& extra = {}) {
    return "[server]\nworkers = 1\naccess_log = \"stderr\"\n" + extra + "\n[[listener]]\nname = \"http\"\nlisten = \"LISTEN\"\n\n";
}

// The admin port sluice logged ("admin on 127.0.0.1:PORT").
inline unsigned short admin_port(proxy& p) {
    auto m = p.proc->wait_for(R"(admin on 127\.0\.0\.1:(\d+))");
    if (!m) throw std::runtime_error("no admin listener: " + p.proc->output());
    return static_cast<unsigned short>(std::stoi((*m)[1]));
}

// Value of one sample in Prometheus text, or -1 when absent.
inline double sample(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    return -1;
}

// Runs a command through bash; returns (exit status, output).
inline std::pair<int, std::string> run(const std::string& command, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    child_process p("/bin/bash", {"-c", command});
    auto status = p.wait_exit(timeout);
    if (!status) {
        p.signal(SIGKILL);
        return {-1, "timeout: " + p.output()};
    }
    p.wait_output_closed(std::chrono::seconds(5));  // everything it printed has been read
    return {*status, p.output()};
}

// A CA and certificates for a.test and b.test (each also valid for IP 127.0.0.1) signed by it,
// and an unrelated CA (other-ca.pem), made with the openssl CLI for this test run.
struct test_pki {
    std::string dir;
    test_pki() {
        static int made = 0;
        dir = "/tmp/sluice-pki-" + std::to_string(::getpid()) + "-" + std::to_string(made++);
        const std::string script = "set -e; mkdir -p " + dir + "; cd " + dir + R"(;
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=sluice-test-ca 2>/dev/null
for n in a b; do
  openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$n.test 2>/dev/null
  printf 'subjectAltName=DNS:%s.test,IP:127.0.0.1\n' $n > $n.ext
  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 2 -extfile $n.ext 2>/dev/null
done
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=other-ca 2>/dev/null)";
        auto [status, out] = run(script);
        if (status != 0) throw std::runtime_error("openssl failed: " + out);
    }
    ~test_pki() { run("rm -rf " + dir); }
};

// A test suite whose tests share one test_pki (made once: key generation takes a while).
class pki_test : public ::testing::Test {
protected:
    static void SetUpTestSuite() { pki = new test_pki(); }
    static void TearDownTestSuite() {
        delete pki;
        pki = nullptr;
    }
    static inline test_pki* pki = nullptr;
};

}  // namespace sluice::test
