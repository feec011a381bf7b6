// Shared HTTP/1.x server for the reference backends (sluice-items, sluice-echo).
//
// The accept loop, the keep-alive/pipelining connection loop, request parsing, response
// serialisation, /healthz, /stats and the command line live in http_server.cpp, which is the
// only translation unit here that instantiates Beast's HTTP code. Handlers see plain structs
// (Request, Response, Header) and a small Exchange API, so their files stay cheap to compile.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::backends {

namespace asio = boost::asio;
using boost::system::error_code;

struct Options {
    std::string host;          // as given in --listen (brackets stripped for IPv6)
    std::uint16_t port = 0;    // 0: the kernel picks
    std::string name;          // value of X-Backend
    unsigned threads = 1;      // threads running the one io_context
};

// Parses --listen HOST:PORT, --name NAME, --threads N (also --opt=value). On error returns
// nullopt and sets `error`; on --help sets `error` to the usage text and `help` to true.
std::optional<Options> parse_options(int argc, char** argv, std::string_view program,
                                     std::string_view default_name, std::string& error,
                                     bool& help);

// Counters served at GET /stats.
struct Stats {
    std::atomic<std::uint64_t> connections{0};  // connections accepted
    std::atomic<std::uint64_t> requests{0};     // request heads parsed
    std::atomic<std::uint64_t> not_modified{0}; // 304 answers (sent without a body)
};

struct Header {
    std::string name;
    std::string value;
};

struct Request {
    std::string method;            // as sent, e.g. "GET"
    std::string target;            // request-target as sent
    std::string path;              // target before '?'
    std::string query;             // target after '?' (empty when absent)
    unsigned version = 11;         // 10 or 11
    bool keep_alive = true;        // what the client asked for
    std::vector<Header> headers;   // in arrival order, names as sent

    // First header with this name (case-insensitive), or nullopt.
    std::optional<std::string_view> header(std::string_view name) const;
    bool is_head() const { return method == "HEAD"; }
};

struct Response {
    unsigned status = 200;
    std::vector<Header> headers;                 // extra headers (X-Backend is added for you)
    std::string content_type = "application/json";
    std::string body;                            // dropped for HEAD, 204 and 304
};

// A JSON error body: {"error":"message"}.
Response json_error(unsigned status, std::string_view message);

struct BodyRead {
    error_code ec;
    std::size_t size = 0;  // bytes stored; 0 without error: end of the body
};

struct BodyText {
    error_code ec;
    bool too_large = false;
    std::string text;
};

// One request/response exchange on a connection. A handler reads the request body (optional;
// unread bodies are drained afterwards), then answers either with respond() or with
// begin()/write()/end() for a streamed response. Errors are returned, never thrown.
class Exchange {
public:
    virtual ~Exchange() = default;

    virtual const Request& request() const = 0;
    virtual const std::string& backend_name() const = 0;
    virtual Stats& stats() = 0;

    // Reads the next piece of the request body into `into` (Content-Length or chunked).
    // Sends "100 Continue" first when the client expects it.
    virtual asio::awaitable<BodyRead> read_body(std::span<char> into) = 0;
    // Reads the whole body; too_large when it exceeds `limit` bytes.
    virtual asio::awaitable<BodyText> read_body_text(std::size_t limit) = 0;

    // A complete response with a string body.
    virtual asio::awaitable<error_code> respond(Response response) = 0;

    // A streamed response: begin() sends the head with Content-Length `length` or, when
    // `chunked` (HTTP/1.1 only), chunked encoding; write() sends body bytes (one chunk each
    // when chunked); end() finishes the message. For HEAD only the head is sent.
    virtual asio::awaitable<error_code> begin(unsigned status, std::vector<Header> headers,
                                              std::string content_type,
                                              std::optional<std::uint64_t> length,
                                              bool chunked) = 0;
    virtual asio::awaitable<error_code> write(std::span<const char> data) = 0;
    virtual asio::awaitable<error_code> end() = 0;

    // Closes the socket at once (e.g. in the middle of a response).
    virtual void abort() = 0;

    // Hands the socket over (for protocol upgrades); the connection loop ends after the
    // handler returns. Bytes the client sent after the upgrade request are discarded.
    virtual asio::ip::tcp::socket take_socket() = 0;
};

using Handler = std::function<asio::awaitable<void>(Exchange&)>;

// Parses the command line, binds, prints "listening on ADDR:PORT", serves until SIGTERM or
// SIGINT, and returns the process exit code. /healthz and /stats are answered here; every
// other request goes to `handler`, which must not be destroyed before serve() returns.
int serve(int argc, char** argv, std::string_view program, std::string_view default_name,
          Handler handler);

}  // namespace sluice::backends
