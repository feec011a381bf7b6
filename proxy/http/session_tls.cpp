// TLS downstream sessions: handshake under header_timeout, then the same request loop.
#include "http/session_impl.hpp"
#include "server/tls_context.hpp"

#include <boost/asio/ssl/stream_base.hpp>

namespace sluice::http {

using namespace session_detail;

void start_tls_session(tcp::socket socket, server::worker& w, const std::string& listener_name,
                       std::shared_ptr<server::tls_bundle> tls, server::listener_connections::slot slot) {
    w.session_started();
    auto run = [](tcp::socket socket, server::worker& w, std::string listener,
                  std::shared_ptr<server::tls_bundle> tls) -> asio::awaitable<void> {
        co_await with_connection(socket, w, listener, [&](const std::string& client_ip) -> asio::awaitable<void> {
            tls_stream ds(std::move(socket), tls->default_context());
            const auto snap = w.snapshot();
            lowest(ds).expires_after(snap->server.header_timeout);
            w.set_idle(&lowest(ds).socket());
            auto [hec] = co_await ds.async_handshake(asio::ssl::stream_base::server, token);
            w.clear_idle(&lowest(ds).socket());
            if (hec) {
                // Garbage, plaintext or an abandoned handshake: this connection only.
                w.metrics().tls_handshake_failed(listener);
                beast::error_code ec;
                lowest(ds).socket().close(ec);
                co_return;
            }
            co_await serve(ds, w, client_ip);
            // close_notify, briefly: a peer that already left must not hold the session.
            lowest(ds).expires_after(std::chrono::seconds(1));
            co_await ds.async_shutdown(token);
            lowest(ds).close();
        });
    };
    asio::co_spawn(w.ioc(), run(std::move(socket), w, listener_name, std::move(tls)),
                   [&w, slot = std::move(slot)](std::exception_ptr) mutable {
                       slot = {};
                       w.session_ended();
                   });
}

}  // namespace sluice::http
