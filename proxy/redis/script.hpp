#pragma once
// A Lua script for EVALSHA: its source and SHA1 (computed here, once). Keep it alive for as long
// as calls that use it are in flight (a static or a member of the filter that runs it).

#include <string>

namespace sluice::redis {

class script {
public:
    explicit script(std::string source);
    const std::string& source() const noexcept { return source_; }
    const std::string& sha1() const noexcept { return sha1_; }  // 40 lowercase hex digits

private:
    std::string source_;
    std::string sha1_;
};

}  // namespace sluice::redis
