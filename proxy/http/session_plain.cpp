// Plain-TCP downstream sessions.
#include "http/session_impl.hpp"

namespace sluice::http {

using namespace session_detail;

void start_session(tcp::socket socket, server::worker& w, const std::string& listener_name,
                   server::listener_connections::slot slot) {
    w.session_started();
    auto run = [](tcp::socket socket, server::worker& w, std::string listener) -> asio::awaitable<void> {
        co_await with_connection(socket, w, listener, [&](const std::string& client_ip) -> asio::awaitable<void> {
            plain_stream ds(std::move(socket));
            co_await serve(ds, w, client_ip);
            // Half-close so the client reads everything we sent before seeing the end.
            beast::error_code ec;
            ds.socket().shutdown(tcp::socket::shutdown_send, ec);
            ds.close();
        });
    };
    asio::co_spawn(w.ioc(), run(std::move(socket), w, listener_name),
                   [&w, slot = std::move(slot)](std::exception_ptr) mutable {
                       slot = {};
                       w.session_ended();
                   });
}

}  // namespace sluice::http
