#pragma once
// Shared set-up for integration tests: backends and sluice as real processes.

#include "support/http_client.hpp"
#include "support/process.hpp"

#include <gtest/gtest.h>

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

}  // namespace sluice::test
