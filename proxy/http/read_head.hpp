#pragma once
// Reads until a whole request head is in the buffer, before Beast parses it: the raw bytes can
// then be checked for what Beast's parser accepts silently (obsolete line folding) or only
// notices late (a bare LF never ends a head), and max_header_bytes bounds the head however slowly
// it trickles in. Runs under the caller's deadline (header_timeout).

#include "http/error.hpp"
#include "http/framing.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice::http {

struct head_read {
    boost::beast::error_code ec;  // the read failed (timeout, client gone): nothing parsed
    std::optional<error> err;     // the head is invalid or too large: answer it, then close
};

template <class Stream>
boost::asio::awaitable<head_read> read_head_bytes(Stream& s, boost::beast::flat_buffer& buf, std::uint64_t limit) {
    framing::head_scanner scanner;
    for (;;) {
        const std::string_view bytes(static_cast<const char*>(buf.data().data()), buf.size());
        const auto scan = scanner.scan(bytes);
        if (scan.state == framing::head_scan::status::invalid) co_return head_read{{}, error::bad_request};
        const bool complete = scan.state == framing::head_scan::status::complete;
        if ((complete && scan.length > limit) || (!complete && bytes.size() >= limit))
            co_return head_read{{}, framing::request_line_exceeds(bytes, limit) ? error::uri_too_long
                                                                                : error::headers_too_large};
        if (complete) co_return head_read{};
        const std::size_t want = std::min<std::uint64_t>(8192, limit - bytes.size() + 4);
        auto [ec, n] = co_await s.async_read_some(buf.prepare(want), boost::asio::as_tuple(boost::asio::use_awaitable));
        if (ec) co_return head_read{ec, {}};
        buf.commit(n);
    }
}

}  // namespace sluice::http
