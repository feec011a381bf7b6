#include "config/config.hpp"

namespace sluice::config {

std::string endpoint::to_string() const {
    // A host with a colon can only be an IPv6 address: it needs brackets to keep its port apart.
    if (host.find(':') != std::string::npos) {
        return "[" + host + "]:" + std::to_string(port);
    }
    return host + ":" + std::to_string(port);
}

}  // namespace sluice::config
