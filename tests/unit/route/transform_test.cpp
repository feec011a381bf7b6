#include "route/transform.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace sluice::route {
namespace {

namespace http = boost::beast::http;

// Every value of `name`, in order.
std::vector<std::string> values(const http::fields& h, std::string_view name) {
    std::vector<std::string> out;
    auto [first, last] = h.equal_range(name);
    for (auto it = first; it != last; ++it) {
        out.emplace_back(it->value());
    }
    return out;
}

std::string value(const http::fields& h, std::string_view name) {
    auto v = values(h, name);
    EXPECT_EQ(v.size(), 1u) << name;
    return v.empty() ? std::string{} : v.front();
}

const forward_info info{"192.0.2.7", "https", "req-123"};

config::route prefix_route(std::string prefix, std::optional<std::string> rewrite) {
    config::route r;
    r.match.path_prefix = std::move(prefix);
    r.rewrite_prefix = std::move(rewrite);
    return r;
}

TEST(TransformHopByHop, RemovesFixedHopByHopHeaders) {
    http::fields h;
    h.set("Connection", "keep-alive");
    h.set("Keep-Alive", "timeout=5");
    h.set("TE", "trailers");
    h.set("Trailer", "Expires");
    h.set("Transfer-Encoding", "chunked");
    h.set("Upgrade", "websocket");
    h.set("Proxy-Connection", "keep-alive");
    h.set("Host", "example.com");
    h.set("Content-Type", "text/plain");
    h.set("Accept", "*/*");

    remove_hop_by_hop(h);

    for (auto name : {"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection"}) {
        EXPECT_EQ(h.count(name), 0u) << name;
    }
    EXPECT_EQ(value(h, "Host"), "example.com");
    EXPECT_EQ(value(h, "Content-Type"), "text/plain");
    EXPECT_EQ(value(h, "Accept"), "*/*");
}

TEST(TransformHopByHop, RemovesEveryProxyPrefixedHeader) {
    http::fields h;
    h.set("Proxy-Authorization", "Basic x");
    h.set("proxy-authenticate", "Basic");
    h.set("PROXY-Foo", "1");
    h.set("X-Proxy-Id", "kept");  // only a leading "Proxy-" counts
    h.set("Proxyish", "kept");

    remove_hop_by_hop(h);

    EXPECT_EQ(h.count("Proxy-Authorization"), 0u);
    EXPECT_EQ(h.count("Proxy-Authenticate"), 0u);
    EXPECT_EQ(h.count("Proxy-Foo"), 0u);
    EXPECT_EQ(value(h, "X-Proxy-Id"), "kept");
    EXPECT_EQ(value(h, "Proxyish"), "kept");
}

TEST(TransformHopByHop, RemovesHeadersListedInConnection) {
    http::fields h;
    h.insert("Connection", "close, X-Secret ,x-other");
    h.insert("connection", "\tX-Third");
    h.set("X-Secret", "s");
    h.set("X-Other", "o");
    h.set("X-Third", "t");
    h.set("X-Kept", "k");

    remove_hop_by_hop(h);

    EXPECT_EQ(h.count("Connection"), 0u);
    EXPECT_EQ(h.count("X-Secret"), 0u);
    EXPECT_EQ(h.count("X-Other"), 0u);
    EXPECT_EQ(h.count("X-Third"), 0u);
    EXPECT_EQ(value(h, "X-Kept"), "k");
}

TEST(TransformHopByHop, ConnectionListedHeaderWithSeveralLinesIsRemovedWhole) {
    http::fields h;
    h.set("Connection", "X-Multi");
    h.insert("X-Multi", "1");
    h.insert("X-Multi", "2");
    remove_hop_by_hop(h);
    EXPECT_EQ(h.count("X-Multi"), 0u);
}

TEST(TransformHopByHop, EmptyConnectionTokensAreHarmless) {
    http::fields h;
    h.set("Connection", " , ,,");
    h.set("X-Kept", "k");
    remove_hop_by_hop(h);
    EXPECT_EQ(h.count("Connection"), 0u);
    EXPECT_EQ(value(h, "X-Kept"), "k");
}

TEST(TransformHopByHop, HostIsNeverRemovedThroughConnection) {
    http::fields h;
    h.set("Connection", "Host");
    h.set("Host", "example.com");
    remove_hop_by_hop(h);
    EXPECT_EQ(value(h, "Host"), "example.com");
}

TEST(TransformUpstream, SetsForwardingHeaders) {
    http::fields h;
    h.set("Host", "example.com:8080");
    prepare_upstream_request(h, config::route{}, info);

    EXPECT_EQ(value(h, "X-Forwarded-For"), "192.0.2.7");
    EXPECT_EQ(value(h, "X-Forwarded-Proto"), "https");
    EXPECT_EQ(value(h, "X-Forwarded-Host"), "example.com:8080");
    EXPECT_EQ(value(h, "X-Request-Id"), "req-123");
    EXPECT_EQ(value(h, "Via"), "1.1 sluice");
    EXPECT_EQ(value(h, "Host"), "example.com:8080");
}

TEST(TransformUpstream, RemovesHopByHop) {
    http::fields h;
    h.set("Connection", "X-Hop");
    h.set("X-Hop", "1");
    h.set("Keep-Alive", "timeout=5");
    h.set("Proxy-Authorization", "Basic x");
    h.set("Upgrade", "h2c");
    prepare_upstream_request(h, config::route{}, info);

    for (auto name : {"Connection", "X-Hop", "Keep-Alive", "Proxy-Authorization", "Upgrade"}) {
        EXPECT_EQ(h.count(name), 0u) << name;
    }
}

TEST(TransformUpstream, AppendsToExistingForwardedFor) {
    http::fields h;
    h.set("X-Forwarded-For", "203.0.113.1");
    prepare_upstream_request(h, config::route{}, info);
    EXPECT_EQ(value(h, "X-Forwarded-For"), "203.0.113.1, 192.0.2.7");
}

TEST(TransformUpstream, JoinsSeveralForwardedForLinesBeforeAppending) {
    http::fields h;
    h.insert("X-Forwarded-For", "203.0.113.1, 198.51.100.2");
    h.insert("x-forwarded-for", "198.51.100.3");
    prepare_upstream_request(h, config::route{}, info);
    EXPECT_EQ(values(h, "X-Forwarded-For"),
              (std::vector<std::string>{"203.0.113.1, 198.51.100.2, 198.51.100.3, 192.0.2.7"}));
}

TEST(TransformUpstream, ProtoAndHostAreOverwritten) {
    http::fields h;
    h.set("Host", "real.example.com");
    h.insert("X-Forwarded-Proto", "gopher");
    h.insert("X-Forwarded-Proto", "ftp");
    h.set("X-Forwarded-Host", "spoofed.example.com");
    prepare_upstream_request(h, config::route{}, forward_info{"10.0.0.1", "http", "id"});
    EXPECT_EQ(values(h, "X-Forwarded-Proto"), std::vector<std::string>{"http"});
    EXPECT_EQ(value(h, "X-Forwarded-Host"), "real.example.com");
}

TEST(TransformUpstream, NoHostMeansNoForwardedHost) {
    http::fields h;
    h.set("X-Forwarded-Host", "spoofed.example.com");
    prepare_upstream_request(h, config::route{}, info);
    EXPECT_EQ(h.count("X-Forwarded-Host"), 0u);
}

TEST(TransformUpstream, RequestIdOverwrittenWithChosenId) {
    http::fields h;
    h.set("X-Request-Id", "client-supplied");
    prepare_upstream_request(h, config::route{}, info);
    EXPECT_EQ(value(h, "X-Request-Id"), "req-123");
}

TEST(TransformUpstream, RequestIdKeptWhenCallerChoosesIt) {
    // The caller keeps a valid incoming id by passing it back as info.request_id.
    http::fields h;
    h.set("X-Request-Id", "client-supplied");
    forward_info keep{"192.0.2.7", "http", "client-supplied"};
    prepare_upstream_request(h, config::route{}, keep);
    EXPECT_EQ(values(h, "X-Request-Id"), std::vector<std::string>{"client-supplied"});
}

TEST(TransformUpstream, ViaAppended) {
    http::fields h;
    h.set("Via", "1.0 foo");
    prepare_upstream_request(h, config::route{}, info);
    EXPECT_EQ(value(h, "Via"), "1.0 foo, 1.1 sluice");

    http::fields several;
    several.insert("Via", "1.0 foo");
    several.insert("Via", "1.1 bar");
    prepare_upstream_request(several, config::route{}, info);
    EXPECT_EQ(values(several, "Via"), std::vector<std::string>{"1.0 foo, 1.1 bar, 1.1 sluice"});
}

TEST(TransformUpstream, RouteRemovesThenSetsHeaders) {
    config::route r;
    r.remove_headers = {"x-internal", "Cookie", "X-Forwarded-For"};
    r.set_headers = {{"X-Env", "prod"}, {"User-Agent", "sluice"}};

    http::fields h;
    h.set("X-Internal", "1");
    h.insert("Cookie", "a=1");
    h.insert("Cookie", "b=2");
    h.set("User-Agent", "curl/8");
    h.set("Accept", "*/*");
    prepare_upstream_request(h, r, info);

    EXPECT_EQ(h.count("X-Internal"), 0u);
    EXPECT_EQ(h.count("Cookie"), 0u);
    EXPECT_EQ(h.count("X-Forwarded-For"), 0u);  // route actions come after the forwarding headers
    EXPECT_EQ(value(h, "X-Env"), "prod");
    EXPECT_EQ(value(h, "User-Agent"), "sluice");
    EXPECT_EQ(value(h, "Accept"), "*/*");
}

TEST(TransformUpstream, RouteSetOverridesForwardingHeaders) {
    config::route r;
    r.set_headers = {{"X-Forwarded-Proto", "https"}};
    http::fields h;
    prepare_upstream_request(h, r, forward_info{"10.0.0.1", "http", "id"});
    EXPECT_EQ(value(h, "X-Forwarded-Proto"), "https");
}

TEST(TransformUpstream, ResponseHeaderActionsDoNotApplyToRequest) {
    config::route r;
    r.set_response_headers = {{"X-Resp", "1"}};
    r.remove_response_headers = {"Accept"};
    http::fields h;
    h.set("Accept", "*/*");
    prepare_upstream_request(h, r, info);
    EXPECT_EQ(h.count("X-Resp"), 0u);
    EXPECT_EQ(value(h, "Accept"), "*/*");
}

TEST(TransformDownstream, RemovesHopByHopAndSetsRequestId) {
    http::fields h;
    h.set("Connection", "keep-alive, X-Backend-Hop");
    h.set("X-Backend-Hop", "1");
    h.set("Keep-Alive", "timeout=5");
    h.set("Transfer-Encoding", "chunked");
    h.set("Proxy-Authenticate", "Basic");
    h.set("X-Request-Id", "from-backend");
    h.set("Content-Type", "application/json");
    prepare_downstream_response(h, config::route{}, "req-123");

    for (auto name : {"Connection", "X-Backend-Hop", "Keep-Alive", "Transfer-Encoding", "Proxy-Authenticate"}) {
        EXPECT_EQ(h.count(name), 0u) << name;
    }
    EXPECT_EQ(value(h, "X-Request-Id"), "req-123");
    EXPECT_EQ(value(h, "Content-Type"), "application/json");
    EXPECT_EQ(h.count("Via"), 0u);
    EXPECT_EQ(h.count("X-Forwarded-For"), 0u);
}

TEST(TransformDownstream, RouteRemovesThenSetsResponseHeaders) {
    config::route r;
    r.remove_response_headers = {"server", "X-Powered-By"};
    r.set_response_headers = {{"Strict-Transport-Security", "max-age=63072000"}, {"Cache-Control", "no-store"}};
    r.set_headers = {{"X-Req-Only", "1"}};
    r.remove_headers = {"Content-Type"};

    http::fields h;
    h.set("Server", "backend/1.0");
    h.set("X-Powered-By", "php");
    h.set("Cache-Control", "public, max-age=60");
    h.set("Content-Type", "text/html");
    prepare_downstream_response(h, r, "id");

    EXPECT_EQ(h.count("Server"), 0u);
    EXPECT_EQ(h.count("X-Powered-By"), 0u);
    EXPECT_EQ(value(h, "Strict-Transport-Security"), "max-age=63072000");
    EXPECT_EQ(value(h, "Cache-Control"), "no-store");
    EXPECT_EQ(h.count("X-Req-Only"), 0u);            // request actions do not apply
    EXPECT_EQ(value(h, "Content-Type"), "text/html");  // to the response
}

TEST(TransformRewrite, ReplacesPrefixAndKeepsQuery) {
    auto r = prefix_route("/api", "/");
    EXPECT_EQ(rewrite_target(r, "/api/items?x=1"), "/items?x=1");
    EXPECT_EQ(rewrite_target(r, "/api/items"), "/items");
    EXPECT_EQ(rewrite_target(r, "/api"), "/");
    EXPECT_EQ(rewrite_target(r, "/api?x=1"), "/?x=1");
    EXPECT_EQ(rewrite_target(r, "/api/"), "/");
}

TEST(TransformRewrite, PrefixToLongerPrefix) {
    auto r = prefix_route("/api", "/v2");
    EXPECT_EQ(rewrite_target(r, "/api/items?x=1&y=2"), "/v2/items?x=1&y=2");
    EXPECT_EQ(rewrite_target(r, "/api"), "/v2");

    auto trailing = prefix_route("/api/", "/internal/");
    EXPECT_EQ(rewrite_target(trailing, "/api/items"), "/internal/items");
}

TEST(TransformRewrite, EmptyResultBecomesSlash) {
    auto r = prefix_route("/api", "");
    EXPECT_EQ(rewrite_target(r, "/api"), "/");
    EXPECT_EQ(rewrite_target(r, "/api?q"), "/?q");
    EXPECT_EQ(rewrite_target(r, "/api/items"), "/items");
}

TEST(TransformRewrite, PlainStringPrefix) {
    auto r = prefix_route("/api", "/v2");
    EXPECT_EQ(rewrite_target(r, "/apiary"), "/v2ary");
}

TEST(TransformRewrite, UnchangedWithoutRewriteOrWhenPrefixDoesNotMatch) {
    EXPECT_EQ(rewrite_target(prefix_route("/api", std::nullopt), "/api/items?x=1"), "/api/items?x=1");
    EXPECT_EQ(rewrite_target(prefix_route("/api", "/"), "/web/items?x=1"), "/web/items?x=1");

    config::route exact;  // rewrite_prefix only applies to path_prefix routes
    exact.match.path_exact = "/api/items";
    exact.rewrite_prefix = "/";
    EXPECT_EQ(rewrite_target(exact, "/api/items"), "/api/items");
}

TEST(TransformRewrite, QueryIsNotPartOfThePrefixMatch) {
    auto r = prefix_route("/api/items", "/x");
    EXPECT_EQ(rewrite_target(r, "/api?p=/api/items"), "/api?p=/api/items");
}

TEST(TransformRewrite, AbsoluteFormBecomesOriginForm) {
    EXPECT_EQ(rewrite_target(config::route{}, "http://example.com:8080/a/b?x=1"), "/a/b?x=1");
    EXPECT_EQ(rewrite_target(config::route{}, "http://example.com"), "/");
    EXPECT_EQ(rewrite_target(config::route{}, "http://example.com?x=1"), "/?x=1");
    EXPECT_EQ(rewrite_target(prefix_route("/api", "/"), "http://example.com/api/items?x=1"), "/items?x=1");
}

TEST(TransformLocation, ExpandsEveryVariable) {
    EXPECT_EQ(expand_location("$scheme://$host$request_uri", "https", "example.com", "/a/b?x=1"),
              "https://example.com/a/b?x=1");
    EXPECT_EQ(expand_location("https://new.example.com$path", "http", "old", "/a/b?x=1"),
              "https://new.example.com/a/b");
    EXPECT_EQ(expand_location("/search?q=$query&from=$host", "http", "h.example", "/s?term=1"),
              "/search?q=term=1&from=h.example");
}

TEST(TransformLocation, MissingQueryIsEmpty) {
    EXPECT_EQ(expand_location("/x?$query", "http", "h", "/a"), "/x?");
    EXPECT_EQ(expand_location("$request_uri", "http", "h", "/a"), "/a");
}

TEST(TransformLocation, RepeatedAndUnknownVariables) {
    EXPECT_EQ(expand_location("$path$path", "http", "h", "/a"), "/a/a");
    EXPECT_EQ(expand_location("/$unknown/$", "http", "h", "/a"), "/$unknown/$");
    EXPECT_EQ(expand_location("no variables", "http", "h", "/a"), "no variables");
    EXPECT_EQ(expand_location("", "http", "h", "/a"), "");
}

TEST(TransformLocation, AbsoluteFormTarget) {
    EXPECT_EQ(expand_location("https://$host$request_uri", "http", "example.com", "http://example.com/p?q=1"),
              "https://example.com/p?q=1");
    EXPECT_EQ(expand_location("$path", "http", "h", "http://example.com/p?q=1"), "/p");
}

TEST(TransformRequestId, ValidEdgeCases) {
    EXPECT_TRUE(valid_request_id("a"));
    EXPECT_TRUE(valid_request_id(std::string(128, 'x')));
    EXPECT_TRUE(valid_request_id("!~"));  // 0x21 and 0x7E
    EXPECT_TRUE(valid_request_id("550e8400-e29b-41d4-a716-446655440000"));

    EXPECT_FALSE(valid_request_id(""));
    EXPECT_FALSE(valid_request_id(std::string(129, 'x')));
    EXPECT_FALSE(valid_request_id("has space"));
    EXPECT_FALSE(valid_request_id("tab\there"));
    EXPECT_FALSE(valid_request_id("crlf\r\n"));
    EXPECT_FALSE(valid_request_id(std::string_view("nul\0", 4)));
    EXPECT_FALSE(valid_request_id("del\x7f"));
    EXPECT_FALSE(valid_request_id("caf\xc3\xa9"));  // non-ASCII
}

TEST(TransformRequestId, NewIdsAreValidLowercaseHex) {
    for (int i = 0; i < 100; ++i) {
        std::string id = new_request_id();
        ASSERT_EQ(id.size(), 32u);
        for (char c : id) {
            ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
        }
        EXPECT_TRUE(valid_request_id(id));
    }
}

TEST(TransformRequestId, NewIdsAreUnique) {
    std::unordered_set<std::string> seen;
    for (int i = 0; i < 10'000; ++i) {
        EXPECT_TRUE(seen.insert(new_request_id()).second);
    }
    EXPECT_EQ(seen.size(), 10'000u);

    // Every position carries randomness, not just enough of them to be unique.
    for (std::size_t pos = 0; pos < 32; ++pos) {
        std::unordered_set<char> digits;
        for (const auto& id : seen) {
            digits.insert(id[pos]);
        }
        EXPECT_EQ(digits.size(), 16u) << "position " << pos;
    }
}

TEST(TransformRequestId, ThreadsDrawDifferentIds) {
    std::vector<std::string> a, b;
    std::thread ta([&] { for (int i = 0; i < 1000; ++i) a.push_back(new_request_id()); });
    std::thread tb([&] { for (int i = 0; i < 1000; ++i) b.push_back(new_request_id()); });
    ta.join();
    tb.join();
    std::unordered_set<std::string> all(a.begin(), a.end());
    all.insert(b.begin(), b.end());
    EXPECT_EQ(all.size(), 2000u);
}

}  // namespace
}  // namespace sluice::route
