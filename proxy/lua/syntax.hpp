#pragma once
// Compiles a Lua filter in a throwaway state (LuaJIT's parser only, nothing runs) so that
// `sluice -t` and a reload reject a script with a syntax error, reported as FILE:LINE: message.

#include <optional>
#include <string>
#include <string_view>

namespace sluice::lua {

struct syntax_error {
    int line = 0;         // 0 when the message carries no line
    std::string message;  // without the "FILE:LINE: " prefix
};

std::optional<syntax_error> check_syntax(const std::string& path, std::string_view source);

}  // namespace sluice::lua
