// The proxy path for plain-TCP downstream connections.
#include "http/proxy_pass_impl.hpp"

namespace sluice::http {
template asio::awaitable<void> proxy_pass<plain_stream>(exchange<plain_stream>&);
}
