#include "server/tls_context.hpp"

#include "common/openssl_error.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <stdexcept>

namespace sluice::server {

namespace ssl = boost::asio::ssl;

namespace {

constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// ALPN: we speak HTTP/1.1 only; a client offering only h2 continues without ALPN.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
    static constexpr unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

// SNI: switch the connection to the context of the certificate that names the host.
int select_certificate(SSL* ssl, int*, void* arg) {
    auto* bundle = static_cast<tls_bundle*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
    if (auto* ctx = bundle->find(name)) SSL_set_SSL_CTX(ssl, ctx->native_handle());
    return SSL_TLSEXT_ERR_OK;
}

using common::openssl_error;

std::unique_ptr<ssl::context> make_context(const config::tls_certificate& c) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_cipher_list(native, tls12_ciphers);
    static constexpr unsigned char sid_ctx[] = "sluice";
    SSL_CTX_set_session_id_context(native, sid_ctx, sizeof sid_ctx - 1);
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(native, c.cert.c_str()) != 1)
        throw std::runtime_error("TLS certificate " + c.cert + ": " + openssl_error());
    if (SSL_CTX_use_PrivateKey_file(native, c.key.c_str(), SSL_FILETYPE_PEM) != 1)
        throw std::runtime_error("TLS key " + c.key + ": " + openssl_error());
    if (SSL_CTX_check_private_key(native) != 1)
        throw std::runtime_error("TLS key " + c.key + " does not match " + c.cert);
    return ctx;
}

bool name_matches(std::string_view pattern, std::string_view name) {
    auto iequal = [](std::string_view a, std::string_view b) {
        return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
               });
    };
    if (pattern.starts_with("*.")) {
        const auto dot = name.find('.');
        return dot != std::string_view::npos && dot > 0 && iequal(pattern.substr(1), name.substr(dot));
    }
    return iequal(pattern, name);
}

}  // namespace

tls_bundle::tls_bundle(const config::tls_settings& settings) {
    for (const auto& c : settings.certs) entries_.emplace_back(c.names, make_context(c));
    // Every context runs the SNI callback: the handshake starts on the default one.
    for (auto& [names, ctx] : entries_) {
        SSL_CTX_set_tlsext_servername_callback(ctx->native_handle(), select_certificate);
        SSL_CTX_set_tlsext_servername_arg(ctx->native_handle(), this);
    }
}

ssl::context* tls_bundle::find(std::string_view server_name) {
    for (auto& [names, ctx] : entries_)
        for (const auto& n : names)
            if (name_matches(n, server_name)) return ctx.get();
    return nullptr;
}

}  // namespace sluice::server
