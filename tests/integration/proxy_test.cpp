// The data path through real processes: CRUD through sluice, headers, balancing, keep-alive
// reuse, pipelining, chunked and streamed bodies.

#include "fixture.hpp"

#include <boost/json.hpp>
#include <openssl/evp.h>

#include <sys/socket.h>

#include <regex>

namespace sluice::test {
namespace {

namespace json = boost::json;

class ProxyTest : public ::testing::Test {
protected:
    void SetUp() override {
        items_a = start_backend("items", "items-a");
        items_b = start_backend("items", "items-b");
        echo = start_backend("echo", "echo-1");
        sluice = start_sluice(server_block() + upstream_block("items", {{&items_a, 2}, {&items_b, 1}}) +
                              upstream_block("echo", {{&echo, 1}}) + R"(
[[route]]
name = "items"
match = { path_prefix = "/items" }
upstream = "items"

[[route]]
name = "api"
match = { path_prefix = "/api" }
rewrite_prefix = "/echo"
upstream = "echo"
set_headers = { "X-Added" = "yes" }
remove_headers = ["X-Secret"]
set_response_headers = { "X-Route" = "api" }
remove_response_headers = ["X-Backend"]

[[route]]
name = "echo"
match = { path_prefix = "/" }
upstream = "echo"
)");
    }

    json::value echo_json(const response& r) { return json::parse(r.body); }

    backend items_a, items_b, echo;
    proxy sluice;
};

TEST_F(ProxyTest, ItemsCrudThroughSluice) {
    // Both items backends keep their own store; pin one with a single-server route would hide
    // balancing, so create on whichever answers and read back through the same backend name.
    connection c(sluice.port);
    auto created = c.request("POST", "/items", {{"Content-Type", "application/json"}}, R"({"name":"tea","price":3.5})");
    ASSERT_EQ(created.status, 201u) << created.body;
    const auto item = json::parse(created.body).as_object();
    EXPECT_EQ(item.at("name").as_string(), "tea");
    const auto id = item.at("id").to_number<std::int64_t>();
    const std::string owner = created.header("x-backend");
    ASSERT_FALSE(owner.empty());

    // Round-robin spreads requests over both backends; find the item on its owner.
    bool found = false;
    for (int i = 0; i < 6 && !found; ++i) {
        auto got = c.request("GET", "/items/" + std::to_string(id));
        if (got.header("x-backend") == owner) {
            ASSERT_EQ(got.status, 200u);
            EXPECT_EQ(json::parse(got.body).at("price").to_number<double>(), 3.5);
            EXPECT_EQ(got.header("cache-control"), "public, max-age=60");
            found = true;
        } else {
            EXPECT_EQ(got.status, 404u);
            EXPECT_NE(got.body.find("not found"), std::string::npos);
        }
    }
    EXPECT_TRUE(found);

    for (int i = 0; i < 3; ++i) {
        auto put = c.request("PUT", "/items/" + std::to_string(id), {{"Content-Type", "application/json"}},
                             R"({"name":"green tea","price":4})");
        if (put.header("x-backend") != owner) continue;
        EXPECT_EQ(put.status, 200u);
        EXPECT_EQ(json::parse(put.body).at("name").as_string(), "green tea");
        break;
    }
    for (int i = 0; i < 3; ++i) {
        auto del = c.request("DELETE", "/items/" + std::to_string(id));
        if (del.header("x-backend") != owner) continue;
        EXPECT_EQ(del.status, 204u);
        break;
    }
    auto bad = c.request("POST", "/items", {{"Content-Type", "application/json"}}, "{not json");
    EXPECT_EQ(bad.status, 400u);
}

TEST_F(ProxyTest, WeightedRoundRobinSharesFollowWeights) {
    connection c(sluice.port);
    int a = 0, b = 0;
    for (int i = 0; i < 300; ++i) {
        auto r = c.request("GET", "/items");
        ASSERT_EQ(r.status, 200u);
        (r.header("x-backend") == "items-a" ? a : b)++;
    }
    // One worker, smooth weighted round-robin: exactly 2:1.
    EXPECT_EQ(a, 200);
    EXPECT_EQ(b, 100);
}

TEST_F(ProxyTest, ForwardedHeadersRequestIdViaAndHopByHop) {
    auto r = get(sluice.port, "/echo/headers",
                 {{"X-Forwarded-For", "203.0.113.9"}, {"Connection", "keep-alive, X-Hop"}, {"X-Hop", "secret"},
                  {"Keep-Alive", "timeout=5"}, {"Proxy-Authorization", "Basic eA=="}, {"Host", "shop.example"}});
    ASSERT_EQ(r.status, 200u);
    const auto body = json::parse(r.body).as_object();
    const auto& h = body.at("headers").as_object();
    EXPECT_EQ(h.at("x-forwarded-for").as_string(), "203.0.113.9, 127.0.0.1");
    EXPECT_EQ(h.at("x-forwarded-proto").as_string(), "http");
    EXPECT_EQ(h.at("x-forwarded-host").as_string(), "shop.example");
    EXPECT_EQ(h.at("via").as_string(), "1.1 sluice");
    EXPECT_FALSE(h.contains("x-hop"));
    EXPECT_FALSE(h.contains("keep-alive"));
    EXPECT_FALSE(h.contains("proxy-authorization"));
    const std::string id(h.at("x-request-id").as_string());
    EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{32}")));
    EXPECT_EQ(r.header("x-request-id"), id);  // the client sees the id the backend saw

    auto kept = get(sluice.port, "/echo", {{"X-Request-Id", "my-id-42"}});
    EXPECT_EQ(json::parse(kept.body).at("headers").at("x-request-id").as_string(), "my-id-42");
    EXPECT_EQ(kept.header("x-request-id"), "my-id-42");
}

TEST_F(ProxyTest, RouteRewritesPrefixAndHeaders) {
    auto r = get(sluice.port, "/api/thing?x=1", {{"X-Secret", "s"}});
    ASSERT_EQ(r.status, 200u);
    const auto body = json::parse(r.body).as_object();
    EXPECT_EQ(body.at("path").as_string(), "/echo/thing");
    EXPECT_EQ(body.at("query").as_string(), "x=1");
    EXPECT_EQ(body.at("headers").at("x-added").as_string(), "yes");
    EXPECT_FALSE(body.at("headers").as_object().contains("x-secret"));
    EXPECT_EQ(r.header("x-route"), "api");
    EXPECT_EQ(r.header("x-backend"), "");
}

TEST_F(ProxyTest, UpstreamKeepAliveIsReused) {
    constexpr int requests = 200;
    for (int conn = 0; conn < 4; ++conn) {
        connection c(sluice.port);
        for (int i = 0; i < requests / 4; ++i) ASSERT_EQ(c.request("GET", "/echo").status, 200u);
    }
    // Ask the backend directly how many connections it accepted for how many requests.
    auto stats = json::parse(get(echo.port, "/stats").body).as_object();
    const auto connections = stats.at("connections").to_number<std::int64_t>();
    const auto served = stats.at("requests").to_number<std::int64_t>();
    EXPECT_GE(served, requests);
    EXPECT_LE(connections, 3) << "sluice opened a new upstream connection for most requests";
}

TEST_F(ProxyTest, PipelinedRequestsAnsweredInOrder) {
    connection c(sluice.port);
    std::string batch;
    for (int i = 0; i < 5; ++i)
        batch += "GET /echo/p" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    c.send_raw(batch);
    for (int i = 0; i < 5; ++i) {
        auto r = c.read_response();
        ASSERT_EQ(r.status, 200u);
        EXPECT_EQ(json::parse(r.body).at("path").as_string(), "/echo/p" + std::to_string(i));
    }
}

TEST_F(ProxyTest, ChunkedResponseRelayed) {
    auto r = get(sluice.port, "/bytes/300000?chunked=1");
    ASSERT_EQ(r.status, 200u);
    EXPECT_TRUE(r.chunked);
    ASSERT_EQ(r.body.size(), 300000u);
    for (std::size_t i = 0; i < r.body.size(); i += 997) ASSERT_EQ(r.body[i], static_cast<char>('a' + i % 26)) << i;

    auto plain = get(sluice.port, "/bytes/1000");
    EXPECT_EQ(plain.header("content-length"), "1000");
    EXPECT_FALSE(plain.chunked);
}

TEST_F(ProxyTest, HeadRequestHasNoBody) {
    connection c(sluice.port);
    auto r = c.request("HEAD", "/bytes/5000");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("content-length"), "5000");
    EXPECT_TRUE(r.body.empty());
    // The connection is still in sync for the next request.
    EXPECT_EQ(c.request("GET", "/bytes/10").body, "abcdefghij");
}

std::string hex(const unsigned char* d, unsigned n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < n; ++i) {
        s += digits[d[i] >> 4];
        s += digits[d[i] & 15];
    }
    return s;
}

// Streams `total` pattern bytes as a request body (Content-Length or chunked) and returns the
// sha256 the client computed; the body is never held whole on either side.
std::string stream_upload(connection& c, std::uint64_t total, bool chunked) {
    std::string head = "POST /echo/upload HTTP/1.1\r\nHost: x\r\n";
    head += chunked ? "Transfer-Encoding: chunked\r\n\r\n" : "Content-Length: " + std::to_string(total) + "\r\n\r\n";
    c.send_raw(head);
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
    std::string block(256 * 1024, '\0');
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('A' + (i * 7) % 26);
    for (std::uint64_t sent = 0; sent < total;) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), total - sent));
        EVP_DigestUpdate(md, block.data(), n);
        if (chunked) {
            char size[32];
            std::snprintf(size, sizeof size, "%zx\r\n", n);
            c.send_raw(size + block.substr(0, n) + "\r\n");
        } else {
            c.send_raw(n == block.size() ? block : block.substr(0, n));
        }
        sent += n;
    }
    if (chunked) c.send_raw("0\r\n\r\n");
    unsigned char digest[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(md, digest, &len);
    EVP_MD_CTX_free(md);
    return hex(digest, len);
}

TEST_F(ProxyTest, LargeUploadStreamsWithSmallMemory) {
    constexpr std::uint64_t total = 100ull * 1024 * 1024;
    connection c(sluice.port, std::chrono::seconds(60));
    const std::string expected = stream_upload(c, total, false);
    auto r = c.read_response();
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto body = json::parse(r.body).as_object();
    EXPECT_EQ(body.at("body_length").to_number<std::uint64_t>(), total);
    EXPECT_EQ(body.at("body_sha256").as_string(), expected);
    const long rss = peak_rss_kib(sluice.proc->pid());
    EXPECT_GT(rss, 0);
    EXPECT_LT(rss, 48 * 1024) << "sluice's peak RSS grew with the body: bodies must stream";
}

TEST_F(ProxyTest, ChunkedUploadStreams) {
    constexpr std::uint64_t total = 5ull * 1024 * 1024 + 123;
    connection c(sluice.port, std::chrono::seconds(30));
    const std::string expected = stream_upload(c, total, true);
    auto r = c.read_response();
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto body = json::parse(r.body).as_object();
    EXPECT_EQ(body.at("body_length").to_number<std::uint64_t>(), total);
    EXPECT_EQ(body.at("body_sha256").as_string(), expected);
}

TEST_F(ProxyTest, AccessLogHasOneJsonLinePerRequest) {
    auto r = get(sluice.port, "/echo/logged", {{"X-Request-Id", "log-test-1"}});
    ASSERT_EQ(r.status, 200u);
    auto line = sluice.proc->wait_for(R"(\{"ts":[^\n]*"request_id":"log-test-1"[^\n]*\})");
    ASSERT_TRUE(line) << sluice.proc->output();
    const auto rec = json::parse((*line)[0]).as_object();
    EXPECT_EQ(rec.at("method").as_string(), "GET");
    EXPECT_EQ(rec.at("path").as_string(), "/echo/logged");
    EXPECT_EQ(rec.at("status").to_number<int>(), 200);
    EXPECT_EQ(rec.at("route").as_string(), "echo");
    EXPECT_EQ(rec.at("upstream").as_string(), "echo");
    EXPECT_EQ(rec.at("server").as_string(), echo.address());
    EXPECT_EQ(rec.at("client").as_string(), "127.0.0.1");
    EXPECT_EQ(rec.at("attempts").to_number<int>(), 1);
    EXPECT_EQ(rec.at("cache").as_string(), "off");
}

}  // namespace
}  // namespace sluice::test
