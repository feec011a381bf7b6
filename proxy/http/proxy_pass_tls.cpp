// The proxy path for TLS downstream connections.
#include "http/proxy_pass_impl.hpp"

namespace sluice::http {
template asio::awaitable<void> proxy_pass<tls_stream>(exchange<tls_stream>&);
}
