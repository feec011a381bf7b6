#include "lua/request_call.hpp"

#include <lua.hpp>

#include <algorithm>
#include <cctype>

namespace sluice::lua {

namespace {

constexpr const char* request_meta = "sluice.request";
constexpr const char* response_meta = "sluice.response";

// The userdata behind `req` and `resp`: points at its call until the call ends.
struct handle {
    request_call* call;
};

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!(std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos))
            return false;
    return true;
}

bool is_field_value(std::string_view s) {
    for (unsigned char c : s)
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    return true;
}

// Visible ASCII only: what may go in a request target.
bool is_target_part(std::string_view s, std::string_view forbidden) {
    for (unsigned char c : s)
        if (c <= 0x20 || c >= 0x7f || forbidden.find(static_cast<char>(c)) != std::string_view::npos) return false;
    return true;
}

std::string_view check_sv(lua_State* L, int i) {
    std::size_t n = 0;
    const char* s = luaL_checklstring(L, i, &n);
    return {s, n};
}

// A header name from argument i that a script may set or remove: a token, and not one that
// carries the message framing (Sluice owns it).
std::string_view header_name(lua_State* L, int i) {
    const auto name = check_sv(L, i);
    if (!is_token(name)) luaL_argerror(L, i, "not a valid header name");
    for (std::string_view f : {"content-length", "transfer-encoding", "connection", "upgrade"})
        if (iequals(name, f)) luaL_argerror(L, i, "this header is managed by sluice");
    return name;
}

std::string_view header_value(lua_State* L, int i) {
    std::size_t n = 0;
    const char* s = luaL_checklstring(L, i, &n);  // numbers are converted
    const std::string_view v{s, n};
    if (!is_field_value(v)) luaL_argerror(L, i, "header value contains a control character");
    return v;
}

void push_sv(lua_State* L, std::string_view s) { lua_pushlstring(L, s.data(), s.size()); }

std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
    const auto q = target.find('?');
    if (q == std::string_view::npos) return {target, {}};
    return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace

// The methods of `req` and `resp`, friends of request_call.
struct api {
    static request_call& req_call(lua_State* L) {
        auto* h = static_cast<handle*>(luaL_checkudata(L, 1, request_meta));
        if (!h->call || !h->call->req_) luaL_error(L, "req used outside its on_request call");
        return *h->call;
    }
    static request_call& resp_call(lua_State* L) {
        auto* h = static_cast<handle*>(luaL_checkudata(L, 1, response_meta));
        if (!h->call || !h->call->resp_) luaL_error(L, "resp used outside its on_response call");
        return *h->call;
    }

    static int method(lua_State* L) {
        push_sv(L, req_call(L).req_->method());
        return 1;
    }
    static int path(lua_State* L) {
        push_sv(L, split_target(req_call(L).req_->target()).first);
        return 1;
    }
    static int query(lua_State* L) {
        push_sv(L, split_target(req_call(L).req_->target()).second);
        return 1;
    }
    static int set_path(lua_State* L) {
        auto& c = req_call(L);
        const auto p = check_sv(L, 2);
        if (!p.starts_with('/') || !is_target_part(p, "?#")) luaL_argerror(L, 2, "a path starts with / and has no spaces, ? or #");
        const auto q = split_target(c.req_->target()).second;
        std::string t(p);
        if (!q.empty()) t.append("?").append(q);
        c.req_->set_target(t);
        return 0;
    }
    static int set_query(lua_State* L) {
        auto& c = req_call(L);
        const auto q = check_sv(L, 2);
        if (!is_target_part(q, "#")) luaL_argerror(L, 2, "a query has no spaces or #");
        std::string t(split_target(c.req_->target()).first);
        if (!q.empty()) t.append("?").append(q);
        c.req_->set_target(t);
        return 0;
    }
    static int header(lua_State* L) {
        auto& c = req_call(L);
        if (auto v = c.req_->header(check_sv(L, 2))) push_sv(L, *v);
        else lua_pushnil(L);
        return 1;
    }
    static int set_header(lua_State* L) {
        auto& c = req_call(L);
        const auto name = header_name(L, 2);
        c.req_->set_header(name, header_value(L, 3));
        return 0;
    }
    static int remove_header(lua_State* L) {
        auto& c = req_call(L);
        c.req_->remove_header(header_name(L, 2));
        return 0;
    }
    static int client_ip(lua_State* L) {
        push_sv(L, req_call(L).client_ip_);
        return 1;
    }
    static int route(lua_State* L) {
        push_sv(L, req_call(L).route_.name);
        return 1;
    }
    static int set_upstream(lua_State* L) {
        auto& c = req_call(L);
        const auto name = check_sv(L, 2);
        if (c.route_.upstream.empty()) luaL_error(L, "set_upstream: route \"%s\" does not forward to an upstream", c.route_.name.c_str());
        for (std::size_t i = 0; i < c.cfg_.upstreams.size(); ++i) {
            if (c.cfg_.upstreams[i].name == name) {
                c.upstream_index_ = i;
                return 0;
            }
        }
        return luaL_error(L, "set_upstream: no upstream named \"%s\"", std::string(name).c_str());
    }
    static int set_hash_key(lua_State* L) {
        auto& c = req_call(L);
        c.hash_key_ = std::string(check_sv(L, 2));
        return 0;
    }
    static int body(lua_State* L) {
        auto& c = req_call(L);
        if (c.body_) {
            push_sv(L, *c.body_);
            return 1;
        }
        const auto len = c.req_->body_length();
        if (!len || *len > max_body_bytes) {
            lua_pushnil(L);
            return 1;
        }
        if (*len == 0) {
            c.body_.emplace();
            lua_pushliteral(L, "");
            return 1;
        }
        // Paused until the session has read the body; resume_with_body passes it back as the
        // result of this call.
        c.wants_body_ = true;
        return lua_yield(L, 0);
    }
    static int respond(lua_State* L) {
        auto& c = req_call(L);
        const lua_Integer status = luaL_checkinteger(L, 2);
        if (status < 200 || status > 599) luaL_argerror(L, 2, "status must be 200..599");
        reply r;
        r.status = static_cast<unsigned>(status);
        if (!lua_isnoneornil(L, 3)) {
            luaL_checktype(L, 3, LUA_TTABLE);
            lua_pushnil(L);
            while (lua_next(L, 3)) {
                // key at -2, value at -1; checked as arguments would be, then copied.
                if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "respond: header names must be strings");
                lua_pushvalue(L, -2);
                lua_pushvalue(L, -2);
                const int top = lua_gettop(L);
                const auto name = header_name(L, top - 1);
                const auto value = header_value(L, top);
                r.headers.emplace_back(std::string(name), std::string(value));
                lua_pop(L, 3);
            }
        }
        if (!lua_isnoneornil(L, 4)) r.body = std::string(check_sv(L, 4));
        c.reply_ = std::move(r);
        c.responded_ = true;
        return lua_yield(L, 0);  // ends on_request: the reply replaces the upstream
    }
    // req:ctx() / resp:ctx(): one table per request, shared by on_request and on_response.
    static int push_ctx(lua_State* L, request_call& c) {
        if (c.ctx_ref_ == LUA_NOREF) {
            lua_newtable(L);
            c.ctx_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, c.ctx_ref_);
        return 1;
    }
    static int req_ctx(lua_State* L) { return push_ctx(L, req_call(L)); }

    static int status(lua_State* L) {
        lua_pushinteger(L, resp_call(L).resp_->status());
        return 1;
    }
    static int resp_header(lua_State* L) {
        auto& c = resp_call(L);
        if (auto v = c.resp_->header(check_sv(L, 2))) push_sv(L, *v);
        else lua_pushnil(L);
        return 1;
    }
    static int resp_set_header(lua_State* L) {
        auto& c = resp_call(L);
        const auto name = header_name(L, 2);
        c.resp_->set_header(name, header_value(L, 3));
        return 0;
    }
    static int resp_remove_header(lua_State* L) {
        auto& c = resp_call(L);
        c.resp_->remove_header(header_name(L, 2));
        return 0;
    }
    static int resp_ctx(lua_State* L) { return push_ctx(L, resp_call(L)); }

    // The metatables of req and resp, made once per state.
    static void push_handle(lua_State* L, request_call* c, const char* meta) {
        auto* h = static_cast<handle*>(lua_newuserdata(L, sizeof(handle)));
        h->call = c;
        if (luaL_newmetatable(L, meta)) {
            lua_newtable(L);
            const bool is_req = meta == request_meta;
            static const luaL_Reg req_methods[] = {
                {"method", method},         {"path", path},
                {"set_path", set_path},     {"query", query},
                {"set_query", set_query},   {"header", header},
                {"set_header", set_header}, {"remove_header", remove_header},
                {"client_ip", client_ip},   {"route", route},
                {"set_upstream", set_upstream}, {"set_hash_key", set_hash_key},
                {"body", body},             {"respond", respond},
                {"ctx", req_ctx},           {nullptr, nullptr}};
            static const luaL_Reg resp_methods[] = {{"status", status},
                                                    {"header", resp_header},
                                                    {"set_header", resp_set_header},
                                                    {"remove_header", resp_remove_header},
                                                    {"ctx", resp_ctx},
                                                    {nullptr, nullptr}};
            luaL_register(L, nullptr, is_req ? req_methods : resp_methods);
            lua_setfield(L, -2, "__index");
            lua_pushliteral(L, "locked");
            lua_setfield(L, -2, "__metatable");
        }
        lua_setmetatable(L, -2);
    }
};

request_call::request_call(runtime& rt, std::shared_ptr<const config::lua_script> script, const config::config& cfg,
                           const config::route& route, std::string_view client_ip)
    : rt_(rt), script_(std::move(script)), cfg_(cfg), route_(route), client_ip_(client_ip) {}

request_call::~request_call() {
    lua_State* L = rt_.L_;
    for (int ref : {req_ref_, resp_ref_}) {
        if (ref == LUA_NOREF) continue;
        lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
        static_cast<handle*>(lua_touserdata(L, -1))->call = nullptr;  // kept by a script: now inert
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
    }
    luaL_unref(L, LUA_REGISTRYINDEX, ctx_ref_);
    release_thread(false);  // still paused (a body never read): not reusable
}

void request_call::release_thread(bool reusable) {
    rt_.give_back({co_, co_ref_}, reusable);
    co_ref_ = LUA_NOREF;
    co_ = nullptr;
}

bool request_call::has_on_response() {
    if (!compiled_) compiled_ = &rt_.load(script_);
    if (compiled_->env_ref == LUA_NOREF) return false;
    lua_State* L = rt_.L_;
    lua_rawgeti(L, LUA_REGISTRYINDEX, compiled_->env_ref);
    lua_getfield(L, -1, "on_response");
    const bool yes = lua_isfunction(L, -1);
    lua_pop(L, 2);
    return yes;
}

// Resumes co_ (function and arguments pushed) and reads how it stopped.
outcome request_call::run(int nargs) {
    wants_body_ = false;
    const int rc = rt_.resume(co_, nargs);
    if (rc == LUA_YIELD) {
        if (wants_body_) return outcome::need_body;
        release_thread(false);
        if (responded_) return outcome::responded;
        error_ = script_->path + ": on_request yielded (coroutine.yield outside a coroutine of its own)";
        return outcome::failed;
    }
    outcome o = outcome::done;
    if (rc == 0) {
        error_ = rt_.describe_error(co_, *compiled_);
        o = outcome::failed;
    }
    release_thread(true);
    if (o == outcome::failed) lua_gc(rt_.L_, LUA_GCCOLLECT, 0);  // what a runaway script left behind
    return o;
}

std::optional<outcome> request_call::start_hook(const char* hook, const char* meta, int& handle_ref) {
    lua_State* L = rt_.L_;
    if (!compiled_) compiled_ = &rt_.load(script_);
    if (!compiled_->error.empty()) {
        error_ = compiled_->error;
        return outcome::failed;
    }
    const int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, compiled_->env_ref);
    lua_getfield(L, -1, hook);
    if (!lua_isfunction(L, -1)) {
        lua_settop(L, top);
        return outcome::done;
    }
    const auto th = rt_.take_thread();
    co_ = th.co;
    co_ref_ = th.ref;
    rt_.push_call(co_);  // takes the function from L's top
    api::push_handle(co_, this, meta);
    lua_pushvalue(co_, -1);
    handle_ref = luaL_ref(co_, LUA_REGISTRYINDEX);
    lua_settop(L, top);
    return std::nullopt;
}

outcome request_call::on_request(request_access& req) {
    if (auto early = start_hook("on_request", request_meta, req_ref_)) return *early;
    req_ = &req;
    const auto o = run(3);
    req_ = nullptr;
    return o;
}

outcome request_call::resume_with_body(request_access& req, std::string body) {
    if (!co_) return outcome::done;
    body_ = std::move(body);
    lua_pushlstring(co_, body_->data(), body_->size());
    req_ = &req;
    const auto o = run(1);
    req_ = nullptr;
    return o;
}

outcome request_call::on_response(response_access& resp) {
    if (auto early = start_hook("on_response", response_meta, resp_ref_)) return *early;
    resp_ = &resp;
    auto o = run(3);
    resp_ = nullptr;
    if (o == outcome::need_body || o == outcome::responded) {  // not possible from resp; be safe
        release_thread(false);
        o = outcome::done;
    }
    return o;
}

}  // namespace sluice::lua
