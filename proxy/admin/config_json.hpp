#pragma once
// The effective configuration as JSON, for GET /config: what is in force, with its generation
// and the live state of each upstream server.

#include "config/config.hpp"

#include <string>

namespace sluice::admin {

std::string config_to_json(const config::config& cfg);

}  // namespace sluice::admin
