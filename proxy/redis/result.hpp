#pragma once
// The outcome of one Redis command: a reply, or an error (errc::server for an error reply).

#include "redis/error.hpp"
#include "redis/reply.hpp"

#include <utility>
#include <variant>

namespace sluice::redis {

class result {
public:
    result(reply r) : value_(std::in_place_index<0>, std::move(r)) {}
    result(redis::error e) : value_(std::in_place_index<1>, std::move(e)) {}

    bool ok() const noexcept { return value_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    // Only when ok().
    const reply& value() const& { return std::get<0>(value_); }
    reply& value() & { return std::get<0>(value_); }
    reply&& value() && { return std::get<0>(std::move(value_)); }
    const reply& operator*() const& { return value(); }
    const reply* operator->() const { return &value(); }

    // Only when !ok().
    const redis::error& err() const& { return std::get<1>(value_); }

private:
    std::variant<reply, redis::error> value_;
};

}  // namespace sluice::redis
