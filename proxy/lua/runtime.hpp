#pragma once
// One Lua state per worker thread (LuaJIT in interpreter mode) holding the worker's compiled
// filters. Safety: a custom allocator caps the state's memory, an instruction-count hook caps
// each hook call, and scripts see a sandbox without io, os, package/require, debug, jit, ffi,
// load/loadstring/dofile/loadfile or string.dump.
// Why the JIT is off: LuaJIT does not run hooks inside compiled traces, so `while true do end`
// would escape the instruction limit once compiled. The interpreter honours the hook.
// Not thread-safe; used only on its worker's thread.

#include "config/config.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct lua_State;
struct lua_Debug;

namespace sluice::lua {

struct limits {
    std::size_t max_memory = 64ull << 20;         // bytes for the whole state (all scripts of a worker)
    std::uint64_t max_instructions = 10'000'000;  // VM instructions per hook call (resume)
};

// Where sluice.log() goes ("stderr" through spdlog in the proxy, a vector in tests).
using log_function = std::function<void(std::string_view)>;

class request_call;

class runtime {
public:
    explicit runtime(unsigned worker_index = 0, limits lim = {}, log_function log = {});
    ~runtime();
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    std::size_t memory_used() const { return used_; }
    std::size_t scripts_loaded() const { return scripts_.size(); }
    const limits& limit() const { return limits_; }
    // Forgets compiled scripts that no config snapshot refers to any more (no request can use
    // them); called from the worker's periodic sweep.
    void collect();
    void log(std::string_view msg) {
        if (log_) log_(msg);
    }

private:
    friend class request_call;
    friend struct runtime_access;

    // A script compiled in this state: its environment table (globals of the script, kept per
    // worker while the script's config generation is in use), or why it could not be loaded.
    struct compiled {
        std::shared_ptr<const config::lua_script> script;  // keeps identity stable while cached
        int env_ref = -2;                                   // LUA_NOREF
        std::string short_src;
        std::string error;                                  // top level failed: every call fails
    };
    const compiled& load(const std::shared_ptr<const config::lua_script>& s);
    // A hook call is xpcall(f, handler, arg) on a coroutine of its own: push_call pushes
    // xpcall, f (moved from L_'s top) and the handler that adds the script's FILE:LINE to
    // messages that lack it (the count hook's); then the caller pushes arg.
    void push_call(lua_State* co);
    // Resumes `co` (xpcall, f, handler, arg pushed) under the instruction and memory limits.
    // Returns LUA_YIELD, or 0 with an error message on `co`'s top, or -1 when f returned.
    int resume(lua_State* co, int nargs);
    // Coroutines for hook calls: finished ones are kept for reuse (creating one per call is
    // most of a trivial filter's cost).
    struct thread {
        lua_State* co = nullptr;
        int ref = -2;
    };
    thread take_thread();
    void give_back(thread t, bool reusable);
    // "FILE:LINE: message" for the error on top of `co`'s stack.
    std::string describe_error(lua_State* co, const compiled& c);

    static void* allocate(void* ud, void* ptr, std::size_t osize, std::size_t nsize);
    static void count_hook(lua_State* L, lua_Debug* ar);
    void open_sandbox();
    void note_refusal();

    limits limits_;
    log_function log_;
    std::size_t used_ = 0;
    bool enforce_ = false;       // memory limit applies (while script code runs)
    std::uint64_t ticks_ = 0;    // hook calls in the current resume
    std::uint64_t max_ticks_ = 0;
    lua_State* L_ = nullptr;
    int xpcall_ref_ = -2;
    int handler_ref_ = -2;
    std::vector<thread> idle_threads_;
    lua_State* running_ = nullptr;  // the coroutine being resumed
    // Where the last refused allocation happened (memory errors reach no message handler).
    std::string refused_src_;
    int refused_line_ = 0;
    std::unordered_map<const config::lua_script*, compiled> scripts_;
};

}  // namespace sluice::lua
