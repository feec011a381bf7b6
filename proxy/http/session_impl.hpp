#pragma once
// The downstream connection: one coroutine per connection reading request heads under the
// idle and header deadlines, enforcing size limits, routing, and answering locally or through
// proxy_pass. Pipelined requests are answered in order because they are read one at a time.
// A template over the stream (plain or TLS), instantiated by session_plain.cpp and
// session_tls.cpp.

#include "http/session.hpp"

#include "common/access_log.hpp"
#include "http/cache_glue.hpp"
#include "http/exchange.hpp"
#include "http/framing.hpp"
#include "http/lua_glue.hpp"
#include "http/read_head.hpp"
#include "limits/headers.hpp"
#include "limits/limiter.hpp"
#include "lua/request_call.hpp"
#include "route/router.hpp"
#include "route/transform.hpp"
#include "server/worker.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/write.hpp>

#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>

namespace sluice::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace session_detail {

constexpr auto token = asio::as_tuple(asio::use_awaitable);

// Which error a failed request-head read means; nullopt when the client just went away.
inline std::optional<error> classify_head_error(const beast::error_code& ec, const request_parser& parser) {
    if (ec == beast::error::timeout) return error::header_timeout;
    if (ec == bhttp::error::header_limit) {
        // Beast hands the start line to the parser as soon as it is complete: no target yet
        // means the request line alone was over the limit (414), else the header section (431).
        return parser.get().target().empty() ? error::uri_too_long : error::headers_too_large;
    }
    if (ec == bhttp::error::body_limit) return error::body_too_large;
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return std::nullopt;
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return error::bad_request;
    return std::nullopt;  // network errors: nobody to answer
}

struct local_response {
    unsigned status;
    std::string body;
    std::string_view content_type;
    std::string location;
};

// Writes a response Sluice produced itself.
template <class Stream>
asio::awaitable<bool> write_local(Stream& ds, const config::config& cfg, const local_response& lr,
                                  std::string_view request_id, const config::route* route, bool keep_alive,
                                  bool head, const config::header_list& extra = {}) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(lr.status), 11};
    res.set(bhttp::field::content_type, lr.content_type);
    if (!lr.location.empty()) res.set(bhttp::field::location, lr.location);
    res.set("X-Request-Id", request_id);
    if (route) {
        for (const auto& name : route->remove_response_headers) res.erase(name);
        for (const auto& [name, value] : route->set_response_headers) res.set(name, value);
    }
    for (const auto& [name, value] : extra) res.set(name, value);
    res.body() = lr.body;
    res.prepare_payload();
    if (head) res.body().clear();  // Content-Length stays: it describes the GET answer
    res.keep_alive(keep_alive);
    lowest(ds).expires_after(cfg.server.idle_timeout);
    bhttp::serializer<false, bhttp::string_body> sr{res};
    if (head) sr.split(true);
    auto [ec, n] = head ? co_await bhttp::async_write_header(ds, sr, token) : co_await bhttp::async_write(ds, sr, token);
    co_return !ec;
}

// Writes a response from the cache: the stored head with Age, Cache-Status and this request's
// id, then the body straight from the shared entry (no copy). The head is formatted here and
// written with the body in one gather write: Beast's serializer cost more than everything else
// on a hit. Same header rules as write_local: the route's removals, then its sets, then `extra`
// (a name set later replaces earlier ones); the upstream's own Cache-Status and X-Request-Id
// are replaced. 304 (`not_modified`): the head only, without Content-Length.
template <class Stream>
asio::awaitable<bool> write_cached(Stream& ds, const config::config& cfg, const cache::entry& e,
                                   const cache::cache_status& status, std::string_view request_id,
                                   const config::route& route, const config::header_list& extra, bool keep_alive,
                                   bool head, std::uint64_t& bytes_out, bool not_modified = false) {
    const unsigned code = not_modified ? 304u : unsigned(e.status);
    const bool has_length = code != 304 && code != 204 && code >= 200;
    auto named = [](const auto& list, std::string_view name) {
        for (const auto& [n, v] : list)
            if (beast::iequals(n, name)) return true;
        return false;
    };
    auto removed = [&](std::string_view name) {
        for (const auto& n : route.remove_response_headers)
            if (beast::iequals(n, name)) return true;
        return false;
    };
    auto replaced = [&](std::string_view name) {
        return removed(name) || named(route.set_response_headers, name) || named(extra, name);
    };
    std::string out;
    out.reserve(512);
    auto add = [&out](std::string_view name, std::string_view value) {
        out.append(name).append(": ").append(value).append("\r\n");
    };
    out.append("HTTP/1.1 ").append(std::to_string(code)).append(" ");
    out.append(std::string_view(bhttp::obsolete_reason(static_cast<bhttp::status>(code)))).append("\r\n");
    for (const auto& [name, value] : e.headers) {
        if (beast::iequals(name, "Age") || beast::iequals(name, "Cache-Status") || beast::iequals(name, "X-Request-Id") ||
            beast::iequals(name, "Content-Length") || beast::iequals(name, "Connection") ||
            beast::iequals(name, "Transfer-Encoding") || replaced(name))
            continue;
        add(name, value);
    }
    const std::string age = std::to_string(std::max<std::int64_t>(0, cache::current_age(e, cache_now()).count()));
    if (!replaced("Age")) add("Age", age);
    if (!replaced("Cache-Status")) add("Cache-Status", status.to_string());
    if (!replaced("X-Request-Id")) add("X-Request-Id", request_id);
    for (const auto& [name, value] : route.set_response_headers)
        if (!named(extra, name)) add(name, value);
    for (const auto& [name, value] : extra) add(name, value);
    if (has_length) add("Content-Length", std::to_string(e.body.size()));
    if (!keep_alive) add("Connection", "close");
    out.append("\r\n");

    lowest(ds).expires_after(cfg.server.idle_timeout);
    const bool with_body = has_length && !head && !e.body.empty();
    std::array<asio::const_buffer, 2> buffers{asio::buffer(out), asio::buffer(e.body.data(), with_body ? e.body.size() : 0)};
    auto [ec, n] = co_await asio::async_write(ds, buffers, token);
    if (!ec && with_body) bytes_out += e.body.size();
    co_return !ec;
}

inline local_response error_response(error e, std::string_view request_id, std::string_view upstream = {}) {
    const bool names_upstream = e == error::circuit_open || e == error::upstream_overflow;
    return {status_of(e), error_body(e, request_id, names_upstream ? upstream : std::string_view()), "application/json", {}};
}

inline std::size_t count_fields(const bhttp::fields& f) {
    std::size_t n = 0;
    for (auto it = f.begin(); it != f.end(); ++it) ++n;
    return n;
}

// A WebSocket opening handshake (RFC 6455 4.1): GET, Upgrade: websocket, Connection: upgrade.
template <class Request>
bool is_websocket_upgrade(const Request& req) {
    if (req.method() != bhttp::verb::get) return false;
    bool websocket = false;
    for (const auto& t : bhttp::token_list(req[bhttp::field::upgrade]))
        if (beast::iequals(t, "websocket")) websocket = true;
    bool upgrade = false;
    for (const auto& t : bhttp::token_list(req[bhttp::field::connection]))
        if (beast::iequals(t, "upgrade")) upgrade = true;
    return websocket && upgrade;
}

// Reads a body of known, small length whole (for a Lua filter's req:body()), answering
// Expect: 100-continue first. The parser is done afterwards; false when the client failed.
template <class Stream>
asio::awaitable<bool> read_small_body(Stream& ds, beast::flat_buffer& dbuf, request_parser& parser,
                                      const config::config& cfg, std::string& out) {
    auto& req = parser.get();
    if (auto it = req.find(bhttp::field::expect); it != req.end() && beast::iequals(it->value(), "100-continue")) {
        req.erase(bhttp::field::expect);  // answered here: proxy_pass must not answer it again
        static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
        lowest(ds).expires_after(cfg.server.idle_timeout);
        auto [cec, cn] = co_await asio::async_write(ds, asio::buffer(continue_line), token);
        if (cec) co_return false;
    }
    out.resize(static_cast<std::size_t>(parser.content_length().value_or(0)));
    std::size_t filled = 0;
    while (!parser.is_done()) {
        if (filled == out.size()) co_return false;  // more than Content-Length: cannot happen
        req.body().data = out.data() + filled;
        req.body().size = out.size() - filled;
        lowest(ds).expires_after(cfg.server.idle_timeout);
        auto [ec, n] = co_await bhttp::async_read(ds, dbuf, parser, token);
        if (ec == bhttp::error::need_buffer) ec = {};
        filled = out.size() - req.body().size;
        if (ec) co_return false;
    }
    out.resize(filled);
    co_return true;
}

// stale-while-revalidate, in the background: fetches the entry again (conditionally when it has
// a validator) and stores the result, with nothing to send downstream. Owns everything it uses:
// the config snapshot, a copy of the request head, and a stream that is never connected (the
// proxy path touches the downstream stream only to read a request body or write a response,
// neither of which a refresh does), so the client's connection goes on, or closes, meanwhile.
// Counted as a session, so a drain waits for it.
inline asio::awaitable<void> refresh_in_background(server::worker& w, config::snapshot snap,
                                                   const config::route* route,
                                                   bhttp::request_header<> head, std::string request_id,
                                                   std::string client_ip, std::string scheme, cache_request rr) {
    auto* store = w.cache_store();
    plain_stream unused(w.ioc());
    beast::flat_buffer dbuf;
    // The parser reads the request head again, so it is in the state the proxy path expects (head
    // done, no body).
    request_parser parser;
    {
        std::string bytes;
        bytes.append(head.method_string()).append(" ").append(head.target()).append(" HTTP/1.1\r\n");
        for (const auto& f : head) bytes.append(f.name_string()).append(": ").append(f.value()).append("\r\n");
        bytes.append("\r\n");
        beast::error_code ec;
        parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(bytes.size() + 1, UINT32_MAX)));
        parser.put(asio::buffer(bytes), ec);
        if (ec || !parser.is_done()) {  // e.g. a GET with a body: not refreshed
            if (rr.ticket && rr.ticket.leader()) rr.ticket.finish(false);
            co_return;
        }
    }
    exchange<plain_stream> ex{unused, dbuf, parser, w, *snap, *route, request_id, client_ip, scheme, false};
    // The route's own upstream: a Lua filter's set_upstream/set_hash_key is not replayed here.
    ex.upstream_index = route->upstream_index;
    ex.cache = &rr;
    ex.discard_response = true;
    rr.request_time = cache_now();
    co_await proxy_pass(ex);
    bool stored = false;
    if (rr.not_modified) {
        auto refreshed = co_await apply_not_modified(rr, *store, *snap);
        stored = refreshed && rr.status.stored;
    }
    if (rr.ticket && rr.ticket.leader()) rr.ticket.finish(stored);  // store_captured finished it otherwise
}

// Starts the background refresh of a stale entry just served, unless this URL is being fetched
// already (one refresh per URL at a time: the refresh leads the URL in the coalescer).
inline void start_refresh(server::worker& w, const config::snapshot& snap, const config::route& route,
                          const bhttp::request_header<>& head, std::string_view request_id,
                          std::string_view client_ip, std::string_view scheme, const cache_request& hit) {
    if (!w.coalescer() || !w.cache_store()) return;
    cache_request rr;
    rr.active = true;
    rr.settings = hit.settings;
    rr.policy = hit.policy;
    rr.policy.max_stale.reset();
    rr.max_object_bytes = hit.max_object_bytes;
    rr.primary = hit.primary;
    rr.stored = hit.stored;
    rr.status.forward = cache::cache_status::fwd::stale;
    rr.revalidating = can_revalidate(rr);
    rr.ticket = w.coalescer()->join(rr.primary, std::chrono::steady_clock::now());
    if (!rr.ticket.leader()) return;  // another request is fetching this URL
    w.session_started();
    asio::co_spawn(w.ioc(),
                   refresh_in_background(w, snap, &route, head, std::string(request_id), std::string(client_ip),
                                         std::string(scheme), std::move(rr)),
                   [&w](std::exception_ptr e) {
                       w.session_ended();
                       if (!e) return;
                       try {
                           std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                           spdlog::warn("cache: background refresh failed: {}", ex.what());
                       } catch (...) {
                       }
                   });
}

// Serves requests on an established (and, for TLS, handshaken) connection until it closes.
template <class Stream>
asio::awaitable<void> serve(Stream& ds, server::worker& w, const std::string& client_ip) {
    beast::flat_buffer dbuf;
    const std::string_view scheme = is_tls_v<Stream> ? "https" : "http";
    beast::error_code ec;

    for (;;) {
        const config::snapshot snap = w.snapshot();  // this request's config, kept to its end
        const config::config& cfg = *snap;

        // Wait for the first byte of the next request under the idle deadline; the head then
        // has header_timeout to arrive whole (slow clients cannot hold a connection forever).
        if (dbuf.size() == 0) {
            if (w.draining()) break;
            if (dbuf.capacity() > 16 * 1024) dbuf.shrink_to_fit();  // idle connections stay small
            lowest(ds).expires_after(cfg.server.idle_timeout);
            w.set_idle(&lowest(ds).socket());
            auto [rec, n] = co_await ds.async_read_some(dbuf.prepare(4096), token);
            w.clear_idle(&lowest(ds).socket());
            if (rec) break;
            dbuf.commit(n);
        }

        request_parser parser;
        parser.header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(cfg.server.max_header_bytes, UINT32_MAX)));
        parser.body_limit(cfg.server.max_body_bytes);
        lowest(ds).expires_after(cfg.server.header_timeout);
        // The whole head is buffered and its raw bytes checked before Beast parses it.
        auto [hec, head_err] = co_await read_head_bytes(ds, dbuf, cfg.server.max_header_bytes);
        if (!hec && !head_err) {
            auto [pec, pn] = co_await bhttp::async_read_header(ds, dbuf, parser, token);
            hec = pec;
        }
        const auto started = std::chrono::steady_clock::now();
        const auto started_wall = std::chrono::system_clock::now();

        common::access_record rec;
        rec.ts = started_wall;
        rec.client = client_ip;
        // The access log line and the request metrics, once the request is answered.
        auto finish_record = [&] {
            rec.duration_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
            w.access_log().write(rec);
            w.metrics().request_done(rec.route, rec.status, rec.duration_ms / 1000.0, rec.bytes_in, rec.bytes_out);
        };

        if (hec || head_err) {
            auto e = head_err ? head_err : classify_head_error(hec, parser);
            if (!e) break;
            const std::string id = route::new_request_id();
            // A timed-out stream is already closed (Beast's tcp_stream): log it, answer nothing.
            if (*e != error::header_timeout)
                co_await write_local(ds, cfg, error_response(*e, id), id, nullptr, false, false);
            rec.request_id = id;
            rec.status = status_of(*e);
            rec.error = code_of(*e);
            finish_record();
            break;
        }

        auto& req = parser.get();
        std::string request_id;
        if (auto it = req.find("X-Request-Id"); it != req.end() && route::valid_request_id(it->value()))
            request_id = std::string(it->value());
        else
            request_id = route::new_request_id();

        // Views into the request; refreshed after a Lua filter, which may edit it.
        std::string_view host = req[bhttp::field::host];
        std::string_view target = req.target();
        std::string_view path = route::target_path(target);
        // While draining, the request in hand is answered with Connection: close.
        bool keep_alive = parser.keep_alive() && !w.draining();
        const bool is_head = req.method() == bhttp::verb::head;

        rec.request_id = request_id;
        rec.method = req.method_string();
        rec.host = host;
        rec.path = path;

        std::optional<error> failure;
        if (count_fields(req) > cfg.server.max_headers) failure = error::headers_too_large;
        else if (framing::check_request(req)) failure = error::bad_request;  // ambiguous framing: 400, close
        else if (req.version() >= 11 && req.find(bhttp::field::host) == req.end()) failure = error::bad_request;
        else if (target.empty() || (target.front() != '/' && target != "*" && !target.starts_with("http://") &&
                                    !target.starts_with("https://")))
            failure = error::bad_request;

        const config::route* r = failure ? nullptr : route::match(cfg, req.method_string(), host, path, req);
        if (!failure && !r) failure = error::no_route;

        // Rate limit (before any upstream work; WebSocket handshakes included).
        config::header_list extra;  // RateLimit headers for whatever answers this request
        if (!failure && !r->rate_limit.empty()) {
            const auto& policy = cfg.rate_limits[r->rate_limit_index];
            std::string_view header_value;
            if (policy.key == config::rate_limit_key::header)
                if (auto it = req.find(policy.key_header); it != req.end()) header_value = it->value();
            const auto key = limits::client_key(policy, client_ip, header_value, r->name);
            const auto verdict = co_await w.limiter().check(cfg, policy, key);
            if (verdict.d) {
                extra.emplace_back("RateLimit-Policy", limits::policy_header(policy));
                extra.emplace_back("RateLimit", limits::ratelimit_header(policy, *verdict.d));
            }
            if (!verdict.allowed) {
                failure = error::rate_limited;
                extra.emplace_back("Retry-After", verdict.d ? limits::retry_after_header(*verdict.d) : "1");
            }
        }
        if (r) rec.route = r->name;

        // ---- Lua filter: on_request (may read a small body, pick the upstream, answer itself) ----
        std::optional<lua::request_call> lua_call;
        std::string lua_method, lua_host, lua_path;  // as the client sent them, for the access log
        std::string lua_body;
        bool lua_body_read = false;
        bool lua_responded = false;
        if (!failure && r->lua) {
            lua_method = req.method_string();
            lua_host = host;
            lua_path = path;
            rec.method = lua_method;
            rec.host = lua_host;
            rec.path = lua_path;
            lua_call.emplace(w.lua(), r->lua, cfg, *r, client_ip);
            lua_request access{parser};
            auto o = lua_call->on_request(access);
            if (o == lua::outcome::need_body) {
                lua_body_read = co_await read_small_body(ds, dbuf, parser, cfg, lua_body);
                if (!lua_body_read) {
                    failure = error::bad_request;  // the client broke off or lied about the length
                    keep_alive = false;
                } else {
                    o = lua_call->resume_with_body(access, lua_body);
                }
            }
            if (!failure && o == lua::outcome::failed) {
                failure = error::lua_error;
                w.metrics().lua_error(r->name);
                spdlog::error("lua error on route \"{}\" (request {}): {}", r->name, request_id, lua_call->error());
            }
            lua_responded = !failure && o == lua::outcome::responded;
            host = req[bhttp::field::host];
            target = req.target();
            path = route::target_path(target);
            rec.bytes_in = lua_body.size();
        }

        bool close = false;
        if (failure) {
            // Sluice's own errors do not read the request body: the connection closes after them
            // unless there is no body to skip. A failed Lua filter is the script's fault, not the
            // connection's.
            keep_alive = keep_alive && parser.is_done() &&
                         (status_of(*failure) < 500 || *failure == error::lua_error) &&
                         *failure != error::headers_too_large && *failure != error::bad_request;
            close = !co_await write_local(ds, cfg, error_response(*failure, request_id), request_id, r, keep_alive,
                                          is_head, extra) ||
                    !keep_alive;
            rec.status = status_of(*failure);
            rec.error = code_of(*failure);
        } else if (lua_responded) {
            const auto& reply = lua_call->response();
            keep_alive = keep_alive && parser.is_done();
            config::header_list headers = extra;
            headers.insert(headers.end(), reply.headers.begin(), reply.headers.end());
            const local_response lr{reply.status, reply.body, "text/plain", {}};
            close = !co_await write_local(ds, cfg, lr, request_id, r, keep_alive, is_head, headers) || !keep_alive;
            rec.status = lr.status;
        } else if (r->direct_response || r->redirect) {
            rec.route = r->name;
            keep_alive = keep_alive && parser.is_done();
            local_response lr;
            if (r->direct_response) {
                lr = {r->direct_response->status, r->direct_response->body, r->direct_response->content_type, {}};
            } else {
                lr = {r->redirect->status, {}, "text/plain",
                      route::expand_location(r->redirect->location, scheme, host, target)};
            }
            close = !co_await write_local(ds, cfg, lr, request_id, r, keep_alive, is_head, extra) || !keep_alive;
            rec.status = lr.status;
        } else {
            rec.route = r->name;
            const std::size_t upstream_index =
                lua_call && lua_call->upstream_index() ? *lua_call->upstream_index() : r->upstream_index;
            rec.upstream = cfg.upstreams[upstream_index].name;

            // ---- cache lookup (before any upstream work) ----
            cache_request cr;
            auto* store = w.cache_store();
            const bool caching = r->cache && store && store->enabled(cfg);
            const auto view_fn = beast_getter(req);
            const auto view = cache::header_view::from(view_fn);
            std::shared_ptr<const cache::entry> hit;
            if (caching && !is_websocket_upgrade(req)) {
                cr.settings = cache::settings_from(cfg.cache);
                cr.policy = cache::check_request(req.method_string(), view, cr.settings);
                if (!cr.policy.cacheable) {
                    cr.status.forward = cache::cache_status::fwd::bypass;
                } else {
                    cr.active = true;
                    cr.max_object_bytes = cfg.cache.max_object_bytes;
                    cr.primary = cache::primary_key(scheme, host, target);
                    auto lookup = lookup_now(*store, cfg, cr.primary, view);
                    if (!lookup) lookup = co_await store->lookup(cfg, cr.primary, view);
                    if (lookup->failed) {
                        // The store did not answer (Redis down or slow): forward, never an error
                        // (only-if-cached excepted: nothing can be served from the cache, 504).
                        cr.active = false;
                        cr.status.forward = cache::cache_status::fwd::bypass;
                        cr.status.detail = "store-unavailable";
                        if (cr.policy.only_if_cached) failure = error::upstream_timeout;
                    } else {
                        cr.status.forward = lookup->vary_miss ? cache::cache_status::fwd::vary_miss
                                                              : cache::cache_status::fwd::uri_miss;
                        if (!lookup->found && !cr.policy.no_cache && !cr.policy.head && w.coalescer()) {
                            // Concurrent misses for one key: one goes upstream, the others wait for it.
                            cr.ticket = w.coalescer()->join(cr.primary, std::chrono::steady_clock::now());
                            if (!cr.ticket.leader()) {
                                const auto outcome = co_await wait_for_leader(cr.ticket);
                                if (outcome == cache::coalescer::outcome::stored) {
                                    lookup = lookup_now(*store, cfg, cr.primary, view);
                                    if (!lookup) lookup = co_await store->lookup(cfg, cr.primary, view);
                                    cr.status.collapsed = lookup->found != nullptr;
                                }
                                if (outcome != cache::coalescer::outcome::lead) cr.ticket = {};
                            } else if (!store->memory_for(cfg)) {
                                // Redis: another leader may have stored and left between our lookup and
                                // our join (the lookup was not atomic with the join): look again.
                                auto again = co_await store->lookup(cfg, cr.primary, view);
                                if (again.found) {
                                    lookup = std::move(again);
                                    cr.status.forward = cache::cache_status::fwd::none;
                                    cr.ticket.finish(true);
                                    cr.ticket = {};
                                }
                            }
                        }
                        if (lookup->found) {
                            cr.stored = lookup->found;
                            const auto use = cache::decide(*lookup->found, cr.policy, cache_now());
                            if (use != cache::use::revalidate) {
                                hit = lookup->found;
                                // A collapsed waiter keeps its fwd (it waited for a fetch): "fwd=uri-miss; collapsed".
                                cr.status.hit = !cr.status.collapsed;
                                if (cr.status.hit) cr.status.forward = cache::cache_status::fwd::none;
                                cr.status.ttl = cache::remaining_ttl(*hit, cache_now()).count();
                                if (use == cache::use::stale_while_revalidate)
                                    cr.status.detail = "stale-while-revalidate";
                            } else {
                                cr.status.forward = cache::cache_status::fwd::stale;
                                cr.revalidating = can_revalidate(cr);
                            }
                        } else if (cr.policy.only_if_cached) {
                            failure = error::upstream_timeout;  // RFC 9111 5.2.1.7: 504 when nothing is stored
                        }
                    }
                }
            }
            if (hit) {
                keep_alive = keep_alive && parser.is_done();
                // The client's own validators match the entry: 304 without the body.
                const bool not_mod = hit->status == 200 && cache::not_modified(*hit, view);
                close = !co_await write_cached(ds, cfg, *hit, cr.status, request_id, *r, extra, keep_alive, is_head,
                                               rec.bytes_out, not_mod) ||
                        !keep_alive;
                rec.status = not_mod ? 304 : hit->status;
                rec.cache = cr.status.metric_result();
                w.metrics().cache_result(rec.cache);
                finish_record();
                // stale-while-revalidate: the client has its answer; refresh the entry in the background.
                if (cr.status.detail == "stale-while-revalidate" && !is_head)
                    start_refresh(w, snap, *r, req.base(), request_id, client_ip, scheme, cr);
                if (close || !keep_alive || w.draining()) break;
                continue;
            }

            // The forward; run twice only when a revalidation's 304 names another representation
            // (then the entry is fetched again in full).
            std::optional<exchange<Stream>> exo;
            std::shared_ptr<const cache::entry> refreshed;
            for (int pass = 0;; ++pass) {
                exo.emplace(exchange<Stream>{ds, dbuf, parser, w, cfg, *r, request_id, client_ip, scheme, keep_alive});
                auto& ex = *exo;
                ex.websocket = r->websocket && is_websocket_upgrade(req);
                ex.extra_response_headers = &extra;
                ex.upstream_index = upstream_index;
                if (lua_call) {
                    ex.lua = &*lua_call;
                    if (lua_call->hash_key()) ex.hash_key = &*lua_call->hash_key();
                    if (lua_body_read) {
                        ex.body = &lua_body;
                        ex.bytes_in = lua_body.size();
                    }
                }
                if (caching && !ex.websocket) {
                    ex.cache = &cr;
                    if (!cr.active && cache::invalidates(req.method_string(), 200))
                        cr.invalidate_key = cache::primary_key(scheme, host, target);
                }
                cr.request_time = cache_now();
                if (!failure) co_await proxy_pass(ex);
                else ex.err = failure;
                if (!cr.not_modified) break;
                refreshed = co_await apply_not_modified(cr, *store, cfg);
                if (refreshed || pass > 0) break;
                cr.not_modified = cr.revalidating = false;
                cr.stored = nullptr;
                cr.status.forward = cache::cache_status::fwd::miss;
            }
            auto& ex = *exo;
            if (ex.err == error::lua_error) {  // on_response failed
                w.metrics().lua_error(r->name);
                spdlog::error("lua error on route \"{}\" (request {}): {}", r->name, request_id, lua_call->error());
            }

            if (refreshed) {
                // Revalidated (304): answer from the refreshed entry, 304 if the client's validators match.
                const bool not_mod = refreshed->status == 200 && cache::not_modified(*refreshed, view);
                const bool can_keep = keep_alive && !ex.close_downstream && ex.parser.is_done();
                close = !co_await write_cached(ds, cfg, *refreshed, cr.status, request_id, *r, extra, can_keep,
                                               is_head, rec.bytes_out, not_mod) ||
                        !can_keep;
                rec.status = not_mod ? 304 : refreshed->status;
                rec.cache = cr.status.metric_result();
                w.metrics().cache_result(rec.cache);
                rec.server = ex.server;
                rec.attempts = ex.attempts;
                finish_record();
                if (close || !keep_alive || w.draining()) break;
                continue;
            }

            // ---- after the exchange: store what was captured, release coalesced waiters ----
            if (cr.active) {
                // Stored (and waiters released) by the proxy path when the body completed; a
                // leader that got nothing storable releases its waiters here.
                if (cr.ticket && cr.ticket.leader()) {
                    if (ex.err) cr.ticket.abandon();  // the next waiter leads: no stampede after a failure
                    else cr.ticket.finish(false);
                }
                cr.ticket = {};
                // stale-if-error: the upstream failed before answering, or answered an error status
                // that proxy_pass held back, and the stored entry may stand in for it.
                if (((ex.err && !ex.response_started) || cr.serve_stale) && cr.stored &&
                    cache::usable_on_error(*cr.stored, cache_now())) {
                    cr.status = {};
                    cr.status.hit = true;
                    cr.status.detail = "stale-if-error";
                    cr.status.ttl = cache::remaining_ttl(*cr.stored, cache_now()).count();
                    const bool can_keep = keep_alive && !ex.close_downstream && ex.parser.is_done();
                    close = !co_await write_cached(ds, cfg, *cr.stored, cr.status, request_id, *r, extra, can_keep,
                                                   is_head, rec.bytes_out) ||
                            !can_keep;
                    rec.status = cr.stored->status;
                    rec.cache = cr.status.metric_result();
                    w.metrics().cache_result(rec.cache);
                    rec.server = ex.server;
                    rec.attempts = ex.attempts;
                    finish_record();
                    if (close || !keep_alive || w.draining()) break;
                    continue;
                }
            }
            if (caching) {
                rec.cache = cr.status.metric_result();
                w.metrics().cache_result(rec.cache);
            }
            if (ex.err && !ex.response_started) {
                const bool can_keep = keep_alive && !ex.close_downstream && ex.parser.is_done();
                close = !co_await write_local(ds, cfg, error_response(*ex.err, request_id, rec.upstream), request_id, r,
                                              can_keep,
                                              is_head, extra) ||
                        !can_keep;
                rec.status = status_of(*ex.err);
            } else {
                rec.status = ex.status;
                close = ex.close_downstream;
            }
            if (ex.err) rec.error = code_of(*ex.err);
            rec.bytes_in = ex.bytes_in;
            rec.bytes_out = ex.bytes_out;
            rec.server = ex.server;
            rec.attempts = ex.attempts;
            finish_record();
            if (close || !keep_alive || w.draining()) break;
            continue;
        }
        finish_record();
        if (close || !keep_alive || w.draining()) break;
    }

}

// Sets up a connection's bookkeeping (metrics, peer address) around `body(client_ip)`.
template <class Body>
asio::awaitable<void> with_connection(tcp::socket& socket, server::worker& w, const std::string& listener_name,
                                      Body body) {
    w.metrics().connection_opened(listener_name);
    struct gauge_guard {
        prometheus::Gauge& g;
        ~gauge_guard() { g.Decrement(); }
    } guard{w.metrics().connections_active(listener_name)};
    beast::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    const std::string client_ip = ec ? std::string() : remote.address().to_string();
    socket.set_option(tcp::no_delay(true), ec);
    co_await body(client_ip);
}

}  // namespace session_detail

}  // namespace sluice::http
