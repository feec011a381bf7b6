#pragma once
// The plain interface between the HTTP code and a route's Lua filter: the request and response
// as the script sees them (implemented over Beast by http/lua_glue.hpp, by fakes in unit
// tests), and what a call decided. No Lua and no Beast here.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::lua {

// Bodies up to this size (declared by Content-Length) can be read by req:body(); larger or
// chunked bodies stream as usual and req:body() returns nil.
constexpr std::uint64_t max_body_bytes = 64 * 1024;

// The request being filtered. Edits apply to the request that goes upstream.
class request_access {
public:
    virtual std::string_view method() const = 0;
    virtual std::string_view target() const = 0;  // path and query, as it will go upstream
    virtual void set_target(std::string_view target) = 0;
    virtual std::optional<std::string_view> header(std::string_view name) const = 0;  // first field
    virtual void set_header(std::string_view name, std::string_view value) = 0;        // replaces all
    virtual void remove_header(std::string_view name) = 0;
    // Length of the body when it is known before reading it (0 for none); nullopt when chunked.
    virtual std::optional<std::uint64_t> body_length() const = 0;

protected:
    ~request_access() = default;
};

// The upstream response head, before it goes downstream.
class response_access {
public:
    virtual unsigned status() const = 0;
    virtual std::optional<std::string_view> header(std::string_view name) const = 0;
    virtual void set_header(std::string_view name, std::string_view value) = 0;
    virtual void remove_header(std::string_view name) = 0;

protected:
    ~response_access() = default;
};

// req:respond(status, headers, body): the answer that replaces the upstream.
struct reply {
    unsigned status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// How a hook call ended.
enum class outcome {
    done,       // returned (or the script has no such hook): go on
    need_body,  // on_request called req:body(): read the body, then resume_with_body
    responded,  // on_request called req:respond(): answer with request_call::response()
    failed,     // runtime error, instruction or memory limit: 500; request_call::error() says why
};

}  // namespace sluice::lua
