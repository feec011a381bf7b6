#include "http/framing.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <string>
#include <utility>
#include <vector>

namespace sluice::http::framing {
namespace {

using fields = std::vector<std::pair<std::string, std::string>>;
using status = head_scan::status;

std::optional<violation> request(const fields& f, std::string_view method = "POST", std::string_view target = "/",
                                 unsigned version = 11) {
    field_checker c;
    for (const auto& [n, v] : f) c.field(n, v);
    return c.request(method, target, version);
}

std::optional<violation> response(const fields& f, unsigned version = 11) {
    field_checker c;
    for (const auto& [n, v] : f) c.field(n, v);
    return c.response(version);
}

head_scan scan(std::string_view bytes) { return head_scanner().scan(bytes); }

// ---- raw head ----

TEST(HeadScannerTest, FindsTheEndOfAHead) {
    const std::string head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    auto s = scan(head + "body");
    EXPECT_EQ(s.state, status::complete);
    EXPECT_EQ(s.length, head.size());
    EXPECT_EQ(scan("GET / HTTP/1.1\r\n\r\n").length, 18u);
}

TEST(HeadScannerTest, NeedsMoreUntilTheEmptyLine) {
    for (std::string_view partial : {"", "GET", "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r"})
        EXPECT_EQ(scan(partial).state, status::need_more) << partial;
}

TEST(HeadScannerTest, ResumesWhereItStoppedByteByByte) {
    const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n";
    head_scanner s;
    for (std::size_t n = 0; n < head.size(); ++n) ASSERT_EQ(s.scan(std::string_view(head).substr(0, n)).state, status::need_more) << n;
    auto r = s.scan(head);
    EXPECT_EQ(r.state, status::complete);
    EXPECT_EQ(r.length, head.size());
}

TEST(HeadScannerTest, ObsFoldIsInvalidEvenWhenSplitAcrossReads) {
    const std::string head = "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n";
    EXPECT_EQ(scan(head).why, violation::obs_fold);
    EXPECT_EQ(scan("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n").why, violation::obs_fold);
    EXPECT_EQ(scan("GET / HTTP/1.1\r\n Host: x\r\n\r\n").why, violation::obs_fold);
    head_scanner s;
    const auto cut = head.find(" b");
    EXPECT_EQ(s.scan(std::string_view(head).substr(0, cut)).state, status::need_more);
    auto r = s.scan(head);
    EXPECT_EQ(r.state, status::invalid);
    EXPECT_EQ(r.why, violation::obs_fold);
}

TEST(HeadScannerTest, BareCrBareLfAndNulAreInvalid) {
    using namespace std::string_literals;
    EXPECT_EQ(scan("GET / HTTP/1.1\nHost: x\n\n").why, violation::bare_lf);
    EXPECT_EQ(scan("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n").why, violation::bare_cr);
    EXPECT_EQ(scan("GET / HTTP/1.1\r\r\n\r\n").why, violation::bare_cr);
    EXPECT_EQ(scan("GET / HTTP/1.1\r\nX: a\n\r\n").why, violation::bare_lf);
    EXPECT_EQ(scan("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"s).why, violation::nul);
    // Bytes after the head are not the scanner's business (body, next request).
    EXPECT_EQ(scan("GET / HTTP/1.1\r\n\r\n\n\0\r"s).state, status::complete);
}

TEST(HeadScannerTest, RequestLineOverTheLimitIs414) {
    EXPECT_TRUE(request_line_exceeds("GET /aaaaaaaa", 8));
    EXPECT_FALSE(request_line_exceeds("GET /\r\nX: aaaaaaaaaaaaa", 8));
    EXPECT_TRUE(request_line_exceeds("GET /aaa\r\n", 8));  // its CRLF is past the limit
}

// ---- requests ----

TEST(RequestFramingTest, CleanRequestsPass) {
    EXPECT_EQ(request({{"Host", "example.com:8080"}, {"Content-Length", "5"}}), std::nullopt);
    EXPECT_EQ(request({{"Host", "[::1]:80"}, {"Transfer-Encoding", "chunked"}}), std::nullopt);
    EXPECT_EQ(request({{"Transfer-Encoding", "CHUNKED"}}), std::nullopt);
    EXPECT_EQ(request({{"Transfer-Encoding", " chunked\t"}}), std::nullopt);
    EXPECT_EQ(request({{"Content-Length", "0"}}, "GET", "/a?b=%20c", 10), std::nullopt);
    EXPECT_EQ(request({{"X-Obs-Text", "caf\xc3\xa9"}, {"X-Tab", "a\tb"}, {"Host", ""}}), std::nullopt);
    EXPECT_EQ(request({}, "OPTIONS", "*"), std::nullopt);
    EXPECT_EQ(request({}, "CONNECT", "example.com:443"), std::nullopt);
    EXPECT_EQ(request({}, "GET", "http://example.com/a"), std::nullopt);
}

TEST(RequestFramingTest, ContentLengthWithTransferEncoding) {
    EXPECT_EQ(request({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}),
              violation::content_length_with_transfer_encoding);
    EXPECT_EQ(request({{"Transfer-Encoding", "gzip"}, {"Content-Length", "5"}}),
              violation::content_length_with_transfer_encoding);
}

TEST(RequestFramingTest, ContentLengthMustBeOneNumber) {
    for (std::string_view v : {"", "abc", "+5", "-5", "0x5", "5 5", "5.0", "5;", " ", "99999999999999999999",
                               "10000000000000000000"})
        EXPECT_EQ(request({{"Content-Length", std::string(v)}}), violation::bad_content_length) << v;
    EXPECT_EQ(request({{"Content-Length", "9999999999999999999"}}), std::nullopt);  // 19 digits
    EXPECT_EQ(request({{"Content-Length", "5, 5"}}), violation::multiple_content_length);
    EXPECT_EQ(request({{"Content-Length", "5,6"}}), violation::multiple_content_length);
    EXPECT_EQ(request({{"Content-Length", "5"}, {"content-length", "5"}}), violation::multiple_content_length);
    EXPECT_EQ(request({{"Content-Length", "5,"}}), violation::bad_content_length);
}

TEST(RequestFramingTest, TransferEncodingMustBeExactlyChunked) {
    for (std::string_view v : {"gzip", "identity", "chunked, gzip", "gzip, chunked", "chunked,chunked", "chunked;x=1",
                               "xchunked", "\"chunked\"", ""})
        EXPECT_EQ(request({{"Transfer-Encoding", std::string(v)}}), violation::bad_transfer_encoding) << v;
    EXPECT_EQ(request({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}),
              violation::multiple_transfer_encoding);
    EXPECT_EQ(request({{"Transfer-Encoding", "chunked"}}, "POST", "/", 10), violation::transfer_encoding_in_http10);
}

TEST(RequestFramingTest, RequestLine) {
    for (std::string_view m : {"", "G T", "G(T", "G\"T", "G/T", "G@T", "G{T", "G\x01T", "G\x7fT", "G\xc3T"})
        EXPECT_EQ(request({}, m), violation::bad_method) << m;
    for (std::string_view t : {"", "/a b", "/\x7f", "/\x01", "/\xc3\xa9", "/a\tb"})
        EXPECT_EQ(request({}, "GET", t), violation::bad_target) << t;
    for (unsigned v : {0u, 9u, 12u, 20u}) EXPECT_EQ(request({}, "GET", "/", v), violation::bad_version) << v;
}

TEST(RequestFramingTest, FieldNamesAndValues) {
    using namespace std::string_literals;
    EXPECT_EQ(request({{"", "v"}}), violation::bad_field_name);
    EXPECT_EQ(request({{"X A", "v"}}), violation::bad_field_name);
    EXPECT_EQ(request({{"X-A ", "v"}}), violation::bad_field_name);
    EXPECT_EQ(request({{"X:A", "v"}}), violation::bad_field_name);
    EXPECT_EQ(request({{"X\0A"s, "v"}}), violation::bad_field_name);
    EXPECT_EQ(request({{"X-A", "v\0w"s}}), violation::bad_field_value);
    EXPECT_EQ(request({{"X-A", "v\rw"}}), violation::bad_field_value);
    EXPECT_EQ(request({{"X-A", "v\nw"}}), violation::bad_field_value);
    EXPECT_EQ(request({{"X-A", "v\x7fw"}}), violation::bad_field_value);
}

TEST(RequestFramingTest, Host) {
    EXPECT_EQ(request({{"Host", "a"}, {"Host", "a"}}), violation::multiple_host);
    for (std::string_view h : {"a b", "a/b", "u@a", "a?b", "a#b", "a\\b", "\xc3\xa9"})
        EXPECT_EQ(request({{"Host", std::string(h)}}), violation::bad_host) << h;
}

// The template adapter over Beast's parsed messages.
TEST(RequestFramingTest, ChecksBeastMessages) {
    boost::beast::http::request_parser<boost::beast::http::empty_body> p;
    boost::beast::error_code ec;
    const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n";
    p.put(boost::asio::buffer(head), ec);
    ASSERT_FALSE(ec) << ec.message();  // Beast accepts it...
    EXPECT_EQ(check_request(p.get()), violation::content_length_with_transfer_encoding);  // ...Sluice does not
}

// ---- responses ----

TEST(ResponseFramingTest, CleanResponsesPass) {
    EXPECT_EQ(response({{"Content-Length", "5"}}), std::nullopt);
    EXPECT_EQ(response({{"Transfer-Encoding", "chunked"}}), std::nullopt);
    EXPECT_EQ(response({}), std::nullopt);  // delimited by close
    // Identical repeated values are one length (RFC 9110 8.6).
    EXPECT_EQ(response({{"Content-Length", "5, 5"}}), std::nullopt);
    EXPECT_EQ(response({{"Content-Length", "5"}, {"Content-Length", "5"}}), std::nullopt);
    EXPECT_EQ(response({{"Host", "a b"}, {"Host", "c"}}), std::nullopt);  // Host means nothing here
}

TEST(ResponseFramingTest, AmbiguousResponsesAreRejected) {
    EXPECT_EQ(response({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}}),
              violation::content_length_with_transfer_encoding);
    EXPECT_EQ(response({{"Content-Length", "5"}, {"Content-Length", "6"}}), violation::multiple_content_length);
    EXPECT_EQ(response({{"Content-Length", "5, 6"}}), violation::multiple_content_length);
    EXPECT_EQ(response({{"Content-Length", "+5"}}), violation::bad_content_length);
    EXPECT_EQ(response({{"Transfer-Encoding", "gzip"}}), violation::bad_transfer_encoding);
    EXPECT_EQ(response({{"Transfer-Encoding", "chunked, chunked"}}), violation::bad_transfer_encoding);
    EXPECT_EQ(response({{"Transfer-Encoding", "chunked"}}, 10), violation::transfer_encoding_in_http10);
}

TEST(ResponseFramingTest, ChecksBeastMessages) {
    boost::beast::http::response_parser<boost::beast::http::empty_body> p;
    boost::beast::error_code ec;
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n";
    p.put(boost::asio::buffer(head), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(check_response(p.get()), violation::content_length_with_transfer_encoding);
}

TEST(FramingTest, EveryViolationHasAName) {
    for (int v = 0; v <= static_cast<int>(violation::bad_host); ++v)
        EXPECT_NE(to_string(static_cast<violation>(v)), "invalid framing") << v;
}

}  // namespace
}  // namespace sluice::http::framing
