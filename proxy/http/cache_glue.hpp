#pragma once
// The response cache in the request path (proxy/cache/ for the semantics, cache::worker_store for
// the memory or Redis store): lookup before any upstream work, coalescing of concurrent misses,
// capture of a storable response while it streams to the client, conditional revalidation,
// stale-while-revalidate, stale-if-error. Beast-heavy: included by the session.

#include "cache/cache_status.hpp"
#include "cache/coalescer.hpp"
#include "cache/entry.hpp"
#include "cache/header_view.hpp"
#include "cache/key.hpp"
#include "cache/memory_store.hpp"
#include "cache/policy.hpp"
#include "cache/worker_store.hpp"
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
    // Revalidation of `stored`: its validators went upstream (If-None-Match / If-Modified-Since)
    // instead of the client's; a 304 is not relayed but handed back (not_modified, with its
    // headers in response_headers) for the session to refresh the entry and answer from it.
    bool revalidating = false;
    bool not_modified = false;
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
// client's next request already finds the entry (in Redis too: the SET is awaited; a failure
// only means not stored).
inline boost::asio::awaitable<void> store_captured(cache_request& cr, cache::worker_store& store,
                                                  const config::config& cfg,
                                                  const boost::beast::http::fields& request) {
    const auto view_fn = beast_getter(request);
    auto e = std::make_shared<cache::entry>(cache::make_entry(cr.response_status, cr.response_headers, cr.storage,
                                                              cache::header_view::from(view_fn), cr.request_time,
                                                              cr.response_time));
    e->body = std::move(cr.body);
    cr.capture = false;
    bool stored = false;
    if (auto* m = store.memory_for(cfg)) stored = m->insert(cr.primary, std::move(e)) == cache::memory_store::insert_result::stored;
    else stored = co_await store.insert(cfg, cr.primary, std::move(e));
    if (cr.ticket && cr.ticket.leader()) cr.ticket.finish(stored);
    cr.ticket = {};
}

// The memory store answers at once; nullopt means ask the (Redis) store with co_await.
inline std::optional<cache::worker_store::lookup_result> lookup_now(cache::worker_store& store,
                                                                    const config::config& cfg,
                                                                    std::string_view primary, cache::header_view view) {
    auto* m = store.memory_for(cfg);
    if (!m) return std::nullopt;
    auto l = m->lookup(primary, view);
    cache::worker_store::lookup_result out;
    out.found = std::move(l.found);
    out.vary_miss = l.vary_miss;
    return out;
}

// Whether a stale `cr.stored` can be revalidated with a conditional request (it has a validator;
// HEAD is forwarded as is).
inline bool can_revalidate(const cache_request& cr) {
    return cr.stored && !cr.policy.head && (!cr.stored->etag.empty() || !cr.stored->last_modified.empty());
}

// After a revalidation answered 304 (cr.not_modified): the entry refreshed with the 304's fields
// (cache::refresh), stored again or, if the 304 no longer allows storing, erased. Null when the
// 304 names another representation: the caller fetches in full.
inline boost::asio::awaitable<std::shared_ptr<const cache::entry>> apply_not_modified(cache_request& cr,
                                                                                     cache::worker_store& store,
                                                                                     const config::config& cfg) {
    auto res = cache::refresh(*cr.stored, cr.response_headers, cr.policy, cr.request_time, cr.response_time,
                              cr.settings);
    if (!res.matched) co_return nullptr;
    auto updated = std::make_shared<const cache::entry>(std::move(res.updated));
    if (res.decision.store) {
        if (auto* m = store.memory_for(cfg))
            cr.status.stored = m->insert(cr.primary, updated) == cache::memory_store::insert_result::stored;
        else
            cr.status.stored = co_await store.insert(cfg, cr.primary, updated);
    } else {
        co_await store.erase(cfg, cr.primary);
    }
    co_return updated;
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
