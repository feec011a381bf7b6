#include "redis/pool.hpp"

#include "redis/connection.hpp"
#include "redis/script.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <random>

namespace sluice::redis {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr auto token = asio::as_tuple(asio::use_awaitable);

namespace {

// A connection that stayed open this long is reconnected at once when it drops; one that
// dropped sooner (a server that accepts and closes, or keeps timing out) waits for the backoff.
constexpr milliseconds stable_after{1000};

}  // namespace

struct pool::state {
    enum class status { connecting, up, down };

    // One connection and its supervisor's view of it.
    struct slot {
        explicit slot(const asio::any_io_executor& ex) : backoff(ex) {}
        std::shared_ptr<connection> conn;  // the open connection, or the attempt in flight
        status st = status::connecting;
        asio::steady_timer backoff;
    };

    state(asio::any_io_executor e, endpoint s, pool_options o)
        : ex(std::move(e)), server(std::move(s)), name("redis " + server.to_string()), options(o),
          rng(std::random_device{}()) {
        options.connections = std::max<std::size_t>(options.connections, 1);
        options.reconnect_min = std::max(options.reconnect_min, milliseconds(1));
        options.reconnect_max = std::max(options.reconnect_max, options.reconnect_min);
        for (std::size_t i = 0; i < options.connections; ++i) slots.push_back(std::make_unique<slot>(ex));
        last_error = name + ": not connected yet";
    }

    // The open connection with the fewest pending requests; ties go round robin.
    std::shared_ptr<connection> pick() {
        std::shared_ptr<connection> best;
        const std::size_t n = slots.size();
        for (std::size_t k = 0; k < n; ++k) {
            const slot& s = *slots[(next + k) % n];
            if (s.st != status::up || !s.conn || !s.conn->is_open()) continue;
            if (!best || s.conn->pending() < best->pending()) best = s.conn;
        }
        next = (next + 1) % n;
        return best;
    }

    // The reason of a drop the supervisor has not seen yet, or of the last failure.
    const std::string& why_down() const {
        for (const auto& s : slots)
            if (s->st == status::up && s->conn && !s->conn->is_open()) return s->conn->close_reason().message;
        return last_error;
    }

    bool any(status st) const {
        return std::any_of(slots.begin(), slots.end(), [st](const auto& s) { return s->st == st; });
    }

    // Wakes the calls waiting for a connection (cancels their timers; handlers run later).
    void notify() {
        for (auto* t : waiters) t->cancel();
    }

    // Waits until notify() or `deadline`; false when the deadline passed.
    static asio::awaitable<bool> wait(std::shared_ptr<state> s, clock::time_point deadline) {
        asio::steady_timer t(s->ex, deadline);
        // Unregisters even when the frame is destroyed without resuming (io_context torn down).
        struct registration {
            state& s;
            asio::steady_timer* t;
            ~registration() { std::erase(s.waiters, t); }
        } reg{*s, &t};
        s->waiters.push_back(&t);
        auto [ec] = co_await t.async_wait(token);
        co_return static_cast<bool>(ec);
    }

    struct acquired {
        std::shared_ptr<connection> conn;
        error err;
    };

    static asio::awaitable<acquired> acquire(std::shared_ptr<state> s, clock::time_point deadline) {
        for (;;) {
            if (s->stopped) co_return acquired{nullptr, {errc::connection, s->name + ": client stopped"}};
            if (auto c = s->pick()) co_return acquired{std::move(c), {}};
            if (!s->any(status::connecting))
                co_return acquired{nullptr, {errc::connection, s->why_down() + " (down; reconnecting in the background)"}};
            if (clock::now() >= deadline || !co_await wait(s, deadline))
                co_return acquired{nullptr, {errc::timeout, s->name + ": no connection within " +
                                                                std::to_string(s->options.timeout.count()) + "ms"}};
        }
    }

    static asio::awaitable<std::vector<result>> run(std::shared_ptr<state> s, std::string bytes, std::size_t count,
                                                    clock::time_point deadline) {
        auto a = co_await acquire(s, deadline);
        if (!a.conn) co_return std::vector<result>(count, result(a.err));
        co_return co_await a.conn->exchange(std::move(bytes), count, deadline);
    }

    static asio::awaitable<void> supervise(std::shared_ptr<state> s, std::size_t index);

    asio::any_io_executor ex;
    endpoint server;
    std::string name;  // "redis host:port"
    pool_options options;
    std::vector<std::unique_ptr<slot>> slots;
    std::vector<asio::steady_timer*> waiters;  // calls waiting for a connect attempt
    std::size_t next = 0;
    bool stopped = false;
    bool outage = false;     // a connect failed and none succeeded since (logged once)
    std::string last_error;  // why the last connection failed, for fail-fast messages
    pool_stats stats;
    std::minstd_rand rng;
};

asio::awaitable<void> pool::state::supervise(std::shared_ptr<state> s, std::size_t index) {
    slot& sl = *s->slots[index];
    milliseconds delay = s->options.reconnect_min;
    while (!s->stopped) {
        auto c = connection::create(s->ex, s->server);
        sl.conn = c;
        ++s->stats.connect_attempts;
        const auto failed = co_await c->connect(s->options.timeout);
        if (s->stopped) break;
        if (failed) {
            ++s->stats.connect_failures;
            sl.conn.reset();
            sl.st = status::down;
            s->last_error = failed->message;
            if (!s->outage) {
                s->outage = true;
                spdlog::warn("{}; retrying with backoff up to {}ms", failed->message, s->options.reconnect_max.count());
            }
            s->notify();
        } else {
            sl.st = status::up;
            if (s->outage) {
                s->outage = false;
                spdlog::info("{}: connected again", s->name);
            }
            s->notify();
            const auto opened = clock::now();
            co_await c->wait_closed();
            sl.conn.reset();
            if (s->stopped) break;
            ++s->stats.drops;
            s->last_error = c->close_reason().message;
            spdlog::warn("{}", c->close_reason().message);
            if (clock::now() - opened >= stable_after) {
                sl.st = status::connecting;
                delay = s->options.reconnect_min;
                continue;
            }
            sl.st = status::down;
            s->notify();
        }
        std::uniform_int_distribution<long> jitter(delay.count() / 2, delay.count());
        sl.backoff.expires_after(milliseconds(jitter(s->rng)));
        co_await sl.backoff.async_wait(token);
        delay = std::min(delay * 2, s->options.reconnect_max);
        // The slot stays `down` during this attempt: calls fail fast instead of waiting on it.
    }
    sl.conn.reset();
}

pool::pool(asio::any_io_executor ex, endpoint server, pool_options options)
    : state_(std::make_shared<state>(std::move(ex), std::move(server), options)) {
    for (std::size_t i = 0; i < state_->slots.size(); ++i)
        asio::co_spawn(state_->ex, state::supervise(state_, i), asio::detached);
}

pool::~pool() { stop(); }

void pool::stop() {
    auto& s = *state_;
    if (s.stopped) return;
    s.stopped = true;
    for (auto& sl : s.slots) {
        sl->backoff.cancel();
        if (sl->conn) sl->conn->close(error{errc::connection, s.name + ": client stopped"});
    }
    s.notify();
}

asio::awaitable<result> pool::execute(command args) {
    auto s = state_;  // from here on only `s`: the pool itself may go away while this waits
    const auto deadline = clock::now() + s->options.timeout;
    std::string bytes;
    if (!append_command(bytes, args)) co_return error{errc::protocol, s->name + ": empty command"};
    auto results = co_await state::run(s, std::move(bytes), 1, deadline);
    co_return std::move(results.front());
}

asio::awaitable<std::vector<result>> pool::pipeline(std::vector<command> commands) {
    auto s = state_;
    const auto deadline = clock::now() + s->options.timeout;
    if (commands.empty()) co_return std::vector<result>{};
    std::string bytes;
    for (const auto& c : commands)
        if (!append_command(bytes, c))
            co_return std::vector<result>(commands.size(), result(error{errc::protocol, s->name + ": empty command"}));
    co_return co_await state::run(s, std::move(bytes), commands.size(), deadline);
}

asio::awaitable<result> pool::eval(const script& sc, std::vector<std::string_view> keys,
                                   std::vector<std::string_view> args) {
    auto s = state_;
    const auto deadline = clock::now() + s->options.timeout;
    const std::string numkeys = std::to_string(keys.size());
    command evalsha;
    evalsha.reserve(3 + keys.size() + args.size());
    evalsha.push_back("EVALSHA");
    evalsha.push_back(sc.sha1());
    evalsha.push_back(numkeys);
    evalsha.insert(evalsha.end(), keys.begin(), keys.end());
    evalsha.insert(evalsha.end(), args.begin(), args.end());
    std::string bytes;
    append_command(bytes, evalsha);
    auto first = co_await state::run(s, bytes, 1, deadline);
    if (first.front().ok() || first.front().err().prefix() != "NOSCRIPT") co_return std::move(first.front());

    // The server does not know the script: load it and run it again on the same connection.
    std::string retry;
    const command load{"SCRIPT", "LOAD", sc.source()};
    append_command(retry, load);
    retry += bytes;
    auto both = co_await state::run(s, std::move(retry), 2, deadline);
    if (!both[0].ok()) co_return std::move(both[0]);  // e.g. a syntax error in the script
    co_return std::move(both[1]);
}

asio::awaitable<bool> pool::wait_ready(milliseconds timeout) {
    auto s = state_;
    const auto deadline = clock::now() + timeout;
    for (;;) {
        if (s->stopped) co_return false;
        if (s->any(state::status::up)) co_return true;
        if (clock::now() >= deadline || !co_await state::wait(s, deadline)) co_return s->any(state::status::up);
    }
}

std::size_t pool::connected() const noexcept {
    return static_cast<std::size_t>(std::count_if(state_->slots.begin(), state_->slots.end(), [](const auto& sl) {
        return sl->st == state::status::up && sl->conn && sl->conn->is_open();
    }));
}

pool_stats pool::stats() const noexcept { return state_->stats; }

const endpoint& pool::server() const noexcept { return state_->server; }

}  // namespace sluice::redis
