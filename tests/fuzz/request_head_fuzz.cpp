// libFuzzer target: a request head as the downstream session reads it (raw scan, Beast's parser,
// framing checks) and as proxy_pass forwards it (route transform, one framing chosen by Sluice).
// Invariant: whatever is accepted is forwarded as a head that parses again, passes the same
// checks, and carries exactly one framing.

#include "http/framing.hpp"
#include "route/transform.hpp"

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

namespace bhttp = boost::beast::http;
using namespace sluice;

namespace {

const config::route& fuzz_route() {
    static const config::route r = [] {
        config::route r;
        r.name = "fuzz";
        r.match.path_prefix = "/api";
        r.rewrite_prefix = "/v2";
        r.set_headers = {{"X-Set", "1"}};
        r.remove_headers = {"X-Remove"};
        return r;
    }();
    return r;
}

[[noreturn]] void fail(const char* why) {
    std::fprintf(stderr, "invariant broken: %s\n", why);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);

    // Raw scan, as read_head_bytes does, fed in two pieces to exercise resumption.
    http::framing::head_scanner scanner;
    scanner.scan(bytes.substr(0, size / 2));
    const auto scan = scanner.scan(bytes);
    if (scan.state != http::framing::head_scan::status::complete) return 0;
    if (scan.length > size) fail("head longer than the input");

    bhttp::request_parser<bhttp::empty_body> p;
    p.header_limit(64 * 1024);
    p.eager(false);
    boost::beast::error_code ec;
    p.put(boost::asio::buffer(data, scan.length), ec);
    if (ec || !p.is_header_done()) return 0;
    const auto& req = p.get();
    if (http::framing::check_request(req)) return 0;
    if (p.chunked() && p.content_length()) fail("accepted a head with two framings");

    // Forward it: the transform of proxy_pass plus its framing (mirrors set_request_framing).
    bhttp::request<bhttp::empty_body> ureq;
    static_cast<bhttp::request_header<>&>(ureq) = req.base();
    ureq.version(11);
    ureq.target(route::rewrite_target(fuzz_route(), req.target()));
    route::prepare_upstream_request(ureq, fuzz_route(), {"127.0.0.1", "http", "0123456789abcdef0123456789abcdef"});
    ureq.erase(bhttp::field::content_length);
    if (p.chunked()) ureq.chunked(true);
    else if (auto len = p.content_length()) ureq.content_length(*len);

    std::ostringstream os;
    os << ureq.base();
    const std::string out = os.str();

    http::framing::head_scanner again;
    const auto rescan = again.scan(out);
    if (rescan.state != http::framing::head_scan::status::complete || rescan.length != out.size())
        fail("forwarded head does not scan as one head");
    bhttp::request_parser<bhttp::empty_body> q;
    q.header_limit(1024 * 1024);
    q.eager(false);
    q.put(boost::asio::buffer(out), ec);
    if (ec || !q.is_header_done()) fail("forwarded head does not parse");
    if (auto v = http::framing::check_request(q.get())) fail("forwarded head fails the framing checks");
    if (q.chunked() != p.chunked() || q.content_length() != p.content_length()) fail("framing changed");
    return 0;
}
