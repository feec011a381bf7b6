#include "upstream/tls_client.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>

#include "common/openssl_error.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdexcept>

namespace sluice::upstream {

namespace ssl = boost::asio::ssl;

namespace {

using common::openssl_error;

bool is_ip_literal(std::string_view host) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(std::string(host), ec);
    return !ec;
}

}  // namespace

tls_client::tls_client(tls_client_options options)
    : options_(std::move(options)), ctx_(std::make_unique<ssl::context>(ssl::context::tls_client)) {
    SSL_CTX* native = ctx_->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    static constexpr unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(native, alpn, sizeof alpn);
    ERR_clear_error();
    if (options_.verify) {
        SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
        if (!options_.ca_file.empty()) {
            if (SSL_CTX_load_verify_locations(native, options_.ca_file.c_str(), nullptr) != 1)
                throw std::runtime_error("TLS CA file " + options_.ca_file + ": " + openssl_error());
        } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
            throw std::runtime_error("TLS: cannot load the system trust store: " + openssl_error());
        }
    } else {
        SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
    }
}

tls_client::~tls_client() = default;

std::string_view tls_client::verified_name(std::string_view host) const {
    return options_.server_name.empty() ? host : std::string_view(options_.server_name);
}

bool tls_client::prepare(SSL* ssl, std::string_view host) const {
    const std::string name(verified_name(host));
    const bool ip = is_ip_literal(name);
    if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) return false;
    if (!options_.verify) return true;
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (ip) return X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1;
}

}  // namespace sluice::upstream
