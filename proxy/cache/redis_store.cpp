#include "cache/redis_store.hpp"

#include "cache/key.hpp"
#include "cache/policy.hpp"
#include "redis/client.hpp"

#include <string>
#include <vector>

namespace sluice::cache {

namespace asio = boost::asio;

namespace {

constexpr char variant_separator = '\x1f';
constexpr std::string_view scan_count = "1000";

std::string join_names(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) {
        if (!out.empty()) out += '\n';
        out += n;
    }
    return out;
}

std::vector<std::string> split_names(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        const auto nl = s.find('\n');
        out.emplace_back(s.substr(0, nl));
        if (nl == std::string_view::npos) break;
        s.remove_prefix(nl + 1);
    }
    return out;
}

// The entry in a GET reply; null for nil or a blob that does not parse.
std::shared_ptr<const entry> parse_reply(const redis::reply& r) {
    if (!r.is_string()) return nullptr;
    auto parsed = parse_entry(r.str);
    return parsed.value;
}

// The primary key of an "e:" Redis key (variant suffix dropped).
std::string_view primary_of(std::string_view redis_key) {
    std::string_view p = redis_key.substr(redis_store::key_prefix.size() + 2);
    return p.substr(0, p.find(variant_separator));
}

}  // namespace

std::string redis_store::entry_key(std::string_view primary, std::string_view secondary) {
    std::string k;
    k.reserve(key_prefix.size() + 2 + primary.size() + 1 + secondary.size());
    k.append(key_prefix).append("e:").append(primary);
    if (!secondary.empty()) k.append(1, variant_separator).append(secondary);
    return k;
}

std::string redis_store::vary_key(std::string_view primary) {
    std::string k(key_prefix);
    return k.append("v:").append(primary);
}

std::string redis_store::glob_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

asio::awaitable<redis_store::lookup_result> redis_store::lookup(std::string primary, header_view request) {
    lookup_result out;
    auto& pool = client_.pool_for(primary);
    const std::string vkey = vary_key(primary);
    const std::string ekey = entry_key(primary);
    std::vector<redis::command> batch;
    batch.push_back({"GET", vkey});
    batch.push_back({"GET", ekey});
    auto replies = co_await pool.pipeline(std::move(batch));
    for (const auto& r : replies) {
        if (!r) {
            out.failed = true;
            out.error = r.err().message;
            co_return out;
        }
    }
    const auto& vary = replies[0].value();
    if (!vary.is_string() || vary.str.empty()) {
        auto e = parse_reply(replies[1].value());
        if (e && e->vary.empty()) out.found = std::move(e);
        co_return out;
    }
    // The resource varies: fetch the variant this request selects.
    const auto names = split_names(vary.str);
    const std::string secondary = secondary_key(names, request);
    const std::string variant = entry_key(primary, secondary);
    auto r = co_await pool.execute("GET", variant);
    if (!r) {
        out.failed = true;
        out.error = r.err().message;
        co_return out;
    }
    auto e = parse_reply(r.value());
    if (e && e->secondary == secondary && e->vary == names) out.found = std::move(e);
    else out.vary_miss = true;
    co_return out;
}

asio::awaitable<std::optional<std::string>> redis_store::insert(std::string primary, std::shared_ptr<const entry> e,
                                                                time_point now) {
    const std::string blob = serialize(*e);
    const std::string ttl = std::to_string(store_ttl(*e, now).count());
    const std::string vkey = vary_key(primary);
    const std::string base = entry_key(primary);
    std::vector<redis::command> batch;
    std::string ekey, names;
    if (e->vary.empty()) {
        batch.push_back({"SET", base, blob, "EX", ttl});
        batch.push_back({"DEL", vkey});
    } else {
        ekey = entry_key(primary, e->secondary);
        names = join_names(e->vary);
        batch.push_back({"SET", ekey, blob, "EX", ttl});
        // v: lives as long as its longest-lived variant: set the names, keep any TTL, then give a
        // new key this TTL (NX) or extend a shorter one (GT).
        batch.push_back({"SET", vkey, names, "KEEPTTL"});
        batch.push_back({"EXPIRE", vkey, ttl, "NX"});
        batch.push_back({"EXPIRE", vkey, ttl, "GT"});
        batch.push_back({"DEL", base});
    }
    auto replies = co_await client_.pool_for(primary).pipeline(std::move(batch));
    for (const auto& r : replies)
        if (!r) co_return r.err().message;
    co_return std::nullopt;
}

asio::awaitable<redis_store::erase_result> redis_store::erase(std::string primary) {
    erase_result out;
    auto& pool = client_.pool_for(primary);
    const std::string ekey = entry_key(primary);
    const std::string vkey = vary_key(primary);
    std::vector<redis::command> batch;
    batch.push_back({"DEL", ekey});
    batch.push_back({"DEL", vkey});
    auto replies = co_await pool.pipeline(std::move(batch));
    if (!replies[0]) {
        out.error = replies[0].err().message;
        co_return out;
    }
    out.erased += static_cast<std::size_t>(replies[0]->integer);
    // The variants: SCAN for e:PRIMARY\x1f* on this server.
    const std::string pattern = glob_escape(ekey + variant_separator) + "*";
    std::string cursor = "0";
    do {
        auto r = co_await pool.execute("SCAN", cursor, "MATCH", pattern, "COUNT", scan_count);
        if (!r) {
            out.error = r.err().message;
            co_return out;
        }
        if (!r->is_array() || r->elements.size() != 2 || !r->elements[1].is_array()) {
            out.error = "unexpected SCAN reply";
            co_return out;
        }
        cursor = r->elements[0].str;
        redis::command del{"DEL"};
        for (const auto& k : r->elements[1].elements) del.push_back(k.str);
        if (del.size() > 1) {
            auto d = co_await pool.execute(std::move(del));
            if (!d) {
                out.error = d.err().message;
                co_return out;
            }
            out.erased += static_cast<std::size_t>(d->integer);
        }
    } while (cursor != "0");
    co_return out;
}

asio::awaitable<redis_store::erase_result> redis_store::erase_prefix(std::string prefix) {
    erase_result out;
    // A URL prefix narrows the SCAN itself; a path prefix matches every host: filter each key.
    const bool by_path = !prefix.empty() && prefix.front() == '/';
    const std::string all = std::string(key_prefix) + "e:";
    const std::string pattern = by_path ? glob_escape(all) + "*" : glob_escape(all + prefix) + "*";
    for (std::size_t i = 0; i < client_.size(); ++i) {
        auto& pool = client_.shard(i);
        std::string cursor = "0";
        do {
            auto r = co_await pool.execute("SCAN", cursor, "MATCH", pattern, "COUNT", scan_count);
            if (!r) {
                out.error = r.err().message;
                co_return out;
            }
            if (!r->is_array() || r->elements.size() != 2 || !r->elements[1].is_array()) {
                out.error = "unexpected SCAN reply";
                co_return out;
            }
            cursor = r->elements[0].str;
            std::vector<std::string> vkeys;
            redis::command del{"DEL"};
            for (const auto& k : r->elements[1].elements) {
                if (k.str.size() < all.size()) continue;
                const std::string_view primary = primary_of(k.str);
                if (!key_has_prefix(primary, prefix)) continue;
                del.push_back(k.str);
                vkeys.push_back(vary_key(primary));
            }
            if (!vkeys.empty()) {
                // DEL the entries (counted), then their v: keys (which may be absent).
                redis::command varies{"DEL"};
                for (const auto& v : vkeys) varies.push_back(v);
                std::vector<redis::command> batch;
                batch.push_back(std::move(del));
                batch.push_back(std::move(varies));
                auto d = co_await pool.pipeline(std::move(batch));
                if (!d[0]) {
                    out.error = d[0].err().message;
                    co_return out;
                }
                out.erased += static_cast<std::size_t>(d[0]->integer);
            }
        } while (cursor != "0");
    }
    co_return out;
}

}  // namespace sluice::cache
