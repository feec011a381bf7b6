#pragma once
// The response cache in the request path (memory store, proxy/cache/ for the semantics):
// lookup before any upstream work, coalescing of concurrent misses, capture of a storable
// response while it streams to the client, stale-if-error. Beast-heavy: included by the session.

#include "cache/cache_status.hpp"
#include "cache/coalescer.hpp"
#include "cache/entry.hpp"
#include "cache/header_view.hpp"
#include "cache/key.hpp"
#include "cache/memory_store.hpp"
#include "cache/policy.hpp"
#include "config/config.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/fields.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace sluice::http {

// What the cache knows about one request; the proxy path fills the capture part.
struct cache_request {
    bool active = false;  // the route caches and the request may be served from / stored in the cache
    cache::request_policy policy;
    cache::settings settings;
    std::string primary;
    std::shared_ptr<const cache::entry> stored;  // an entry found for this request (maybe stale)
    cache::cache_status status;
    cache::coalescer::ticket ticket;

    // Capture of the upstream response (proxy_pass).
    bool capture = false;
    std::uint64_t max_object_bytes = 0;
    unsigned response_status = 0;
    cache::header_list response_headers;
    std::string body;
    cache::storage_decision storage;
    cache::time_point request_time{};
    cache::time_point response_time{};
    bool serve_stale = false;  // the upstream failed and `stored` may be served (stale-if-error)
    std::string invalidate_key;  // an unsafe method: the key to drop once the upstream accepted it
};

inline cache::time_point cache_now() {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

// A header_view over Beast fields: case-insensitive, repeated fields joined with ", ".
inline auto beast_getter(const boost::beast::http::fields& f) {
    return [&f](std::string_view name) -> std::optional<std::string> {
        auto [first, last] = f.equal_range(name);
        if (first == last) return std::nullopt;
        std::string value(first->value());
        for (++first; first != last; ++first) value.append(", ").append(first->value());
        return value;
    };
}

inline cache::header_list to_header_list(const boost::beast::http::fields& f) {
    cache::header_list out;
    for (const auto& field : f) out.emplace_back(std::string(field.name_string()), std::string(field.value()));
    return out;
}

// Stores a completely captured response and releases coalesced waiters. Called by the proxy
// path as soon as the upstream body is complete, before its last bytes go to the client, so a
// client's next request already finds the entry.
inline void store_captured(cache_request& cr, cache::memory_store& store, const boost::beast::http::fields& request) {
    const auto view_fn = beast_getter(request);
    auto e = std::make_shared<cache::entry>(cache::make_entry(cr.response_status, cr.response_headers, cr.storage,
                                                              cache::header_view::from(view_fn), cr.request_time,
                                                              cr.response_time));
    e->body = std::move(cr.body);
    cr.capture = false;
    const bool stored = store.insert(cr.primary, std::move(e)) == cache::memory_store::insert_result::stored;
    if (cr.ticket && cr.ticket.leader()) cr.ticket.finish(stored);
    cr.ticket = {};
}

// Waits, bounded by the ticket's deadline, for the leader of a coalesced miss.
inline boost::asio::awaitable<cache::coalescer::outcome> wait_for_leader(cache::coalescer::ticket& ticket) {
    auto executor = co_await boost::asio::this_coro::executor;
    auto timer = std::make_shared<boost::asio::steady_timer>(executor);
    auto result = std::make_shared<std::optional<cache::coalescer::outcome>>();
    timer->expires_at(ticket.deadline());
    // The leader resolves us on its own thread: post the wake-up to ours.
    ticket.on_done([timer, result, executor](cache::coalescer::outcome o) {
        boost::asio::post(executor, [timer, result, o] {
            *result = o;
            timer->cancel();
        });
    });
    if (!*result) co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (*result) co_return **result;
    co_return ticket.leave();  // deadline passed: go upstream ourselves
}

}  // namespace sluice::http
