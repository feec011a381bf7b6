#include "cache/redis_store.hpp"

#include "cache/key.hpp"
#include "cache/policy.hpp"
#include "redis/client.hpp"
#include "redis/script.hpp"

#include <algorithm>
#include <string>
#include <vector>

namespace sluice::cache {

namespace asio = boost::asio;

namespace {

constexpr char variant_separator = '\x1f';
constexpr std::string_view scan_count = "1000";

// Stores one entry. KEYS: the entry's key, v:P, i:P, e:P. ARGV: blob, ttl, Vary names ("" none).
// When the Vary names differ from the stored ones, the variants listed in i:P are dropped first
// (the resource changed what it varies on). v:P and i:P live as long as their longest variant.
// The variant keys read from i:P are not in KEYS: fine on a plain server (not Redis Cluster;
// the ring is ours).
const redis::script& insert_script() {
    static const redis::script s(R"lua(
local ttl = tonumber(ARGV[2])
local names = ARGV[3]
local old = redis.call('GET', KEYS[2]) or ''
if old ~= names then
  for _, k in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('DEL', k) end
  redis.call('DEL', KEYS[3])
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
if names == '' then
  redis.call('DEL', KEYS[2])
else
  redis.call('DEL', KEYS[4])
  redis.call('SET', KEYS[2], names, 'KEEPTTL')
  redis.call('SADD', KEYS[3], KEYS[1])
  for _, k in ipairs({KEYS[2], KEYS[3]}) do
    if redis.call('TTL', k) < ttl then redis.call('EXPIRE', k, ttl) end
  end
end
return 1
)lua");
    return s;
}

// Drops every variant of one URL. KEYS: e:P, v:P, i:P. Returns how many entries went.
const redis::script& erase_script() {
    static const redis::script s(R"lua(
local n = redis.call('DEL', KEYS[1])
for _, k in ipairs(redis.call('SMEMBERS', KEYS[3])) do n = n + redis.call('DEL', k) end
redis.call('DEL', KEYS[2], KEYS[3])
return n
)lua");
    return s;
}

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

std::string redis_store::index_key(std::string_view primary) {
    std::string k(key_prefix);
    return k.append("i:").append(primary);
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
    const std::string ekey = entry_key(primary, e->vary.empty() ? std::string_view() : std::string_view(e->secondary));
    const std::string vkey = vary_key(primary);
    const std::string ikey = index_key(primary);
    const std::string base = entry_key(primary);
    const std::string names = join_names(e->vary);
    std::vector<std::string_view> keys{ekey, vkey, ikey, base};
    std::vector<std::string_view> args{blob, ttl, names};
    auto r = co_await client_.pool_for(primary).eval(insert_script(), std::move(keys), std::move(args));
    if (!r) co_return r.err().message;
    co_return std::nullopt;
}

asio::awaitable<redis_store::erase_result> redis_store::erase(std::string primary) {
    erase_result out;
    const std::string ekey = entry_key(primary);
    const std::string vkey = vary_key(primary);
    const std::string ikey = index_key(primary);
    std::vector<std::string_view> keys{ekey, vkey, ikey};
    std::vector<std::string_view> none;
    auto r = co_await client_.pool_for(primary).eval(erase_script(), std::move(keys), std::move(none));
    if (!r) out.error = r.err().message;
    else if (!r->is_integer()) out.error = "unexpected reply to the erase script";
    else out.erased = static_cast<std::size_t>(r->integer);
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
            // Each matching URL once per batch, through the erase script (its variants included;
            // a key already dropped with its URL counts 0 when met again).
            std::vector<std::string> primaries;
            for (const auto& k : r->elements[1].elements) {
                if (k.str.size() < all.size()) continue;
                const std::string_view primary = primary_of(k.str);
                if (!key_has_prefix(primary, prefix)) continue;
                if (std::find(primaries.begin(), primaries.end(), primary) == primaries.end())
                    primaries.emplace_back(primary);
            }
            for (const auto& primary : primaries) {
                const std::string ekey = entry_key(primary);
                const std::string vkey = vary_key(primary);
                const std::string ikey = index_key(primary);
                std::vector<std::string_view> keys{ekey, vkey, ikey};
                std::vector<std::string_view> none;
                auto d = co_await pool.eval(erase_script(), std::move(keys), std::move(none));
                if (!d || !d->is_integer()) {
                    out.error = d ? "unexpected reply to the erase script" : d.err().message;
                    co_return out;
                }
                out.erased += static_cast<std::size_t>(d->integer);
            }
        } while (cursor != "0");
    }
    co_return out;
}

}  // namespace sluice::cache
