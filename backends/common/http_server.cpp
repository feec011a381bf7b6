// The HTTP/1.x connection loop shared by the reference backends. This is the one translation
// unit of backends/common that instantiates Beast's HTTP parser and serializer templates.
#include "http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <thread>

namespace sluice::backends {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kScratchSize = 64 * 1024;

bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

bool status_has_body(unsigned status) { return status != 204 && status != 304; }

// Beast writes "<unknown-status>" as the reason of codes it does not know; use plain text.
template <class Message>
void set_status(Message& m, unsigned status) {
    m.result(status);
    if (http::int_to_status(status) == http::status::unknown) m.reason("Status");
}

std::string escape_json(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    for (char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                static constexpr char hex[] = "0123456789abcdef";
                out += "\\u00";
                out += hex[(c >> 4) & 0xf];
                out += hex[c & 0xf];
            } else {
                out += c;
            }
        }
    }
    return out;
}

class Connection final : public Exchange {
public:
    Connection(tcp::socket socket, const Handler& handler, const std::string& name, Stats& stats)
        : socket_(std::move(socket)), handler_(handler), name_(name), stats_(stats) {}

    asio::awaitable<void> run();

    const Request& request() const override { return request_; }
    const std::string& backend_name() const override { return name_; }
    Stats& stats() override { return stats_; }

    asio::awaitable<BodyRead> read_body(std::span<char> into) override;
    asio::awaitable<BodyText> read_body_text(std::size_t limit) override;
    asio::awaitable<error_code> respond(Response response) override;
    asio::awaitable<error_code> begin(unsigned status, std::vector<Header> headers,
                                      std::string content_type,
                                      std::optional<std::uint64_t> length,
                                      bool chunked) override;
    asio::awaitable<error_code> write(std::span<const char> data) override;
    asio::awaitable<error_code> end() override;
    void abort() override;
    tcp::socket take_socket() override;

private:
    enum class ReadHead { ok, closed, bad };

    asio::awaitable<ReadHead> read_head();
    void reset_exchange();
    bool body_pending() const { return parser_ && !parser_->is_done(); }
    // Whether the connection can carry another request after this response.
    bool can_keep_alive() const {
        if (close_ || body_error_ || !request_.keep_alive) return false;
        // The client waits for "100 Continue" before sending the body: a final response
        // without it leaves the connection in an unknown state.
        return !(body_pending() && expects_continue_ && !continue_sent_);
    }
    template <class Message>
    void add_common_headers(Message& m, const std::vector<Header>& headers,
                            std::string_view content_type);
    asio::awaitable<error_code> respond_builtin();
    asio::awaitable<bool> drain_body();
    void graceful_close();

    tcp::socket socket_;
    const Handler& handler_;
    const std::string& name_;
    Stats& stats_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::buffer_body>> parser_;
    Request request_;

    // Per-exchange state.
    bool started_ = false;       // response head sent
    bool finished_ = false;      // whole response sent
    bool close_ = false;         // close after this response
    bool body_error_ = false;    // request body failed to parse or read
    bool expects_continue_ = false;
    bool continue_sent_ = false;
    bool head_only_ = false;     // streamed response to HEAD: head only
    bool gone_ = false;          // socket aborted or taken
    std::optional<http::response<http::buffer_body>> stream_res_;
    std::optional<http::response_serializer<http::buffer_body>> stream_sr_;
    std::unique_ptr<char[]> scratch_;
};

void Connection::reset_exchange() {
    stream_sr_.reset();
    stream_res_.reset();
    started_ = finished_ = close_ = body_error_ = false;
    expects_continue_ = continue_sent_ = head_only_ = false;
    request_ = Request{};
}

asio::awaitable<Connection::ReadHead> Connection::read_head() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(boost::none);  // bodies stream; no size cap
    auto [ec, n] = co_await http::async_read_header(socket_, buffer_, *parser_, use_tuple);
    (void)n;
    if (!ec) co_return ReadHead::ok;
    if (ec.category() != beast::http::make_error_code(http::error::end_of_stream).category() ||
        ec == http::error::end_of_stream || ec == http::error::partial_message)
        co_return ReadHead::closed;  // socket error or the client went away
    // A malformed request: answer 400 (431 for an oversized head) and close.
    unsigned status = ec == http::error::header_limit ? 431 : 400;
    http::response<http::string_body> res;
    set_status(res, status);
    res.version(11);
    add_common_headers(res, {}, "application/json");
    res.body() = "{\"error\":\"" + escape_json(ec.message()) + "\"}";
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(socket_, res, use_tuple);
    co_return ReadHead::bad;
}

asio::awaitable<void> Connection::run() {
    for (;;) {
        reset_exchange();
        if (co_await read_head() != ReadHead::ok) break;
        stats_.requests.fetch_add(1, std::memory_order_relaxed);

        const auto& msg = parser_->get();
        request_.method = std::string(msg.method_string());
        request_.target = std::string(msg.target());
        auto q = request_.target.find('?');
        request_.path = request_.target.substr(0, q);
        if (q != std::string::npos) request_.query = request_.target.substr(q + 1);
        request_.version = msg.version();
        request_.keep_alive = msg.keep_alive();
        for (const auto& field : msg)
            request_.headers.push_back({std::string(field.name_string()), std::string(field.value())});
        if (auto expect = request_.header("expect"))
            expects_continue_ = request_.version >= 11 && iequals(*expect, "100-continue");

        bool failed = false;
        if (request_.path == "/healthz" || request_.path == "/stats") {
            co_await respond_builtin();
        } else {
            try {
                co_await handler_(*this);
            } catch (const std::exception& e) {
                std::cerr << "handler error on " << request_.method << ' ' << request_.target
                          << ": " << e.what() << std::endl;
                failed = true;
            }
        }
        if (gone_) break;
        if (!started_) {
            close_ = close_ || failed;
            auto res = body_error_ ? json_error(400, "malformed request body")
                                   : json_error(500, failed ? "internal error" : "no response");
            if (co_await respond(std::move(res))) break;
        }
        if (!finished_ || !can_keep_alive()) {
            graceful_close();
            break;
        }
        if (body_pending() && !co_await drain_body()) {
            graceful_close();
            break;
        }
    }
}

void Connection::graceful_close() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
}

asio::awaitable<bool> Connection::drain_body() {
    if (!scratch_) scratch_ = std::make_unique<char[]>(kScratchSize);
    for (;;) {
        std::span<char> into(scratch_.get(), kScratchSize);
        auto r = co_await read_body(into);
        if (r.ec) co_return false;
        if (r.size == 0) co_return true;
    }
}

asio::awaitable<BodyRead> Connection::read_body(std::span<char> into) {
    if (body_error_) co_return BodyRead{http::error::partial_message, 0};
    if (!parser_ || parser_->is_done() || into.empty() || gone_) co_return BodyRead{};
    if (expects_continue_ && !continue_sent_) {
        continue_sent_ = true;
        http::response<http::empty_body> cont{http::status::continue_, request_.version};
        auto [ec, n] = co_await http::async_write(socket_, cont, use_tuple);
        (void)n;
        if (ec) {
            body_error_ = true;
            co_return BodyRead{ec, 0};
        }
    }
    auto& body = parser_->get().body();
    std::size_t got = 0;
    while (got == 0 && !parser_->is_done()) {
        body.data = into.data();
        body.size = into.size();
        auto [ec, n] = co_await http::async_read(socket_, buffer_, *parser_, use_tuple);
        (void)n;
        got = into.size() - body.size;
        body.data = nullptr;
        body.size = 0;
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
            body_error_ = true;
            co_return BodyRead{ec, got};
        }
    }
    co_return BodyRead{{}, got};
}

asio::awaitable<BodyText> Connection::read_body_text(std::size_t limit) {
    BodyText out;
    if (!scratch_) scratch_ = std::make_unique<char[]>(kScratchSize);
    for (;;) {
        std::span<char> into(scratch_.get(), kScratchSize);
        auto r = co_await read_body(into);
        if (r.ec) {
            out.ec = r.ec;
            co_return out;
        }
        if (r.size == 0) co_return out;
        if (out.text.size() + r.size > limit) {
            out.too_large = true;
            close_ = true;  // do not drain an oversized body
            co_return out;
        }
        out.text.append(scratch_.get(), r.size);
    }
}

template <class Message>
void Connection::add_common_headers(Message& m, const std::vector<Header>& headers,
                                    std::string_view content_type) {
    m.set("X-Backend", name_);
    if (!content_type.empty()) m.set(http::field::content_type, content_type);
    for (const auto& h : headers) m.insert(h.name, h.value);
}

asio::awaitable<error_code> Connection::respond(Response response) {
    if (started_ || gone_) co_return http::error::unexpected_body;
    if (response.status < 200 || response.status > 999) response = json_error(500, "bad status");
    started_ = true;
    http::response<http::string_body> res;
    set_status(res, response.status);
    res.version(request_.version);
    bool with_body = status_has_body(response.status);
    add_common_headers(res, response.headers, with_body ? response.content_type : "");
    if (with_body) res.body() = std::move(response.body);
    bool keep = can_keep_alive();
    res.keep_alive(keep);
    close_ = !keep;
    if (with_body) res.prepare_payload();  // 204 and 304 carry no Content-Length
    if (response.status == 304) stats_.not_modified.fetch_add(1, std::memory_order_relaxed);
    error_code ec;
    if (request_.is_head()) {
        http::response_serializer<http::string_body> sr{res};
        auto [wec, n] = co_await http::async_write_header(socket_, sr, use_tuple);
        (void)n;
        ec = wec;
    } else {
        auto [wec, n] = co_await http::async_write(socket_, res, use_tuple);
        (void)n;
        ec = wec;
    }
    if (ec) {
        close_ = true;
        co_return ec;
    }
    finished_ = true;
    co_return ec;
}

asio::awaitable<error_code> Connection::respond_builtin() {
    Response res;
    if (request_.method != "GET" && request_.method != "HEAD") {
        res = json_error(405, "method not allowed");
        res.headers.push_back({"Allow", "GET, HEAD"});
    } else if (request_.path == "/healthz") {
        res.body = R"({"status":"ok"})";
    } else {
        res.body = "{\"connections\":" + std::to_string(stats_.connections.load()) +
                   ",\"requests\":" + std::to_string(stats_.requests.load()) +
                   ",\"not_modified\":" + std::to_string(stats_.not_modified.load()) + "}";
    }
    res.headers.push_back({"Cache-Control", "no-store"});
    co_return co_await respond(std::move(res));
}

asio::awaitable<error_code> Connection::begin(unsigned status, std::vector<Header> headers,
                                              std::string content_type,
                                              std::optional<std::uint64_t> length,
                                              bool chunked) {
    if (started_ || gone_) co_return http::error::unexpected_body;
    started_ = true;
    auto& res = stream_res_.emplace();
    set_status(res, status);
    res.version(request_.version);
    add_common_headers(res, headers, content_type);
    bool keep = can_keep_alive();
    if (chunked && request_.version >= 11) {
        res.chunked(true);
    } else if (length) {
        res.content_length(*length);
    } else {
        keep = false;  // HTTP/1.0 without a length: the body ends when the connection closes
    }
    res.keep_alive(keep);
    close_ = !keep;
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = true;
    head_only_ = request_.is_head();
    auto& sr = stream_sr_.emplace(res);
    auto [ec, n] = co_await http::async_write_header(socket_, sr, use_tuple);
    (void)n;
    if (ec) close_ = true;
    co_return ec;
}

asio::awaitable<error_code> Connection::write(std::span<const char> data) {
    if (!stream_sr_ || gone_) co_return http::error::unexpected_body;
    if (head_only_ || data.empty()) co_return error_code{};
    auto& body = stream_res_->body();
    body.data = const_cast<char*>(data.data());
    body.size = data.size();
    body.more = true;
    auto [ec, n] = co_await http::async_write(socket_, *stream_sr_, use_tuple);
    (void)n;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) close_ = true;
    co_return ec;
}

asio::awaitable<error_code> Connection::end() {
    if (!stream_sr_ || gone_) co_return http::error::unexpected_body;
    if (!head_only_) {
        auto& body = stream_res_->body();
        body.data = nullptr;
        body.size = 0;
        body.more = false;
        auto [ec, n] = co_await http::async_write(socket_, *stream_sr_, use_tuple);
        (void)n;
        if (ec) {
            close_ = true;
            co_return ec;
        }
    }
    finished_ = true;
    co_return error_code{};
}

void Connection::abort() {
    error_code ignored;
    socket_.close(ignored);
    gone_ = true;
}

tcp::socket Connection::take_socket() {
    gone_ = true;
    return std::move(socket_);
}

asio::awaitable<void> run_connection(std::unique_ptr<Connection> conn) {
    co_await conn->run();
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, asio::io_context& ioc,
                                  const Handler& handler, const std::string& name,
                                  Stats& stats) {
    for (;;) {
        auto [ec, accepted] = co_await acceptor.async_accept(asio::make_strand(ioc), use_tuple);
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // Typically EMFILE: back off briefly instead of spinning.
            std::cerr << "accept: " << ec.message() << std::endl;
            asio::steady_timer pause(ioc, std::chrono::milliseconds(50));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        stats.connections.fetch_add(1, std::memory_order_relaxed);
        tcp::socket socket(std::move(accepted));
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        auto executor = socket.get_executor();
        auto conn = std::make_unique<Connection>(std::move(socket), handler, name, stats);
        asio::co_spawn(executor, run_connection(std::move(conn)), [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::cerr << "connection error: " << x.what() << std::endl;
            }
        });
    }
}

std::string format_endpoint(const tcp::endpoint& ep) {
    auto addr = ep.address().to_string();
    if (ep.address().is_v6()) addr = "[" + addr + "]";
    return addr + ":" + std::to_string(ep.port());
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
    for (const auto& h : headers)
        if (iequals(h.name, name)) return std::string_view(h.value);
    return std::nullopt;
}

Response json_error(unsigned status, std::string_view message) {
    Response r;
    r.status = status;
    r.body = "{\"error\":\"" + escape_json(message) + "\"}";
    return r;
}

int serve(int argc, char** argv, std::string_view program, std::string_view default_name,
          Handler handler) {
    std::string error;
    bool help = false;
    auto opts = parse_options(argc, argv, program, default_name, error, help);
    if (!opts) {
        (help ? std::cout : std::cerr) << error;
        return help ? 0 : 2;
    }
    Stats stats;
    asio::io_context ioc(static_cast<int>(opts->threads));

    tcp::acceptor acceptor(ioc);
    error_code ec;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(opts->host, std::to_string(opts->port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
        std::cerr << program << ": cannot resolve " << opts->host << ": " << ec.message() << "\n";
        return 1;
    }
    tcp::endpoint endpoint = results.begin()->endpoint();
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        std::cerr << program << ": cannot listen on " << format_endpoint(endpoint) << ": "
                  << ec.message() << "\n";
        return 1;
    }
    std::cout << "listening on " << format_endpoint(acceptor.local_endpoint()) << std::endl;

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&ioc](const error_code& e, int) {
        if (!e) ioc.stop();
    });
    asio::co_spawn(ioc, accept_loop(acceptor, ioc, handler, opts->name, stats),
                   [](std::exception_ptr e) {
                       if (e) std::rethrow_exception(e);
                   });

    std::vector<std::thread> workers;
    for (unsigned i = 1; i < opts->threads; ++i) workers.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : workers) t.join();
    return 0;
}

}  // namespace sluice::backends
