// The memory store: exact LRU order within a shard, the max_bytes bound over many inserts,
// refusal of large objects, Vary variants, purge, and concurrent use.

#include "cache/memory_store.hpp"

#include "cache/key.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <thread>

namespace sluice::cache {
namespace {

// "prefix" followed by i (built by append: GCC 12 warns falsely on "literal" + std::string&&).
std::string numbered(std::string_view prefix, std::uint64_t i) {
    std::string out(prefix);
    out += std::to_string(i);
    return out;
}

const header_list no_headers;

std::shared_ptr<const entry> body_of(std::size_t n, char fill = 'x') {
    auto e = std::make_shared<entry>();
    e->body.assign(n, fill);
    return e;
}

// What one entry of `n` body bytes under `key` costs the store.
std::uint64_t cost(std::string_view key, std::size_t n) {
    return body_of(n)->charge() + key.size() + memory_store::node_overhead;
}

std::shared_ptr<const entry> variant(const std::vector<std::string>& vary, const header_list& request,
                                     std::string body) {
    auto e = std::make_shared<entry>();
    e->vary = vary;
    e->secondary = secondary_key(vary, request);
    e->body = std::move(body);
    return e;
}

TEST(MemoryStore, LookupAndMiss) {
    memory_store store(1 << 20, 1 << 16);
    EXPECT_EQ(store.lookup("k", no_headers).found, nullptr);
    EXPECT_FALSE(store.lookup("k", no_headers).vary_miss);
    ASSERT_EQ(store.insert("k", body_of(10)), memory_store::insert_result::stored);
    const auto r = store.lookup("k", no_headers);
    ASSERT_NE(r.found, nullptr);
    EXPECT_EQ(r.found->body, std::string(10, 'x'));
    const auto s = store.stats();
    EXPECT_EQ(s.hits, 1u);
    EXPECT_EQ(s.misses, 2u);
    EXPECT_EQ(s.inserts, 1u);
    EXPECT_EQ(s.entries, 1u);
    EXPECT_EQ(s.bytes, cost("k", 10));
    EXPECT_EQ(store.bytes(), cost("k", 10));
}

TEST(MemoryStore, EvictsLeastRecentlyUsedFirst) {
    // One shard with room for exactly three entries of 100 bytes.
    const std::uint64_t one = cost("a", 100);
    memory_store store(3 * one, 1000, 1);
    for (const char* k : {"a", "b", "c"}) ASSERT_EQ(store.insert(k, body_of(100)), memory_store::insert_result::stored);
    EXPECT_EQ(store.size(), 3u);
    ASSERT_NE(store.lookup("a", no_headers).found, nullptr);  // a is now the most recently used
    store.insert("d", body_of(100));                          // evicts b, the least recently used
    EXPECT_EQ(store.lookup("b", no_headers).found, nullptr);
    EXPECT_NE(store.lookup("a", no_headers).found, nullptr);
    EXPECT_NE(store.lookup("c", no_headers).found, nullptr);
    EXPECT_NE(store.lookup("d", no_headers).found, nullptr);
    EXPECT_EQ(store.stats().evictions, 1u);
    // Order now (most recent first): d c a; e evicts a.
    store.insert("e", body_of(100));
    EXPECT_EQ(store.lookup("a", no_headers).found, nullptr);
    EXPECT_NE(store.lookup("c", no_headers).found, nullptr);
    EXPECT_EQ(store.bytes(), 3 * one);
    // Order: c e d. An entry costing two slots evicts d, then e.
    ASSERT_EQ(cost("f", 100 + one), 2 * one);
    store.insert("f", body_of(100 + one));
    EXPECT_EQ(store.lookup("d", no_headers).found, nullptr);
    EXPECT_EQ(store.lookup("e", no_headers).found, nullptr);
    EXPECT_NE(store.lookup("c", no_headers).found, nullptr);
    EXPECT_NE(store.lookup("f", no_headers).found, nullptr);
    EXPECT_EQ(store.stats().evictions, 4u);
    EXPECT_EQ(store.bytes(), 3 * one);
}

TEST(MemoryStore, ReplacingAKeyFreesItsOldBytes) {
    memory_store store(1 << 20, 1 << 16, 1);
    store.insert("k", body_of(1000));
    store.insert("k", body_of(10, 'y'));
    EXPECT_EQ(store.size(), 1u);
    EXPECT_EQ(store.bytes(), cost("k", 10));
    EXPECT_EQ(store.lookup("k", no_headers).found->body, "yyyyyyyyyy");
    EXPECT_EQ(store.stats().evictions, 0u);
}

TEST(MemoryStore, MaxBytesHoldsOverManyInserts) {
    const std::uint64_t max_bytes = 2 << 20;
    const std::uint64_t max_object = 16 << 10;
    memory_store store(max_bytes, max_object);
    EXPECT_EQ(store.shard_count(), memory_store::max_shards);
    std::mt19937_64 rng(3);
    std::uint64_t stored = 0;
    for (int i = 0; i < 20'000; ++i) {
        const std::string key = numbered("http://h/", rng() % 5'000);
        const std::size_t size = rng() % (max_object + 2'000);
        const auto r = store.insert(key, body_of(size));
        if (size <= max_object) {
            ASSERT_EQ(r, memory_store::insert_result::stored) << size;
            ++stored;
            ASSERT_NE(store.lookup(key, no_headers).found, nullptr);  // what was just stored is there
        } else {
            ASSERT_EQ(r, memory_store::insert_result::too_large);
        }
        ASSERT_LE(store.bytes(), max_bytes);
    }
    const auto s = store.stats();
    EXPECT_EQ(s.inserts, stored);
    EXPECT_GT(s.evictions, 0u);
    EXPECT_GT(s.bytes, max_bytes / 2);  // eviction frees only what is needed
    store.clear();
    EXPECT_EQ(store.bytes(), 0u);
    EXPECT_EQ(store.size(), 0u);
}

TEST(MemoryStore, ObjectsOverMaxObjectBytesAreRefused) {
    memory_store store(1 << 20, 1000);
    EXPECT_EQ(store.insert("big", body_of(1001)), memory_store::insert_result::too_large);
    EXPECT_EQ(store.insert("edge", body_of(1000)), memory_store::insert_result::stored);
    auto with_headers = std::make_shared<entry>();
    with_headers->body.assign(990, 'x');
    with_headers->headers = {{"Content-Type", "text/plain"}};  // 22 bytes of fields: 1012 in all
    EXPECT_EQ(store.insert("h", with_headers), memory_store::insert_result::too_large);
    EXPECT_EQ(store.stats().refused, 2u);
    EXPECT_EQ(store.lookup("big", no_headers).found, nullptr);
    // A store too small for even one object of the limit refuses rather than overflowing.
    memory_store tiny(500, 1000);
    EXPECT_EQ(tiny.shard_count(), 1u);
    EXPECT_EQ(tiny.insert("k", body_of(400)), memory_store::insert_result::too_large);
    EXPECT_EQ(tiny.bytes(), 0u);
}

TEST(MemoryStore, EvictedEntriesLiveOnWhileRead) {
    const std::uint64_t one = cost("a", 100);
    memory_store store(one, 1000, 1);
    store.insert("a", body_of(100, 'a'));
    const auto reader = store.lookup("a", no_headers).found;
    store.insert("b", body_of(100, 'b'));  // evicts a
    EXPECT_EQ(store.lookup("a", no_headers).found, nullptr);
    ASSERT_NE(reader, nullptr);
    EXPECT_EQ(reader->body, std::string(100, 'a'));
    EXPECT_EQ(reader.use_count(), 1);
}

TEST(MemoryStore, VaryVariants) {
    memory_store store(1 << 20, 1 << 16);
    const std::vector<std::string> ae{"accept-encoding"};
    const header_list gzip{{"Accept-Encoding", "gzip"}};
    const header_list br{{"Accept-Encoding", "br"}};
    const header_list none;
    store.insert("k", variant(ae, gzip, "gzip-body"));
    store.insert("k", variant(ae, br, "br-body"));
    EXPECT_EQ(store.size(), 2u);
    EXPECT_EQ(store.lookup("k", gzip).found->body, "gzip-body");
    EXPECT_EQ(store.lookup("k", br).found->body, "br-body");
    const auto miss = store.lookup("k", none);
    EXPECT_EQ(miss.found, nullptr);
    EXPECT_TRUE(miss.vary_miss);
    // Same secondary key: replaced.
    store.insert("k", variant(ae, gzip, "gzip-2"));
    EXPECT_EQ(store.size(), 2u);
    EXPECT_EQ(store.lookup("k", gzip).found->body, "gzip-2");
    // The resource now varies on something else: the old variants go.
    const std::vector<std::string> al{"accept-language"};
    store.insert("k", variant(al, {{"Accept-Language", "en"}}, "en"));
    EXPECT_EQ(store.size(), 1u);
    EXPECT_EQ(store.lookup("k", gzip).found, nullptr);
    EXPECT_EQ(store.lookup("k", header_list{{"Accept-Language", "en"}}).found->body, "en");
    EXPECT_EQ(store.erase("k"), 1u);
    EXPECT_EQ(store.bytes(), 0u);
}

TEST(MemoryStore, VariantsPerKeyAreCapped) {
    memory_store store(1 << 20, 1 << 16, 1, 4);
    const std::vector<std::string> lang{"accept-language"};
    for (int i = 0; i < 10; ++i) {
        const header_list req{{"Accept-Language", numbered("l", i)}};
        store.insert("k", variant(lang, req, std::to_string(i)));
        EXPECT_LE(store.size(), 4u);
    }
    // The newest four remain.
    for (int i = 0; i < 10; ++i) {
        const header_list req{{"Accept-Language", numbered("l", i)}};
        EXPECT_EQ(store.lookup("k", req).found != nullptr, i >= 6) << i;
    }
}

TEST(MemoryStore, EraseAndErasePrefix) {
    memory_store store(1 << 20, 1 << 16);
    const std::vector<std::string> keys{primary_key("http", "a.example", "/items/1"),
                                        primary_key("http", "a.example", "/items/2?x=1"),
                                        primary_key("https", "b.example", "/items/3"),
                                        primary_key("http", "a.example", "/users/1"),
                                        primary_key("http", "a.example", "/itemsX")};
    for (const auto& k : keys) store.insert(k, body_of(10));
    EXPECT_EQ(store.erase(keys[3]), 1u);
    EXPECT_EQ(store.erase(keys[3]), 0u);
    EXPECT_EQ(store.erase_prefix("/items/"), 3u);  // both hosts
    EXPECT_EQ(store.size(), 1u);
    EXPECT_NE(store.lookup(keys[4], no_headers).found, nullptr);
    store.insert(keys[0], body_of(10));
    store.insert(keys[2], body_of(10));
    EXPECT_EQ(store.erase_prefix(*primary_key_from_url("http://A.example/items")), 2u);  // a.example only
    EXPECT_EQ(store.size(), 1u);
    EXPECT_NE(store.lookup(keys[2], no_headers).found, nullptr);
    EXPECT_EQ(store.bytes(), cost(keys[2], 10));
}

// Workers on several threads: no torn state, and the bound holds throughout.
TEST(MemoryStore, ConcurrentUseKeepsTheBound) {
    const std::uint64_t max_bytes = 256 << 10;
    memory_store store(max_bytes, 8 << 10);
    std::atomic<bool> over{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937_64 rng(static_cast<unsigned>(t));
            for (int i = 0; i < 20'000; ++i) {
                const std::string key = numbered("k", rng() % 300);
                switch (rng() % 8) {
                    case 0: store.erase(key); break;
                    case 1: if (i % 1000 == 0) store.erase_prefix("k1"); break;
                    case 2: case 3: store.insert(key, body_of(rng() % (8 << 10))); break;
                    default: {
                        const auto r = store.lookup(key, no_headers);
                        if (r.found && r.found->body.size() > (8 << 10)) over = true;
                    }
                }
                if (store.bytes() > max_bytes) over = true;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_FALSE(over);
    const auto s = store.stats();
    EXPECT_LE(s.bytes, max_bytes);
    std::uint64_t found = 0;
    for (int i = 0; i < 300; ++i) found += store.lookup(numbered("k", i), no_headers).found ? 1 : 0;
    EXPECT_EQ(found, store.size());
}

}  // namespace
}  // namespace sluice::cache
