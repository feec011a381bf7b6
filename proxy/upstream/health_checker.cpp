#include "upstream/health_checker.hpp"

#include "upstream/server_state.hpp"
#include "upstream/stream.hpp"
#include "upstream/tls_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

namespace sluice::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto token = asio::as_tuple(asio::use_awaitable);

namespace {

// One checked server. Owned by the loop coroutine and the targets map; touched only on the
// checker's thread.
struct target {
    std::string upstream;
    config::endpoint address;
    std::string address_text;
    config::health_check_settings settings;
    std::shared_ptr<tls_client> tls;  // the upstream's TLS client context; null: plain
    std::shared_ptr<server_state> state;
    std::uint32_t successes = 0;  // consecutive
    std::uint32_t failures = 0;   // consecutive
    bool stopped = false;
    asio::steady_timer* timer = nullptr;  // while the loop waits for the next check
};

struct check_result {
    bool ok = false;
    std::string detail;  // "status 503", "connect: Connection refused", "timeout"
};

std::string describe(std::string_view step, const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) return std::string(step) + ": timeout";
    return std::string(step) + ": " + ec.message();
}

// One GET within settings.timeout, on a new connection.
asio::awaitable<check_result> check_once(const target& t) {
    const auto ex = co_await asio::this_coro::executor;
    const auto deadline = std::chrono::steady_clock::now() + t.settings.timeout;
    upstream::stream stream(ex);

    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(t.address.host, ec);
    if (!ec) {
        stream.lowest().expires_at(deadline);
        auto [cec] = co_await stream.lowest().async_connect(tcp::endpoint(ip, t.address.port), token);
        if (cec) co_return check_result{false, describe("connect", cec)};
    } else {
        // Name resolution runs on Asio's resolver thread; the timer bounds it (cancel on expiry).
        // Shared: the guard's handler may already be queued when the resolve completes.
        auto resolver = std::make_shared<tcp::resolver>(ex);
        asio::steady_timer guard(ex, deadline);
        guard.async_wait([weak = std::weak_ptr<tcp::resolver>(resolver)](const boost::system::error_code& wec) {
            if (auto r = weak.lock(); r && !wec) r->cancel();
        });
        auto [rec, results] = co_await resolver->async_resolve(t.address.host, std::to_string(t.address.port), token);
        guard.cancel();
        if (rec) {
            co_return check_result{false, rec == asio::error::operation_aborted ? "resolve: timeout"
                                                                                 : describe("resolve", rec)};
        }
        stream.lowest().expires_at(deadline);
        auto [cec, ep] = co_await stream.lowest().async_connect(results, token);
        if (cec) co_return check_result{false, describe("connect", cec)};
    }
    if (t.tls) {  // checked the way requests go: through the same TLS handshake and verification
        auto& layer = stream.start_tls(t.tls->context());
        if (!t.tls->prepare(layer.native_handle(), t.address.host)) co_return check_result{false, "tls: setup failed"};
        auto [hec] = co_await layer.async_handshake(asio::ssl::stream_base::client, token);
        if (hec) co_return check_result{false, describe("tls", hec)};
    }

    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, t.settings.path, 11};
    req.set(bhttp::field::host, t.address_text);
    req.set(bhttp::field::user_agent, "sluice-health-check");
    req.set(bhttp::field::connection, "close");
    auto [wec, wn] = co_await bhttp::async_write(stream, req, token);
    if (wec) co_return check_result{false, describe("request", wec)};

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.skip(true);  // the head is all we need
    auto [rec, rn] = co_await bhttp::async_read_header(stream, buffer, parser, token);
    if (rec) co_return check_result{false, describe("response", rec)};
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);

    const unsigned status = parser.get().result_int();
    co_return check_result{t.settings.expects(status), "status " + std::to_string(status)};
}

}  // namespace

struct health_checker::impl {
    asio::io_context ioc{1};
    asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
    std::thread thread;
    transition_handler on_transition;
    std::map<server_state*, std::shared_ptr<target>> targets;  // checker thread only
    std::atomic<std::size_t> target_count{0};

    void apply(const config::snapshot& snap) {
        std::map<server_state*, std::shared_ptr<target>> next;
        for (const auto& u : snap->upstreams) {
            for (const auto& s : u.servers) {
                if (!s.state) continue;
                if (!u.health_check) {
                    // Checks turned off (or never on): nothing else may keep it down.
                    if (targets.contains(s.state.get()) && !s.state->healthy.load()) {
                        spdlog::info("health check: upstream \"{}\" server {} has no health check any more, "
                                     "marked healthy",
                                     u.name, s.address.to_string());
                    }
                    s.state->healthy.store(true);
                    continue;
                }
                std::shared_ptr<target> t;
                bool fresh = false;
                if (auto it = targets.find(s.state.get()); it != targets.end()) {
                    t = it->second;  // stays: keeps its run of results, takes the new settings
                    targets.erase(it);
                } else {
                    t = std::make_shared<target>();
                    t->state = s.state;
                    fresh = true;
                }
                t->upstream = u.name;
                t->address = s.address;
                t->address_text = s.address.to_string();
                t->settings = *u.health_check;
                t->tls = u.tls ? u.tls->client : nullptr;
                // Only now: co_spawn may run the first check inline, before this loop goes on.
                if (fresh) asio::co_spawn(ioc, run(t), asio::detached);
                next.emplace(s.state.get(), std::move(t));
            }
        }
        for (auto& [state, t] : targets) {  // servers no longer checked
            t->stopped = true;
            if (t->timer) t->timer->cancel();
        }
        targets = std::move(next);
        target_count.store(targets.size());
    }

    asio::awaitable<void> run(std::shared_ptr<target> t) {
        asio::steady_timer timer(ioc);
        while (!t->stopped) {
            const auto started = std::chrono::steady_clock::now();
            const check_result r = co_await check_once(*t);
            if (t->stopped) break;
            record(*t, r);
            timer.expires_at(started + t->settings.interval);
            t->timer = &timer;
            co_await timer.async_wait(token);
            t->timer = nullptr;
        }
    }

    void record(target& t, const check_result& r) {
        const auto& s = t.settings;
        const bool healthy = t.state->healthy.load();
        if (r.ok) {
            t.failures = 0;
            if (t.successes < UINT32_MAX) ++t.successes;
            if (!healthy && t.successes >= s.healthy) {
                t.state->healthy.store(true);
                spdlog::info("health check: upstream \"{}\" server {} is healthy again ({} checks passed: {})",
                             t.upstream, t.address_text, t.successes, r.detail);
                if (on_transition) on_transition(t.upstream, t.address_text, true);
            }
        } else {
            t.successes = 0;
            if (t.failures < UINT32_MAX) ++t.failures;
            if (healthy && t.failures >= s.unhealthy) {
                t.state->healthy.store(false);
                spdlog::warn("health check: upstream \"{}\" server {} is unhealthy ({} checks failed, last: {})",
                             t.upstream, t.address_text, t.failures, r.detail);
                if (on_transition) on_transition(t.upstream, t.address_text, false);
            }
        }
    }
};

health_checker::health_checker(transition_handler on_transition) : impl_(std::make_unique<impl>()) {
    impl_->on_transition = std::move(on_transition);
    impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

health_checker::~health_checker() {
    impl_->work.reset();
    impl_->ioc.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

void health_checker::update(config::snapshot snap) {
    if (!snap) return;
    asio::post(impl_->ioc, [this, snap = std::move(snap)] { impl_->apply(snap); });
}

std::size_t health_checker::targets() const { return impl_->target_count.load(); }

}  // namespace sluice::upstream
