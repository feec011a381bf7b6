#pragma once
// Naming a script's chunk and reading Lua's "SOURCE:LINE: message" back into parts. Lua shortens
// long file names in messages ("...end/of/path.lua"); these helpers undo that for our reports.

#include "lua/syntax.hpp"

#include <string>
#include <string_view>

struct lua_State;

namespace sluice::lua {

std::string chunk_name(const std::string& path);  // "@path"

// The name Lua puts in messages for chunk `name` (its "short_src").
std::string short_source(lua_State* L, const std::string& name);

// Splits "SHORT:LINE: message" when it starts with `short_src`; otherwise line 0 and the whole
// message.
syntax_error split_location(const std::string& short_src, std::string_view message);

}  // namespace sluice::lua
