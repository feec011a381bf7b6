// What clients see when things go wrong: unreachable and slow upstreams, malformed and
// oversized requests, slow clients, responses cut mid-body. Other clients never notice.

#include "fixture.hpp"

#include <boost/json.hpp>

#include <future>

namespace sluice::test {
namespace {

namespace json = boost::json;

std::string error_code_of(const response& r) { return std::string(json::parse(r.body).at("error").as_string()); }

class FailureTest : public ::testing::Test {
protected:
    void SetUp() override {
        echo = start_backend("echo", "echo-1");
        const std::string dead = "127.0.0.1:" + std::to_string(closed_port());
        sluice = start_sluice(server_block("header_timeout = \"300ms\"\nmax_header_bytes = \"2KiB\"\n"
                                           "max_headers = 20\nmax_body_bytes = \"1KiB\"\n") +
                              upstream_block("echo", {{&echo, 1}}, "timeouts = { response = \"300ms\" }") +
                              "[[upstream]]\nname = \"dead\"\nservers = [\"" + dead + "\"]\n"
                              "timeouts = { connect = \"1s\" }\n" + R"(
[[route]]
match = { path_prefix = "/dead" }
upstream = "dead"

[[route]]
match = { path_prefix = "/", method = ["GET", "POST", "HEAD"] }
upstream = "echo"
)");
    }
    backend echo;
    proxy sluice;
};

TEST_F(FailureTest, UnreachableUpstreamIs502WithJsonBody) {
    const auto start = std::chrono::steady_clock::now();
    auto r = get(sluice.port, "/dead/x", {{"X-Request-Id", "dead-1"}});
    EXPECT_EQ(r.status, 502u);
    EXPECT_EQ(r.header("content-type"), "application/json");
    const auto body = json::parse(r.body).as_object();
    EXPECT_EQ(body.at("error").as_string(), "upstream_connect_failed");
    EXPECT_EQ(body.at("request_id").as_string(), "dead-1");
    // Refused connections fail at once, well inside the 1 s connect timeout.
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(FailureTest, SlowUpstreamIs504) {
    auto r = get(sluice.port, "/delay/3000");
    EXPECT_EQ(r.status, 504u);
    EXPECT_EQ(error_code_of(r), "upstream_timeout");
    // The pool did not keep the timed-out connection: the next request works.
    EXPECT_EQ(get(sluice.port, "/echo").status, 200u);
}

TEST_F(FailureTest, MalformedRequestIs400AndOthersAreServed) {
    connection bad(sluice.port);
    connection good(sluice.port);
    bad.send_raw("GARBAGE\r\n\r\n");
    auto r = bad.read_response();
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(error_code_of(r), "bad_request");
    EXPECT_TRUE(bad.closed_by_peer());
    EXPECT_EQ(good.request("GET", "/echo").status, 200u);

    connection nohost(sluice.port);
    nohost.send_raw("GET /echo HTTP/1.1\r\n\r\n");
    EXPECT_EQ(nohost.read_response().status, 400u);

    connection badcl(sluice.port);
    badcl.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
    EXPECT_EQ(badcl.read_response().status, 400u);
    EXPECT_EQ(good.request("GET", "/echo").status, 200u);
}

TEST_F(FailureTest, OversizedRequestsGet414_431_413) {
    connection uri(sluice.port);
    uri.send_raw("GET /" + std::string(4000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r414 = uri.read_response();
    EXPECT_EQ(r414.status, 414u);
    EXPECT_EQ(error_code_of(r414), "uri_too_long");

    connection hdr(sluice.port);
    hdr.send_raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(3000, 'b') + "\r\n\r\n");
    EXPECT_EQ(hdr.read_response().status, 431u);

    connection many(sluice.port);
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 30; ++i) req += "X-H" + std::to_string(i) + ": v\r\n";
    many.send_raw(req + "\r\n");
    EXPECT_EQ(many.read_response().status, 431u);

    connection body(sluice.port);
    body.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    auto r413 = body.read_response();
    EXPECT_EQ(r413.status, 413u);
    EXPECT_EQ(error_code_of(r413), "payload_too_large");

    // A chunked body crossing the limit mid-stream is cut with 413 too.
    connection chunked(sluice.port);
    chunked.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" +
                     std::string(0x800, 'c') + "\r\n0\r\n\r\n");
    EXPECT_EQ(chunked.read_response().status, 413u);
}

TEST_F(FailureTest, NoRouteIs404AndMethodMismatchToo) {
    auto r = request(sluice.port, "DELETE", "/echo");
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(error_code_of(r), "no_route");
}

TEST_F(FailureTest, SlowlorisIsCutAtHeaderTimeoutWhileOthersAreServed) {
    connection slow(sluice.port);
    slow.send_raw("GET /echo HTTP/1.1\r\nHost: x\r\n");  // never finishes the head
    auto other = std::async(std::launch::async, [&] { return get(sluice.port, "/echo").status; });
    EXPECT_EQ(other.get(), 200u);
    // Cut at header_timeout (300 ms) without an answer, as nginx does; logged as 408.
    EXPECT_TRUE(slow.closed_by_peer());
    EXPECT_TRUE(sluice.proc->wait_for(R"("status":408[^\n]*"error":"request_timeout")"));
}

TEST_F(FailureTest, UpstreamAbortBeforeAnyBodyIsRelayedIs502) {
    // The backend promises 1000 bytes, sends 100 and closes: nothing went downstream yet.
    auto r = get(sluice.port, "/abort");
    EXPECT_EQ(r.status, 502u);
    EXPECT_EQ(error_code_of(r), "upstream_reset");
}

TEST_F(FailureTest, UpstreamAbortMidBodyTruncatesAndClosesClientConnection) {
    connection c(sluice.port);
    c.send_raw("GET /abort?after=300000 HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string got = c.read_until_close();
    // The head was relayed with the promised length, the body was cut: the client sees fewer
    // bytes than Content-Length, then EOF, never a complete-looking response.
    ASSERT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got.substr(0, 200);
    EXPECT_NE(got.find("Content-Length: 600000"), std::string::npos);
    const auto body_start = got.find("\r\n\r\n");
    ASSERT_NE(body_start, std::string::npos);
    EXPECT_LT(got.size() - body_start - 4, 600000u);
    EXPECT_GT(got.size() - body_start - 4, 0u);
    EXPECT_EQ(get(sluice.port, "/echo").status, 200u);
}

}  // namespace
}  // namespace sluice::test
