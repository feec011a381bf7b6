#pragma once
// Shared set-up for integration tests: backends and sluice as real processes.

#include "support/http_client.hpp"
#include "support/process.hpp"

#include <gtest/gtest.h>

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

}  // namespace sluice::test
