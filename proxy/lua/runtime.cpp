#include "lua/runtime.hpp"

#include "lua/chunk_name.hpp"

#include <lua.hpp>

#include <chrono>
#include <cstdlib>
#include <stdexcept>

namespace sluice::lua {

namespace {

constexpr int hook_every = 1000;  // instructions between two count-hook calls

std::uint64_t ticks_for(std::uint64_t instructions) {
    return std::max<std::uint64_t>(1, (instructions + hook_every - 1) / hook_every);
}

int sluice_log(lua_State* L);
int error_handler(lua_State* L);
int sluice_now(lua_State* L);
int sluice_time(lua_State* L);

}  // namespace

void* runtime::allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize) {
    auto* rt = static_cast<runtime*>(ud);
    if (!ptr) osize = 0;  // osize then encodes a type tag, not a size
    if (nsize == 0) {
        std::free(ptr);
        rt->used_ -= osize;
        return nullptr;
    }
    // Growth past the cap fails while script code runs; Lua turns that into "not enough memory".
    if (nsize > osize && rt->enforce_ && rt->used_ - osize + nsize > rt->limits_.max_memory) {
        rt->note_refusal();
        return nullptr;
    }
    void* p = std::realloc(ptr, nsize);
    if (p) rt->used_ = rt->used_ - osize + nsize;
    return p;
}

void runtime::count_hook(lua_State* L, lua_Debug*) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    auto* rt = static_cast<runtime*>(ud);
    if (rt->max_ticks_ == 0) return;  // not inside a limited call
    if (++rt->ticks_ > rt->max_ticks_) {
        rt->ticks_ = 0;  // the error handler may run a little more code
        luaL_error(L, "instruction limit exceeded (%d instructions)", static_cast<int>(rt->limits_.max_instructions));
    }
}

runtime::runtime(unsigned worker_index, limits lim, log_function log) : limits_(lim), log_(std::move(log)) {
    L_ = lua_newstate(&runtime::allocate, this);
    if (!L_) throw std::runtime_error("cannot create a Lua state (LuaJIT without GC64 refuses custom allocators)");
    // Before any code runs: interpreter only, so the count hook sees every instruction.
    luaJIT_setmode(L_, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
    lua_sethook(L_, &runtime::count_hook, LUA_MASKCOUNT, hook_every);
    open_sandbox();
    lua_getglobal(L_, "xpcall");  // LuaJIT's passes extra arguments on to f
    xpcall_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);
    lua_pushcfunction(L_, error_handler);
    handler_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);
    lua_getglobal(L_, "sluice");
    lua_pushinteger(L_, static_cast<lua_Integer>(worker_index));
    lua_setfield(L_, -2, "worker");
    lua_pop(L_, 1);
}

runtime::~runtime() {
    if (L_) lua_close(L_);
}

void runtime::open_sandbox() {
    const std::pair<lua_CFunction, const char*> libs[] = {
        {luaopen_base, ""}, {luaopen_table, LUA_TABLIBNAME}, {luaopen_string, LUA_STRLIBNAME},
        {luaopen_math, LUA_MATHLIBNAME}, {luaopen_bit, LUA_BITLIBNAME}};
    for (const auto& [open, name] : libs) {
        lua_pushcfunction(L_, open);
        lua_pushstring(L_, name);
        lua_call(L_, 1, 0);
    }
    // No file, OS or bytecode access; no changing other functions' environments; no __gc.
    for (const char* name : {"dofile", "loadfile", "load", "loadstring", "getfenv", "setfenv", "newproxy",
                             "collectgarbage", "gcinfo", "print", "module", "require"}) {
        lua_pushnil(L_);
        lua_setglobal(L_, name);
    }
    lua_getglobal(L_, "string");
    lua_pushnil(L_);
    lua_setfield(L_, -2, "dump");
    lua_pop(L_, 1);

    lua_newtable(L_);  // sluice
    lua_pushcfunction(L_, sluice_log);
    lua_setfield(L_, -2, "log");
    lua_pushcfunction(L_, sluice_now);
    lua_setfield(L_, -2, "now");
    lua_pushcfunction(L_, sluice_time);
    lua_setfield(L_, -2, "time");
    lua_newtable(L_);  // per-worker state shared by the worker's scripts, kept across reloads
    lua_setfield(L_, -2, "shared");
    lua_setglobal(L_, "sluice");
}

void runtime::note_refusal() {
    // Reading the stack allocates nothing; the VM keeps its frames current around allocations
    // because any allocation may raise an error.
    if (!running_ || refused_line_ > 0) return;
    lua_Debug ar{};
    for (int level = 0; lua_getstack(running_, level, &ar); ++level) {
        if (!lua_getinfo(running_, "Sl", &ar)) break;
        if (ar.currentline > 0 && ar.source && ar.source[0] == '@') {
            refused_src_ = ar.short_src;
            refused_line_ = ar.currentline;
            return;
        }
    }
}

void runtime::push_call(lua_State* co) {
    lua_rawgeti(co, LUA_REGISTRYINDEX, xpcall_ref_);
    lua_xmove(L_, co, 1);
    lua_rawgeti(co, LUA_REGISTRYINDEX, handler_ref_);
}

runtime::thread runtime::take_thread() {
    if (!idle_threads_.empty()) {
        thread t = idle_threads_.back();
        idle_threads_.pop_back();
        return t;
    }
    thread t;
    t.co = lua_newthread(L_);
    t.ref = luaL_ref(L_, LUA_REGISTRYINDEX);
    return t;
}

void runtime::give_back(thread t, bool reusable) {
    if (!t.co) return;
    // A coroutine that ran to its end (status 0) can start another function; a suspended one
    // (req:respond, an abandoned body read) or a broken one is dropped for the GC.
    if (reusable && lua_status(t.co) == 0 && idle_threads_.size() < 16) {
        lua_settop(t.co, 0);
        idle_threads_.push_back(t);
    } else {
        luaL_unref(L_, LUA_REGISTRYINDEX, t.ref);
    }
}

int runtime::resume(lua_State* co, int nargs) {
    enforce_ = true;
    ticks_ = 0;
    max_ticks_ = ticks_for(limits_.max_instructions);
    running_ = co;
    refused_line_ = 0;
    const int rc = lua_resume(co, nargs);
    running_ = nullptr;
    max_ticks_ = 0;
    enforce_ = false;
    if (rc == LUA_YIELD) return rc;
    if (rc != 0) return 0;  // the handler itself failed: its message is on top
    if (lua_gettop(co) >= 1 && lua_toboolean(co, 1)) return -1;
    lua_settop(co, 2);      // false, message
    return 0;
}

std::string runtime::describe_error(lua_State* co, const compiled& c) {
    std::string msg;
    if (const char* s = lua_tostring(co, -1)) msg = s;
    else msg = std::string("error object is a ") + luaL_typename(co, -1);
    auto parts = split_location(c.short_src, msg);
    if (parts.line == 0 && refused_line_ > 0 && refused_src_ == c.short_src) parts.line = refused_line_;
    if (parts.line == 0) return c.script->path + ": " + parts.message;
    return c.script->path + ":" + std::to_string(parts.line) + ": " + parts.message;
}

const runtime::compiled& runtime::load(const std::shared_ptr<const config::lua_script>& s) {
    if (auto it = scripts_.find(s.get()); it != scripts_.end()) return it->second;
    collect();
    compiled c;
    c.script = s;
    const std::string name = chunk_name(s->path);
    c.short_src = short_source(L_, name);
    const int top = lua_gettop(L_);
    if (luaL_loadbuffer(L_, s->source.data(), s->source.size(), name.c_str()) != 0) {
        c.error = describe_error(L_, c);
        lua_settop(L_, top);
        return scripts_.emplace(s.get(), std::move(c)).first->second;
    }
    // The script's own globals: a table per script and worker that falls back to the sandbox.
    lua_newtable(L_);                     // env
    lua_newtable(L_);                     // its metatable
    lua_pushvalue(L_, LUA_GLOBALSINDEX);
    lua_setfield(L_, -2, "__index");
    lua_setmetatable(L_, -2);
    lua_pushvalue(L_, -1);
    lua_setfield(L_, -2, "_G");
    lua_pushvalue(L_, -1);
    c.env_ref = luaL_ref(L_, LUA_REGISTRYINDEX);  // pops one copy of env
    lua_setfenv(L_, -2);                          // chunk's env
    // Run the top level (defines the hooks) on a coroutine, under the limits.
    const thread th = take_thread();
    lua_State* co = th.co;
    lua_pushvalue(L_, -1);
    push_call(co);
    lua_pushnil(co);
    const int rc = resume(co, 3);
    if (rc == LUA_YIELD) c.error = s->path + ": the script's top level must not yield";
    else if (rc == 0) c.error = describe_error(co, c);
    if (!c.error.empty()) {
        luaL_unref(L_, LUA_REGISTRYINDEX, c.env_ref);
        c.env_ref = LUA_NOREF;
    }
    lua_settop(L_, top);
    give_back(th, rc != LUA_YIELD);
    if (rc != -1) lua_gc(L_, LUA_GCCOLLECT, 0);
    return scripts_.emplace(s.get(), std::move(c)).first->second;
}

void runtime::collect() {
    bool dropped = false;
    for (auto it = scripts_.begin(); it != scripts_.end();) {
        // Only this cache holds the script: no snapshot, hence no request, can reach it again.
        if (it->second.script.use_count() == 1) {
            luaL_unref(L_, LUA_REGISTRYINDEX, it->second.env_ref);
            it = scripts_.erase(it);
            dropped = true;
        } else {
            ++it;
        }
    }
    if (dropped) lua_gc(L_, LUA_GCCOLLECT, 0);
}

struct runtime_access {
    static void relax(runtime& rt) {
        rt.enforce_ = false;
        rt.max_ticks_ = 0;
    }
};

namespace {

runtime* owner(lua_State* L) {
    void* ud = nullptr;
    lua_getallocf(L, &ud);
    return static_cast<runtime*>(ud);
}

}  // namespace

namespace {

// The runner's xpcall handler: runs where the error was raised, so the stack still shows the
// script's line. Memory errors arrive without a position; so do the count hook's.
int error_handler(lua_State* L) {
    runtime* rt = owner(L);
    runtime_access::relax(*rt);  // the handler may allocate even when the error was the memory cap
    if (!lua_isstring(L, 1)) {
        lua_pushfstring(L, "error object is a %s value", luaL_typename(L, 1));
        lua_replace(L, 1);
    }
    lua_settop(L, 1);
    lua_Debug ar{};
    for (int level = 1; lua_getstack(L, level, &ar); ++level) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.currentline <= 0 || ar.source[0] != '@') continue;
        const std::string prefix = std::string(ar.short_src) + ":";
        std::size_t len = 0;
        const char* msg = lua_tolstring(L, 1, &len);
        if (!std::string_view(msg, len).starts_with(prefix))
            lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
        break;
    }
    return 1;
}

// sluice.log(...): the arguments, as tostring() shows them, on one line of the proxy's log.
int sluice_log(lua_State* L) {
    const int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; ++i) {
        lua_getglobal(L, "tostring");
        lua_pushvalue(L, i);
        lua_call(L, 1, 1);
        if (i > 1) luaL_addchar(&b, ' ');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    std::size_t len = 0;
    const char* s = lua_tolstring(L, -1, &len);
    lua_Debug ar{};
    std::string line;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "Sl", &ar) && ar.currentline > 0)
        line = std::string(ar.short_src) + ":" + std::to_string(ar.currentline) + ": ";
    owner(L)->log(line + std::string(s, len));
    return 0;
}

// Seconds on a monotonic clock (for durations), with sub-microsecond resolution.
int sluice_now(lua_State* L) {
    const auto t = std::chrono::steady_clock::now().time_since_epoch();
    lua_pushnumber(L, std::chrono::duration<double>(t).count());
    return 1;
}

// Seconds since the Unix epoch (wall clock).
int sluice_time(lua_State* L) {
    const auto t = std::chrono::system_clock::now().time_since_epoch();
    lua_pushnumber(L, std::chrono::duration<double>(t).count());
    return 1;
}

}  // namespace

}  // namespace sluice::lua
