#include "route/router.hpp"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

namespace sluice::route {
namespace {

namespace http = boost::beast::http;

config::route named(std::string name) {
    config::route r;
    r.name = std::move(name);
    return r;
}

config::route with_regex(std::string name, const std::string& pattern) {
    auto r = named(std::move(name));
    r.match.path_regex = pattern;
    auto re = std::make_shared<re2::RE2>(pattern);
    EXPECT_TRUE(re->ok()) << pattern;
    r.match.regex = std::move(re);
    return r;
}

// Name of the matched route, or "" when none matches.
std::string matched(const config::config& cfg, std::string_view method, std::string_view host,
                    std::string_view path, const http::fields& headers = {}) {
    const config::route* r = match(cfg, method, host, path, headers);
    return r ? r->name : std::string{};
}

TEST(RouterHost, AnyMatchesEverything) {
    EXPECT_TRUE(host_matches("*", "example.com"));
    EXPECT_TRUE(host_matches("*", "10.0.0.1:8080"));
    EXPECT_TRUE(host_matches("*", ""));
}

TEST(RouterHost, ExactName) {
    EXPECT_TRUE(host_matches("example.com", "example.com"));
    EXPECT_FALSE(host_matches("example.com", "www.example.com"));
    EXPECT_FALSE(host_matches("example.com", "example.org"));
    EXPECT_FALSE(host_matches("example.com", "example.co"));
    EXPECT_FALSE(host_matches("example.com", ""));
}

TEST(RouterHost, CaseInsensitive) {
    EXPECT_TRUE(host_matches("example.com", "EXAMPLE.Com"));
    EXPECT_TRUE(host_matches("Example.COM", "example.com"));
    EXPECT_TRUE(host_matches("*.example.com", "API.Example.COM"));
}

TEST(RouterHost, PortIsIgnored) {
    EXPECT_TRUE(host_matches("example.com", "example.com:8080"));
    EXPECT_TRUE(host_matches("*.example.com", "a.example.com:443"));
    EXPECT_TRUE(host_matches("127.0.0.1", "127.0.0.1:9000"));
    EXPECT_FALSE(host_matches("example.com", "example.org:8080"));
}

TEST(RouterHost, BracketedIpv6) {
    EXPECT_TRUE(host_matches("[::1]", "[::1]:8080"));
    EXPECT_TRUE(host_matches("[::1]", "[::1]"));
    EXPECT_TRUE(host_matches("::1", "[::1]:8080"));
    EXPECT_FALSE(host_matches("[::1]", "[::2]:8080"));
}

TEST(RouterHost, TrailingDotIgnored) {
    EXPECT_TRUE(host_matches("example.com", "example.com."));
    EXPECT_TRUE(host_matches("example.com", "example.com.:8080"));
    EXPECT_TRUE(host_matches("*.example.com", "a.example.com."));
    EXPECT_TRUE(host_matches("example.com.", "example.com"));
}

TEST(RouterHost, WildcardMatchesSubdomainsOnly) {
    EXPECT_TRUE(host_matches("*.example.com", "a.example.com"));
    EXPECT_TRUE(host_matches("*.example.com", "a.b.example.com"));
    EXPECT_FALSE(host_matches("*.example.com", "example.com"));
    EXPECT_FALSE(host_matches("*.example.com", "badexample.com"));
    EXPECT_FALSE(host_matches("*.example.com", ".example.com"));
    EXPECT_FALSE(host_matches("*.example.com", "a.example.org"));
    EXPECT_FALSE(host_matches("*.example.com", "example.com:8080"));
}

TEST(RouterTargetPath, OriginForm) {
    EXPECT_EQ(target_path("/a/b?x=1"), "/a/b");
    EXPECT_EQ(target_path("/a/b"), "/a/b");
    EXPECT_EQ(target_path("/"), "/");
    EXPECT_EQ(target_path("/?x=1"), "/");
    EXPECT_EQ(target_path("/a?x=1?y=2"), "/a");
    EXPECT_EQ(target_path("/a?"), "/a");
}

TEST(RouterTargetPath, AbsoluteForm) {
    EXPECT_EQ(target_path("http://host:8080/p?q=1"), "/p");
    EXPECT_EQ(target_path("http://host/a/b"), "/a/b");
    EXPECT_EQ(target_path("https://host"), "/");
    EXPECT_EQ(target_path("http://host:8080"), "/");
    EXPECT_EQ(target_path("http://host?x=1"), "/");
    EXPECT_EQ(target_path("http://host/"), "/");
}

TEST(RouterTargetPath, AsteriskForm) {
    EXPECT_EQ(target_path("*"), "*");
}

TEST(RouterMatch, NoRoutesGivesNull) {
    config::config cfg;
    EXPECT_EQ(match(cfg, "GET", "example.com", "/", {}), nullptr);
}

TEST(RouterMatch, ReturnsPointerIntoConfig) {
    config::config cfg;
    cfg.routes.push_back(named("only"));
    EXPECT_EQ(match(cfg, "GET", "example.com", "/", {}), &cfg.routes[0]);
}

TEST(RouterMatch, HostConditions) {
    config::config cfg;
    auto exact = named("exact");
    exact.match.host = "api.example.com";
    auto wildcard = named("wildcard");
    wildcard.match.host = "*.example.com";
    cfg.routes = {exact, wildcard};

    EXPECT_EQ(matched(cfg, "GET", "api.example.com", "/"), "exact");
    EXPECT_EQ(matched(cfg, "GET", "API.EXAMPLE.COM:8443", "/"), "exact");
    EXPECT_EQ(matched(cfg, "GET", "www.example.com", "/"), "wildcard");
    EXPECT_EQ(matched(cfg, "GET", "a.b.example.com", "/"), "wildcard");
    EXPECT_EQ(matched(cfg, "GET", "example.com", "/"), "");
    EXPECT_EQ(matched(cfg, "GET", "badexample.com", "/"), "");
}

TEST(RouterMatch, PathPrefixIsPlainStringPrefix) {
    config::config cfg;
    auto r = named("api");
    r.match.path_prefix = "/api";
    cfg.routes = {r};

    EXPECT_EQ(matched(cfg, "GET", "h", "/api"), "api");
    EXPECT_EQ(matched(cfg, "GET", "h", "/api/items"), "api");
    EXPECT_EQ(matched(cfg, "GET", "h", "/apiary"), "api");  // like Envoy's prefix match
    EXPECT_EQ(matched(cfg, "GET", "h", "/ap"), "");
    EXPECT_EQ(matched(cfg, "GET", "h", "/API"), "");  // paths are case-sensitive
    EXPECT_EQ(matched(cfg, "GET", "h", "/v1/api"), "");
}

TEST(RouterMatch, PathExact) {
    config::config cfg;
    auto r = named("health");
    r.match.path_exact = "/healthz";
    cfg.routes = {r};

    EXPECT_EQ(matched(cfg, "GET", "h", "/healthz"), "health");
    EXPECT_EQ(matched(cfg, "GET", "h", "/healthz/"), "");
    EXPECT_EQ(matched(cfg, "GET", "h", "/healthzz"), "");
    EXPECT_EQ(matched(cfg, "GET", "h", "/health"), "");
}

TEST(RouterMatch, PathRegexIsFullMatch) {
    config::config cfg;
    cfg.routes = {with_regex("item", "/items/[0-9]+")};

    EXPECT_EQ(matched(cfg, "GET", "h", "/items/42"), "item");
    EXPECT_EQ(matched(cfg, "GET", "h", "/items/42/x"), "");  // partial match is not enough
    EXPECT_EQ(matched(cfg, "GET", "h", "/v1/items/42"), "");
    EXPECT_EQ(matched(cfg, "GET", "h", "/items/abc"), "");
    EXPECT_EQ(matched(cfg, "GET", "h", "/items/"), "");
}

TEST(RouterMatch, UncompiledRegexMatchesNothing) {
    config::config cfg;
    auto r = named("broken");
    r.match.path_regex = "/.*";  // regex left null
    cfg.routes = {r};
    EXPECT_EQ(matched(cfg, "GET", "h", "/anything"), "");
}

TEST(RouterMatch, Methods) {
    config::config cfg;
    auto writes = named("writes");
    writes.match.methods = {"POST", "PUT"};
    auto any = named("any");
    cfg.routes = {writes, any};

    EXPECT_EQ(matched(cfg, "POST", "h", "/"), "writes");
    EXPECT_EQ(matched(cfg, "PUT", "h", "/"), "writes");
    EXPECT_EQ(matched(cfg, "GET", "h", "/"), "any");
    EXPECT_EQ(matched(cfg, "post", "h", "/"), "any");  // methods compare exactly (RFC 9110: case-sensitive)
    EXPECT_EQ(matched(cfg, "POSTX", "h", "/"), "any");
}

TEST(RouterMatch, HeaderPresence) {
    config::config cfg;
    auto r = named("debug");
    r.match.headers = {{"X-Debug", std::nullopt}};
    cfg.routes = {r};

    http::fields with;
    with.set("x-debug", "");
    EXPECT_EQ(matched(cfg, "GET", "h", "/", with), "debug");  // name is case-insensitive, any value

    http::fields other;
    other.set("X-Debugging", "1");
    EXPECT_EQ(matched(cfg, "GET", "h", "/", other), "");
    EXPECT_EQ(matched(cfg, "GET", "h", "/"), "");
}

TEST(RouterMatch, HeaderValue) {
    config::config cfg;
    auto r = named("beta");
    r.match.headers = {{"X-Channel", std::string("beta")}};
    cfg.routes = {r};

    http::fields h;
    h.set("X-Channel", "beta");
    EXPECT_EQ(matched(cfg, "GET", "h", "/", h), "beta");

    h.set("X-Channel", "Beta");  // values compare exactly
    EXPECT_EQ(matched(cfg, "GET", "h", "/", h), "");
    h.set("X-Channel", "beta2");
    EXPECT_EQ(matched(cfg, "GET", "h", "/", h), "");

    http::fields repeated;  // one of several lines carrying the value is enough
    repeated.insert("X-Channel", "stable");
    repeated.insert("X-Channel", "beta");
    EXPECT_EQ(matched(cfg, "GET", "h", "/", repeated), "beta");
}

TEST(RouterMatch, EveryHeaderMustMatch) {
    config::config cfg;
    auto r = named("both");
    r.match.headers = {{"X-A", std::string("1")}, {"X-B", std::nullopt}};
    cfg.routes = {r};

    http::fields only_a;
    only_a.set("X-A", "1");
    EXPECT_EQ(matched(cfg, "GET", "h", "/", only_a), "");

    http::fields both = only_a;
    both.set("X-B", "anything");
    EXPECT_EQ(matched(cfg, "GET", "h", "/", both), "both");
}

TEST(RouterMatch, EveryConditionMustHold) {
    config::config cfg;
    auto r = named("all");
    r.match.host = "*.example.com";
    r.match.path_prefix = "/api";
    r.match.methods = {"GET"};
    r.match.headers = {{"X-Key", std::nullopt}};
    cfg.routes = {r};

    http::fields h;
    h.set("X-Key", "k");
    EXPECT_EQ(matched(cfg, "GET", "a.example.com", "/api/x", h), "all");
    EXPECT_EQ(matched(cfg, "GET", "example.com", "/api/x", h), "");
    EXPECT_EQ(matched(cfg, "GET", "a.example.com", "/x", h), "");
    EXPECT_EQ(matched(cfg, "POST", "a.example.com", "/api/x", h), "");
    EXPECT_EQ(matched(cfg, "GET", "a.example.com", "/api/x"), "");
}

TEST(RouterMatch, FirstMatchWins) {
    config::config cfg;
    auto specific = named("specific");
    specific.match.path_prefix = "/api/admin";
    auto general = named("general");
    general.match.path_prefix = "/api";
    auto fallback = named("fallback");
    cfg.routes = {specific, general, fallback};

    EXPECT_EQ(matched(cfg, "GET", "h", "/api/admin/users"), "specific");
    EXPECT_EQ(matched(cfg, "GET", "h", "/api/items"), "general");
    EXPECT_EQ(matched(cfg, "GET", "h", "/other"), "fallback");

    // Reordered: the catch-all first shadows everything after it.
    cfg.routes = {fallback, specific, general};
    EXPECT_EQ(matched(cfg, "GET", "h", "/api/admin/users"), "fallback");
}

TEST(RouterMatch, NoMatchGivesNull) {
    config::config cfg;
    auto r = named("api");
    r.match.path_prefix = "/api";
    r.match.host = "example.com";
    cfg.routes = {r};
    EXPECT_EQ(match(cfg, "GET", "example.com", "/web", {}), nullptr);
    EXPECT_EQ(match(cfg, "GET", "other.com", "/api", {}), nullptr);
}

}  // namespace
}  // namespace sluice::route
