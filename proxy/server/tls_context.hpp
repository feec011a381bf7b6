#pragma once
// TLS server contexts for one listener (OpenSSL through asio::ssl): TLS 1.2 and 1.3 only, a
// modern cipher list, ALPN http/1.1, session resumption (tickets and a server-side cache), and
// one context per certificate chosen by SNI. Built on the main thread at start and on reload.

#include "config/config.hpp"

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::server {

class tls_bundle {
public:
    // Throws std::runtime_error naming the file when a certificate or key cannot be loaded.
    explicit tls_bundle(const config::tls_settings& settings);
    tls_bundle(const tls_bundle&) = delete;
    tls_bundle& operator=(const tls_bundle&) = delete;

    boost::asio::ssl::context& default_context() { return *entries_.front().second; }

    // The context whose names match `server_name` (exact, or "*.x.com" for one label), or null.
    boost::asio::ssl::context* find(std::string_view server_name);

private:
    std::vector<std::pair<std::vector<std::string>, std::unique_ptr<boost::asio::ssl::context>>> entries_;
};

}  // namespace sluice::server
