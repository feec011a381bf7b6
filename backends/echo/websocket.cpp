#include "websocket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace sluice::backends::echo {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

asio::awaitable<void> websocket_echo(asio::ip::tcp::socket socket, const Request& request,
                                     std::string backend_name) {
    constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
    constexpr std::size_t kMaxMessage = 16 * 1024 * 1024;

    // Rebuild the upgrade request Beast needs for the handshake.
    http::request<http::empty_body> upgrade;
    upgrade.method_string(request.method);
    upgrade.target(request.target);
    upgrade.version(request.version);
    for (const auto& h : request.headers) upgrade.insert(h.name, h.value);

    websocket::stream<asio::ip::tcp::socket> ws(std::move(socket));
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.set_option(websocket::stream_base::decorator(
        [name = std::move(backend_name)](websocket::response_type& res) {
            res.set("X-Backend", name);
        }));
    ws.read_message_max(kMaxMessage);

    auto [ec] = co_await ws.async_accept(upgrade, use_tuple);
    if (ec) co_return;

    beast::flat_buffer buffer;
    for (;;) {
        auto [rec, n] = co_await ws.async_read(buffer, use_tuple);
        (void)n;
        if (rec) co_return;  // websocket::error::closed: Beast has already echoed the close
        ws.text(ws.got_text());
        auto [wec, wn] = co_await ws.async_write(buffer.data(), use_tuple);
        (void)wn;
        if (wec) co_return;
        buffer.consume(buffer.size());
    }
}

}  // namespace sluice::backends::echo
