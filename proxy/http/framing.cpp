#include "http/framing.hpp"

namespace sluice::http::framing {

namespace {

// tchar (RFC 9110 5.6.2): the characters of methods and field names.
bool is_tchar(unsigned char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
    }
}

bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

// field-value (RFC 9110 5.5): visible characters, SP, HTAB and obs-text; no other control.
bool is_field_value(std::string_view s) noexcept {
    for (unsigned char c : s)
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    return true;
}

// uri-host [ ":" port ] (RFC 3986 3.2.2): reg-name, IP literal, or IPv4, percent-encoded allowed.
bool is_host_char(unsigned char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
    case '-': case '.': case '_': case '~':                                  // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*':
    case '+': case ',': case ';': case '=':                                  // sub-delims
    case '%': case ':': case '[': case ']': return true;
    default: return false;
    }
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

// 1*DIGIT, at most 19 digits (below 10^19: fits in 64 bits, and no body is that large).
std::optional<std::uint64_t> parse_length(std::string_view s) noexcept {
    if (s.empty() || s.size() > 19) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

}  // namespace

std::string_view to_string(violation v) noexcept {
    switch (v) {
    case violation::bare_cr: return "bare CR";
    case violation::bare_lf: return "bare LF";
    case violation::obs_fold: return "obsolete line folding";
    case violation::nul: return "NUL in head";
    case violation::bad_method: return "invalid method";
    case violation::bad_target: return "invalid request target";
    case violation::bad_version: return "unsupported HTTP version";
    case violation::bad_field_name: return "invalid field name";
    case violation::bad_field_value: return "control character in field value";
    case violation::content_length_with_transfer_encoding: return "Content-Length with Transfer-Encoding";
    case violation::bad_content_length: return "invalid Content-Length";
    case violation::multiple_content_length: return "more than one Content-Length";
    case violation::bad_transfer_encoding: return "Transfer-Encoding other than chunked";
    case violation::multiple_transfer_encoding: return "more than one Transfer-Encoding";
    case violation::transfer_encoding_in_http10: return "Transfer-Encoding in HTTP/1.0";
    case violation::multiple_host: return "more than one Host";
    case violation::bad_host: return "invalid Host";
    }
    return "invalid framing";
}

head_scan head_scanner::scan(std::string_view bytes) {
    const std::size_t n = bytes.size();
    while (pos_ < n) {
        const char c = bytes[pos_];
        if (c == '\0') return {head_scan::status::invalid, 0, violation::nul};
        if (c == '\n') return {head_scan::status::invalid, 0, violation::bare_lf};
        if (c != '\r') {
            ++pos_;
            continue;
        }
        // CR: a line ends here if LF follows; what comes after it says whether the head ends.
        if (pos_ + 1 >= n) break;
        if (bytes[pos_ + 1] != '\n') return {head_scan::status::invalid, 0, violation::bare_cr};
        if (pos_ == line_start_) return {head_scan::status::complete, pos_ + 2, {}};  // the empty line
        if (pos_ + 2 >= n) break;
        const char next = bytes[pos_ + 2];
        if (next == ' ' || next == '\t') return {head_scan::status::invalid, 0, violation::obs_fold};
        pos_ += 2;
        line_start_ = pos_;
    }
    return {};
}

bool request_line_exceeds(std::string_view bytes, std::size_t limit) noexcept {
    return bytes.substr(0, limit).find("\r\n") == std::string_view::npos;
}

void field_checker::field(std::string_view name, std::string_view value) noexcept {
    if (!field_error_) {
        if (!is_token(name)) field_error_ = violation::bad_field_name;
        else if (!is_field_value(value)) field_error_ = violation::bad_field_value;
    }
    if (iequals(name, "content-length")) {
        ++content_length_fields_;
        std::string_view rest = value;
        for (;;) {
            const auto comma = rest.find(',');
            if (comma != std::string_view::npos) content_length_list_ = true;
            const auto v = parse_length(trim_ows(rest.substr(0, comma)));
            if (!v) content_length_bad_ = true;
            else if (content_length_ && *content_length_ != *v) content_length_differs_ = true;
            else content_length_ = v;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    } else if (iequals(name, "transfer-encoding")) {
        ++transfer_encoding_fields_;
        if (!iequals(trim_ows(value), "chunked")) transfer_encoding_bad_ = true;
    } else if (iequals(name, "host")) {
        ++host_fields_;
        for (unsigned char c : trim_ows(value))
            if (!is_host_char(c)) host_bad_ = true;
    }
}

std::optional<violation> field_checker::framing(unsigned version, bool request) const noexcept {
    if (content_length_fields_ && transfer_encoding_fields_) return violation::content_length_with_transfer_encoding;
    if (transfer_encoding_fields_ > 1) return violation::multiple_transfer_encoding;
    if (transfer_encoding_bad_) return violation::bad_transfer_encoding;
    if (transfer_encoding_fields_ && version < 11) return violation::transfer_encoding_in_http10;
    if (content_length_bad_) return violation::bad_content_length;
    if (content_length_differs_) return violation::multiple_content_length;
    if (request && (content_length_fields_ > 1 || content_length_list_)) return violation::multiple_content_length;
    return std::nullopt;
}

std::optional<violation> field_checker::request(std::string_view method, std::string_view target,
                                                unsigned version) const noexcept {
    if (!is_token(method)) return violation::bad_method;
    if (target.empty()) return violation::bad_target;
    for (unsigned char c : target)
        if (c <= 0x20 || c >= 0x7f) return violation::bad_target;
    if (version != 10 && version != 11) return violation::bad_version;
    if (field_error_) return field_error_;
    if (auto v = framing(version, true)) return v;
    if (host_fields_ > 1) return violation::multiple_host;
    if (host_bad_) return violation::bad_host;
    return std::nullopt;
}

std::optional<violation> field_checker::response(unsigned version) const noexcept {
    if (field_error_) return field_error_;
    return framing(version, false);
}

}  // namespace sluice::http::framing
