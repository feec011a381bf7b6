// The Lua filter binding without sockets: the req/resp API against fake request and response
// objects, the sandbox, the instruction and memory limits, per-worker state and the compile
// cache.

#include "lua/request_call.hpp"
#include "lua/runtime.hpp"
#include "lua/syntax.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>

namespace sluice::lua {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

class fake_request final : public request_access {
public:
    std::string method_ = "GET";
    std::string target_ = "/a/b?x=1";
    std::map<std::string, std::string> headers_;  // lower-case names
    std::optional<std::uint64_t> length_ = 0;

    std::string_view method() const override { return method_; }
    std::string_view target() const override { return target_; }
    void set_target(std::string_view t) override { target_ = t; }
    std::optional<std::string_view> header(std::string_view name) const override {
        auto it = headers_.find(lower(name));
        if (it == headers_.end()) return std::nullopt;
        return std::string_view(it->second);
    }
    void set_header(std::string_view name, std::string_view value) override { headers_[lower(name)] = value; }
    void remove_header(std::string_view name) override { headers_.erase(lower(name)); }
    std::optional<std::uint64_t> body_length() const override { return length_; }
};

class fake_response final : public response_access {
public:
    unsigned status_ = 200;
    std::map<std::string, std::string> headers_;
    unsigned status() const override { return status_; }
    std::optional<std::string_view> header(std::string_view name) const override {
        auto it = headers_.find(lower(name));
        if (it == headers_.end()) return std::nullopt;
        return std::string_view(it->second);
    }
    void set_header(std::string_view name, std::string_view value) override { headers_[lower(name)] = value; }
    void remove_header(std::string_view name) override { headers_.erase(lower(name)); }
};

class LuaFilterTest : public ::testing::Test {
protected:
    LuaFilterTest() {
        cfg.upstreams.resize(2);
        cfg.upstreams[0].name = "stable";
        cfg.upstreams[1].name = "canary";
        route.name = "api";
        route.upstream = "stable";
    }
    std::shared_ptr<const config::lua_script> script(std::string source, std::string path = "test.lua") {
        return std::make_shared<const config::lua_script>(config::lua_script{std::move(path), std::move(source)});
    }
    std::unique_ptr<request_call> call(const std::shared_ptr<const config::lua_script>& s) {
        return std::make_unique<request_call>(rt, s, cfg, route, "203.0.113.7");
    }

    std::vector<std::string> logged;
    runtime rt{3, limits{8u << 20, 1'000'000}, [this](std::string_view m) { logged.emplace_back(m); }};
    config::config cfg;
    config::route route;
    fake_request req;
};

TEST_F(LuaFilterTest, ReadsTheRequest) {
    auto s = script(R"(
function on_request(req)
  req:set_header("X-Seen", table.concat({req:method(), req:path(), req:query(), req:header("x-token") or "none",
                                         req:client_ip(), req:route(), tostring(sluice.worker)}, "|"))
end)");
    req.headers_["x-token"] = "abc";
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::done) << c->error();
    EXPECT_EQ(req.headers_["x-seen"], "GET|/a/b|x=1|abc|203.0.113.7|api|3");
}

TEST_F(LuaFilterTest, EditsPathQueryAndHeaders) {
    auto s = script(R"(
function on_request(req)
  req:set_path("/v2" .. req:path())
  req:set_header("X-New", 42)
  req:remove_header("X-Old")
  if req:header("X-Drop-Query") then req:set_query("") end
end)");
    req.headers_["x-old"] = "1";
    ASSERT_EQ(call(s)->on_request(req), outcome::done);
    EXPECT_EQ(req.target_, "/v2/a/b?x=1");
    EXPECT_EQ(req.headers_["x-new"], "42");
    EXPECT_FALSE(req.headers_.contains("x-old"));
    req.headers_["x-drop-query"] = "1";
    ASSERT_EQ(call(s)->on_request(req), outcome::done);
    EXPECT_EQ(req.target_, "/v2/v2/a/b");
}

TEST_F(LuaFilterTest, ChoosesUpstreamAndHashKey) {
    auto s = script(R"(
function on_request(req)
  req:set_upstream("canary")
  req:set_hash_key("user-" .. (req:header("X-User") or ""))
end)");
    req.headers_["x-user"] = "7";
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::done) << c->error();
    EXPECT_EQ(c->upstream_index(), 1u);
    EXPECT_EQ(c->hash_key(), "user-7");
}

TEST_F(LuaFilterTest, UnknownUpstreamFailsWithScriptAndLine) {
    auto s = script("function on_request(req)\n  req:set_upstream('nope')\nend\n", "conf/lua/x.lua");
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::failed);
    EXPECT_EQ(c->error(), "conf/lua/x.lua:2: set_upstream: no upstream named \"nope\"");
}

TEST_F(LuaFilterTest, RespondShortCircuitsAndStopsTheHook) {
    auto s = script(R"(
function on_request(req)
  if req:header("X-Api-Key") ~= "secret" then
    req:respond(401, { ["Content-Type"] = "application/json", ["WWW-Authenticate"] = "ApiKey" }, '{"error":"unauthorized"}')
    error("not reached")
  end
end)");
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::responded) << c->error();
    EXPECT_EQ(c->response().status, 401u);
    EXPECT_EQ(c->response().body, R"({"error":"unauthorized"})");
    auto h = c->response().headers;
    std::sort(h.begin(), h.end());
    ASSERT_EQ(h.size(), 2u);
    EXPECT_EQ(h[0], (std::pair<std::string, std::string>{"Content-Type", "application/json"}));
    EXPECT_EQ(h[1], (std::pair<std::string, std::string>{"WWW-Authenticate", "ApiKey"}));

    req.headers_["x-api-key"] = "secret";
    EXPECT_EQ(call(s)->on_request(req), outcome::done);
}

TEST_F(LuaFilterTest, RespondIsNotCaughtByPcall) {
    auto s = script("function on_request(req)\n  pcall(req.respond, req, 403)\n  error('after')\nend\n");
    auto c = call(s);
    EXPECT_EQ(c->on_request(req), outcome::responded) << c->error();
    EXPECT_EQ(c->response().status, 403u);
}

TEST_F(LuaFilterTest, BodyPausesForTheSessionToReadIt) {
    auto s = script(R"(
function on_request(req)
  local b = req:body()
  if b == nil then req:set_header("X-Body", "none") return end
  req:set_header("X-Body", #b .. ":" .. b:sub(1, 5))
  if req:body() ~= b then error("second call differs") end
end)");
    req.method_ = "POST";
    req.length_ = 11;
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::need_body);
    ASSERT_EQ(c->resume_with_body(req, "hello world"), outcome::done) << c->error();
    EXPECT_EQ(req.headers_["x-body"], "11:hello");

    req.length_ = std::nullopt;  // chunked
    ASSERT_EQ(call(s)->on_request(req), outcome::done);
    EXPECT_EQ(req.headers_["x-body"], "none");
    req.length_ = max_body_bytes + 1;
    ASSERT_EQ(call(s)->on_request(req), outcome::done);
    EXPECT_EQ(req.headers_["x-body"], "none");
    req.length_ = 0;
    ASSERT_EQ(call(s)->on_request(req), outcome::done);
    EXPECT_EQ(req.headers_["x-body"], "0:");
}

TEST_F(LuaFilterTest, ResponseHookSharesTheRequestContext) {
    auto s = script(R"(
function on_request(req) req:ctx().path = req:path() end
function on_response(resp)
  resp:set_header("X-Path", resp:ctx().path)
  resp:set_header("X-Status", resp:status())
  resp:set_header("X-Backend-Was", resp:header("X-Backend") or "?")
  resp:remove_header("X-Backend")
end)");
    fake_response resp;
    resp.status_ = 201;
    resp.headers_["x-backend"] = "b1";
    auto c = call(s);
    EXPECT_TRUE(c->has_on_response());
    ASSERT_EQ(c->on_request(req), outcome::done);
    ASSERT_EQ(c->on_response(resp), outcome::done) << c->error();
    EXPECT_EQ(resp.headers_["x-path"], "/a/b");
    EXPECT_EQ(resp.headers_["x-status"], "201");
    EXPECT_EQ(resp.headers_["x-backend-was"], "b1");
    EXPECT_FALSE(resp.headers_.contains("x-backend"));
}

TEST_F(LuaFilterTest, GlobalsPersistPerWorkerAndSharedTableExists) {
    auto s = script(R"(
count = 0
function on_request(req)
  count = count + 1
  sluice.shared.n = (sluice.shared.n or 0) + 1
  req:set_header("X-Count", count .. "/" .. sluice.shared.n)
end)");
    for (int i = 1; i <= 3; ++i) ASSERT_EQ(call(s)->on_request(req), outcome::done);
    EXPECT_EQ(req.headers_["x-count"], "3/3");
    // A new config generation (a new script object) starts its globals afresh; shared stays.
    auto s2 = script(s->source);
    ASSERT_EQ(call(s2)->on_request(req), outcome::done);
    EXPECT_EQ(req.headers_["x-count"], "1/4");
}

TEST_F(LuaFilterTest, InfiniteLoopHitsTheInstructionLimit) {
    auto s = script("function on_request(req)\n  local n = 0\n  while true do n = n + 1 end\nend\n", "loop.lua");
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::failed);
    EXPECT_NE(c->error().find("loop.lua:3: "), std::string::npos) << c->error();
    EXPECT_NE(c->error().find("instruction limit exceeded"), std::string::npos) << c->error();
    // The state still serves, with the same compiled script.
    auto ok = script("function on_request(req) req:set_header('X-Ok', 'yes') end");
    EXPECT_EQ(call(ok)->on_request(req), outcome::done);
    EXPECT_EQ(req.headers_["x-ok"], "yes");
}

TEST_F(LuaFilterTest, LoopInTopLevelAndInAFunctionCalledRepeatedlyIsStopped) {
    // Hot loops that the JIT would compile into traces: the interpreter keeps the hook running.
    auto s = script("local function spin() for i = 1, 1e12 do end end\nfunction on_request(req) spin() end\n");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(call(s)->on_request(req), outcome::failed);
    auto top = script("while true do end\n", "top.lua");
    auto c = call(top);
    ASSERT_EQ(c->on_request(req), outcome::failed);
    EXPECT_NE(c->error().find("top.lua:1: instruction limit exceeded"), std::string::npos) << c->error();
}

TEST_F(LuaFilterTest, UnboundedAllocationHitsTheMemoryLimitAndIsReclaimed) {
    auto s = script("function on_request(req)\n  local t = {}\n  while true do t[#t + 1] = string.rep('x', 1000) .. #t end\nend\n",
                    "mem.lua");
    const auto before = rt.memory_used();
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::failed);
    EXPECT_NE(c->error().find("mem.lua:3: not enough memory"), std::string::npos) << c->error();
    EXPECT_LT(rt.memory_used(), before + (1u << 20));  // the garbage was collected
    auto ok = script("function on_request(req) req:set_header('X-Ok', string.rep('y', 3)) end");
    EXPECT_EQ(call(ok)->on_request(req), outcome::done);
    EXPECT_EQ(req.headers_["x-ok"], "yyy");
}

TEST_F(LuaFilterTest, OneHugeAllocationInALibraryCallFailsWithTheCallersLine) {
    auto s = script("function on_request(req)\n  local big = string.rep('x', 2^30)\nend\n", "rep.lua");
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::failed);
    EXPECT_EQ(c->error(), "rep.lua:2: not enough memory");
}

TEST_F(LuaFilterTest, SandboxHasNoFileOsOrBytecodeAccess) {
    auto s = script(R"(
function on_request(req)
  local missing = {}
  for _, name in ipairs({"io", "os", "package", "require", "debug", "jit", "ffi", "dofile", "loadfile", "load",
                         "loadstring", "getfenv", "setfenv", "newproxy", "collectgarbage", "module"}) do
    if _G[name] ~= nil then missing[#missing + 1] = name end
  end
  if string.dump ~= nil then missing[#missing + 1] = "string.dump" end
  req:set_header("X-Present", table.concat(missing, ","))
  req:set_header("X-Have", type(string.format) .. type(math.floor) .. type(table.insert) .. type(bit.band))
end)");
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::done) << c->error();
    EXPECT_EQ(req.headers_["x-present"], "");
    EXPECT_EQ(req.headers_["x-have"], "functionfunctionfunctionfunction");
}

TEST_F(LuaFilterTest, RefusesFramingHeadersAndBadValues) {
    for (const char* body : {"req:set_header('Content-Length', '5')", "req:remove_header('Transfer-Encoding')",
                             "req:set_header('X-A', 'a\\r\\nb: c')", "req:set_header('bad name', 'x')",
                             "req:set_path('no-slash')", "req:respond(99)"}) {
        auto s = script(std::string("function on_request(req) ") + body + " end");
        auto c = call(s);
        EXPECT_EQ(c->on_request(req), outcome::failed) << body;
    }
}

TEST_F(LuaFilterTest, ReqKeptPastItsCallIsInert) {
    auto s = script(R"(
function on_request(req) saved = req end
function on_response(resp) saved:set_header("X-Late", "1") end)");
    auto c = call(s);
    ASSERT_EQ(c->on_request(req), outcome::done);
    fake_response resp;
    ASSERT_EQ(c->on_response(resp), outcome::failed);
    EXPECT_NE(c->error().find("req used outside its on_request call"), std::string::npos) << c->error();
}

TEST_F(LuaFilterTest, LogWritesScriptLineAndArguments) {
    auto s = script("function on_request(req)\n  sluice.log('hello', 42, nil)\nend\n", "log.lua");
    ASSERT_EQ(call(s)->on_request(req), outcome::done);
    ASSERT_EQ(logged.size(), 1u);
    EXPECT_EQ(logged[0], "log.lua:2: hello 42 nil");
}

TEST_F(LuaFilterTest, TopLevelErrorFailsEveryCall) {
    auto s = script("local x = nil\nx.y = 1\nfunction on_request(req) end\n", "top.lua");
    for (int i = 0; i < 2; ++i) {
        auto c = call(s);
        ASSERT_EQ(c->on_request(req), outcome::failed);
        EXPECT_NE(c->error().find("top.lua:2: attempt to index"), std::string::npos) << c->error();
    }
}

TEST_F(LuaFilterTest, ScriptWithoutHooksDoesNothing) {
    auto s = script("x = 1\n");
    auto c = call(s);
    EXPECT_EQ(c->on_request(req), outcome::done);
    fake_response resp;
    EXPECT_FALSE(c->has_on_response());
    EXPECT_EQ(c->on_response(resp), outcome::done);
}

TEST_F(LuaFilterTest, CompiledOncePerScriptAndForgottenWhenUnused) {
    auto s = script("loads = (loads or 0) + 1\nfunction on_request(req) req:set_header('X-Loads', loads) end\n");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(call(s)->on_request(req), outcome::done);
    EXPECT_EQ(req.headers_["x-loads"], "1");
    EXPECT_EQ(rt.scripts_loaded(), 1u);
    rt.collect();
    EXPECT_EQ(rt.scripts_loaded(), 1u);  // still referenced (by `s`, as a snapshot would)
    s.reset();
    rt.collect();
    EXPECT_EQ(rt.scripts_loaded(), 0u);
}

TEST_F(LuaFilterTest, CallsOfEveryOutcomeInterleaveWithoutLeaking) {
    // Finished coroutines are reused for later calls; paused or failed ones are dropped.
    auto s = script(R"(
n = 0
function on_request(req)
  n = n + 1
  local mode = req:header("X-Mode")
  if mode == "error" then error("boom " .. n) end
  if mode == "respond" then req:respond(204) end
  if mode == "body" then req:body() end
  req:set_header("X-N", n)
end
function on_response(resp) resp:set_header("X-Seen", resp:ctx().x or "none") end
)");
    fake_response resp;
    std::size_t baseline = 0;
    for (int i = 0; i < 2000; ++i) {
        const char* modes[] = {"plain", "error", "respond", "body", "abandon"};
        const std::string mode = modes[i % 5];
        req.headers_["x-mode"] = mode == "abandon" ? "body" : mode;
        req.length_ = 3;
        auto c = call(s);
        const auto o = c->on_request(req);
        if (mode == "plain") {
            ASSERT_EQ(o, outcome::done);
            EXPECT_EQ(req.headers_["x-n"], std::to_string(i + 1));
            ASSERT_EQ(c->on_response(resp), outcome::done);
            EXPECT_EQ(resp.headers_["x-seen"], "none");
        } else if (mode == "error") {
            ASSERT_EQ(o, outcome::failed);
            EXPECT_NE(c->error().find(":6: boom " + std::to_string(i + 1)), std::string::npos) << c->error();
        } else if (mode == "respond") {
            ASSERT_EQ(o, outcome::responded);
            EXPECT_EQ(c->response().status, 204u);
        } else if (mode == "body") {
            ASSERT_EQ(o, outcome::need_body);
            ASSERT_EQ(c->resume_with_body(req, "abc"), outcome::done);
        } else {
            ASSERT_EQ(o, outcome::need_body);  // the call ends while paused (client went away)
        }
        if (i == 499) baseline = rt.memory_used();
    }
    EXPECT_LT(rt.memory_used(), baseline + (256u << 10)) << "memory grows with calls";
}

TEST(LuaSyntaxTest, ReportsLineAndMessage) {
    EXPECT_FALSE(check_syntax("ok.lua", "function on_request(req) end"));
    const std::string long_path = "/tmp/" + std::string(120, 'd') + "/broken.lua";
    auto e = check_syntax(long_path, "function on_request(req)\n  local x = \nend\n");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->line, 3);
    EXPECT_EQ(e->message, "unexpected symbol near 'end'");
}

}  // namespace
}  // namespace sluice::lua
