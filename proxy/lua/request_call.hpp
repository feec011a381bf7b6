#pragma once
// One request's passage through a route's Lua filter: on_request (possibly paused to read the
// body, possibly answering itself), then on_response, sharing a per-request table (req:ctx()).
// Lives on the worker's thread for the length of the request.

#include "lua/filter.hpp"
#include "lua/runtime.hpp"

#include <memory>
#include <optional>
#include <string>

namespace sluice::lua {

class request_call {
public:
    request_call(runtime& rt, std::shared_ptr<const config::lua_script> script, const config::config& cfg,
                 const config::route& route, std::string_view client_ip);
    ~request_call();
    request_call(const request_call&) = delete;
    request_call& operator=(const request_call&) = delete;

    outcome on_request(request_access& req);
    // After need_body: `body` is the whole request body (at most max_body_bytes).
    outcome resume_with_body(request_access& req, std::string body);
    outcome on_response(response_access& resp);

    // Whether the script defines the hooks (false when it failed to load).
    bool has_on_response();

    const std::string& error() const { return error_; }  // "FILE:LINE: message" after failed
    const lua::reply& response() const { return reply_; }  // after responded
    // Decisions of on_request.
    std::optional<std::size_t> upstream_index() const { return upstream_index_; }
    const std::optional<std::string>& hash_key() const { return hash_key_; }

private:
    friend struct api;
    // Loads the script (once) and starts `hook` on a pooled coroutine with a new `meta` handle
    // (its registry ref in `handle_ref`). nullopt: started, call run(3); else the outcome at once
    // (failed to load, or the script does not define the hook).
    std::optional<outcome> start_hook(const char* hook, const char* meta, int& handle_ref);
    outcome run(int nargs);
    void release_thread(bool reusable);

    runtime& rt_;
    std::shared_ptr<const config::lua_script> script_;
    const runtime::compiled* compiled_ = nullptr;
    const config::config& cfg_;
    const config::route& route_;
    std::string client_ip_;

    request_access* req_ = nullptr;    // set while on_request runs
    response_access* resp_ = nullptr;  // set while on_response runs
    lua_State* co_ = nullptr;          // the hook's coroutine while paused for the body
    int co_ref_ = -2;
    int ctx_ref_ = -2;                 // req:ctx() table, created on first use
    int req_ref_ = -2;                 // the req / resp userdata, invalidated when the call ends
    int resp_ref_ = -2;
    bool wants_body_ = false;
    bool responded_ = false;
    std::optional<std::string> body_;
    std::string error_;
    lua::reply reply_;
    std::optional<std::size_t> upstream_index_;
    std::optional<std::string> hash_key_;
};

}  // namespace sluice::lua
