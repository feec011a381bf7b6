// Request smuggling and framing (RFC 9112 sections 2, 3, 5, 6, 7 and 11): every request head
// whose framing could be read two ways is answered 400 and the connection closed, and the
// backend never sees it; upstream responses with ambiguous framing become 502 and their
// connection is never reused. Raw bytes on real sockets against real processes.

#include "fixture.hpp"

#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

namespace sluice::test {
namespace {

namespace json = boost::json;

std::string error_code_of(const response& r) { return std::string(json::parse(r.body).at("error").as_string()); }

// Requests the echo backend has read so far (its GET /stats counts itself too).
std::int64_t backend_requests(const backend& b) {
    const auto r = get(b.port, "/stats");
    return json::parse(r.body).at("requests").as_int64();
}

class SmugglingTest : public ::testing::Test {
protected:
    void SetUp() override {
        echo = start_backend("echo", "echo-1");
        sluice = start_sluice(server_block("header_timeout = \"2s\"\n") +
                              upstream_block("echo", {{&echo, 1}}, "retries = { attempts = 1 }") + R"(
[[route]]
match = { path_prefix = "/" }
upstream = "echo"
)");
    }

    // Sends `bytes` on a fresh connection: expects `status` with a JSON error, the connection
    // closed by sluice, and the backend untouched (not one request more than before).
    void expect_rejected(const std::string& bytes, unsigned status = 400) {
        const auto before = backend_requests(echo);
        connection c(sluice.port, std::chrono::seconds(3));
        c.send_raw(bytes);
        response r;
        try {
            r = c.read_response();
        } catch (const std::exception& e) {
            ADD_FAILURE() << "no response: " << e.what();
            return;
        }
        EXPECT_EQ(r.status, status);
        EXPECT_EQ(r.header("content-type"), "application/json");
        if (r.status == status) {
            EXPECT_EQ(error_code_of(r), "bad_request");
        }
        EXPECT_TRUE(c.closed_by_peer());
        EXPECT_EQ(backend_requests(echo) - before, 1) << "the backend received the request";
    }

    // Sends a well-formed request: expects 200 from the backend, which read exactly one request.
    void expect_forwarded(const std::string& bytes) {
        const auto before = backend_requests(echo);
        connection c(sluice.port, std::chrono::seconds(3));
        c.send_raw(bytes);
        const auto r = c.read_response();
        EXPECT_EQ(r.status, 200u);
        EXPECT_EQ(backend_requests(echo) - before, 2);
    }

    backend echo;
    proxy sluice;
};

std::string post(const std::string& headers, const std::string& body = "hello") {
    return "POST /echo HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n" + body;
}

// ---- controls: the harness tells a forwarded request from a rejected one ----

TEST_F(SmugglingTest, WellFramedRequestsAreForwarded) {
    expect_forwarded(post("Content-Length: 5\r\n"));
    expect_forwarded(post("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"));
    expect_forwarded(post("Transfer-Encoding: Chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"));  // case-insensitive
    expect_forwarded(post("Transfer-Encoding:  chunked \r\n", "5;ext=1\r\nhello\r\n0\r\n\r\n"));
    expect_forwarded("GET /echo HTTP/1.0\r\n\r\n");
    expect_forwarded("GET /echo?q=%20a HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Tab: a\tb\r\n\r\n");
}

// ---- Content-Length and Transfer-Encoding (RFC 9112 6.1, 6.3) ----

TEST_F(SmugglingTest, ContentLengthWithTransferEncodingIsRejected) {
    // CL.TE and TE.CL in both orders, with chunked and with other codings.
    expect_rejected(post("Content-Length: 13\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n"));
    expect_rejected(post("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "5\r\nhello\r\n0\r\n\r\n"));
    expect_rejected(post("Transfer-Encoding: gzip\r\nContent-Length: 5\r\n"));
    expect_rejected(post("Content-Length: 5\r\nTransfer-Encoding: identity\r\n"));
    expect_rejected(post("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"));
}

TEST_F(SmugglingTest, ContentLengthListsAndDuplicatesAreRejected) {
    expect_rejected(post("Content-Length: 5, 6\r\n"));
    expect_rejected(post("Content-Length: 5\r\nContent-Length: 6\r\n"));
    // Identical values are allowed by RFC 9110 8.6 but Sluice rejects every list: one field, one value.
    expect_rejected(post("Content-Length: 5, 5\r\n"));
    expect_rejected(post("Content-Length: 5\r\nContent-Length: 5\r\n"));
    expect_rejected(post("Content-Length: 5,\r\n"));
}

TEST_F(SmugglingTest, MalformedContentLengthIsRejected) {
    for (const std::string v : {"abc", "+5", "-5", "0x5", "5 5", "5.0", "", "5;", "99999999999999999999999",
                                "18446744073709551616"}) {
        SCOPED_TRACE("Content-Length: " + v);
        expect_rejected(post("Content-Length: " + v + "\r\n"));
    }
}

TEST_F(SmugglingTest, TransferEncodingOtherThanChunkedIsRejected) {
    for (const std::string v : {"gzip", "identity", "chunked, gzip", "gzip, chunked", "chunked, chunked",
                                "chunked;q=1", "xchunked", "chunked-x", "\"chunked\"", ", chunked", "chunked,", ""}) {
        SCOPED_TRACE("Transfer-Encoding: " + v);
        expect_rejected(post("Transfer-Encoding: " + v + "\r\n", "5\r\nhello\r\n0\r\n\r\n"));
    }
    // Two fields are a list too, whatever each says.
    expect_rejected(post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"));
    expect_rejected(post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"));
}

TEST_F(SmugglingTest, TransferEncodingInHttp10IsRejected) {
    // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    expect_rejected("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
}

TEST_F(SmugglingTest, BadChunkSizesAre400AndNothingIsSmuggled) {
    // The head is forwarded before the body streams, so the backend may see the head of this
    // request (cut short); it never sees a second request, and sluice closes both connections.
    for (const std::string size : {"-5", "+5", "0x5", " 5", "5 x", "zz", "FFFFFFFFFFFFFFFFF", "5\rx", ""}) {
        SCOPED_TRACE("chunk size " + size);
        const auto before = backend_requests(echo);
        connection c(sluice.port, std::chrono::seconds(3));
        c.send_raw(post("Transfer-Encoding: chunked\r\n", size + "\r\nhello\r\n0\r\n\r\n"
                                                                 "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"));
        const auto r = c.read_response();
        EXPECT_EQ(r.status, 400u);
        EXPECT_TRUE(c.closed_by_peer());
        EXPECT_LE(backend_requests(echo) - before, 2);  // its own /stats, and at most the cut head
    }
}

// ---- the request head itself (RFC 9112 2.2, 3, 5) ----

TEST_F(SmugglingTest, BareCarriageReturnIsRejected) {
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n");
    expect_rejected("GET /echo\r HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\r\nHost: x\r\n\r\n");
}

TEST_F(SmugglingTest, BareLineFeedIsRejected) {
    expect_rejected("GET /echo HTTP/1.1\nHost: x\n\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A: b\n\r\n\r\n");
}

TEST_F(SmugglingTest, ObsoleteLineFoldingIsRejected) {
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n");
    expect_rejected(post("Transfer-Encoding:\r\n chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"));
    expect_rejected(post("Content-Length:\r\n 5\r\n"));
    // A field line starting with whitespace right after the request line.
    expect_rejected("GET /echo HTTP/1.1\r\n Host: x\r\n\r\n");
}

TEST_F(SmugglingTest, WhitespaceBeforeColonIsRejected) {
    expect_rejected(post("Content-Length : 5\r\n"));
    expect_rejected(post("Transfer-Encoding\t: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n"));
    expect_rejected("GET /echo HTTP/1.1\r\nHost : x\r\n\r\n");
}

TEST_F(SmugglingTest, ControlCharactersInNamesAndValuesAreRejected) {
    using namespace std::string_literals;
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A\0B: v\r\n\r\n"s);
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A: v\0w\r\n\r\n"s);
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A: v\x01w\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A: v\x7fw\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A\x01: v\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX(A): v\r\n\r\n");  // not a token
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n");      // empty name
    expect_rejected("GET /echo HTTP/1.1\r\nHost: x\r\nX-A v\r\n\r\n");    // no colon
}

TEST_F(SmugglingTest, InvalidMethodsAreRejected) {
    for (const std::string m : {"G(T", "GE\"T", "GET\t", "G\x01T", "G/T", "G@T", "[GET]", "G{T"}) {
        SCOPED_TRACE("method " + m);
        expect_rejected(m + " /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    expect_rejected(" GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_rejected("GET  /echo HTTP/1.1\r\nHost: x\r\n\r\n");
}

TEST_F(SmugglingTest, InvalidVersionsAreRejected) {
    for (const std::string v : {"HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "HTTP/1.10", "http/1.1", "HTTP/1", "HTTP/1.1 ",
                                "HTTP /1.1", "HTTP/11", "HTTP/1.a", "HTTPS/1.1"}) {
        SCOPED_TRACE("version " + v);
        expect_rejected("GET /echo " + v + "\r\nHost: x\r\n\r\n");
    }
}

TEST_F(SmugglingTest, InvalidTargetsAreRejected) {
    expect_rejected("GET /e\x7f HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_rejected("GET /e\x01 HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_rejected("GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n");  // raw UTF-8: must be percent-encoded
    expect_rejected("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n");
}

TEST_F(SmugglingTest, DuplicateOrInvalidHostIsRejected) {
    // RFC 9112 3.2: more than one Host, or an invalid one, is 400.
    expect_rejected("GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: a, b\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: a/b\r\n\r\n");
    expect_rejected("GET /echo HTTP/1.1\r\nHost: u@a\r\n\r\n");
}

TEST_F(SmugglingTest, RejectionLeavesOtherConnectionsAlone) {
    connection good(sluice.port);
    EXPECT_EQ(good.request("GET", "/echo").status, 200u);
    expect_rejected(post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"));
    EXPECT_EQ(good.request("GET", "/echo").status, 200u);
}

TEST_F(SmugglingTest, PipelinedRequestAfterRejectedOneIsNeverRead) {
    // The second request rides behind a rejected head: sluice closes without reading it.
    const auto before = backend_requests(echo);
    connection c(sluice.port, std::chrono::seconds(3));
    c.send_raw(post("Content-Length: 5, 5\r\n") + "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto r = c.read_response();
    EXPECT_EQ(r.status, 400u);
    const std::string rest = c.read_until_close();
    EXPECT_EQ(rest.find("HTTP/1.1"), std::string::npos) << rest;
    EXPECT_EQ(backend_requests(echo) - before, 1);
}

// ---- upstream responses (RFC 9112 6.3) ----

// A raw upstream: answers every request head it reads with `reply` and counts connections,
// requests and connections the peer closed. Plain sockets, one thread per connection.
class raw_upstream {
public:
    explicit raw_upstream(std::string reply) : reply_(std::move(reply)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
            throw std::runtime_error("raw_upstream: bind/listen failed");
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~raw_upstream() {
        stop_ = true;
        acceptor_.join();
        std::lock_guard lock(mutex_);
        for (auto& t : connections_) t.join();
        ::close(fd_);
    }
    std::string address() const { return "127.0.0.1:" + std::to_string(port); }

    // Waits (bounded) until `counter` reaches `n`.
    static bool wait_for(const std::atomic<int>& counter, int n) {
        for (int i = 0; i < 200 && counter.load() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return counter.load() >= n;
    }

    unsigned short port = 0;
    std::atomic<int> accepted{0};
    std::atomic<int> requests{0};
    std::atomic<int> closed{0};

private:
    static bool readable(int fd) {
        pollfd p{fd, POLLIN, 0};
        return ::poll(&p, 1, 50) > 0;
    }
    void accept_loop() {
        while (!stop_) {
            if (!readable(fd_)) continue;
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            ++accepted;
            std::lock_guard lock(mutex_);
            connections_.emplace_back([this, c] { serve(c); });
        }
    }
    void serve(int c) {
        std::string in;
        char buf[4096];
        while (!stop_) {
            if (!readable(c)) continue;
            const auto n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) {
                ++closed;
                break;
            }
            in.append(buf, static_cast<std::size_t>(n));
            for (std::size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
                in.erase(0, end + 4);
                ++requests;
                ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
            }
        }
        ::close(c);
    }

    std::string reply_;
    int fd_ = -1;
    std::atomic<bool> stop_{false};
    std::thread acceptor_;
    std::mutex mutex_;
    std::vector<std::thread> connections_;
};

// Sluice in front of one raw upstream, without retries, so each request is one attempt.
proxy sluice_for(const raw_upstream& up) {
    return start_sluice(server_block() + "[[upstream]]\nname = \"raw\"\nservers = [\"" + up.address() +
                        "\"]\nretries = { attempts = 1 }\n\n[[route]]\nmatch = { path_prefix = \"/\" }\nupstream = \"raw\"\n");
}

void expect_bad_gateway(const std::string& reply) {
    SCOPED_TRACE(reply);
    raw_upstream up(reply);
    auto sluice = sluice_for(up);
    connection c(sluice.port, std::chrono::seconds(3));
    auto r = c.request("GET", "/x");
    EXPECT_EQ(r.status, 502u);
    if (r.status == 502u) {
        EXPECT_EQ(error_code_of(r), "upstream_bad_response");
    }
    EXPECT_TRUE(r.body.find("hello") == std::string::npos);  // nothing of the bad response leaks
    // The upstream connection is closed, not pooled: the next request opens a new one.
    EXPECT_TRUE(raw_upstream::wait_for(up.closed, 1));
    EXPECT_EQ(c.request("GET", "/x").status, 502u);
    EXPECT_EQ(up.accepted.load(), 2);
    EXPECT_EQ(up.requests.load(), 2);
}

TEST(UpstreamFramingTest, CleanResponseIsRelayedOnAReusedConnection) {
    raw_upstream up("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    auto sluice = sluice_for(up);
    connection c(sluice.port, std::chrono::seconds(3));
    EXPECT_EQ(c.request("GET", "/x").body, "hello");
    EXPECT_EQ(c.request("GET", "/x").body, "hello");
    EXPECT_EQ(up.accepted.load(), 1);
    EXPECT_EQ(up.requests.load(), 2);
}

TEST(UpstreamFramingTest, ChunkedResponseIsRelayed) {
    raw_upstream up("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    auto sluice = sluice_for(up);
    EXPECT_EQ(get(sluice.port, "/x").body, "hello");
}

TEST(UpstreamFramingTest, ContentLengthWithTransferEncodingIs502) {
    expect_bad_gateway("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    expect_bad_gateway("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    expect_bad_gateway("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello");
}

TEST(UpstreamFramingTest, DifferingContentLengthsAre502) {
    expect_bad_gateway("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
    expect_bad_gateway("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!");
    expect_bad_gateway("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello");
}

TEST(UpstreamFramingTest, TransferEncodingOtherThanChunkedIs502) {
    // Sluice decodes no transfer coding, so it cannot relay one (RFC 9112 6.1).
    expect_bad_gateway("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nhello");
    expect_bad_gateway("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    expect_bad_gateway("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
}

TEST(UpstreamFramingTest, IdenticalDuplicateContentLengthIsRelayed) {
    // RFC 9110 8.6 allows a recipient to accept a list of identical values; responses come from
    // servers Sluice's operator chose, so it is lenient here and strict with clients.
    raw_upstream up("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
    auto sluice = sluice_for(up);
    const auto r = get(sluice.port, "/x");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "hello");
}

}  // namespace
}  // namespace sluice::test
