#include "redis/command.hpp"

#include <hiredis/hiredis.h>

namespace sluice::redis {

bool append_command(std::string& out, const command& args) {
    if (args.empty()) return false;
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto a : args) {
        argv.push_back(a.empty() ? "" : a.data());  // an empty view may have a null data()
        lens.push_back(a.size());
    }
    char* cmd = nullptr;
    const int n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), argv.data(), lens.data());
    if (n < 0 || cmd == nullptr) return false;
    out.append(cmd, static_cast<std::size_t>(n));
    redisFreeCommand(cmd);
    return true;
}

}  // namespace sluice::redis
