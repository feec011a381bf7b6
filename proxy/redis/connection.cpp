#include "redis/connection.hpp"

#include <hiredis/hiredis.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace sluice::redis {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
constexpr auto token = asio::as_tuple(asio::use_awaitable);

namespace {

reply to_reply(const redisReply& r) {
    reply out;
    switch (r.type) {
    case REDIS_REPLY_STRING:
        out.kind = reply::type::string;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_STATUS:
        out.kind = reply::type::status;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_ERROR:
        out.kind = reply::type::error;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_INTEGER:
        out.kind = reply::type::integer;
        out.integer = r.integer;
        break;
    case REDIS_REPLY_ARRAY:
        out.kind = reply::type::array;
        out.elements.reserve(r.elements);
        for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(to_reply(*r.element[i]));
        break;
    default:  // REDIS_REPLY_NIL
        break;
    }
    return out;
}

// A top-level error reply is a failed command; nested ones stay in the tree.
result to_result(const redisReply& r) {
    if (r.type == REDIS_REPLY_ERROR) return error{errc::server, std::string(r.str, r.len)};
    return to_reply(r);
}

struct reply_deleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};

}  // namespace

// One exchange() call: `expected` replies awaited until the timer's expiry.
struct connection::request {
    request(asio::any_io_executor ex, std::size_t n, clock::time_point deadline) : timer(ex, deadline), expected(n) {
        results.reserve(n);
    }
    asio::steady_timer timer;  // the deadline; cancelled to wake the caller when done
    std::size_t expected;
    std::vector<result> results;
    bool done = false;
};

std::shared_ptr<connection> connection::create(asio::any_io_executor ex, endpoint server) {
    return std::shared_ptr<connection>(new connection(std::move(ex), std::move(server)));
}

connection::connection(asio::any_io_executor ex, endpoint server)
    : server_(std::move(server)),
      name_("redis " + server_.to_string()),
      socket_(ex),
      resolver_(ex),
      wake_writer_(ex, clock::time_point::max()),
      closed_(ex, clock::time_point::max()),
      reader_(redisReaderCreate(), redisReaderFree) {}

connection::~connection() = default;

asio::awaitable<std::optional<error>> connection::connect(std::chrono::milliseconds timeout) {
    auto self = shared_from_this();
    if (state_ != state::idle) co_return error{errc::connection, name_ + ": connect called twice"};
    state_ = state::connecting;
    if (!reader_) {
        close(error{errc::connection, name_ + ": out of memory"});
        co_return reason_;
    }
    asio::steady_timer watchdog(socket_.get_executor(), timeout);
    watchdog.async_wait([self, timeout](boost::system::error_code ec) {
        if (!ec && self->state_ == state::connecting)
            self->close(error{errc::connection,
                              self->name_ + ": connect timed out after " + std::to_string(timeout.count()) + "ms"});
    });

    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(server_.host, ec);
    if (!ec) {
        auto [cec] = co_await socket_.async_connect(tcp::endpoint(ip, server_.port), token);
        ec = cec;
    } else {
        auto [rec, results] = co_await resolver_.async_resolve(server_.host, std::to_string(server_.port), token);
        ec = rec;
        if (!ec && state_ == state::connecting) {
            auto [cec, ep] = co_await asio::async_connect(socket_, results, token);
            ec = cec;
        }
    }
    watchdog.cancel();
    if (state_ != state::connecting) co_return reason_;  // closed by the watchdog or by the pool
    if (ec) {
        close(error{errc::connection, name_ + ": connect failed: " + ec.message()});
        co_return reason_;
    }
    socket_.set_option(tcp::no_delay(true), ec);
    state_ = state::open;
    const auto ex = socket_.get_executor();
    asio::co_spawn(ex, read_loop(self), asio::detached);
    asio::co_spawn(ex, write_loop(self), asio::detached);
    co_return std::nullopt;
}

asio::awaitable<std::vector<result>> connection::exchange(std::string commands, std::size_t count,
                                                          clock::time_point deadline) {
    auto self = shared_from_this();
    if (state_ != state::open) {
        const error why = state_ == state::closed ? reason_ : error{errc::connection, name_ + ": not connected"};
        co_return std::vector<result>(count, result(why));
    }
    const auto budget = std::chrono::round<std::chrono::milliseconds>(deadline - clock::now());
    auto req = std::make_shared<request>(socket_.get_executor(), count, deadline);
    pending_.push_back(req);
    if (out_.empty())
        out_ = std::move(commands);
    else
        out_ += commands;
    wake_writer_.cancel();

    co_await req->timer.async_wait(token);  // cancelled when done, expires at the deadline
    if (!req->done)
        close(error{errc::timeout, name_ + ": no reply within " + std::to_string(budget.count()) +
                                       "ms; connection dropped"});
    co_return std::move(req->results);
}

void connection::close(error reason) {
    if (state_ == state::closed) return;
    state_ = state::closed;
    reason_ = std::move(reason);
    boost::system::error_code ec;
    resolver_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    wake_writer_.cancel();
    closed_.cancel();
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& r : pending) {
        while (r->results.size() < r->expected) r->results.emplace_back(reason_);
        r->done = true;
        r->timer.cancel();
    }
    out_.clear();
}

asio::awaitable<void> connection::wait_closed() {
    auto self = shared_from_this();
    while (state_ != state::closed) co_await closed_.async_wait(token);
}

asio::awaitable<void> connection::read_loop(std::shared_ptr<connection> self) {
    while (self->state_ == state::open) {
        auto [ec, n] = co_await self->socket_.async_read_some(asio::buffer(self->read_buffer_), token);
        if (self->state_ != state::open) co_return;
        if (ec) {
            self->close(error{errc::connection, self->name_ + (ec == asio::error::eof
                                                                   ? std::string(": connection closed by the server")
                                                                   : ": read failed: " + ec.message())});
            co_return;
        }
        if (!self->on_data(n)) co_return;
    }
}

bool connection::on_data(std::size_t n) {
    redisReader* r = reader_.get();
    if (redisReaderFeed(r, read_buffer_.data(), n) != REDIS_OK) {
        close(error{errc::protocol, name_ + ": protocol error: " + r->errstr});
        return false;
    }
    for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(r, &raw) != REDIS_OK) {
            close(error{errc::protocol, name_ + ": protocol error: " + r->errstr + "; connection dropped"});
            return false;
        }
        if (raw == nullptr) return true;  // the rest of the reply has not arrived yet
        const std::unique_ptr<redisReply, reply_deleter> owned(static_cast<redisReply*>(raw));
        if (pending_.empty()) {
            close(error{errc::protocol, name_ + ": protocol error: a reply nobody asked for; connection dropped"});
            return false;
        }
        request& req = *pending_.front();
        req.results.push_back(to_result(*owned));
        if (req.results.size() == req.expected) {
            req.done = true;
            req.timer.cancel();
            pending_.pop_front();
        }
    }
}

asio::awaitable<void> connection::write_loop(std::shared_ptr<connection> self) {
    while (self->state_ == state::open) {
        if (self->out_.empty()) {
            self->wake_writer_.expires_at(clock::time_point::max());
            co_await self->wake_writer_.async_wait(token);
            continue;
        }
        self->writing_.clear();
        std::swap(self->writing_, self->out_);
        auto [ec, n] = co_await asio::async_write(self->socket_, asio::buffer(self->writing_), token);
        if (self->state_ != state::open) co_return;
        if (ec) {
            self->close(error{errc::connection, self->name_ + ": write failed: " + ec.message()});
            co_return;
        }
    }
}

}  // namespace sluice::redis
