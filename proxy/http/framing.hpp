#pragma once
// Message framing rules (RFC 9112 sections 2.2, 3, 5, 6): what makes a request head or an upstream
// response head ambiguous, so that every byte Sluice forwards has one meaning. Pure functions over
// raw head bytes or parsed fields; no sockets, no Beast (the templates below only call the
// accessors Beast's messages have). Beast's parser already rejects most malformed heads; these
// checks cover what it lets through (see README "Hardening").

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice::http::framing {

enum class violation {
    // raw bytes of the head
    bare_cr,             // CR not followed by LF
    bare_lf,             // LF not preceded by CR
    obs_fold,            // a line starting with SP/HTAB (obsolete line folding, RFC 9112 5.2)
    nul,                 // NUL anywhere in the head
    // request line
    bad_method,          // not a token
    bad_target,          // empty, or a byte outside visible ASCII
    bad_version,         // not HTTP/1.0 or HTTP/1.1
    // fields
    bad_field_name,      // empty or not a token
    bad_field_value,     // a control character other than HTAB, or DEL
    content_length_with_transfer_encoding,
    bad_content_length,       // not 1*DIGIT (requests: lists too), or absurdly large
    multiple_content_length,  // requests: a second field; responses: differing values
    bad_transfer_encoding,    // anything but exactly "chunked" (Sluice decodes no other coding)
    multiple_transfer_encoding,
    transfer_encoding_in_http10,
    multiple_host,
    bad_host,
};

std::string_view to_string(violation v) noexcept;

// The result of scanning the raw bytes of a head as they arrive.
struct head_scan {
    enum class status { need_more, complete, invalid };
    status state = status::need_more;
    std::size_t length = 0;  // complete: bytes of the head, its final CRLF CRLF included
    violation why{};         // invalid: the first violation found
};

// Finds the end of a head (the first empty line) in bytes that grow between calls, checking on
// the way for what Beast accepts or would only notice late: obsolete line folding (Beast unfolds
// it), bare CR, bare LF and NUL. Each byte is looked at once, however the head trickles in.
class head_scanner {
public:
    // `bytes` starts where the head starts and extends the bytes of the previous call.
    head_scan scan(std::string_view bytes);

private:
    std::size_t pos_ = 0;         // next byte to look at
    std::size_t line_start_ = 0;  // where the current line starts
};

// True when a head over the size limit has no complete request line within it (414, not 431).
bool request_line_exceeds(std::string_view bytes, std::size_t limit) noexcept;

// Checks the fields of one head, fed one at a time, then the head as a whole.
class field_checker {
public:
    void field(std::string_view name, std::string_view value) noexcept;

    // A request: method, target and version, Host, and one unambiguous framing.
    std::optional<violation> request(std::string_view method, std::string_view target, unsigned version) const noexcept;
    // A response from an upstream: one unambiguous framing (identical repeated Content-Length
    // values are accepted, as RFC 9110 8.6 allows).
    std::optional<violation> response(unsigned version) const noexcept;

private:
    std::optional<violation> framing(unsigned version, bool request) const noexcept;

    std::optional<violation> field_error_;
    unsigned content_length_fields_ = 0;
    bool content_length_list_ = false;      // a comma inside one field
    bool content_length_bad_ = false;       // an element that is not a valid length
    bool content_length_differs_ = false;   // two elements with different values
    std::optional<std::uint64_t> content_length_;
    unsigned transfer_encoding_fields_ = 0;
    bool transfer_encoding_bad_ = false;
    unsigned host_fields_ = 0;
    bool host_bad_ = false;
};

// A parsed request (Beast's request or request_header): nullopt when its framing is unambiguous.
template <class Request>
std::optional<violation> check_request(const Request& req) {
    field_checker c;
    for (const auto& f : req) c.field(std::string_view(f.name_string()), std::string_view(f.value()));
    return c.request(std::string_view(req.method_string()), std::string_view(req.target()), req.version());
}

// A parsed upstream response head: nullopt when its framing is unambiguous.
template <class Response>
std::optional<violation> check_response(const Response& res) {
    field_checker c;
    for (const auto& f : res) c.field(std::string_view(f.name_string()), std::string_view(f.value()));
    return c.response(res.version());
}

}  // namespace sluice::http::framing
