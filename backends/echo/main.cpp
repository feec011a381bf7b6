// sluice-echo: echo and fault-injection endpoints used as a reference upstream for Sluice.
//
//   /echo, /echo/...   any method: JSON of method, path, query, headers, body length, sha256
//                      (the body is streamed through SHA-256, never held whole)
//   /ws                WebSocket echo (text and binary, up to 16 MiB per message)
//   /status/{code}     that status (200..599) with a small JSON body
//   /delay/{ms}        waits ms (at most 60000), then 200
//   /bytes/{n}         n bytes ('a' + i % 26), Content-Length; ?chunked=1 for chunked
//   /abort[?after=N]   head with Content-Length: 1000 (2N), 100 (N) body bytes, then the socket closes
//   /healthz, /stats   (from backends/common)
#include "http_server.hpp"
#include "websocket.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <stdexcept>

namespace {

using namespace sluice::backends;
namespace json = boost::json;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::uint64_t kMaxBytes = 1ull << 30;
constexpr unsigned kMaxDelayMs = 60000;

template <typename T>
std::optional<T> parse_number(std::string_view text) {
    T v{};
    if (text.empty()) return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return v;
}

// Value of query parameter `key` (no percent-decoding: the parameters here are plain).
std::optional<std::string_view> query_param(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == key)
            return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
        return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    });
    return out;
}

struct Sha256 {
    Sha256() : ctx(EVP_MD_CTX_new()) {
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1)
            throw std::runtime_error("EVP sha256 init failed");
    }
    ~Sha256() { EVP_MD_CTX_free(ctx); }
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    void update(const char* data, std::size_t n) {
        if (EVP_DigestUpdate(ctx, data, n) != 1) throw std::runtime_error("EVP update failed");
    }
    std::string hex() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        if (EVP_DigestFinal_ex(ctx, md, &len) != 1) throw std::runtime_error("EVP final failed");
        static constexpr char digits[] = "0123456789abcdef";
        std::string out;
        for (unsigned i = 0; i < len; ++i) {
            out += digits[md[i] >> 4];
            out += digits[md[i] & 0xf];
        }
        return out;
    }

    EVP_MD_CTX* ctx;
};

Response json_ok(unsigned status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

asio::awaitable<void> echo_request(Exchange& ex) {
    const Request& req = ex.request();
    Sha256 sha;
    std::uint64_t length = 0;
    auto chunk = std::make_unique<char[]>(kReadChunk);
    for (;;) {
        std::span<char> into(chunk.get(), kReadChunk);
        BodyRead r = co_await ex.read_body(into);
        if (r.ec) co_return;  // the server answers 400 and closes
        if (r.size == 0) break;
        sha.update(chunk.get(), r.size);
        length += r.size;
    }

    json::object headers;
    for (const auto& h : req.headers) {
        std::string name = lower(h.name);
        if (auto* existing = headers.if_contains(name)) {
            auto& s = existing->as_string();
            s.append(", ");
            s.append(h.value);
        } else {
            headers.emplace(name, h.value);
        }
    }
    json::object doc;
    doc.emplace("method", req.method);
    doc.emplace("path", req.path);
    doc.emplace("query", req.query);
    doc.emplace("headers", std::move(headers));
    doc.emplace("body_length", length);
    doc.emplace("body_sha256", sha.hex());
    co_await ex.respond(json_ok(200, json::serialize(doc)));
}

asio::awaitable<void> status(Exchange& ex, std::string_view arg) {
    auto code = parse_number<unsigned>(arg);
    if (!code || *code < 200 || *code > 599) {
        co_await ex.respond(json_error(400, "status must be 200..599"));
        co_return;
    }
    co_await ex.respond(json_ok(*code, "{\"status\":" + std::to_string(*code) + "}"));
}

asio::awaitable<void> delay(Exchange& ex, std::string_view arg) {
    auto ms = parse_number<unsigned>(arg);
    if (!ms || *ms > kMaxDelayMs) {
        co_await ex.respond(json_error(400, "delay must be 0..60000 ms"));
        co_return;
    }
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(*ms));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_await ex.respond(json_ok(200, "{\"delay_ms\":" + std::to_string(*ms) + "}"));
}

// 'a' + i % 26, long enough that any 64 KiB window can start at any phase of the pattern.
const std::array<char, kReadChunk + 26>& pattern() {
    static const auto table = [] {
        std::array<char, kReadChunk + 26> t{};
        for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<char>('a' + i % 26);
        return t;
    }();
    return table;
}

asio::awaitable<void> bytes(Exchange& ex, std::string_view arg) {
    auto n = parse_number<std::uint64_t>(arg);
    if (!n || *n > kMaxBytes) {
        co_await ex.respond(json_error(400, "n must be 0..1073741824"));
        co_return;
    }
    auto chunked_param = query_param(ex.request().query, "chunked");
    bool chunked = chunked_param && (*chunked_param == "1" || *chunked_param == "true");
    std::size_t piece = chunked ? 16 * 1024 : kReadChunk;
    std::vector<Header> no_headers;
    if (co_await ex.begin(200, std::move(no_headers), "application/octet-stream", *n, chunked))
        co_return;
    if (!ex.request().is_head()) {
        const auto& table = pattern();
        for (std::uint64_t sent = 0; sent < *n;) {
            std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(piece, *n - sent));
            std::span<const char> data(table.data() + sent % 26, len);
            if (co_await ex.write(data)) co_return;
            sent += len;
        }
    }
    co_await ex.end();
}

asio::awaitable<void> abort_midway(Exchange& ex) {
    // ?after=N: promise 2N bytes, send N, close (default: promise 1000, send 100).
    std::uint64_t sent_bytes = 100;
    if (auto after = query_param(ex.request().query, "after")) {
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(after->data(), after->data() + after->size(), n);
        if (ec == std::errc() && p == after->data() + after->size() && n > 0 && n <= (64u << 20)) sent_bytes = n;
    }
    const std::uint64_t promised = sent_bytes == 100 ? 1000 : sent_bytes * 2;
    std::vector<Header> no_headers;
    if (co_await ex.begin(200, std::move(no_headers), "text/plain", promised, false)) co_return;
    if (!ex.request().is_head()) {
        for (std::uint64_t done = 0; done < sent_bytes;) {
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(pattern().size(), sent_bytes - done));
            if (co_await ex.write(std::span<const char>(pattern().data(), n))) break;
            done += n;
        }
    }
    ex.abort();
}

asio::awaitable<void> ws(Exchange& ex) {
    const Request& req = ex.request();
    auto upgrade = req.header("upgrade");
    if (req.method != "GET" || !upgrade || lower(*upgrade) != "websocket") {
        Response res = json_error(426, "WebSocket upgrade required");
        res.headers.push_back({"Upgrade", "websocket"});
        co_await ex.respond(std::move(res));
        co_return;
    }
    std::string name = ex.backend_name();
    co_await sluice::backends::echo::websocket_echo(ex.take_socket(), req, std::move(name));
}

asio::awaitable<void> handle(Exchange& ex) {
    std::string_view path = ex.request().path;
    auto after = [&](std::string_view prefix) -> std::optional<std::string_view> {
        if (!path.starts_with(prefix)) return std::nullopt;
        return path.substr(prefix.size());
    };
    if (path == "/echo" || path.starts_with("/echo/")) {
        co_await echo_request(ex);
    } else if (path == "/ws") {
        co_await ws(ex);
    } else if (auto code = after("/status/")) {
        co_await status(ex, *code);
    } else if (auto ms = after("/delay/")) {
        co_await delay(ex, *ms);
    } else if (auto n = after("/bytes/")) {
        co_await bytes(ex, *n);
    } else if (path == "/abort") {
        co_await abort_midway(ex);
    } else {
        co_await ex.respond(json_error(404, "not found"));
    }
}

}  // namespace

int main(int argc, char** argv) {
    return serve(argc, argv, "sluice-echo", "echo", handle);
}
