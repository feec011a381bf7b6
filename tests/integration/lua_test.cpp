// Lua filters through real processes: the example scripts of conf/lua/ in front of echo
// backends, the safety limits (an endless loop, unbounded allocation, a runtime error: 500 for
// that request, the worker goes on serving), req:body(), reload of a changed script on SIGHUP,
// and `sluice -t` on a script with a syntax error.

#include "fixture.hpp"

#include <boost/json.hpp>

#include <csignal>
#include <fstream>
#include <future>
#include <regex>
#include <set>

namespace sluice::test {
namespace {

namespace json = boost::json;

std::string example(const std::string& name) { return std::string(SLUICE_SOURCE_DIR) + "/conf/lua/" + name; }

std::string temp_file(const std::string& name, const std::string& text) {
    const char* tmp = std::getenv("TMPDIR");
    const std::string path =
        std::string(tmp ? tmp : "/tmp") + "/sluice-lua-" + std::to_string(::getpid()) + "-" + name;
    std::ofstream(path) << text;
    return path;
}

std::string echoed_header(const response& r, const std::string& name) {
    const auto doc = json::parse(r.body).as_object();
    const auto& h = doc.at("headers").as_object();
    if (const auto* v = h.if_contains(name)) return std::string(v->as_string());
    return "<absent>";
}

class LuaTest : public ::testing::Test {
protected:
    void SetUp() override {
        echo_a = start_backend("echo", "echo-a");
        echo_b = start_backend("echo", "echo-b");
        const auto spin = temp_file("spin.lua", R"(
function on_request(req)
  if req:header("X-Spin") then
    local n = 0
    while true do n = n + 1 end
  end
  req:set_header("X-Filtered", "spin")
end
)");
        const auto grow = temp_file("grow.lua", R"(
function on_request(req)
  if req:header("X-Grow") then
    local t = {}
    while true do t[#t + 1] = string.rep("x", 4096) .. #t end
  end
end
function on_response(resp)
  if resp:status() == 201 then local x = nil; return x.field end
end
)");
        const auto body = temp_file("body.lua", R"(
function on_request(req)
  local b = req:body()
  if b == nil then req:set_header("X-Lua-Body", "unreadable") return end
  if b:find("forbidden", 1, true) then req:respond(403, { ["Content-Type"] = "text/plain" }, "no: " .. #b) end
  req:set_header("X-Lua-Body", tostring(#b))
end
)");
        const auto tenant = temp_file("tenant.lua", "function on_request(req) req:set_hash_key(req:header('X-Tenant') or '') end\n");
        sluice = start_sluice(server_block() + "[admin]\nlisten = \"127.0.0.1:0\"\n\n" +
                              upstream_block("stable", {{&echo_a, 1}}) + upstream_block("canary", {{&echo_b, 1}}) +
                              upstream_block("ring", {{&echo_a, 1}, {&echo_b, 1}},
                                             "balance = \"consistent_hash\"\nhash_key = \"header:X-Absent\"") +
                              "[[route]]\nname = \"tenant\"\nmatch = { path_prefix = \"/tenant\" }\nrewrite_prefix = \"/\"\n"
                              "upstream = \"ring\"\nlua = \"" + tenant + "\"\n\n" +
                              "[[route]]\nname = \"canary\"\nmatch = { path_prefix = \"/canary\" }\nrewrite_prefix = \"/\"\nupstream = \"stable\"\n"
                              "lua = \"" + example("canary.lua") + "\"\n\n"
                              "[[route]]\nname = \"private\"\nmatch = { path_prefix = \"/private\" }\n"
                              "rewrite_prefix = \"/echo\"\nupstream = \"stable\"\nlua = \"" + example("api_key.lua") + "\"\n\n"
                              "[[route]]\nname = \"timed\"\nmatch = { path_prefix = \"/timed\" }\nrewrite_prefix = \"/\"\nupstream = \"stable\"\n"
                              "lua = \"" + example("timing.lua") + "\"\n\n"
                              "[[route]]\nname = \"spin\"\nmatch = { path_prefix = \"/spin\" }\nrewrite_prefix = \"/\"\nupstream = \"stable\"\n"
                              "lua = \"" + spin + "\"\n\n"
                              "[[route]]\nname = \"grow\"\nmatch = { path_prefix = \"/grow\" }\nrewrite_prefix = \"/\"\nupstream = \"stable\"\n"
                              "lua = \"" + grow + "\"\n\n"
                              "[[route]]\nname = \"body\"\nmatch = { path_prefix = \"/body\" }\nrewrite_prefix = \"/\"\nupstream = \"stable\"\n"
                              "lua = \"" + body + "\"\n\n"
                              "[[route]]\nname = \"plain\"\nmatch = { path_prefix = \"/\" }\nupstream = \"stable\"\n");
        admin = admin_port(sluice);
    }

    double lua_errors(const std::string& route) {
        const double v = sample(get(admin, "/metrics").body, "sluice_lua_errors_total{route=\"" + route + "\"}");
        return v < 0 ? 0 : v;
    }

    backend echo_a, echo_b;
    proxy sluice;
    unsigned short admin = 0;
};

TEST_F(LuaTest, CanarySendsAboutTenPercentOfUsersToTheCanaryAndKeepsEachUserThere) {
    connection c(sluice.port);
    int canary = 0;
    for (int i = 0; i < 1000; ++i) {
        const std::string user = "user-" + std::to_string(i);
        auto r = c.request("GET", "/canary/echo", {{"X-User-Id", user}});
        ASSERT_EQ(r.status, 200u) << r.body;
        const bool on_canary = r.header("x-backend") == "echo-b";
        EXPECT_EQ(echoed_header(r, "x-canary-routed"), on_canary ? "1" : "<absent>");
        canary += on_canary;
        if (i % 100 == 0) {  // the same user lands on the same side again
            auto again = c.request("GET", "/canary/echo", {{"X-User-Id", user}});
            EXPECT_EQ(again.header("x-backend"), r.header("x-backend"));
        }
    }
    EXPECT_GE(canary, 70);
    EXPECT_LE(canary, 130);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(c.request("GET", "/canary/echo", {{"X-Canary", "always"}}).header("x-backend"), "echo-b");
        EXPECT_EQ(c.request("GET", "/canary/echo", {{"X-Canary", "never"}, {"X-User-Id", "user-1"}}).header("x-backend"),
                  "echo-a");
    }
    // Without a user id the draw is random: both sides show up over many requests.
    std::set<std::string> seen;
    for (int i = 0; i < 200 && seen.size() < 2; ++i) seen.insert(c.request("GET", "/canary/echo").header("x-backend"));
    EXPECT_EQ(seen.size(), 2u);
}

TEST_F(LuaTest, ApiKeyCheckAnswers401WithoutCallingTheUpstream) {
    connection c(sluice.port);
    auto denied = c.request("GET", "/private/x");
    EXPECT_EQ(denied.status, 401u);
    EXPECT_EQ(denied.body, R"({"error":"unauthorized"})");
    EXPECT_EQ(denied.header("content-type"), "application/json");
    EXPECT_EQ(denied.header("www-authenticate"), R"(ApiKey realm="sluice")");
    EXPECT_EQ(denied.header("x-backend"), "");  // answered by the script
    EXPECT_FALSE(denied.header("x-request-id").empty());
    EXPECT_TRUE(denied.keep_alive);
    EXPECT_EQ(c.request("GET", "/private/x", {{"X-Api-Key", "wrong"}}).status, 401u);

    auto ok = c.request("GET", "/private/x", {{"X-Api-Key", "demo-key-2"}});  // same connection
    ASSERT_EQ(ok.status, 200u) << ok.body;
    EXPECT_EQ(ok.header("x-backend"), "echo-a");
    EXPECT_EQ(echoed_header(ok, "x-api-user"), "bob");
    EXPECT_EQ(echoed_header(ok, "x-api-key"), "<absent>");
    EXPECT_EQ(json::parse(ok.body).at("path").as_string(), "/echo/x");  // rewrite_prefix still applies
}

TEST_F(LuaTest, TimingScriptAddsServerTimingAndCountsPerWorker) {
    connection c(sluice.port);
    const std::regex timing(R"(upstream;dur=(\d+\.\d{3}))");
    for (int i = 1; i <= 3; ++i) {
        auto r = c.request("GET", "/timed/delay/" + std::to_string(i == 3 ? 50 : 0));
        ASSERT_EQ(r.status, 200u) << r.body;
        std::smatch m;
        const std::string st = r.header("server-timing");
        ASSERT_TRUE(std::regex_match(st, m, timing)) << st;
        if (i == 3) {
            EXPECT_GE(std::stod(m[1]), 50.0);  // the backend waited 50 ms
        }
        EXPECT_EQ(r.header("x-worker-requests"), "0/" + std::to_string(i));
    }
}

TEST_F(LuaTest, HashKeyFromTheScriptPinsEachTenantToOneServer) {
    // The upstream's own key (a header nobody sends) would give random points; the script's key
    // sends each tenant to one server, and the tenants spread over both.
    connection c(sluice.port);
    std::set<std::string> backends;
    for (int i = 0; i < 50; ++i) {
        const header_list h{{"X-Tenant", "tenant-" + std::to_string(i)}};
        const auto first = c.request("GET", "/tenant/echo", h);
        ASSERT_EQ(first.status, 200u) << first.body;
        for (int k = 0; k < 3; ++k) EXPECT_EQ(c.request("GET", "/tenant/echo", h).header("x-backend"), first.header("x-backend"));
        backends.insert(first.header("x-backend"));
    }
    EXPECT_EQ(backends.size(), 2u);
}

TEST_F(LuaTest, ConfigEndpointNamesTheScript) {
    const auto cfg = json::parse(get(admin, "/config").body).as_object();
    bool found = false;
    for (const auto& r : cfg.at("routes").as_array())
        if (r.as_object().at("name").as_string() == "timed") {
            EXPECT_EQ(r.as_object().at("lua").as_string(), example("timing.lua"));
            found = true;
        }
    EXPECT_TRUE(found);
}

TEST_F(LuaTest, EndlessLoopAnswers500ForThatRequestOnlyAndTheWorkerServesOthers) {
    connection c(sluice.port);
    auto ok = c.request("GET", "/spin/echo");
    ASSERT_EQ(ok.status, 200u);
    EXPECT_EQ(echoed_header(ok, "x-filtered"), "spin");

    auto bad = c.request("GET", "/spin/echo", {{"X-Spin", "1"}});
    EXPECT_EQ(bad.status, 500u);
    EXPECT_EQ(bad.header("content-type"), "application/json");
    const auto doc = json::parse(bad.body).as_object();
    EXPECT_EQ(doc.at("error").as_string(), "lua_error");
    EXPECT_EQ(doc.at("request_id").as_string(), bad.header("x-request-id"));
    EXPECT_TRUE(bad.keep_alive);
    // The log names the script and line.
    EXPECT_TRUE(sluice.proc->wait_for(R"(lua error on route "spin" \(request \w+\): \S+spin\.lua:5: instruction limit exceeded)"))
        << sluice.proc->output();

    // workers = 1: the same worker goes on serving, on this connection and on new ones.
    EXPECT_EQ(c.request("GET", "/spin/echo").status, 200u);
    EXPECT_EQ(get(sluice.port, "/echo").status, 200u);
    EXPECT_EQ(c.request("GET", "/spin/echo", {{"X-Spin", "1"}}).status, 500u);
    EXPECT_EQ(lua_errors("spin"), 2);
}

TEST_F(LuaTest, UnboundedAllocationAnswers500AndMemoryIsGivenBack) {
    connection c(sluice.port);
    for (int i = 0; i < 3; ++i) {
        auto bad = c.request("GET", "/grow/echo", {{"X-Grow", "1"}});
        EXPECT_EQ(bad.status, 500u);
        EXPECT_EQ(json::parse(bad.body).at("error").as_string(), "lua_error");
        EXPECT_EQ(c.request("GET", "/grow/echo").status, 200u);
    }
    EXPECT_TRUE(sluice.proc->wait_for(R"(\S+grow\.lua:5: not enough memory)")) << sluice.proc->output();
    EXPECT_EQ(lua_errors("grow"), 3);
    // Three runs to the 64 MiB cap did not grow the process by three times that.
    EXPECT_LT(peak_rss_kib(sluice.proc->pid()), 200 * 1024);
}

TEST_F(LuaTest, RuntimeErrorInOnResponseAnswers500) {
    connection c(sluice.port);
    auto r = c.request("GET", "/grow/status/201");
    EXPECT_EQ(r.status, 500u);
    EXPECT_EQ(json::parse(r.body).at("error").as_string(), "lua_error");
    EXPECT_TRUE(sluice.proc->wait_for(R"(\S+grow\.lua:9: attempt to index local 'x' \(a nil value\))"))
        << sluice.proc->output();
    EXPECT_EQ(c.request("GET", "/grow/status/200").status, 200u);
    EXPECT_EQ(lua_errors("grow"), 1);
}

TEST_F(LuaTest, SmallBodiesCanBeReadAndAreStillForwarded) {
    connection c(sluice.port);
    const std::string payload(1000, 'p');
    auto r = c.request("POST", "/body/echo", {{"Content-Type", "text/plain"}}, payload);
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(echoed_header(r, "x-lua-body"), "1000");
    EXPECT_EQ(json::parse(r.body).at("body_length").to_number<std::int64_t>(), 1000);

    auto refused = c.request("POST", "/body/echo", {}, "this is forbidden");
    EXPECT_EQ(refused.status, 403u);
    EXPECT_EQ(refused.body, "no: 17");

    // Over 64 KiB: not readable, streamed through untouched.
    const std::string big(100 * 1024, 'b');
    auto streamed = c.request("POST", "/body/echo", {}, big);
    ASSERT_EQ(streamed.status, 200u);
    EXPECT_EQ(echoed_header(streamed, "x-lua-body"), "unreadable");
    EXPECT_EQ(json::parse(streamed.body).at("body_length").to_number<std::int64_t>(), 100 * 1024);

    // Expect: 100-continue is answered before the body is read (raw socket: the client waits for it).
    connection raw(sluice.port);
    raw.send_raw("POST /body/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    auto interim = raw.read_response();
    EXPECT_EQ(interim.status, 100u);
    raw.send_raw("hello");
    auto final_response = raw.read_response();
    ASSERT_EQ(final_response.status, 200u) << final_response.body;
    EXPECT_EQ(echoed_header(final_response, "x-lua-body"), "5");
}

TEST(LuaReloadTest, ChangedScriptTakesEffectOnTheNextRequestInFlightOnesKeepTheOld) {
    auto echo = start_backend("echo", "echo-1");
    const std::string script = temp_file("reload.lua", R"(
function on_request(req) sluice.log("v1 request " .. req:path()) end
function on_response(resp) resp:set_header("X-Script", "v1") end
)");
    auto p = start_sluice(server_block() + upstream_block("echo", {{&echo, 1}}) +
                          "[[route]]\nupstream = \"echo\"\nlua = \"" + script + "\"\n");
    EXPECT_EQ(get(p.port, "/echo").header("x-script"), "v1");

    // A slow request in flight across the reload finishes with the script it started with.
    auto slow = std::async(std::launch::async, [&] { return get(p.port, "/delay/1500"); });
    ASSERT_TRUE(p.proc->wait_for("v1 request /delay/1500"));
    std::ofstream(script) << "function on_response(resp) resp:set_header('X-Script', 'v2') end\n";
    p.proc->signal(SIGHUP);
    ASSERT_TRUE(p.proc->wait_for("generation 2"));
    EXPECT_EQ(get(p.port, "/echo").header("x-script"), "v2");
    const auto old = slow.get();
    EXPECT_EQ(old.status, 200u);
    EXPECT_EQ(old.header("x-script"), "v1");

    // A script with a syntax error fails the reload; the running one stays.
    std::ofstream(script) << "function on_response(resp)\n  resp:set_header('X-Script', 'v3'\nend\n";
    p.proc->signal(SIGHUP);
    ASSERT_TRUE(p.proc->wait_for("reload failed"));
    ASSERT_TRUE(p.proc->wait_for(std::regex_replace(script, std::regex(R"([.\\/+*?^$()\[\]{}|-])"), R"(\$&)") +
                                 R"(:3: '\)' expected \(to close '\(' at line 2\) near 'end')"))
        << p.proc->output();
    EXPECT_EQ(get(p.port, "/echo").header("x-script"), "v2");
}

TEST(LuaCliTest, SyntaxErrorIsReportedAsFileLineMessage) {
    const auto script = temp_file("broken.lua", "function on_request(req)\n  local x = = 1\nend\n");
    const auto cfg = temp_file("broken.toml", "[[listener]]\nname = \"http\"\nlisten = \"127.0.0.1:0\"\n\n"
                                              "[[route]]\nname = \"r\"\ndirect_response = { status = 204 }\nlua = \"" +
                                                  script + "\"\n");
    child_process t(bin_dir() + "/sluice", {"-t", "-c", cfg});
    EXPECT_EQ(t.wait_exit(std::chrono::seconds(10)), 1);
    EXPECT_NE(t.output().find(script + ":2: unexpected symbol near '='"), std::string::npos) << t.output();

    std::ofstream(script) << "function on_request(req) req:respond(204) end\n";
    child_process ok(bin_dir() + "/sluice", {"-t", "-c", cfg});
    EXPECT_EQ(ok.wait_exit(std::chrono::seconds(10)), 0) << ok.output();
}

}  // namespace
}  // namespace sluice::test
