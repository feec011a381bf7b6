#pragma once
// The stream of one upstream connection: plain TCP, or TLS over TCP when the upstream has
// `tls` set. One type for both (the choice is made per upstream at run time), so the proxy path
// is not instantiated twice more: reads and writes dispatch to whichever layer is in use.
// Deadlines, the socket and closing always act on the TCP layer underneath.

#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <memory>
#include <utility>

namespace sluice::upstream {

class stream {
public:
    using tls_layer = boost::beast::ssl_stream<boost::beast::tcp_stream>;
    using executor_type = boost::beast::tcp_stream::executor_type;

    explicit stream(boost::asio::io_context& ioc) : tcp_(ioc) {}
    explicit stream(const executor_type& ex) : tcp_(ex) {}

    executor_type get_executor() { return lowest().get_executor(); }

    // The TCP layer: deadlines (expires_after), the socket, close.
    boost::beast::tcp_stream& lowest() { return tls_ ? boost::beast::get_lowest_layer(*tls_) : tcp_; }
    boost::asio::ip::tcp::socket& socket() { return lowest().socket(); }
    void expires_after(std::chrono::steady_clock::duration d) { lowest().expires_after(d); }
    void expires_never() { lowest().expires_never(); }
    void close() { lowest().close(); }

    bool is_tls() const { return tls_ != nullptr; }
    // Puts TLS on top of the connected TCP stream (before the handshake).
    tls_layer& start_tls(boost::asio::ssl::context& ctx) {
        tls_ = std::make_unique<tls_layer>(std::move(tcp_), ctx);
        return *tls_;
    }
    tls_layer* tls() { return tls_.get(); }

    template <class MutableBufferSequence, class ReadToken>
    auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
        return boost::asio::async_initiate<ReadToken, void(boost::system::error_code, std::size_t)>(
            [this](auto&& handler, const MutableBufferSequence& b) {
                if (tls_) tls_->async_read_some(b, std::forward<decltype(handler)>(handler));
                else tcp_.async_read_some(b, std::forward<decltype(handler)>(handler));
            },
            token, buffers);
    }

    template <class ConstBufferSequence, class WriteToken>
    auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
        return boost::asio::async_initiate<WriteToken, void(boost::system::error_code, std::size_t)>(
            [this](auto&& handler, const ConstBufferSequence& b) {
                if (tls_) tls_->async_write_some(b, std::forward<decltype(handler)>(handler));
                else tcp_.async_write_some(b, std::forward<decltype(handler)>(handler));
            },
            token, buffers);
    }

private:
    boost::beast::tcp_stream tcp_;     // the connection while plain; moved into tls_ by start_tls
    std::unique_ptr<tls_layer> tls_;  // set when the upstream speaks TLS
};

}  // namespace sluice::upstream
