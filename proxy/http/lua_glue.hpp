#pragma once
// Beast adapters for the Lua filter's plain interface (lua/filter.hpp): the parsed request the
// session is about to forward, and the response head proxy_pass is about to send. Included
// only by the session and proxy-path translation units.

#include "http/exchange.hpp"
#include "lua/filter.hpp"

#include <boost/beast/http/message.hpp>

namespace sluice::http {

// The request in the parser: edits change what proxy_pass copies upstream.
class lua_request final : public lua::request_access {
public:
    explicit lua_request(request_parser& p) : p_(p) {}
    std::string_view method() const override { return p_.get().method_string(); }
    std::string_view target() const override { return p_.get().target(); }
    void set_target(std::string_view t) override { p_.get().target(t); }
    std::optional<std::string_view> header(std::string_view name) const override {
        auto it = p_.get().find(name);
        if (it == p_.get().end()) return std::nullopt;
        return std::string_view(it->value());
    }
    void set_header(std::string_view name, std::string_view value) override { p_.get().set(name, value); }
    void remove_header(std::string_view name) override { p_.get().erase(name); }
    std::optional<std::uint64_t> body_length() const override {
        if (p_.is_done()) return 0;
        if (p_.chunked()) return std::nullopt;
        if (auto n = p_.content_length()) return *n;
        return 0;
    }

private:
    request_parser& p_;
};

// A response head on its way downstream.
template <class Fields>
class lua_response final : public lua::response_access {
public:
    lua_response(boost::beast::http::header<false, Fields>& h) : h_(h) {}
    unsigned status() const override { return h_.result_int(); }
    std::optional<std::string_view> header(std::string_view name) const override {
        auto it = h_.find(name);
        if (it == h_.end()) return std::nullopt;
        return std::string_view(it->value());
    }
    void set_header(std::string_view name, std::string_view value) override { h_.set(name, value); }
    void remove_header(std::string_view name) override { h_.erase(name); }

private:
    boost::beast::http::header<false, Fields>& h_;
};

}  // namespace sluice::http
