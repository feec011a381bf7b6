// libFuzzer target: RESP2 replies from a Redis server through hiredis's reader, driven the way
// redis::connection::on_data drives it (bytes fed as they arrive, replies taken until the reader
// needs more, a protocol error ends the connection) and copied into redis::reply trees. The first
// input byte sets how the rest is cut into reads.

#include "redis/reply.hpp"

#include <hiredis/hiredis.h>

#include <cstdint>
#include <cstdlib>
#include <memory>

namespace {

using sluice::redis::reply;

// The conversion of proxy/redis/connection.cpp (to_reply), kept in step with it.
reply to_reply(const redisReply& r, int depth = 0) {
    if (depth > 64) std::abort();  // hiredis nests at most 7 levels
    reply out;
    switch (r.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        out.kind = r.type == REDIS_REPLY_STRING ? reply::type::string
                   : r.type == REDIS_REPLY_STATUS ? reply::type::status
                                                  : reply::type::error;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_INTEGER:
        out.kind = reply::type::integer;
        out.integer = r.integer;
        break;
    case REDIS_REPLY_ARRAY:
        out.kind = reply::type::array;
        out.elements.reserve(r.elements);
        for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(to_reply(*r.element[i], depth + 1));
        break;
    case REDIS_REPLY_NIL: break;
    default: std::abort();  // RESP2 has no other type
    }
    return out;
}

struct reader_deleter {
    void operator()(redisReader* r) const { redisReaderFree(r); }
};
struct reply_deleter {
    void operator()(void* r) const { freeReplyObject(r); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t step = 1 + data[0] % 16;
    ++data;
    --size;
    std::unique_ptr<redisReader, reader_deleter> r(redisReaderCreate());
    for (std::size_t off = 0; off < size; off += step) {
        const std::size_t n = std::min(step, size - off);
        if (redisReaderFeed(r.get(), reinterpret_cast<const char*>(data + off), n) != REDIS_OK) return 0;
        for (;;) {
            void* raw = nullptr;
            if (redisReaderGetReply(r.get(), &raw) != REDIS_OK) return 0;  // protocol error: connection dropped
            if (raw == nullptr) break;
            const std::unique_ptr<void, reply_deleter> owned(raw);
            (void)to_reply(*static_cast<redisReply*>(raw));
        }
    }
    return 0;
}
