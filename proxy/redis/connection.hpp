#pragma once
// One connection to one Redis server: a writer loop and a reader loop over our own Asio socket,
// with hiredis's RESP reader. Requests are pipelined: any number of coroutines may call
// exchange() concurrently; their bytes are written in call order and replies are matched in
// FIFO order (RESP has no request ids). A timeout, an I/O error or a protocol error closes the
// connection and fails every pending request: after a lost reply the stream is out of step.
//
// Single-threaded: every member is used from the thread running the executor's io_context.
// Owned by shared_ptr; the loops and the callers waiting on it keep it alive.

#include "redis/endpoint.hpp"
#include "redis/error.hpp"
#include "redis/result.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct redisReader;

namespace sluice::redis {

class connection : public std::enable_shared_from_this<connection> {
public:
    using clock = std::chrono::steady_clock;

    static std::shared_ptr<connection> create(boost::asio::any_io_executor ex, endpoint server);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Resolves the name (if any) and connects within `timeout`; nullopt once open. Called once.
    boost::asio::awaitable<std::optional<error>> connect(std::chrono::milliseconds timeout);

    // Sends `count` commands already encoded in `commands` and waits for their `count` replies
    // until `deadline`. Always returns `count` results; on a timeout or a dropped connection
    // the replies not yet received are that error.
    boost::asio::awaitable<std::vector<result>> exchange(std::string commands, std::size_t count,
                                                         clock::time_point deadline);

    // Closes the socket and fails every pending request with `reason`; later calls fail with it too.
    void close(error reason);

    // Completes once the connection is closed (by close(), a timeout, the server or an error).
    boost::asio::awaitable<void> wait_closed();

    bool is_open() const noexcept { return state_ == state::open; }
    std::size_t pending() const noexcept { return pending_.size(); }
    const error& close_reason() const noexcept { return reason_; }
    const std::string& name() const noexcept { return name_; }  // "redis host:port"

private:
    struct request;
    enum class state { idle, connecting, open, closed };

    connection(boost::asio::any_io_executor ex, endpoint server);
    static boost::asio::awaitable<void> read_loop(std::shared_ptr<connection> self);
    static boost::asio::awaitable<void> write_loop(std::shared_ptr<connection> self);
    bool on_data(std::size_t n);  // feeds the reader and completes requests; false after closing

    endpoint server_;
    std::string name_;
    boost::asio::ip::tcp::socket socket_;
    boost::asio::ip::tcp::resolver resolver_;
    boost::asio::steady_timer wake_writer_;  // cancelled when out_ gets bytes
    boost::asio::steady_timer closed_;       // cancelled on close
    state state_ = state::idle;
    error reason_{errc::connection, ""};
    std::unique_ptr<redisReader, void (*)(redisReader*)> reader_;
    std::deque<std::shared_ptr<request>> pending_;  // FIFO: the front owns the next reply
    std::string out_;                               // encoded commands waiting for the writer
    std::string writing_;                           // the bytes of the write in flight
    std::array<char, 16 * 1024> read_buffer_;
};

}  // namespace sluice::redis
