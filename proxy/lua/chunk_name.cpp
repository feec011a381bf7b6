#include "lua/chunk_name.hpp"

#include <lua.hpp>

#include <charconv>

namespace sluice::lua {

std::string chunk_name(const std::string& path) { return "@" + path; }

std::string short_source(lua_State* L, const std::string& name) {
    // An empty chunk with the same name: its debug info holds the name Lua would print.
    if (luaL_loadbuffer(L, "", 0, name.c_str()) != 0) {
        lua_pop(L, 1);
        return name.substr(1);
    }
    lua_Debug ar{};
    lua_getinfo(L, ">S", &ar);
    return ar.short_src;
}

syntax_error split_location(const std::string& short_src, std::string_view message) {
    if (message.size() > short_src.size() + 1 && message.starts_with(short_src) && message[short_src.size()] == ':') {
        std::string_view rest = message.substr(short_src.size() + 1);
        int line = 0;
        auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), line);
        if (ec == std::errc() && p != rest.data() && std::string_view(p, rest.data() + rest.size()).starts_with(": "))
            return {line, std::string(p + 2, rest.data() + rest.size())};
    }
    return {0, std::string(message)};
}

}  // namespace sluice::lua
