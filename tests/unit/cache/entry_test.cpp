// The stored form of an entry: exact round trip, and every truncated or corrupted blob rejected
// with an error rather than a crash.

#include "cache/entry.hpp"

#include <gtest/gtest.h>

#include <xxhash.h>

#include <random>

namespace sluice::cache {
namespace {

entry sample() {
    entry e;
    e.status = 203;
    e.headers = {{"Content-Type", "application/json"}, {"ETag", "W/\"v1\""}, {"X-Empty", ""}, {"X-Dup", "1"},
                 {"X-Dup", "2"}};
    static constexpr char body[] = "{\"id\":1}\0binary\xff";
    e.body = std::string(body, sizeof body - 1);  // an inner NUL and a non-ASCII byte
    e.request_time = time_point(seconds(1'700'000'000));
    e.response_time = time_point(seconds(1'700'000'002));
    e.fresh = freshness{seconds(60), seconds(3), seconds(30), seconds(600), true, true, true};
    e.etag = "W/\"v1\"";
    e.last_modified = "Sun, 06 Nov 1994 08:49:37 GMT";
    e.vary = {"accept-encoding", "accept-language"};
    e.secondary = "accept-encoding=4:gzip\naccept-language-\n";
    return e;
}

// Appends the checksum serialize would write for `payload`.
std::string with_checksum(std::string payload) {
    const std::uint64_t sum = XXH3_64bits(payload.data(), payload.size());
    for (int i = 0; i < 8; ++i) payload.push_back(static_cast<char>((sum >> (8 * i)) & 0xff));
    return payload;
}

TEST(CacheEntry, RoundTrip) {
    const entry e = sample();
    const parse_result r = parse_entry(serialize(e));
    ASSERT_TRUE(r) << r.error;
    EXPECT_EQ(*r.value, e);
    EXPECT_TRUE(parse_entry(serialize(entry{})));
    EXPECT_EQ(*parse_entry(serialize(entry{})).value, entry{});
}

TEST(CacheEntry, SizesCountBodyAndHeaders) {
    const entry e = sample();
    std::uint64_t fields = 0;
    for (const auto& [n, v] : e.headers) fields += n.size() + v.size();
    EXPECT_EQ(e.object_bytes(), e.body.size() + fields);
    EXPECT_GT(e.charge(), e.object_bytes());
}

TEST(CacheEntry, EveryTruncationIsRejected) {
    const std::string blob = serialize(sample());
    for (std::size_t n = 0; n < blob.size(); ++n) {
        const parse_result r = parse_entry(std::string_view(blob).substr(0, n));
        EXPECT_FALSE(r) << "prefix of " << n << " bytes";
        EXPECT_FALSE(r.error.empty());
    }
    EXPECT_FALSE(parse_entry(blob + "x"));
}

TEST(CacheEntry, EveryByteFlipIsRejected) {
    const std::string blob = serialize(sample());
    for (std::size_t i = 0; i < blob.size(); ++i) {
        for (unsigned char bit : {0x01, 0x80}) {
            std::string bad = blob;
            bad[i] = static_cast<char>(bad[i] ^ bit);
            EXPECT_FALSE(parse_entry(bad)) << "byte " << i;
        }
    }
}

TEST(CacheEntry, RandomCorruptionsAreRejected) {
    const std::string blob = serialize(sample());
    std::mt19937_64 rng(42);
    for (int i = 0; i < 5'000; ++i) {
        std::string bad = blob;
        const int changes = 1 + static_cast<int>(rng() % 8);
        for (int c = 0; c < changes; ++c) bad[rng() % bad.size()] = static_cast<char>(rng());
        if (bad == blob) continue;
        EXPECT_FALSE(parse_entry(bad));
    }
}

// Random structure behind a valid header and checksum: the length checks alone must keep the
// parser in bounds (sanitizers would catch what EXPECTs cannot).
TEST(CacheEntry, RandomPayloadsWithValidChecksumNeverCrash) {
    std::mt19937_64 rng(1);
    const std::string valid = serialize(sample());
    int parsed = 0;
    for (int i = 0; i < 20'000; ++i) {
        std::string payload = valid.substr(0, valid.size() - 8);
        // Corrupt a few bytes after the magic and version, or cut the payload short.
        const int changes = 1 + static_cast<int>(rng() % 4);
        for (int c = 0; c < changes; ++c) payload[5 + rng() % (payload.size() - 5)] = static_cast<char>(rng());
        if (rng() % 3 == 0) payload.resize(5 + rng() % (payload.size() - 5));
        const parse_result r = parse_entry(with_checksum(payload));
        if (r) {
            ++parsed;
            EXPECT_EQ(parse_entry(serialize(*r.value)).value == nullptr, false);  // what parses re-serializes
        } else {
            EXPECT_FALSE(r.error.empty());
        }
    }
    EXPECT_GT(parsed, 0);  // some corruptions only change values (a header byte, the body)
}

TEST(CacheEntry, HugeCountsAndLengthsAreRejectedBeforeAllocating) {
    std::string payload = serialize(entry{});
    payload.resize(payload.size() - 8);
    // The header count sits right before the body length (u64) at the end of an empty entry.
    const std::size_t header_count_at = payload.size() - 8 - 4;
    std::string huge_count = payload;
    for (int i = 0; i < 4; ++i) huge_count[header_count_at + i] = '\xff';
    EXPECT_EQ(parse_entry(with_checksum(huge_count)).error, "bad count");
    std::string huge_body = payload;
    for (int i = 0; i < 8; ++i) huge_body[payload.size() - 8 + i] = '\xff';
    EXPECT_EQ(parse_entry(with_checksum(huge_body)).error, "truncated");
}

TEST(CacheEntry, VersionAndMagic) {
    std::string blob = serialize(sample());
    blob[4] = 2;
    EXPECT_EQ(parse_entry(blob).error, "unsupported version 2");
    EXPECT_EQ(parse_entry("GIF89a").error, "bad magic");
    EXPECT_EQ(parse_entry("SL").error, "truncated");
    EXPECT_EQ(parse_entry("").error, "truncated");
}

}  // namespace
}  // namespace sluice::cache
