#include "support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <poll.h>

#include <algorithm>
#include <stdexcept>

namespace sluice::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

struct connection::impl {
    asio::io_context ioc;
    tcp::socket socket{ioc};
    beast::flat_buffer buffer;
    std::chrono::milliseconds timeout;

    // Blocks until the socket is readable or the timeout passes; Beast's sync reads have no deadline.
    bool wait_readable() {
        if (buffer.size() > 0) return true;
        pollfd p{socket.native_handle(), POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
    }
};

connection::connection(unsigned short port, std::chrono::milliseconds timeout) : impl_(std::make_unique<impl>()) {
    impl_->timeout = timeout;
    impl_->socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    impl_->socket.set_option(tcp::no_delay(true));
}

connection::~connection() = default;

int connection::native_handle() { return impl_->socket.native_handle(); }

response connection::request(const std::string& method, const std::string& target, const header_list& headers,
                             const std::string& body) {
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    bool has_host = false;
    for (const auto& [n, v] : headers) {
        req.insert(n, v);
        if (beast::iequals(n, "host")) has_host = true;
    }
    if (!has_host) req.set(bhttp::field::host, "127.0.0.1");
    req.body() = body;
    if (!body.empty() || method == "POST" || method == "PUT") req.prepare_payload();
    bhttp::write(impl_->socket, req);
    return read_response(method == "HEAD");
}

void connection::send_raw(const std::string& bytes) { asio::write(impl_->socket, asio::buffer(bytes)); }

response connection::read_response(bool head_request) {
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(boost::none);
    p.skip(head_request);
    if (!impl_->wait_readable()) throw std::runtime_error("timeout waiting for a response");
    // Deadline per read: each read_some waits for readability first.
    beast::error_code ec;
    while (!p.is_done()) {
        if (!impl_->wait_readable()) throw std::runtime_error("timeout reading a response");
        bhttp::read_some(impl_->socket, impl_->buffer, p, ec);
        if (ec) throw std::runtime_error("read failed: " + ec.message());
    }
    response r;
    auto& msg = p.get();
    r.status = msg.result_int();
    for (const auto& f : msg) {
        std::string name(f.name_string());
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        auto& slot = r.headers[name];
        if (!slot.empty()) slot += ", ";
        slot += std::string(f.value());
    }
    r.body = std::move(msg.body());
    r.keep_alive = msg.keep_alive();
    r.chunked = p.chunked();
    return r;
}

std::string connection::read_until_close() {
    std::string out(static_cast<const char*>(impl_->buffer.data().data()), impl_->buffer.size());
    impl_->buffer.consume(impl_->buffer.size());
    char buf[65536];
    for (;;) {
        if (!impl_->wait_readable()) break;
        beast::error_code ec;
        const auto n = impl_->socket.read_some(asio::buffer(buf), ec);
        if (ec) break;
        out.append(buf, n);
    }
    return out;
}

bool connection::closed_by_peer() {
    impl_->buffer.consume(impl_->buffer.size());
    char buf[4096];
    for (;;) {
        if (!impl_->wait_readable()) return false;
        beast::error_code ec;
        impl_->socket.read_some(asio::buffer(buf), ec);
        if (ec) return ec == asio::error::eof || ec == asio::error::connection_reset;
    }
}

response request(unsigned short port, const std::string& method, const std::string& target,
                 const header_list& headers, const std::string& body) {
    connection c(port);
    return c.request(method, target, headers, body);
}

}  // namespace sluice::test
