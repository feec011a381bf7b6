// The TOML loader: a full config with every field, then one test per kind of mistake, each
// asserting the exact message and the line:column it points at.

#include "config/loader.hpp"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace sluice::config {
namespace {

using std::chrono::milliseconds;

// Raw strings below start with a newline for readability; drop it so that line 1 is the first
// line of the TOML text.
load_result load(std::string_view text) {
    if (text.starts_with('\n')) {
        text.remove_prefix(1);
    }
    return load_string(text);
}

// All errors, one per line, as the CLI prints them.
std::string errors_of(const load_result& r) {
    std::string out;
    for (const load_error& e : r.errors) {
        out += e.to_string() + "\n";
    }
    return out;
}

// The one error of a config that must fail with exactly one error.
std::string error_of(std::string_view text) {
    const load_result r = load(text);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.cfg, nullptr);
    EXPECT_EQ(r.errors.size(), 1u) << errors_of(r);
    return r.errors.empty() ? std::string() : r.errors.front().to_string();
}

constexpr std::string_view listener_http = R"(
[[listener]]
name = "http"
listen = "127.0.0.1:0"
)";

// A config with one listener followed by `rest`: its first line is line 4.
std::string with_listener(std::string_view rest) {
    std::string text(listener_http.substr(1));
    if (rest.starts_with('\n')) {
        rest.remove_prefix(1);
    }
    text += rest;
    return text;
}

constexpr std::string_view full_config = R"(
[server]
workers = 3
drain_timeout = "5s"
access_log = "off"
header_timeout = "1500ms"
idle_timeout = "2m"
max_header_bytes = "32KiB"
max_headers = 50
max_body_bytes = 1048576

[admin]
listen = "127.0.0.1:9901"

[[listener]]
name = "http"
listen = "0.0.0.0:8080"

[[listener]]
name = "v6"
listen = "[::1]:0"

[[upstream]]
name = "items"
balance = "round_robin"
servers = [ { address = "127.0.0.1:9001", weight = 2 }, { address = "127.0.0.1:9002" }, "backend.local:9003" ]
timeouts = { connect = "1s", response = "10s", idle = "30s" }
keepalive = 8

[[upstream]]
name = "echo"
servers = [ "[::1]:9101" ]

[[route]]
name = "items-api"
match = { host = "API.Example.com", path_prefix = "/api/items", method = ["get", "Post"], header = { name = "X-Env", value = "prod" } }
upstream = "items"
rewrite_prefix = "/items"
set_headers = { X-B = "2", X-A = "1" }
remove_headers = ["Cookie"]
set_response_headers = { X-Served-By = "sluice" }
remove_response_headers = ["Server"]
cache = false
websocket = false

[[route]]
match = { host = "*.example.com", path_exact = "/old", header = [ { name = "X-Flag" }, { name = "X-Other", value = "" } ] }
redirect = { location = "https://$host/new", status = 301 }

[[route]]
match = { path_regex = "/v[0-9]+/.*", method = "delete" }
direct_response = { status = 403, body = "{\"error\":\"no\"}", content_type = "application/json" }

[[route]]
upstream = "echo"
)";

TEST(ConfigLoader, FullConfigLoadsEveryField) {
    const load_result r = load(full_config);
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const config& c = *r.cfg;
    EXPECT_EQ(c.source, "<string>");
    EXPECT_EQ(c.generation, 0u);

    EXPECT_EQ(c.server.workers, 3u);
    EXPECT_EQ(c.server.drain_timeout, milliseconds(5'000));
    EXPECT_EQ(c.server.access_log, "off");
    EXPECT_EQ(c.server.header_timeout, milliseconds(1'500));
    EXPECT_EQ(c.server.idle_timeout, milliseconds(120'000));
    EXPECT_EQ(c.server.max_header_bytes, 32u * 1024);
    EXPECT_EQ(c.server.max_headers, 50u);
    EXPECT_EQ(c.server.max_body_bytes, 1'048'576u);

    ASSERT_TRUE(c.admin.listen);
    EXPECT_EQ(*c.admin.listen, (endpoint{"127.0.0.1", 9901}));

    ASSERT_EQ(c.listeners.size(), 2u);
    EXPECT_EQ(c.listeners[0].name, "http");
    EXPECT_EQ(c.listeners[0].listen, (endpoint{"0.0.0.0", 8080}));
    EXPECT_EQ(c.listeners[1].name, "v6");
    EXPECT_EQ(c.listeners[1].listen, (endpoint{"::1", 0}));

    ASSERT_EQ(c.upstreams.size(), 2u);
    const upstream& items = c.upstreams[0];
    EXPECT_EQ(items.name, "items");
    EXPECT_EQ(items.balance, balance_kind::round_robin);
    ASSERT_EQ(items.servers.size(), 3u);
    EXPECT_EQ(items.servers[0].address, (endpoint{"127.0.0.1", 9001}));
    EXPECT_EQ(items.servers[0].weight, 2u);
    EXPECT_EQ(items.servers[1].address, (endpoint{"127.0.0.1", 9002}));
    EXPECT_EQ(items.servers[1].weight, 1u);
    EXPECT_EQ(items.servers[2].address, (endpoint{"backend.local", 9003}));
    EXPECT_EQ(items.servers[2].weight, 1u);
    EXPECT_EQ(items.timeouts.connect, milliseconds(1'000));
    EXPECT_EQ(items.timeouts.response, milliseconds(10'000));
    EXPECT_EQ(items.timeouts.idle, milliseconds(30'000));
    EXPECT_EQ(items.keepalive, 8u);
    const upstream& echo = c.upstreams[1];
    EXPECT_EQ(echo.name, "echo");
    ASSERT_EQ(echo.servers.size(), 1u);
    EXPECT_EQ(echo.servers[0].address, (endpoint{"::1", 9101}));
    EXPECT_EQ(echo.timeouts.connect, milliseconds(2'000));
    EXPECT_EQ(echo.timeouts.response, milliseconds(30'000));
    EXPECT_EQ(echo.timeouts.idle, milliseconds(60'000));
    EXPECT_EQ(echo.keepalive, 32u);

    ASSERT_EQ(c.routes.size(), 4u);
    const route& api = c.routes[0];
    EXPECT_EQ(api.name, "items-api");
    EXPECT_EQ(api.match.host, "api.example.com");
    EXPECT_EQ(api.match.path_prefix, "/api/items");
    EXPECT_EQ(api.match.path_exact, std::nullopt);
    EXPECT_EQ(api.match.path_regex, std::nullopt);
    EXPECT_EQ(api.match.regex, nullptr);
    EXPECT_EQ(api.match.methods, (std::vector<std::string>{"GET", "POST"}));
    ASSERT_EQ(api.match.headers.size(), 1u);
    EXPECT_EQ(api.match.headers[0].name, "X-Env");
    EXPECT_EQ(api.match.headers[0].value, "prod");
    EXPECT_EQ(api.upstream, "items");
    EXPECT_EQ(api.upstream_index, 0u);
    EXPECT_FALSE(api.redirect);
    EXPECT_FALSE(api.direct_response);
    EXPECT_EQ(api.rewrite_prefix, "/items");
    EXPECT_EQ(api.set_headers, (header_list{{"X-B", "2"}, {"X-A", "1"}}));  // order as written
    EXPECT_EQ(api.remove_headers, (std::vector<std::string>{"Cookie"}));
    EXPECT_EQ(api.set_response_headers, (header_list{{"X-Served-By", "sluice"}}));
    EXPECT_EQ(api.remove_response_headers, (std::vector<std::string>{"Server"}));

    const route& old = c.routes[1];
    EXPECT_EQ(old.name, "route[1]");
    EXPECT_EQ(old.match.host, "*.example.com");
    EXPECT_EQ(old.match.path_exact, "/old");
    EXPECT_TRUE(old.match.methods.empty());
    ASSERT_EQ(old.match.headers.size(), 2u);
    EXPECT_EQ(old.match.headers[0].name, "X-Flag");
    EXPECT_EQ(old.match.headers[0].value, std::nullopt);
    EXPECT_EQ(old.match.headers[1].name, "X-Other");
    EXPECT_EQ(old.match.headers[1].value, "");
    EXPECT_TRUE(old.upstream.empty());
    ASSERT_TRUE(old.redirect);
    EXPECT_EQ(old.redirect->location, "https://$host/new");
    EXPECT_EQ(old.redirect->status, 301u);
    EXPECT_FALSE(old.direct_response);

    const route& deny = c.routes[2];
    EXPECT_EQ(deny.name, "route[2]");
    EXPECT_EQ(deny.match.host, "*");
    EXPECT_EQ(deny.match.path_regex, "/v[0-9]+/.*");
    ASSERT_NE(deny.match.regex, nullptr);
    EXPECT_TRUE(re2::RE2::FullMatch("/v12/users", *deny.match.regex));
    EXPECT_FALSE(re2::RE2::FullMatch("/vx/users", *deny.match.regex));
    EXPECT_EQ(deny.match.methods, (std::vector<std::string>{"DELETE"}));
    ASSERT_TRUE(deny.direct_response);
    EXPECT_EQ(deny.direct_response->status, 403u);
    EXPECT_EQ(deny.direct_response->body, R"({"error":"no"})");
    EXPECT_EQ(deny.direct_response->content_type, "application/json");

    const route& fallback = c.routes[3];
    EXPECT_EQ(fallback.name, "route[3]");
    EXPECT_EQ(fallback.match.host, "*");  // no match table: matches everything
    EXPECT_FALSE(fallback.match.path_prefix || fallback.match.path_exact || fallback.match.path_regex);
    EXPECT_TRUE(fallback.match.methods.empty());
    EXPECT_TRUE(fallback.match.headers.empty());
    EXPECT_EQ(fallback.upstream, "echo");
    EXPECT_EQ(fallback.upstream_index, 1u);
}

TEST(ConfigLoader, MinimalConfigGetsDefaults) {
    const load_result r = load(listener_http);
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const config& c = *r.cfg;
    const unsigned hw = std::max(1u, std::min(256u, std::thread::hardware_concurrency()));
    EXPECT_EQ(c.server.workers, hw);  // 0 is resolved at load
    EXPECT_EQ(c.server.drain_timeout, milliseconds(30'000));
    EXPECT_EQ(c.server.access_log, "stderr");
    EXPECT_EQ(c.server.header_timeout, milliseconds(10'000));
    EXPECT_EQ(c.server.idle_timeout, milliseconds(60'000));
    EXPECT_EQ(c.server.max_header_bytes, 64u * 1024);
    EXPECT_EQ(c.server.max_headers, 100u);
    EXPECT_EQ(c.server.max_body_bytes, 1ull << 30);
    EXPECT_FALSE(c.admin.listen);
    EXPECT_TRUE(c.upstreams.empty());
    EXPECT_TRUE(c.routes.empty());  // zero routes is allowed: every request gets 404
}

TEST(ConfigLoader, WorkersZeroMeansOnePerCore) {
    const load_result r = load(with_listener("[server]\nworkers = 0\n"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    EXPECT_GE(r.cfg->server.workers, 1u);
    EXPECT_LE(r.cfg->server.workers, 256u);
}

TEST(ConfigLoader, SourceNameIsUsed) {
    const load_result r = load_string("[server\n", "conf/x.toml");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].file, "conf/x.toml");
    EXPECT_TRUE(r.errors[0].to_string().starts_with("conf/x.toml:1:")) << r.errors[0].to_string();
}

TEST(ConfigLoaderErrors, SyntaxErrorHasTomlPosition) {
    EXPECT_EQ(error_of(R"(
[server]
workers = = 2
)"),
              "<string>:2:11: syntax error: Error while parsing value: could not determine value type");
    const load_result r = load("[[listener]]\nname = \"a\"\nname = \"b\"\n");
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].line, 3);
    EXPECT_NE(r.errors[0].message.find("syntax error"), std::string::npos);
}

TEST(ConfigLoaderErrors, UnknownKeys) {
    EXPECT_EQ(error_of(with_listener(R"(
[server]
timeot = "3s"
)")),
              "<string>:5:1: unknown key \"timeot\" in [server]");
    EXPECT_EQ(error_of("colour = \"blue\"\n" + std::string(listener_http)), "<string>:1:1: unknown top-level key \"colour\"");
    EXPECT_EQ(error_of(with_listener("[logging]\nlevel = 1\n")), "<string>:4:2: unknown top-level key \"logging\"");
    EXPECT_EQ(error_of(R"(
[[listener]]
name = "http"
listen = "127.0.0.1:0"
port = 80
)"),
              "<string>:4:1: unknown key \"port\" in listener \"http\"");
    EXPECT_EQ(error_of(with_listener(R"(
[admin]
listen = "127.0.0.1:0"
path = "/x"
)")),
              "<string>:6:1: unknown key \"path\" in [admin]");
}

TEST(ConfigLoaderErrors, UnknownNestedKeys) {
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
servers = [ { address = "127.0.0.1:9001", wieght = 2 } ]
timeouts = { conect = "1s" }

[[route]]
match = { path = "/x", header = { name = "A", val = "b" } }
redirect = { location = "/y", code = 301 }
direct = true
)"));
    EXPECT_EQ(errors_of(r),
              "<string>:6:43: unknown key \"wieght\" in upstream \"items\" servers[0]\n"
              "<string>:7:14: unknown key \"conect\" in upstream \"items\" timeouts\n"
              "<string>:10:11: unknown key \"path\" in route[0] match\n"
              "<string>:10:47: unknown key \"val\" in route[0] match.header\n"
              "<string>:11:31: unknown key \"code\" in route[0] redirect\n"
              "<string>:12:1: unknown key \"direct\" in route[0]\n");
}

TEST(ConfigLoaderErrors, BadDurations) {
    EXPECT_EQ(error_of(with_listener(R"(
[server]
drain_timeout = "10 parsecs"
)")),
              "<string>:5:17: [server]: drain_timeout: bad duration \"10 parsecs\" (use e.g. \"250ms\", \"30s\", \"5m\")");
    EXPECT_EQ(error_of(with_listener("[server]\nheader_timeout = 30\n")),
              "<string>:5:18: [server]: header_timeout: duration 30 has no unit (write a string with a unit, "
              "e.g. \"250ms\", \"30s\", \"5m\")");
    EXPECT_EQ(error_of(with_listener("[server]\nidle_timeout = 1.5\n")),
              "<string>:5:16: [server]: idle_timeout: duration 1.5 has no unit (write a string with a unit, "
              "e.g. \"250ms\", \"30s\", \"5m\")");
    EXPECT_EQ(error_of(with_listener("[server]\nidle_timeout = \"-5s\"\n")),
              "<string>:5:16: [server]: idle_timeout: duration \"-5s\" must not be negative");
    EXPECT_EQ(error_of(with_listener("[server]\nidle_timeout = \"0s\"\n")),
              "<string>:5:16: [server]: idle_timeout: duration must be greater than 0");
    EXPECT_EQ(error_of(with_listener("[server]\nidle_timeout = \"200h\"\n")),
              "<string>:5:16: [server]: idle_timeout: duration \"200h\" is too long (at most \"168h\")");
    EXPECT_EQ(error_of(with_listener("[server]\nidle_timeout = true\n")),
              "<string>:5:16: [server]: idle_timeout: expected a duration string such as \"30s\", got a boolean");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
timeouts = { connect = "2 s" }
)")),
              "<string>:7:24: upstream \"items\": timeouts.connect: bad duration \"2 s\" (use e.g. \"250ms\", "
              "\"30s\", \"5m\")");
    // drain_timeout = "0s" is fine: exit without waiting.
    EXPECT_TRUE(load(with_listener("[server]\ndrain_timeout = \"0s\"\n")).ok());
}

TEST(ConfigLoaderErrors, BadSizes) {
    EXPECT_EQ(error_of(with_listener("[server]\nmax_header_bytes = \"12XB\"\n")),
              "<string>:5:20: [server]: max_header_bytes: bad size \"12XB\" (use e.g. \"64KiB\", \"8MiB\")");
    EXPECT_EQ(error_of(with_listener("[server]\nmax_header_bytes = 0\n")),
              "<string>:5:20: [server]: max_header_bytes: size must be greater than 0");
    EXPECT_EQ(error_of(with_listener("[server]\nmax_body_bytes = -1\n")),
              "<string>:5:18: [server]: max_body_bytes: size -1 must not be negative");
    EXPECT_EQ(error_of(with_listener("[server]\nmax_body_bytes = 1.5\n")),
              "<string>:5:18: [server]: max_body_bytes: expected a size such as \"64KiB\" or a number of bytes, "
              "got a float");
    const load_result ok = load(with_listener("[server]\nmax_body_bytes = 0\nmax_header_bytes = \"1KB\"\n"));
    ASSERT_TRUE(ok.ok()) << errors_of(ok);
    EXPECT_EQ(ok.cfg->server.max_body_bytes, 0u);
    EXPECT_EQ(ok.cfg->server.max_header_bytes, 1000u);
}

TEST(ConfigLoaderErrors, IntegerRanges) {
    EXPECT_EQ(error_of(with_listener("[server]\nworkers = 300\n")),
              "<string>:5:11: [server]: workers: 300 is out of range (0..256)");
    EXPECT_EQ(error_of(with_listener("[server]\nworkers = \"4\"\n")),
              "<string>:5:11: [server]: workers: expected an integer, got a string");
    EXPECT_EQ(error_of(with_listener("[server]\nmax_headers = 0\n")),
              "<string>:5:15: [server]: max_headers: 0 is out of range (1..10000)");
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
servers = [ { address = "127.0.0.1:9001", weight = 0 } ]
keepalive = 10001
)"));
    EXPECT_EQ(errors_of(r),
              "<string>:6:52: upstream \"items\": servers[0].weight: 0 is out of range (1..1000)\n"
              "<string>:7:13: upstream \"items\": keepalive: 10001 is out of range (0..10000)\n");
}

TEST(ConfigLoader, ListenerConnectionLimits) {
    const load_result r = load(R"(
[[listener]]
name = "http"
listen = "127.0.0.1:0"
max_connections = 5000
max_connections_per_ip = 64

[[listener]]
name = "other"
listen = "127.0.0.1:0"
)");
    ASSERT_TRUE(r.ok()) << errors_of(r);
    EXPECT_EQ(r.cfg->listeners[0].max_connections, 5000u);
    EXPECT_EQ(r.cfg->listeners[0].max_connections_per_ip, 64u);
    EXPECT_EQ(r.cfg->listeners[1].max_connections, 0u);  // default: no limit
    EXPECT_EQ(r.cfg->listeners[1].max_connections_per_ip, 0u);
}

TEST(ConfigLoader, UpstreamTls) {
    const std::string ca = std::string(SLUICE_SOURCE_DIR) + "/conf/tls/cert.pem";
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "plain"
servers = [ { address = "127.0.0.1:9001" } ]
tls = false

[[upstream]]
name = "system"
servers = [ { address = "api.example.com:443" } ]
tls = true

[[upstream]]
name = "pinned"
servers = [ { address = "10.0.0.1:8443" } ]
tls = { ca_file = ")" + ca + R"(", server_name = "API.internal" }

[[upstream]]
name = "unverified"
servers = [ { address = "10.0.0.2:8443" } ]
tls = { verify = false }
)"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const auto& u = r.cfg->upstreams;
    EXPECT_FALSE(u[0].tls);
    ASSERT_TRUE(u[1].tls);
    EXPECT_TRUE(u[1].tls->verify);
    EXPECT_TRUE(u[1].tls->ca_file.empty());
    EXPECT_NE(u[1].tls->client, nullptr);
    ASSERT_TRUE(u[2].tls);
    EXPECT_EQ(u[2].tls->ca_file, ca);
    EXPECT_EQ(u[2].tls->server_name, "api.internal");
    EXPECT_NE(u[2].tls->client, nullptr);
    ASSERT_TRUE(u[3].tls);
    EXPECT_FALSE(u[3].tls->verify);
}

TEST(ConfigLoaderErrors, UpstreamTls) {
    const std::string head = "[[upstream]]\nname = \"u\"\nservers = [ { address = \"127.0.0.1:1\" } ]\n";
    EXPECT_EQ(error_of(with_listener(head + "tls = \"yes\"\n")),
              "<string>:7:7: upstream \"u\": tls: expected true, false or a table { ca_file, server_name, verify }, "
              "got a string");
    EXPECT_EQ(error_of(with_listener(head + "tls = { ca_file = \"/nonexistent/ca.pem\" }\n")),
              "<string>:7:19: upstream \"u\": tls.ca_file: cannot read \"/nonexistent/ca.pem\": No such file or directory");
    EXPECT_EQ(error_of(with_listener(head + "tls = { server_name = \"a b\" }\n")),
              "<string>:7:23: upstream \"u\": tls.server_name: \"a b\" is not a host name");
    EXPECT_EQ(error_of(with_listener(head + "tls = { sni = \"x\" }\n")),
              "<string>:7:9: unknown key \"sni\" in upstream \"u\" tls");
    // A file that exists but holds no certificate: OpenSSL's reason, at the tls table.
    const std::string e = error_of(with_listener(head + "tls = { ca_file = \"" SLUICE_SOURCE_DIR "/README.md\" }\n"));
    const std::string want = "<string>:7:7: upstream \"u\": tls: TLS CA file " SLUICE_SOURCE_DIR "/README.md: ";
    EXPECT_EQ(e.substr(0, want.size()), want) << e;
    EXPECT_GT(e.size(), want.size()) << e;  // followed by OpenSSL's reason
}

TEST(ConfigLoaderErrors, ListenerConnectionLimits) {
    EXPECT_EQ(error_of("[[listener]]\nname = \"http\"\nlisten = \"127.0.0.1:0\"\nmax_connections = -1\n"),
              "<string>:4:19: listener \"http\": max_connections: -1 is out of range (0..10000000)");
    EXPECT_EQ(error_of("[[listener]]\nname = \"http\"\nlisten = \"127.0.0.1:0\"\nmax_connections_per_ip = \"9\"\n"),
              "<string>:4:26: listener \"http\": max_connections_per_ip: expected an integer, got a string");
}

TEST(ConfigLoaderErrors, BadAddresses) {
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = [ { address = "127.0.0.1" } ]
)")),
              "<string>:6:25: upstream \"items\": server address \"127.0.0.1\" has no port");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = [ "127.0.0.1:0" ]
)")),
              "<string>:6:13: upstream \"items\": server address \"127.0.0.1:0\" has port 0 (must be 1..65535)");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = [ "127.0.0.1:70000" ]
)")),
              "<string>:6:13: upstream \"items\": server address \"127.0.0.1:70000\" has a bad port \"70000\" "
              "(must be a number 1..65535)");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = [ "::1:9001" ]
)")),
              "<string>:6:13: upstream \"items\": server address \"::1:9001\" looks like an IPv6 address without "
              "brackets (use e.g. \"[::1]:8080\")");
    EXPECT_EQ(error_of(R"(
[[listener]]
name = "http"
listen = "0.0.0.0"
)"),
              "<string>:3:10: listener \"http\": listen address \"0.0.0.0\" has no port");
    EXPECT_EQ(error_of(R"(
[[listener]]
name = "http"
listen = "bad host:80"
)"),
              "<string>:3:10: listener \"http\": listen address \"bad host:80\" has an invalid host \"bad host\"");
    EXPECT_EQ(error_of(R"(
[[listener]]
name = "http"
listen = 8080
)"),
              "<string>:3:10: listener \"http\": listen: expected an address string such as \"127.0.0.1:8080\", got "
              "an integer");
    EXPECT_EQ(error_of(with_listener("[admin]\nlisten = \"[::1]\"\n")),
              "<string>:5:10: [admin]: listen address \"[::1]\" has no port");
}

TEST(ConfigLoaderErrors, DuplicateNames) {
    EXPECT_EQ(error_of(R"(
[[listener]]
name = "http"
listen = "127.0.0.1:0"

[[listener]]
name = "http"
listen = "127.0.0.1:0"
)"),
              "<string>:6:8: duplicate listener name \"http\"");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]

[[upstream]]
name = "items"
servers = ["127.0.0.1:9002"]
)")),
              "<string>:9:8: duplicate upstream name \"items\"");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
name = "r"
direct_response = {}

[[route]]
name = "r"
direct_response = {}
)")),
              "<string>:9:8: duplicate route name \"r\"");
}

TEST(ConfigLoaderErrors, DuplicateAddresses) {
    EXPECT_EQ(error_of(R"(
[admin]
listen = "127.0.0.1:8080"

[[listener]]
name = "http"
listen = "127.0.0.1:8080"
)"),
              "<string>:6:10: listener \"http\": listen address \"127.0.0.1:8080\" is already used by [admin]");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001", { address = "127.0.0.1:9001", weight = 3 }]
)")),
              "<string>:6:42: upstream \"items\": server address \"127.0.0.1:9001\" is listed twice (use weight "
              "instead)");
    // Port 0 is chosen by the kernel: several listeners may ask for it.
    EXPECT_TRUE(load(with_listener("[[listener]]\nname = \"b\"\nlisten = \"127.0.0.1:0\"\n")).ok());
}

TEST(ConfigLoaderErrors, MissingRequiredKeys) {
    EXPECT_EQ(error_of(""), "<string>: at least one [[listener]] is required");
    EXPECT_EQ(error_of("listener = []\n"), "<string>: at least one [[listener]] is required");
    EXPECT_EQ(errors_of(load("[[listener]]\n")),
              "<string>:1:1: listener[0]: missing required key \"name\"\n"
              "<string>:1:1: listener[0]: missing required key \"listen\"\n");
    EXPECT_EQ(errors_of(load(with_listener("[[upstream]]\nkeepalive = 1\n"))),
              "<string>:4:1: upstream[0]: missing required key \"name\"\n"
              "<string>:4:1: upstream[0]: missing required key \"servers\"\n");
    EXPECT_EQ(error_of(with_listener("[[upstream]]\nname = \"items\"\nservers = []\n")),
              "<string>:6:11: upstream \"items\": servers: at least one server is required");
    EXPECT_EQ(error_of(with_listener("[[upstream]]\nname = \"items\"\nservers = [ { weight = 2 } ]\n")),
              "<string>:6:13: upstream \"items\": servers[0]: missing required key \"address\"");
    EXPECT_EQ(error_of(with_listener("[[route]]\nredirect = { status = 301 }\n")),
              "<string>:5:12: route[0]: redirect: missing required key \"location\"");
}

TEST(ConfigLoaderErrors, WrongTableShapes) {
    EXPECT_EQ(error_of("server = 4\n" + std::string(listener_http)),
              "<string>:1:10: \"server\" must be a table ([server]), got an integer");
    EXPECT_EQ(error_of("[listener]\nname = \"http\"\nlisten = \"127.0.0.1:0\"\n"),
              "<string>:1:1: [listener] must be written [[listener]] (an array of tables)");
    EXPECT_EQ(error_of("route = [1]\n" + std::string(listener_http)), "<string>:1:10: route[0]: expected a table, got an integer");
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
servers = "127.0.0.1:9001"

[[route]]
upstream = "items"
match = "/items"
)"));
    EXPECT_EQ(errors_of(r),
              "<string>:6:11: upstream \"items\": servers: expected an array such as [ { address = "
              "\"127.0.0.1:9001\" } ], got a string\n"
              "<string>:10:9: route[0]: match: expected a table, got a string\n");
}

TEST(ConfigLoaderErrors, UnknownUpstreamInRoute) {
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]

[[route]]
match = { path_prefix = "/a" }
direct_response = { status = 204 }

[[route]]
match = { path_prefix = "/b" }
direct_response = { status = 204 }

[[route]]
match = { path_prefix = "/items" }
upstream = "itemz"
)")),
              "<string>:18:12: route[2]: upstream \"itemz\" is not defined");
    // Routes may come before the upstreams they name.
    EXPECT_TRUE(load(with_listener(R"(
[[route]]
upstream = "items"

[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
)"))
                    .ok());
}

TEST(ConfigLoaderErrors, ActionCount) {
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
name = "both"
direct_response = { status = 200 }
redirect = { location = "/elsewhere" }
)")),
              "<string>:7:1: route[0] \"both\": more than one action (direct_response, redirect); a route takes "
              "exactly one of upstream, redirect, direct_response");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
match = { path_prefix = "/" }
)")),
              "<string>:4:1: route[0]: no action (set one of upstream, redirect, direct_response)");
}

TEST(ConfigLoaderErrors, BadRegex) {
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
match = { path_regex = "/items/(\\d+" }
direct_response = {}
)")),
              "<string>:5:24: route[0]: match.path_regex: bad regex \"/items/(\\\\d+\": missing ): /items/(\\d+");
}

TEST(ConfigLoaderErrors, BadRedirectAndDirectResponse) {
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
redirect = { location = "/new", status = 200 }
)")),
              "<string>:5:42: route[0]: redirect.status: 200 is not a redirect status (use 301, 302, 303, 307 or "
              "308)");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
direct_response = { status = 600 }
)")),
              "<string>:5:30: route[0]: direct_response.status: 600 is out of range (200..599)");
    const load_result r = load(with_listener("[[route]]\nredirect = { location = \"/new\" }\n"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    EXPECT_EQ(r.cfg->routes[0].redirect->status, 302u);
    const load_result d = load(with_listener("[[route]]\ndirect_response = {}\n"));
    ASSERT_TRUE(d.ok()) << errors_of(d);
    EXPECT_EQ(d.cfg->routes[0].direct_response->status, 200u);
    EXPECT_EQ(d.cfg->routes[0].direct_response->body, "");
    EXPECT_EQ(d.cfg->routes[0].direct_response->content_type, "text/plain");
}

TEST(ConfigLoaderErrors, MatchRules) {
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
match = { path_prefix = "/a", path_exact = "/b" }
direct_response = {}
)")),
              "<string>:5:31: route[0]: match: path_prefix and path_exact cannot be combined (use one of "
              "path_prefix, path_exact, path_regex)");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
match = { path_prefix = "items" }
direct_response = {}
)")),
              "<string>:5:25: route[0]: match.path_prefix: \"items\" must start with \"/\"");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
match = { host = "example.com:8080" }
direct_response = {}
)")),
              "<string>:5:18: route[0]: match.host: bad host pattern \"example.com:8080\" (use \"*\", "
              "\"example.com\" or \"*.example.com\", without a port)");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
match = { method = ["GET", "BAD METHOD"] }
direct_response = {}
)")),
              "<string>:5:28: route[0]: match.method: \"BAD METHOD\" is not a valid method");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
match = { header = { value = "x" } }
direct_response = {}
)")),
              "<string>:5:20: route[0]: match.header: missing required key \"name\"");
}

TEST(ConfigLoaderErrors, Transforms) {
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]

[[route]]
match = { path_exact = "/items" }
upstream = "items"
rewrite_prefix = "/v2"
)")),
              "<string>:11:18: route[0]: rewrite_prefix requires match.path_prefix");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
direct_response = {}
set_headers = { "Bad Name" = "x" }
)")),
              "<string>:6:17: route[0]: set_headers: \"Bad Name\" is not a valid header name");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
direct_response = {}
set_response_headers = { X-A = "line\r\nInjected: 1" }
)")),
              "<string>:6:32: route[0]: set_response_headers.X-A: header value must not contain control "
              "characters");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
direct_response = {}
remove_headers = ["X-Ok", "no:colon"]
)")),
              "<string>:6:27: route[0]: remove_headers: \"no:colon\" is not a valid header name");
}

TEST(ConfigLoaderErrors, NotSupportedYet) {
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
balance = "consistent_hash"
hash_key = "client_ip"
servers = ["127.0.0.1:9001"]
health_check = { path = "/healthz" }
circuit_breaker = { failure_threshold = 5 }
retries = { attempts = 2 }

[[route]]
upstream = "items"
rate_limit = "per_client"
cache = true
websocket = true
lua = "/nonexistent/x.lua"

[rate_limit.per_client]
limits = ["10/second"]

[cache]
store = "memory"

[redis]
servers = ["127.0.0.1:6379"]
)"));
    // Everything above is supported; the Lua file is read at load time.
    EXPECT_EQ(errors_of(r), "<string>:18:7: route[0]: lua: cannot read \"/nonexistent/x.lua\": No such file or directory\n");
    EXPECT_EQ(error_of(R"(
[[listener]]
name = "https"
listen = "127.0.0.1:0"
tls = { cert = "/nonexistent/c.pem", key = "/proc/self/status" }
)"),
              "<string>:4:16: listener \"https\" tls: cert: cannot read \"/nonexistent/c.pem\": No such file or "
              "directory");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
balance = "fastest"
servers = ["127.0.0.1:9001"]
)")),
              "<string>:6:11: upstream \"items\": unknown balance \"fastest\" (use \"round_robin\", "
              "\"consistent_hash\", \"least_request\", \"random_two\" or \"random\")");
    EXPECT_EQ(error_of(with_listener("[[route]]\ndirect_response = {}\ncache = \"yes\"\n")),
              "<string>:6:9: route[0]: cache: expected true or false, got a string");
}

TEST(ConfigLoaderLua, ScriptIsReadAndItsSyntaxChecked) {
    const std::string dir = testing::TempDir();
    const std::string good = dir + "/sluice-loader-good.lua";
    const std::string bad = dir + "/sluice-loader-bad.lua";
    std::ofstream(good) << "function on_request(req) req:set_header('X-A', '1') end\n";
    std::ofstream(bad) << "function on_request(req)\n  if then\nend\n";
    const load_result r = load(with_listener("[[route]]\nname = \"l\"\ndirect_response = {}\nlua = \"" + good + "\"\n"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    ASSERT_TRUE(r.cfg->routes[0].lua);
    EXPECT_EQ(r.cfg->routes[0].lua->path, good);
    EXPECT_NE(r.cfg->routes[0].lua->source.find("X-A"), std::string::npos);
    EXPECT_EQ(error_of(with_listener("[[route]]\nname = \"l\"\ndirect_response = {}\nlua = \"" + bad + "\"\n")),
              bad + ":2: unexpected symbol near 'then' (lua of route[0] \"l\", <string>:7:7)");
    EXPECT_EQ(error_of(with_listener("[[route]]\ndirect_response = {}\nlua = 1\n")),
              "<string>:6:7: route[0]: lua: expected a string, got an integer");
}

TEST(ConfigLoaderErrors, ManyErrorsReportedTogetherInFileOrder) {
    const load_result r = load(R"(
[server]
timeot = "3s"
drain_timeout = "10 parsecs"

[[listener]]
name = "http"
listen = "0.0.0.0"

[[route]]
upstream = "itemz"
match = { path_regex = "(" }

[[upstream]]
name = "items"
servers = [ { address = "127.0.0.1" } ]
)");
    EXPECT_EQ(r.cfg, nullptr);
    EXPECT_EQ(errors_of(r),
              "<string>:2:1: unknown key \"timeot\" in [server]\n"
              "<string>:3:17: [server]: drain_timeout: bad duration \"10 parsecs\" (use e.g. \"250ms\", \"30s\", "
              "\"5m\")\n"
              "<string>:7:10: listener \"http\": listen address \"0.0.0.0\" has no port\n"
              "<string>:10:12: route[0]: upstream \"itemz\" is not defined\n"
              "<string>:11:24: route[0]: match.path_regex: bad regex \"(\": missing ): (\n"
              "<string>:15:25: upstream \"items\": server address \"127.0.0.1\" has no port\n");
}

TEST(ConfigLoaderFile, UnreadableFile) {
    const std::string path = "/nonexistent/sluice/x.toml";
    const load_result r = load_file(path);
    EXPECT_EQ(r.cfg, nullptr);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(), path + ": cannot read: No such file or directory");
    const load_result dir = load_file(std::filesystem::temp_directory_path().string());
    ASSERT_EQ(dir.errors.size(), 1u);
    EXPECT_EQ(dir.errors[0].message, "cannot read: Is a directory");
}

TEST(ConfigLoaderFile, LoadsFileAndRecordsSource) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("sluice_config_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                       ".toml");
    {
        std::ofstream out(path);
        out << listener_http.substr(1);
        out << "[server]\nidle_timeout = 5\n";
    }
    const load_result bad = load_file(path.string());
    ASSERT_EQ(bad.errors.size(), 1u);
    EXPECT_TRUE(bad.errors[0].to_string().starts_with(path.string() + ":5:16: [server]: idle_timeout:"))
        << bad.errors[0].to_string();
    {
        std::ofstream out(path);
        out << listener_http.substr(1);
    }
    const load_result r = load_file(path.string());
    std::filesystem::remove(path);
    ASSERT_TRUE(r.ok()) << errors_of(r);
    EXPECT_EQ(r.cfg->source, path.string());
}

TEST(ConfigRepoFiles, EveryConfInRepoLoads) {
    const std::filesystem::path dir = std::filesystem::path(SLUICE_SOURCE_DIR) / "conf";
    if (!std::filesystem::exists(dir)) {
        GTEST_SKIP() << "no conf/ directory yet";
    }
    // The example configs name files (certificates) relative to the repository, as the demo runs them.
    const auto previous = std::filesystem::current_path();
    std::filesystem::current_path(SLUICE_SOURCE_DIR);
    int checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".toml") {
            continue;
        }
        const load_result r = load_file(entry.path().string());
        EXPECT_TRUE(r.ok()) << entry.path() << ":\n" << errors_of(r);
        ++checked;
    }
    std::filesystem::current_path(previous);
    EXPECT_GE(checked, 3);
    RecordProperty("files_checked", checked);
}

// --- [[upstream]] balancing, health checks, outlier ejection and retries ---

TEST(ConfigLoaderUpstream, BalancingDefaults) {
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
)"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const upstream& u = r.cfg->upstreams.at(0);
    EXPECT_EQ(u.balance, balance_kind::round_robin);
    EXPECT_EQ(u.hash_key, (hash_key_spec{hash_key_spec::source::client_ip, ""}));
    EXPECT_FALSE(u.hash_balance_factor);
    EXPECT_FALSE(u.health_check);
    EXPECT_EQ(u.outlier.consecutive_failures, 5u);
    EXPECT_EQ(u.outlier.base_ejection, milliseconds(30'000));
    EXPECT_EQ(u.outlier.max_ejection, milliseconds(300'000));
    EXPECT_EQ(u.outlier.max_ejected_percent, 50u);
    EXPECT_EQ(u.retries.attempts, 2u);
    EXPECT_TRUE(u.retries.on_connect_failure);
    EXPECT_FALSE(u.retries.on_timeout);
    EXPECT_FALSE(u.retries.on_reset);
    EXPECT_FALSE(u.retries.on_5xx);
    EXPECT_TRUE(u.retries.on_status.empty());
    EXPECT_EQ(u.retries.budget_percent, 20u);
    EXPECT_EQ(u.retries.min_concurrent, 3u);
}

TEST(ConfigLoaderUpstream, EveryBalanceLoads) {
    const std::pair<const char*, balance_kind> kinds[] = {
        {"round_robin", balance_kind::round_robin},     {"consistent_hash", balance_kind::consistent_hash},
        {"least_request", balance_kind::least_request}, {"random_two", balance_kind::random_two},
        {"random", balance_kind::random},
    };
    for (const auto& [name, kind] : kinds) {
        const load_result r = load(with_listener(std::string("[[upstream]]\nname = \"u\"\nbalance = \"") + name +
                                                 "\"\nservers = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n"));
        ASSERT_TRUE(r.ok()) << name << ": " << errors_of(r);
        EXPECT_EQ(r.cfg->upstreams.at(0).balance, kind) << name;
    }
}

TEST(ConfigLoaderUpstream, HashKeyForms) {
    using source = hash_key_spec::source;
    const std::pair<const char*, hash_key_spec> forms[] = {
        {"client_ip", {source::client_ip, ""}},   {"path", {source::path, ""}},
        {"header:X-User", {source::header, "X-User"}}, {"cookie:session_id", {source::cookie, "session_id"}},
        {"query:user", {source::query, "user"}},
    };
    for (const auto& [text, spec] : forms) {
        const load_result r = load(with_listener(std::string("[[upstream]]\nname = \"u\"\nbalance = "
                                                             "\"consistent_hash\"\nhash_key = \"") +
                                                 text + "\"\nservers = [\"127.0.0.1:1\"]\n"));
        ASSERT_TRUE(r.ok()) << text << ": " << errors_of(r);
        EXPECT_EQ(r.cfg->upstreams.at(0).hash_key, spec) << text;
    }
}

TEST(ConfigLoaderUpstream, FullTablesLoad) {
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
balance = "consistent_hash"
hash_key = "header:X-User"
hash_balance_factor = 1.25
servers = ["127.0.0.1:9001", "127.0.0.1:9002"]
health_check = { path = "/ready?deep=1", interval = "2s", timeout = "500ms", unhealthy = 4, healthy = 1, expected = [200, "300-304"] }
outlier = { consecutive_failures = 3, base_ejection = "10s", max_ejection = "1m", max_ejected_percent = 30 }
retries = { attempts = 3, on = ["connect-failure", "timeout", "reset", "5xx", "502", 503], budget_percent = 25 }

[[upstream]]
name = "int-factor"
balance = "consistent_hash"
hash_balance_factor = 2
servers = ["127.0.0.1:9003"]
health_check = { expected = "200-299" }
outlier = { base_ejection = "10m" }
retries = { on = [] }
)"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const upstream& u = r.cfg->upstreams.at(0);
    EXPECT_EQ(u.balance, balance_kind::consistent_hash);
    EXPECT_EQ(u.hash_key, (hash_key_spec{hash_key_spec::source::header, "X-User"}));
    ASSERT_TRUE(u.hash_balance_factor);
    EXPECT_DOUBLE_EQ(*u.hash_balance_factor, 1.25);

    ASSERT_TRUE(u.health_check);
    const health_check_settings& h = *u.health_check;
    EXPECT_EQ(h.path, "/ready?deep=1");
    EXPECT_EQ(h.interval, milliseconds(2'000));
    EXPECT_EQ(h.timeout, milliseconds(500));
    EXPECT_EQ(h.unhealthy, 4u);
    EXPECT_EQ(h.healthy, 1u);
    EXPECT_EQ(h.expected, (std::vector<status_range>{{200, 200}, {300, 304}}));
    EXPECT_TRUE(h.expects(200));
    EXPECT_FALSE(h.expects(201));
    EXPECT_TRUE(h.expects(302));
    EXPECT_FALSE(h.expects(305));

    EXPECT_EQ(u.outlier.consecutive_failures, 3u);
    EXPECT_EQ(u.outlier.base_ejection, milliseconds(10'000));
    EXPECT_EQ(u.outlier.max_ejection, milliseconds(60'000));
    EXPECT_EQ(u.outlier.max_ejected_percent, 30u);

    EXPECT_EQ(u.retries.attempts, 3u);
    EXPECT_TRUE(u.retries.on_connect_failure);
    EXPECT_TRUE(u.retries.on_timeout);
    EXPECT_TRUE(u.retries.on_reset);
    EXPECT_TRUE(u.retries.on_5xx);
    EXPECT_EQ(u.retries.on_status, (std::vector<std::uint16_t>{502, 503}));
    EXPECT_EQ(u.retries.budget_percent, 25u);

    const upstream& v = r.cfg->upstreams.at(1);
    ASSERT_TRUE(v.hash_balance_factor);
    EXPECT_DOUBLE_EQ(*v.hash_balance_factor, 2.0);
    ASSERT_TRUE(v.health_check);
    EXPECT_EQ(v.health_check->path, "/healthz");
    EXPECT_EQ(v.health_check->interval, milliseconds(5'000));
    EXPECT_EQ(v.health_check->timeout, milliseconds(1'000));
    EXPECT_EQ(v.health_check->unhealthy, 3u);
    EXPECT_EQ(v.health_check->healthy, 2u);
    EXPECT_EQ(v.health_check->expected, (std::vector<status_range>{{200, 299}}));
    // Only a base longer than the default cap: the cap follows it.
    EXPECT_EQ(v.outlier.base_ejection, milliseconds(600'000));
    EXPECT_EQ(v.outlier.max_ejection, milliseconds(600'000));
    // An empty `on` list turns retries off, connect failures included.
    EXPECT_FALSE(v.retries.on_connect_failure);
    EXPECT_FALSE(v.retries.on_5xx);
    EXPECT_TRUE(v.retries.on_status.empty());
}

TEST(ConfigLoaderUpstream, ShortIntervalShortensDefaultTimeout) {
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
health_check = { interval = "50ms" }
)"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    EXPECT_EQ(r.cfg->upstreams.at(0).health_check->timeout, milliseconds(50));
}

TEST(ConfigLoaderUpstreamErrors, HashKeyAndFactor) {
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
balance = "consistent_hash"
hash_key = "header:"
servers = ["127.0.0.1:9001"]
)")),
              "<string>:7:12: upstream \"items\": hash_key: bad key \"header:\" (use \"client_ip\", \"header:NAME\", "
              "\"cookie:NAME\", \"path\" or \"query:NAME\")");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
balance = "consistent_hash"
hash_key = "ip"
servers = ["127.0.0.1:9001"]
)")),
              "<string>:7:12: upstream \"items\": hash_key: bad key \"ip\" (use \"client_ip\", \"header:NAME\", "
              "\"cookie:NAME\", \"path\" or \"query:NAME\")");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
balance = "consistent_hash"
hash_key = "query:a&b"
servers = ["127.0.0.1:9001"]
)")),
              "<string>:7:12: upstream \"items\": hash_key: bad key \"query:a&b\" (use \"client_ip\", "
              "\"header:NAME\", \"cookie:NAME\", \"path\" or \"query:NAME\")");
    EXPECT_EQ(errors_of(load(with_listener(R"(
[[upstream]]
name = "items"
hash_key = "path"
hash_balance_factor = 1.5
servers = ["127.0.0.1:9001"]
)"))),
              "<string>:6:1: upstream \"items\": hash_key is only used with balance = \"consistent_hash\"\n"
              "<string>:7:1: upstream \"items\": hash_balance_factor is only used with balance = "
              "\"consistent_hash\"\n");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
balance = "consistent_hash"
hash_balance_factor = 1.0
servers = ["127.0.0.1:9001"]
)")),
              "<string>:7:23: upstream \"items\": hash_balance_factor: 1 is out of range (must be greater than 1 "
              "and at most 100, e.g. 1.25)");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
balance = "consistent_hash"
hash_balance_factor = "125%"
servers = ["127.0.0.1:9001"]
)")),
              "<string>:7:23: upstream \"items\": hash_balance_factor: expected a number such as 1.25, got a "
              "string");
}

TEST(ConfigLoaderUpstreamErrors, HealthCheck) {
    EXPECT_EQ(errors_of(load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
health_check = { path = "healthz", interval = "1s", timeout = "2s", unhealthy = 0, healthy = 101, expected = "2xx", method = "HEAD" }
)"))),
              "<string>:7:25: upstream \"items\": health_check.path: \"healthz\" must start with \"/\" and contain "
              "no spaces or control characters\n"
              "<string>:7:63: upstream \"items\": health_check.timeout: 2000ms must not exceed interval (1000ms)\n"
              "<string>:7:81: upstream \"items\": health_check.unhealthy: 0 is out of range (1..100)\n"
              "<string>:7:94: upstream \"items\": health_check.healthy: 101 is out of range (1..100)\n"
              "<string>:7:110: upstream \"items\": health_check.expected: bad status or range \"2xx\" (use a status "
              "100..599 or a range such as \"200-399\", or an array of them)\n"
              "<string>:7:117: unknown key \"method\" in upstream \"items\" health_check\n");
    EXPECT_EQ(errors_of(load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
health_check = { interval = 5, expected = [200, "399-300", 700, true] }
)"))),
              "<string>:7:29: upstream \"items\": health_check.interval: duration 5 has no unit (write a string "
              "with a unit, e.g. \"250ms\", \"30s\", \"5m\")\n"
              "<string>:7:49: upstream \"items\": health_check.expected: bad status or range \"399-300\" (use a "
              "status 100..599 or a range such as \"200-399\", or an array of them)\n"
              "<string>:7:60: upstream \"items\": health_check.expected: bad status or range 700 (use a status "
              "100..599 or a range such as \"200-399\", or an array of them)\n"
              "<string>:7:65: upstream \"items\": health_check.expected: expected a status or a range such as "
              "\"200-399\", got a boolean\n");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
health_check = "/healthz"
)")),
              "<string>:7:16: upstream \"items\": health_check: expected a table, got a string");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
health_check = { expected = [] }
)")),
              "<string>:7:29: upstream \"items\": health_check.expected: must not be an empty list");
}

TEST(ConfigLoaderUpstreamErrors, OutlierAndRetries) {
    EXPECT_EQ(errors_of(load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
outlier = { consecutive_failures = -1, base_ejection = "1m", max_ejection = "30s", max_ejected_percent = 101, interval = "10s" }
)"))),
              "<string>:7:36: upstream \"items\": outlier.consecutive_failures: -1 is out of range (0..1000)\n"
              "<string>:7:77: upstream \"items\": outlier.max_ejection: 30000ms is shorter than base_ejection "
              "(60000ms)\n"
              "<string>:7:106: upstream \"items\": outlier.max_ejected_percent: 101 is out of range (0..100)\n"
              "<string>:7:111: unknown key \"interval\" in upstream \"items\" outlier\n");
    EXPECT_EQ(errors_of(load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
retries = { attempts = 0, on = ["connect-failure", "boom", "404", "600", 1.5], budget_percent = 101, per_try_timeout = "1s" }
)"))),
              "<string>:7:24: upstream \"items\": retries.attempts: 0 is out of range (1..10)\n"
              "<string>:7:52: upstream \"items\": retries.on: unknown condition \"boom\" (use \"connect-failure\", "
              "\"timeout\", \"reset\", \"5xx\" or a status 400..599 such as \"503\")\n"
              "<string>:7:67: upstream \"items\": retries.on: unknown condition \"600\" (use \"connect-failure\", "
              "\"timeout\", \"reset\", \"5xx\" or a status 400..599 such as \"503\")\n"
              "<string>:7:74: upstream \"items\": retries.on: expected a string, got a float\n"
              "<string>:7:97: upstream \"items\": retries.budget_percent: 101 is out of range (0..100)\n"
              "<string>:7:102: unknown key \"per_try_timeout\" in upstream \"items\" retries\n");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
retries = { on = "5xx" }
)")),
              "<string>:7:18: upstream \"items\": retries.on: expected an array such as [\"connect-failure\", "
              "\"503\"], got a string");
}


// ---------------------------------------------------------------------------------------------
// [rate_limit.NAME], [redis] and upstream circuit_breaker

TEST(ConfigLoaderRateLimit, PoliciesRoutesAndRedisLoad) {
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]

[[route]]
upstream = "items"
rate_limit = "per_client"

[[route]]
direct_response = {}

[rate_limit.per_client]
key = "client_ip"
limits = ["10/second", "50 per hour", "200/day", "100/minute", "5/10s", "1000/2 days"]
burst = 20
store = "redis"
on_redis_error = "deny"

[rate_limit.global]
key = "route"
limits = ["1000/s"]

[rate_limit.by-key]
key = "header:X-Api-Key"
limits = ["5/m", "100/ 1 h"]

[redis]
servers = ["127.0.0.1:6379", "[::1]:6380"]
timeout = "150ms"
pool_size = 8
)"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const config& c = *r.cfg;
    ASSERT_EQ(c.rate_limits.size(), 3u);
    EXPECT_EQ(c.rate_limits[0].name, "by-key");  // sorted by name
    EXPECT_EQ(c.rate_limits[1].name, "global");
    const rate_limit_policy& p = c.rate_limits[2];
    EXPECT_EQ(p.name, "per_client");
    EXPECT_EQ(p.key, rate_limit_key::client_ip);
    const std::vector<rate_limit_rule> expected = {
        {"10/second", 10, 1},     {"50/hour", 50, 3600},  {"200/day", 200, 86400},
        {"100/minute", 100, 60},  {"5/10s", 5, 10},       {"1000/2d", 1000, 172800},
    };
    EXPECT_EQ(p.limits, expected);
    EXPECT_EQ(p.burst, 20u);
    EXPECT_EQ(p.store, rate_limit_store::redis);
    EXPECT_FALSE(p.allow_on_redis_error);

    EXPECT_EQ(c.rate_limits[1].key, rate_limit_key::route);
    EXPECT_EQ(c.rate_limits[1].limits, (std::vector<rate_limit_rule>{{"1000/second", 1000, 1}}));
    EXPECT_EQ(c.rate_limits[0].key, rate_limit_key::header);
    EXPECT_EQ(c.rate_limits[0].key_header, "X-Api-Key");
    EXPECT_EQ(c.rate_limits[0].limits,
              (std::vector<rate_limit_rule>{{"5/minute", 5, 60}, {"100/hour", 100, 3600}}));

    ASSERT_EQ(c.routes.size(), 2u);
    EXPECT_EQ(c.routes[0].rate_limit, "per_client");
    EXPECT_EQ(c.routes[0].rate_limit_index, 2u);
    EXPECT_EQ(c.routes[1].rate_limit, "");

    ASSERT_TRUE(c.redis);
    EXPECT_EQ(c.redis->servers, (std::vector<endpoint>{{"127.0.0.1", 6379}, {"::1", 6380}}));
    EXPECT_EQ(c.redis->timeout, milliseconds(150));
    EXPECT_EQ(c.redis->pool_size, 8u);
}

TEST(ConfigLoaderRateLimit, Defaults) {
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "plain"
servers = ["127.0.0.1:9001"]

[[upstream]]
name = "guarded"
servers = ["127.0.0.1:9002"]
circuit_breaker = {}

[rate_limit.x]
limits = ["1/second"]

[redis]
servers = ["127.0.0.1:6379"]
)"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const config& c = *r.cfg;
    const rate_limit_policy& p = c.rate_limits.at(0);
    EXPECT_EQ(p.key, rate_limit_key::client_ip);
    EXPECT_EQ(p.burst, 0u);
    EXPECT_EQ(p.store, rate_limit_store::local);
    EXPECT_TRUE(p.allow_on_redis_error);
    EXPECT_EQ(c.redis->timeout, milliseconds(200));
    EXPECT_EQ(c.redis->pool_size, 4u);

    EXPECT_FALSE(c.upstreams.at(0).circuit_breaker);
    ASSERT_TRUE(c.upstreams.at(1).circuit_breaker);
    const circuit_breaker_settings& b = *c.upstreams[1].circuit_breaker;
    EXPECT_EQ(b.failure_threshold, 5u);
    EXPECT_EQ(b.recovery_timeout, milliseconds(30'000));
    EXPECT_EQ(b.half_open_requests, 1u);
    EXPECT_EQ(b.max_connections, 1024u);
    EXPECT_EQ(b.max_pending, 256u);
    EXPECT_TRUE(b.on_connect_failure);
    EXPECT_TRUE(b.on_timeout);
    EXPECT_FALSE(b.on_reset);
    EXPECT_TRUE(b.on_5xx);
    EXPECT_TRUE(b.on_status.empty());

    const load_result none = load(with_listener("[[route]]\ndirect_response = {}\n"));
    ASSERT_TRUE(none.ok()) << errors_of(none);
    EXPECT_TRUE(none.cfg->rate_limits.empty());
    EXPECT_FALSE(none.cfg->redis);
}

TEST(ConfigLoaderRateLimit, CircuitBreakerLoads) {
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
circuit_breaker = { failure_threshold = 3, recovery_timeout = "10s", half_open_requests = 2, max_connections = 100, max_pending = 0, on = ["connect-failure", "reset", "503", 502] }
)"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const circuit_breaker_settings& b = *r.cfg->upstreams.at(0).circuit_breaker;
    EXPECT_EQ(b.failure_threshold, 3u);
    EXPECT_EQ(b.recovery_timeout, milliseconds(10'000));
    EXPECT_EQ(b.half_open_requests, 2u);
    EXPECT_EQ(b.max_connections, 100u);
    EXPECT_EQ(b.max_pending, 0u);
    EXPECT_TRUE(b.on_connect_failure);
    EXPECT_FALSE(b.on_timeout);
    EXPECT_TRUE(b.on_reset);
    EXPECT_FALSE(b.on_5xx);
    EXPECT_EQ(b.on_status, (std::vector<std::uint16_t>{503, 502}));
}

TEST(ConfigLoaderRateLimitErrors, BadLimitStrings) {
    const std::string usage = " (use e.g. \"10/second\", \"50/hour\", \"200/day\", \"5/10s\")";
    EXPECT_EQ(errors_of(load(with_listener(R"(
[rate_limit.bad]
limits = ["10/fortnight", "ten/second", "0/second", "10/0s", "10/month", "10 second", "2000000/second", "1/367d"]
)"))),
              "<string>:5:11: rate_limit \"bad\": limits: bad limit \"10/fortnight\": unknown unit \"fortnight\"" +
                  usage +
                  "\n"
                  "<string>:5:27: rate_limit \"bad\": limits: bad limit \"ten/second\": expected a count first" +
                  usage +
                  "\n"
                  "<string>:5:41: rate_limit \"bad\": limits: bad limit \"0/second\": the count must be "
                  "1..1000000000\n"
                  "<string>:5:53: rate_limit \"bad\": limits: bad limit \"10/0s\": the period must be 1 second to "
                  "366 days\n"
                  "<string>:5:62: rate_limit \"bad\": limits: bad limit \"10/month\": weeks, months and years are "
                  "not units here: write days, e.g. \"1000/30d\"\n"
                  "<string>:5:74: rate_limit \"bad\": limits: bad limit \"10 second\": expected \"/\" or \" per \" "
                  "after the count" +
                  usage +
                  "\n"
                  "<string>:5:87: rate_limit \"bad\": limits: bad limit \"2000000/second\": more than 1000000 "
                  "requests per second\n"
                  "<string>:5:105: rate_limit \"bad\": limits: bad limit \"1/367d\": the period must be 1 second to "
                  "366 days\n");
}

TEST(ConfigLoaderRateLimitErrors, PolicyKeys) {
    EXPECT_EQ(errors_of(load(with_listener(R"(
[rate_limit.a]
key = "cookie:x"
limits = ["10/second", "10/1s"]
burst = -1
store = "disk"
on_redis_error = "maybe"
colour = "red"

[rate_limit.b]
limits = []

[rate_limit.c]
key = "header:"

[rate_limit.d]
limits = "10/second"
store = "redis"

[rate_limit.e]
limits = ["1/day"]
burst = 1000000

[rate_limit.f]
limits = ["1/s", "2/s", "3/s", "4/s", "5/s", "6/s", "7/s", "8/s", "9/s"]
)"))),
              "<string>:5:7: rate_limit \"a\": key: unknown key \"cookie:x\" (use \"client_ip\", \"header:NAME\" or "
              "\"route\")\n"
              "<string>:6:24: rate_limit \"a\": limits: \"10/1s\" is listed twice\n"
              "<string>:7:9: rate_limit \"a\": burst: -1 is out of range (0..1000000000)\n"
              "<string>:8:9: rate_limit \"a\": store: unknown store \"disk\" (use \"local\" or \"redis\")\n"
              "<string>:9:18: rate_limit \"a\": on_redis_error: \"maybe\" is not \"allow\" or \"deny\"\n"
              "<string>:10:1: unknown key \"colour\" in rate_limit \"a\"\n"
              "<string>:13:10: rate_limit \"b\": limits: at least one limit is required\n"
              "<string>:15:1: rate_limit \"c\": missing required key \"limits\" (e.g. limits = [\"10/second\", "
              "\"200/day\"])\n"
              "<string>:16:7: rate_limit \"c\": key: unknown key \"header:\" (use \"client_ip\", \"header:NAME\" or "
              "\"route\")\n"
              "<string>:19:10: rate_limit \"d\": limits: expected an array such as [\"10/second\", \"200/day\"], "
              "got a string\n"
              "<string>:20:9: rate_limit \"d\": store \"redis\" requires a [redis] table with its servers\n"
              "<string>:24:9: rate_limit \"e\": burst: 1000000 is too large for \"1/day\" (its bucket would take "
              "more than 100 years to refill)\n"
              "<string>:27:67: rate_limit \"f\": limits: at most 8 limits per policy\n");
}

TEST(ConfigLoaderRateLimitErrors, NamesAndShapes) {
    EXPECT_EQ(error_of(with_listener("[rate_limit]\nkey = \"client_ip\"\n")),
              "<string>:5:1: rate_limit: \"key\" must be a table [rate_limit.NAME] (a policy), got a string");
    EXPECT_EQ(error_of(with_listener("[rate_limit.\"a:b\"]\nlimits = [\"1/s\"]\n")),
              "<string>:4:13: rate_limit \"a:b\": a policy name may use only letters, digits, \"_\" and \"-\"");
    EXPECT_EQ(error_of("rate_limit = 5\n" + with_listener("")),
              "<string>:1:14: \"rate_limit\" must be tables [rate_limit.NAME], got an integer");
    EXPECT_EQ(error_of(with_listener(R"(
[[route]]
direct_response = {}
rate_limit = "nope"
)")),
              "<string>:6:14: route[0]: rate_limit \"nope\" is not defined (add a [rate_limit.nope] table)");
}

TEST(ConfigLoaderRateLimitErrors, Redis) {
    EXPECT_EQ(errors_of(load(with_listener(R"(
[redis]
servers = ["127.0.0.1:6379", "localhost", "127.0.0.1:6379"]
timeout = "0s"
pool_size = 0
password = "x"
)"))),
              "<string>:5:30: [redis]: server address \"localhost\" has no port\n"
              "<string>:5:43: [redis]: server address \"127.0.0.1:6379\" is listed twice\n"
              "<string>:6:11: [redis]: timeout: duration must be greater than 0\n"
              "<string>:7:13: [redis]: pool_size: 0 is out of range (1..1024)\n"
              "<string>:8:1: unknown key \"password\" in [redis]\n");
    EXPECT_EQ(error_of(with_listener("[redis]\ntimeout = \"1s\"\n")),
              "<string>:4:1: [redis]: missing required key \"servers\"");
    EXPECT_EQ(error_of(with_listener("[redis]\nservers = []\n")),
              "<string>:5:11: [redis]: servers: at least one server is required");
    EXPECT_EQ(error_of("redis = \"127.0.0.1:6379\"\n" + with_listener("")),
              "<string>:1:9: \"redis\" must be a table ([redis]), got a string");
}

TEST(ConfigLoaderRateLimitErrors, CircuitBreaker) {
    EXPECT_EQ(errors_of(load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
circuit_breaker = { failure_threshold = 0, recovery_timeout = "0s", half_open_requests = 0, max_connections = 0, max_pending = -1, on = ["4xx", 404, "reset", true], window = "1m" }
)"))),
              "<string>:7:41: upstream \"items\": circuit_breaker.failure_threshold: 0 is out of range "
              "(1..1000000)\n"
              "<string>:7:63: upstream \"items\": circuit_breaker.recovery_timeout: duration must be greater than "
              "0\n"
              "<string>:7:90: upstream \"items\": circuit_breaker.half_open_requests: 0 is out of range (1..10000)\n"
              "<string>:7:111: upstream \"items\": circuit_breaker.max_connections: 0 is out of range "
              "(1..1000000)\n"
              "<string>:7:128: upstream \"items\": circuit_breaker.max_pending: -1 is out of range (0..1000000)\n"
              "<string>:7:138: upstream \"items\": circuit_breaker.on: unknown failure \"4xx\" (use "
              "\"connect-failure\", \"timeout\", \"reset\", \"5xx\" or a status 500..599 such as \"503\")\n"
              "<string>:7:145: upstream \"items\": circuit_breaker.on: unknown failure \"404\" (use "
              "\"connect-failure\", \"timeout\", \"reset\", \"5xx\" or a status 500..599 such as \"503\")\n"
              "<string>:7:159: upstream \"items\": circuit_breaker.on: expected a string, got a boolean\n"
              "<string>:7:166: unknown key \"window\" in upstream \"items\" circuit_breaker\n");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
circuit_breaker = { on = "5xx" }
)")),
              "<string>:7:26: upstream \"items\": circuit_breaker.on: expected an array such as "
              "[\"connect-failure\", \"timeout\", \"5xx\"], got a string");
    EXPECT_EQ(error_of(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]
circuit_breaker = 5
)")),
              "<string>:7:19: upstream \"items\": circuit_breaker: expected a table, got an integer");
}

// [cache] and route cache = true

TEST(ConfigLoaderCache, TableAndRoutesLoad) {
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]

[[route]]
match = { path_prefix = "/items" }
upstream = "items"
cache = true

[[route]]
upstream = "items"

[cache]
store = "memory"
max_bytes = "64MiB"
max_object_bytes = "1MiB"
default_ttl = "30s"
lock_timeout = "2s"
allow_authorization = true
)"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const config& c = *r.cfg;
    ASSERT_EQ(c.routes.size(), 2u);
    EXPECT_TRUE(c.routes[0].cache);
    EXPECT_FALSE(c.routes[1].cache);
    EXPECT_EQ(c.cache.store, cache_store::memory);
    EXPECT_EQ(c.cache.max_bytes, 64u << 20);
    EXPECT_EQ(c.cache.max_object_bytes, 1u << 20);
    EXPECT_EQ(c.cache.default_ttl, milliseconds(30'000));
    EXPECT_EQ(c.cache.lock_timeout, milliseconds(2'000));
    EXPECT_TRUE(c.cache.allow_authorization);
}

TEST(ConfigLoaderCache, DefaultsWithoutATable) {
    // cache = true needs no [cache] table: the memory store with its defaults.
    const load_result r = load(with_listener(R"(
[[upstream]]
name = "items"
servers = ["127.0.0.1:9001"]

[[route]]
upstream = "items"
cache = true
)"));
    ASSERT_TRUE(r.ok()) << errors_of(r);
    const cache_settings& c = r.cfg->cache;
    EXPECT_TRUE(r.cfg->routes[0].cache);
    EXPECT_EQ(c.store, cache_store::memory);
    EXPECT_EQ(c.max_bytes, 256u << 20);
    EXPECT_EQ(c.max_object_bytes, 8u << 20);
    EXPECT_EQ(c.default_ttl, milliseconds(0));
    EXPECT_EQ(c.lock_timeout, milliseconds(5'000));
    EXPECT_FALSE(c.allow_authorization);
    const load_result empty = load(with_listener("[cache]\n"));
    ASSERT_TRUE(empty.ok()) << errors_of(empty);
    EXPECT_EQ(empty.cfg->cache.store, cache_store::memory);
}

TEST(ConfigLoaderCacheErrors, Table) {
    EXPECT_EQ(errors_of(load(with_listener(R"(
[cache]
store = "disk"
max_bytes = "lots"
max_object_bytes = 0
default_ttl = "-1s"
lock_timeout = "0s"
allow_authorization = "yes"
ttl = "1m"
)"))),
              "<string>:5:9: [cache]: store: unknown store \"disk\" (use \"memory\" or \"redis\")\n"
              "<string>:6:13: [cache]: max_bytes: bad size \"lots\" (use e.g. \"64KiB\", \"8MiB\")\n"
              "<string>:7:20: [cache]: max_object_bytes: size must be greater than 0\n"
              "<string>:8:15: [cache]: default_ttl: duration \"-1s\" must not be negative\n"
              "<string>:9:16: [cache]: lock_timeout: duration must be greater than 0\n"
              "<string>:10:23: [cache]: allow_authorization: expected true or false, got a string\n"
              "<string>:11:1: unknown key \"ttl\" in [cache]\n");
    // The Redis store needs [redis].
    EXPECT_EQ(error_of(with_listener("[cache]\nstore = \"redis\"\n")),
              "<string>:5:9: [cache]: store \"redis\" requires a [redis] table with its servers");
    const load_result redis_store =
        load(with_listener("[cache]\nstore = \"redis\"\n[redis]\nservers = [\"127.0.0.1:6379\"]\n"));
    ASSERT_TRUE(redis_store.ok()) << errors_of(redis_store);
    EXPECT_EQ(redis_store.cfg->cache.store, cache_store::redis);
    EXPECT_EQ(error_of(with_listener("[cache]\nmax_bytes = \"1MiB\"\nmax_object_bytes = \"2MiB\"\n")),
              "<string>:6:20: [cache]: max_object_bytes: must not exceed max_bytes (1048576 bytes)");
    EXPECT_EQ(error_of(with_listener("[cache]\nmax_bytes = \"4MiB\"\n")),
              "<string>:5:13: [cache]: max_object_bytes: must not exceed max_bytes (4194304 bytes)");
    EXPECT_EQ(error_of("cache = true\n" + with_listener("")),
              "<string>:1:9: \"cache\" must be a table ([cache]), got a boolean");
}

TEST(ConfigLoaderCacheErrors, RouteCacheNeedsAnUpstream) {
    EXPECT_EQ(error_of(with_listener("[[route]]\ndirect_response = {}\ncache = true\n")),
              "<string>:6:9: route[0]: cache = true needs an upstream (redirects and direct responses are not "
              "cached)");
    const load_result off = load(with_listener("[[route]]\ndirect_response = {}\ncache = false\n"));
    EXPECT_TRUE(off.ok()) << errors_of(off);
}

}  // namespace
}  // namespace sluice::config
