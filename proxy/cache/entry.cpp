#include "cache/entry.hpp"

#include <xxhash.h>

#include <cstring>
#include <limits>

namespace sluice::cache {

namespace {

constexpr std::string_view magic = "SLCE";
constexpr std::uint8_t format_version = 1;
constexpr std::uint8_t flag_no_cache = 1;
constexpr std::uint8_t flag_no_stale = 2;
constexpr std::uint8_t flag_heuristic = 4;
constexpr std::uint8_t known_flags = flag_no_cache | flag_no_stale | flag_heuristic;
constexpr std::size_t checksum_bytes = 8;

// Allowance for the allocations behind an entry and each of its strings.
constexpr std::uint64_t entry_overhead = 256;
constexpr std::uint64_t field_overhead = 2 * sizeof(std::string);

class writer {
public:
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u16(std::uint16_t v) { le(v, 2); }
    void u32(std::uint32_t v) { le(v, 4); }
    void u64(std::uint64_t v) { le(v, 8); }
    void i64(std::int64_t v) { le(static_cast<std::uint64_t>(v), 8); }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }
    void raw(std::string_view s) { out_.append(s); }
    std::string& out() { return out_; }

private:
    void le(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    std::string out_;
};

// Reads fixed-width little-endian fields; once a read fails, every later one fails too.
class reader {
public:
    explicit reader(std::string_view in) : in_(in) {}

    bool ok() const { return ok_; }
    std::size_t left() const { return in_.size(); }
    void fail(const char* why) {
        if (ok_) why_ = why;
        ok_ = false;
    }
    const char* why() const { return why_; }

    std::uint64_t le(std::size_t n) {
        if (!ok_ || in_.size() < n) {
            fail("truncated");
            return 0;
        }
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{static_cast<unsigned char>(in_[i])} << (8 * i);
        in_.remove_prefix(n);
        return v;
    }
    std::uint8_t u8() { return static_cast<std::uint8_t>(le(1)); }
    std::uint16_t u16() { return static_cast<std::uint16_t>(le(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
    std::uint64_t u64() { return le(8); }
    std::int64_t i64() { return static_cast<std::int64_t>(le(8)); }
    std::string_view bytes(std::uint64_t n) {
        if (!ok_ || in_.size() < n) {
            fail("truncated");
            return {};
        }
        std::string_view v = in_.substr(0, static_cast<std::size_t>(n));
        in_.remove_prefix(static_cast<std::size_t>(n));
        return v;
    }
    std::string str() { return std::string(bytes(u32())); }
    // A count of items that each take at least `min_bytes`: larger than what is left means a lie.
    std::uint32_t count(std::size_t min_bytes) {
        const std::uint32_t n = u32();
        if (ok_ && n > in_.size() / min_bytes) fail("bad count");
        return ok_ ? n : 0;
    }

private:
    std::string_view in_;
    bool ok_ = true;
    const char* why_ = "";
};

std::uint64_t checksum(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

}  // namespace

std::uint64_t entry::object_bytes() const noexcept {
    std::uint64_t n = body.size();
    for (const auto& [name, value] : headers) n += name.size() + value.size();
    return n;
}

std::uint64_t entry::charge() const noexcept {
    std::uint64_t n = object_bytes() + entry_overhead + sizeof(entry);
    n += headers.size() * field_overhead;
    n += etag.size() + last_modified.size() + secondary.size();
    for (const std::string& v : vary) n += v.size() + sizeof(std::string);
    return n;
}

std::string serialize(const entry& e) {
    writer w;
    w.out().reserve(static_cast<std::size_t>(e.object_bytes()) + 128 + e.headers.size() * 8);
    w.raw(magic);
    w.u8(format_version);
    w.u8(static_cast<std::uint8_t>((e.fresh.no_cache ? flag_no_cache : 0) | (e.fresh.no_stale ? flag_no_stale : 0) |
                                   (e.fresh.heuristic ? flag_heuristic : 0)));
    w.u16(e.status);
    w.i64(e.request_time.time_since_epoch().count());
    w.i64(e.response_time.time_since_epoch().count());
    w.i64(e.fresh.lifetime.count());
    w.i64(e.fresh.initial_age.count());
    w.i64(e.fresh.stale_while_revalidate.count());
    w.i64(e.fresh.stale_if_error.count());
    w.str(e.etag);
    w.str(e.last_modified);
    w.str(e.secondary);
    w.u32(static_cast<std::uint32_t>(e.vary.size()));
    for (const std::string& v : e.vary) w.str(v);
    w.u32(static_cast<std::uint32_t>(e.headers.size()));
    for (const auto& [name, value] : e.headers) {
        w.str(name);
        w.str(value);
    }
    w.u64(e.body.size());
    w.raw(e.body);
    w.u64(checksum(w.out()));
    return std::move(w.out());
}

parse_result parse_entry(std::string_view blob) {
    parse_result result;
    const auto failed = [&](std::string why) {
        result.error = std::move(why);
        return std::move(result);
    };
    constexpr std::size_t fixed = 4 + 1 + 1 + 2 + 6 * 8;
    if (blob.size() < magic.size() || blob.substr(0, magic.size()) != magic) {
        return failed(blob.size() < magic.size() && magic.starts_with(blob) ? "truncated" : "bad magic");
    }
    if (blob.size() < magic.size() + 1) return failed("truncated");
    if (const auto v = static_cast<std::uint8_t>(blob[magic.size()]); v != format_version) {
        return failed("unsupported version " + std::to_string(v));
    }
    if (blob.size() < fixed + checksum_bytes) return failed("truncated");
    const std::string_view payload = blob.substr(0, blob.size() - checksum_bytes);
    reader tail(blob.substr(payload.size()));
    if (tail.u64() != checksum(payload)) return failed("checksum mismatch (truncated or corrupted)");

    reader r(payload.substr(magic.size() + 1));
    auto e = std::make_shared<entry>();
    const std::uint8_t flags = r.u8();
    if (flags & ~known_flags) r.fail("unknown flags");
    e->fresh.no_cache = flags & flag_no_cache;
    e->fresh.no_stale = flags & flag_no_stale;
    e->fresh.heuristic = flags & flag_heuristic;
    e->status = r.u16();
    if (r.ok() && (e->status < 100 || e->status > 999)) r.fail("bad status");
    e->request_time = time_point(seconds(r.i64()));
    e->response_time = time_point(seconds(r.i64()));
    e->fresh.lifetime = seconds(r.i64());
    e->fresh.initial_age = seconds(r.i64());
    e->fresh.stale_while_revalidate = seconds(r.i64());
    e->fresh.stale_if_error = seconds(r.i64());
    if (r.ok() && (e->fresh.lifetime.count() < 0 || e->fresh.initial_age.count() < 0 ||
                   e->fresh.stale_while_revalidate.count() < 0 || e->fresh.stale_if_error.count() < 0)) {
        r.fail("negative duration");
    }
    e->etag = r.str();
    e->last_modified = r.str();
    e->secondary = r.str();
    const std::uint32_t vary_count = r.count(4);
    e->vary.reserve(vary_count);
    for (std::uint32_t i = 0; i < vary_count && r.ok(); ++i) e->vary.push_back(r.str());
    const std::uint32_t header_count = r.count(8);
    e->headers.reserve(header_count);
    for (std::uint32_t i = 0; i < header_count && r.ok(); ++i) {
        std::string name = r.str();
        std::string value = r.str();
        e->headers.emplace_back(std::move(name), std::move(value));
    }
    const std::uint64_t body_size = r.u64();
    e->body = std::string(r.bytes(body_size));
    if (r.ok() && r.left() != 0) r.fail("trailing bytes");
    if (!r.ok()) return failed(r.why());
    result.value = std::move(e);
    return result;
}

}  // namespace sluice::cache
