#include "lua/syntax.hpp"

#include "lua/chunk_name.hpp"

#include <lua.hpp>

#include <memory>

namespace sluice::lua {

std::optional<syntax_error> check_syntax(const std::string& path, std::string_view source) {
    std::unique_ptr<lua_State, void (*)(lua_State*)> L(luaL_newstate(), lua_close);
    if (!L) return syntax_error{0, "cannot create a Lua state"};
    const std::string name = chunk_name(path);
    if (luaL_loadbuffer(L.get(), source.data(), source.size(), name.c_str()) == 0) return std::nullopt;
    const char* msg = lua_tostring(L.get(), -1);
    return split_location(short_source(L.get(), name), msg ? msg : "unknown error");
}

}  // namespace sluice::lua
