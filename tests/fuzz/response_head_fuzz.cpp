// libFuzzer target: an upstream response head through Beast's parser and framing::check_response.
// Invariant: a head the checks accept has at most one framing.

#include "http/framing.hpp"

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstdint>
#include <cstdlib>

namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    bhttp::response_parser<bhttp::empty_body> p;
    p.eager(false);
    boost::beast::error_code ec;
    p.put(boost::asio::buffer(data, size), ec);
    if (ec || !p.is_header_done()) return 0;
    if (sluice::http::framing::check_response(p.get())) return 0;
    if (p.chunked() && p.content_length()) std::abort();
    return 0;
}
