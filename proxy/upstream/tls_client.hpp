#pragma once
// TLS to upstream servers (OpenSSL through asio::ssl), like nginx's proxy_ssl_* and Envoy's
// UpstreamTlsContext: TLS 1.2 and 1.3 only, ALPN http/1.1, the peer's chain verified against a
// CA file (or the system trust store) and its name checked, SNI sent. One client context per
// upstream, built by the config loader (so `sluice -t` reports an unreadable CA file) and
// shared read-only by every worker: OpenSSL contexts are safe to create connections from
// concurrently.

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}

namespace sluice::upstream {

struct tls_client_options {
    std::string ca_file;      // PEM bundle of trusted CAs; empty: the system's default trust store
    std::string server_name;  // SNI and verified name; empty: each server's own host
    bool verify = true;       // false: encrypt only, accept any certificate (testing)
};

class tls_client {
public:
    // Throws std::runtime_error naming the file when the CA file cannot be loaded.
    explicit tls_client(tls_client_options options);
    ~tls_client();
    tls_client(const tls_client&) = delete;
    tls_client& operator=(const tls_client&) = delete;

    boost::asio::ssl::context& context() { return *ctx_; }
    const tls_client_options& options() const { return options_; }

    // Prepares a new connection to a server whose configured host is `host` (a name or an IP
    // literal): SNI (names only: RFC 6066 forbids IP literals in SNI) and the name or address
    // the certificate must carry. Returns false when OpenSSL refuses (out of memory).
    bool prepare(SSL* ssl, std::string_view host) const;

    // The name the certificate is checked against for `host` (server_name if set, else host).
    std::string_view verified_name(std::string_view host) const;

private:
    tls_client_options options_;
    std::unique_ptr<boost::asio::ssl::context> ctx_;
};

}  // namespace sluice::upstream
