#pragma once
// The two kinds of downstream stream: plain TCP and TLS over TCP. The session and the proxy
// path are templates over these, instantiated once each in their own translation units.

#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace sluice::http {

using plain_stream = boost::beast::tcp_stream;
using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

inline boost::beast::tcp_stream& lowest(plain_stream& s) { return s; }
inline boost::beast::tcp_stream& lowest(tls_stream& s) { return boost::beast::get_lowest_layer(s); }

template <class Stream>
inline constexpr bool is_tls_v = std::is_same_v<Stream, tls_stream>;

}  // namespace sluice::http
