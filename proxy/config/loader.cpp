// TOML -> validated config snapshot. The loader walks the parsed document once, checks every key
// it meets, and records every problem (with the source position toml++ kept for the node) instead
// of stopping at the first; a config with any error yields no snapshot at all.

#include "config/loader.hpp"
#include "upstream/tls_client.hpp"

#include "lua/syntax.hpp"

#include <re2/re2.h>
#include <toml++/toml.h>

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <sstream>
#include <thread>

namespace sluice::config {

std::string load_error::to_string() const {
    if (line <= 0) {
        return file + ": " + message;
    }
    if (column <= 0) {
        return file + ":" + std::to_string(line) + ": " + message;  // e.g. a Lua script's error
    }
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Value parsers

struct unit {
    std::string_view name;
    std::uint64_t scale;
};

constexpr unit duration_units[] = {
    {"ms", 1}, {"s", 1'000}, {"m", 60'000}, {"h", 3'600'000},
};

constexpr unit size_units[] = {
    {"B", 1},
    {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
    {"KB", 1'000}, {"MB", 1'000'000}, {"GB", 1'000'000'000}, {"TB", 1'000'000'000'000},
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "<digits>[.<digits>]<unit>" -> number * unit scale, which must come out whole (no rounding:
// "1.5ms" is not a whole number of milliseconds). An empty unit is allowed only if
// `unit_optional` (then the scale is 1). Overflow gives nullopt.
std::optional<std::uint64_t> parse_scaled(std::string_view text, std::span<const unit> units,
                                          bool unit_optional) {
    std::size_t i = 0;
    std::uint64_t whole = 0;
    while (i < text.size() && is_digit(text[i])) {
        if (__builtin_mul_overflow(whole, 10u, &whole) ||
            __builtin_add_overflow(whole, static_cast<unsigned>(text[i] - '0'), &whole)) {
            return std::nullopt;
        }
        ++i;
    }
    if (i == 0) {
        return std::nullopt;
    }
    std::uint64_t frac = 0;
    std::uint64_t frac_den = 1;
    if (i < text.size() && text[i] == '.') {
        ++i;
        std::size_t digits = 0;
        while (i < text.size() && is_digit(text[i])) {
            if (++digits > 18) {
                return std::nullopt;
            }
            frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
            frac_den *= 10;
            ++i;
        }
        if (digits == 0) {
            return std::nullopt;
        }
    }
    const std::string_view suffix = text.substr(i);
    std::uint64_t scale = 0;
    for (const unit& u : units) {
        if (u.name == suffix) {
            scale = u.scale;
        }
    }
    if (scale == 0) {
        if (!suffix.empty() || !unit_optional) {
            return std::nullopt;
        }
        scale = 1;
    }
    std::uint64_t result = 0;
    if (__builtin_mul_overflow(whole, scale, &result)) {
        return std::nullopt;
    }
    const unsigned __int128 frac_scaled = static_cast<unsigned __int128>(frac) * scale;
    if (frac_scaled % frac_den != 0) {
        return std::nullopt;
    }
    if (__builtin_add_overflow(result, static_cast<std::uint64_t>(frac_scaled / frac_den), &result)) {
        return std::nullopt;
    }
    return result;
}

bool is_host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' ||
           c == '_';
}

// A DNS name or an IPv4 address: letters, digits, '-', '_' in non-empty dot-separated labels.
bool valid_host_name(std::string_view host) {
    if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.' ||
        host.find("..") != std::string_view::npos) {
        return false;
    }
    return std::all_of(host.begin(), host.end(), is_host_char);
}

bool valid_ipv6(std::string_view text) {
    in6_addr addr{};
    return inet_pton(AF_INET6, std::string(text).c_str(), &addr) == 1;
}

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 0xf];
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

// Endpoint parser that says what is wrong; `why` is phrased to follow `address "TEXT"`.
// Ports 0..65535 are accepted here; callers that need a real port check for 0.
std::optional<endpoint> parse_endpoint_why(std::string_view text, std::string& why) {
    if (text.empty()) {
        why = "is empty";
        return std::nullopt;
    }
    std::string_view host;
    std::string_view port;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos) {
            why = "has no closing \"]\"";
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        const std::string_view rest = text.substr(close + 1);
        if (!valid_ipv6(host)) {
            why = "has an invalid IPv6 address " + quote(host);
            return std::nullopt;
        }
        if (rest.empty()) {
            why = "has no port";
            return std::nullopt;
        }
        if (rest.front() != ':') {
            why = "has unexpected text after \"]\" (use \"[::1]:8080\")";
            return std::nullopt;
        }
        port = rest.substr(1);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            why = "has no port";
            return std::nullopt;
        }
        if (text.find(':') != colon) {
            why = "looks like an IPv6 address without brackets (use e.g. \"[::1]:8080\")";
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.empty()) {
            why = "has no host (use e.g. \"0.0.0.0:8080\")";
            return std::nullopt;
        }
        if (!valid_host_name(host)) {
            why = "has an invalid host " + quote(host);
            return std::nullopt;
        }
    }
    if (port.empty()) {
        why = "has no port";
        return std::nullopt;
    }
    unsigned value = 0;
    const bool digits_only = port.size() <= 5 && std::all_of(port.begin(), port.end(), is_digit);
    if (digits_only) {
        for (const char c : port) {
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
    }
    if (!digits_only || value > 65535) {
        why = "has a bad port " + quote(port) + " (must be a number 1..65535)";
        return std::nullopt;
    }
    return endpoint{std::string(host), static_cast<std::uint16_t>(value)};
}

// RFC 9110 token characters (header field names, methods).
bool is_token(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

bool has_control_char(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7f;
    });
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
    return out;
}

std::string upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; });
    return out;
}

// "*", "example.com", "*.example.com" or a bracketed IPv6 literal.
bool valid_host_pattern(std::string_view p) {
    if (p == "*") {
        return true;
    }
    if (p.size() > 2 && p.front() == '[' && p.back() == ']') {
        return valid_ipv6(p.substr(1, p.size() - 2));
    }
    if (p.starts_with("*.")) {
        p.remove_prefix(2);
    }
    return valid_host_name(p);
}

std::string type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a float";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        case toml::node_type::none: break;
    }
    return "nothing";
}

bool before(const toml::source_position& a, const toml::source_position& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
}

constexpr duration max_duration = std::chrono::hours(24 * 7);

// ---------------------------------------------------------------------------------------------
// The loader

class loader {
public:
    explicit loader(std::string file) : file_(std::move(file)) {}

    load_result run(std::string_view text) {
        toml::table root;
        try {
            root = toml::parse(text, std::string_view(file_));
        } catch (const toml::parse_error& e) {
            error_at(e.source().begin, "syntax error: " + std::string(e.description()));
            return finish();
        }
        document(root);
        return finish();
    }

private:
    std::string file_;
    std::vector<load_error> errors_;
    config cfg_;
    std::map<std::string, std::size_t, std::less<>> upstream_by_name_;
    std::map<std::string, std::size_t, std::less<>> listener_by_name_;
    std::map<std::string, std::size_t, std::less<>> rate_limit_by_name_;
    // Addresses bound so far (listeners and admin), with who binds them; port 0 is never a clash.
    std::vector<std::pair<endpoint, std::string>> bound_;

    // --- error reporting ---

    void error_at(const toml::source_position& pos, std::string message) {
        errors_.push_back(load_error{file_, static_cast<int>(pos.line), static_cast<int>(pos.column),
                                     std::move(message)});
    }
    void error(const toml::node& n, std::string message) { error_at(n.source().begin, std::move(message)); }
    void error(const toml::key& k, std::string message) { error_at(k.source().begin, std::move(message)); }
    void error_global(std::string message) { errors_.push_back(load_error{file_, 0, 0, std::move(message)}); }

    static std::string at(const std::string& ctx, std::string_view key) {
        return ctx + ": " + std::string(key) + ": ";
    }

    load_result finish() {
        // File order reads best; errors without a position (whole-file ones) go last.
        std::stable_sort(errors_.begin(), errors_.end(), [](const load_error& a, const load_error& b) {
            if ((a.line == 0) != (b.line == 0)) {
                return b.line == 0;
            }
            return a.line != b.line ? a.line < b.line : a.column < b.column;
        });
        load_result result;
        result.errors = std::move(errors_);
        if (result.errors.empty()) {
            cfg_.source = file_;
            result.cfg = std::make_shared<config>(std::move(cfg_));
        }
        return result;
    }

    // Reports keys of `t` that are neither known nor planned. `where` names the table in
    // "unknown key" messages ("" for the top level); `ctx` prefixes "not supported yet" ones.
    void check_keys(const toml::table& t, std::initializer_list<std::string_view> known,
                    std::initializer_list<std::string_view> not_yet, const std::string& where,
                    const std::string& ctx) {
        for (auto&& [k, v] : t) {
            const std::string_view name = k.str();
            if (std::find(known.begin(), known.end(), name) != known.end()) {
                continue;
            }
            if (std::find(not_yet.begin(), not_yet.end(), name) != not_yet.end()) {
                error(k, (ctx.empty() ? "" : ctx + ": ") + quote(name) + " is not supported yet");
            } else if (where.empty()) {
                error(k, "unknown top-level key " + quote(name));
            } else {
                error(k, "unknown key " + quote(name) + " in " + where);
            }
        }
    }

    // --- typed readers: each reports its own error and returns nullopt / nullptr on failure ---

    std::optional<std::string> read_string(const toml::node& n, const std::string& ctx, std::string_view key,
                                           bool allow_empty = false) {
        const auto* s = n.as_string();
        if (!s) {
            error(n, at(ctx, key) + "expected a string, got " + type_name(n));
            return std::nullopt;
        }
        if (!allow_empty && s->get().empty()) {
            error(n, at(ctx, key) + "must not be empty");
            return std::nullopt;
        }
        return s->get();
    }

    std::optional<std::int64_t> read_int(const toml::node& n, const std::string& ctx, std::string_view key,
                                         std::int64_t min, std::int64_t max) {
        const auto* i = n.as_integer();
        if (!i) {
            error(n, at(ctx, key) + "expected an integer, got " + type_name(n));
            return std::nullopt;
        }
        const std::int64_t v = i->get();
        if (v < min || v > max) {
            error(n, at(ctx, key) + std::to_string(v) + " is out of range (" + std::to_string(min) + ".." +
                         std::to_string(max) + ")");
            return std::nullopt;
        }
        return v;
    }

    std::optional<bool> read_bool(const toml::node& n, const std::string& ctx, std::string_view key) {
        const auto* b = n.as_boolean();
        if (!b) {
            error(n, at(ctx, key) + "expected true or false, got " + type_name(n));
            return std::nullopt;
        }
        return b->get();
    }

    const toml::table* read_table(const toml::node& n, const std::string& ctx, std::string_view key) {
        const auto* t = n.as_table();
        if (!t) {
            error(n, at(ctx, key) + "expected a table, got " + type_name(n));
        }
        return t;
    }

    std::optional<duration> read_duration(const toml::node& n, const std::string& ctx, std::string_view key,
                                          bool allow_zero) {
        if (n.is_integer() || n.is_floating_point()) {
            std::ostringstream shown;
            if (const auto* i = n.as_integer()) {
                shown << i->get();
            } else {
                shown << n.as_floating_point()->get();
            }
            error(n, at(ctx, key) + "duration " + shown.str() +
                         " has no unit (write a string with a unit, e.g. \"250ms\", \"30s\", \"5m\")");
            return std::nullopt;
        }
        const auto* s = n.as_string();
        if (!s) {
            error(n, at(ctx, key) + "expected a duration string such as \"30s\", got " + type_name(n));
            return std::nullopt;
        }
        const std::string& text = s->get();
        if (text.starts_with('-')) {
            error(n, at(ctx, key) + "duration " + quote(text) + " must not be negative");
            return std::nullopt;
        }
        const auto d = parse_duration(text);
        if (!d) {
            error(n, at(ctx, key) + "bad duration " + quote(text) + " (use e.g. \"250ms\", \"30s\", \"5m\")");
            return std::nullopt;
        }
        if (!allow_zero && d->count() == 0) {
            error(n, at(ctx, key) + "duration must be greater than 0");
            return std::nullopt;
        }
        if (*d > max_duration) {
            error(n, at(ctx, key) + "duration " + quote(text) + " is too long (at most \"168h\")");
            return std::nullopt;
        }
        return d;
    }

    std::optional<std::uint64_t> read_size(const toml::node& n, const std::string& ctx, std::string_view key,
                                           bool allow_zero) {
        std::optional<std::uint64_t> size;
        if (const auto* i = n.as_integer()) {
            if (i->get() < 0) {
                error(n, at(ctx, key) + "size " + std::to_string(i->get()) + " must not be negative");
                return std::nullopt;
            }
            size = static_cast<std::uint64_t>(i->get());
        } else if (const auto* s = n.as_string()) {
            size = parse_size(s->get());
            if (!size) {
                error(n, at(ctx, key) + "bad size " + quote(s->get()) + " (use e.g. \"64KiB\", \"8MiB\")");
                return std::nullopt;
            }
        } else {
            error(n, at(ctx, key) + "expected a size such as \"64KiB\" or a number of bytes, got " + type_name(n));
            return std::nullopt;
        }
        if (!allow_zero && *size == 0) {
            error(n, at(ctx, key) + "size must be greater than 0");
            return std::nullopt;
        }
        return size;
    }

    // `what` names the address in messages: "listen address", "server address".
    std::optional<endpoint> read_address(const toml::node& n, const std::string& ctx, std::string_view key,
                                         std::string_view what, bool allow_port_zero) {
        const auto* s = n.as_string();
        if (!s) {
            error(n, at(ctx, key) + "expected an address string such as \"127.0.0.1:8080\", got " + type_name(n));
            return std::nullopt;
        }
        std::string why;
        auto ep = parse_endpoint_why(s->get(), why);
        if (!ep) {
            error(n, ctx + ": " + std::string(what) + " " + quote(s->get()) + " " + why);
            return std::nullopt;
        }
        if (!allow_port_zero && ep->port == 0) {
            error(n, ctx + ": " + std::string(what) + " " + quote(s->get()) + " has port 0 (must be 1..65535)");
            return std::nullopt;
        }
        return ep;
    }

    // A header field name (case kept as written; matching is case-insensitive elsewhere).
    std::optional<std::string> read_header_name(const toml::node& n, const std::string& ctx, std::string_view key) {
        auto name = read_string(n, ctx, key);
        if (name && !is_token(*name)) {
            error(n, at(ctx, key) + quote(*name) + " is not a valid header name");
            return std::nullopt;
        }
        return name;
    }

    // Notes an address bound by `owner`; two binds of one address (other than port 0) clash.
    void claim_address(const endpoint& ep, const toml::node& n, const std::string& owner) {
        if (ep.port != 0) {
            for (const auto& [other, other_owner] : bound_) {
                if (other == ep) {
                    error(n, owner + ": listen address " + quote(ep.to_string()) + " is already used by " +
                                 other_owner);
                    return;
                }
            }
        }
        bound_.emplace_back(ep, owner);
    }

    // Calls f(table, index) for each element of an array of tables `root[key]`.
    template <class F>
    void each_table(const toml::table& root, std::string_view key, F&& f) {
        const toml::node* n = root.get(key);
        if (!n) {
            return;
        }
        const auto* arr = n->as_array();
        if (!arr) {
            const std::string k(key);
            if (n->is_table()) {
                error(*n, "[" + k + "] must be written [[" + k + "]] (an array of tables)");
            } else {
                error(*n, quote(k) + " must be an array of tables ([[" + k + "]]), got " + type_name(*n));
            }
            return;
        }
        for (std::size_t i = 0; i < arr->size(); ++i) {
            const toml::node& elem = *arr->get(i);
            if (const auto* t = elem.as_table()) {
                f(*t, i);
            } else {
                error(elem, std::string(key) + "[" + std::to_string(i) + "]: expected a table, got " +
                                type_name(elem));
            }
        }
    }

    // --- sections ---

    void document(const toml::table& root) {
        check_keys(root, {"server", "admin", "listener", "upstream", "route", "rate_limit", "redis", "cache"}, {},
                   "", "");
        if (const toml::node* n = root.get("server")) {
            if (const auto* t = n->as_table()) {
                server(*t);
            } else {
                error(*n, "\"server\" must be a table ([server]), got " + type_name(*n));
            }
        }
        if (const toml::node* n = root.get("admin")) {
            if (const auto* t = n->as_table()) {
                admin(*t);
            } else {
                error(*n, "\"admin\" must be a table ([admin]), got " + type_name(*n));
            }
        }
        each_table(root, "listener", [this](const toml::table& t, std::size_t i) { listener_entry(t, i); });
        // Upstreams before routes so that routes can resolve upstream names.
        each_table(root, "upstream", [this](const toml::table& t, std::size_t i) { upstream_entry(t, i); });
        // [redis] and the rate-limit policies before routes, which name policies.
        redis_section(root);
        rate_limit_section(root);
        cache_section(root);
        each_table(root, "route", [this](const toml::table& t, std::size_t i) { route_entry(t, i); });

        const toml::node* listeners = root.get("listener");
        if (!listeners || (listeners->is_array() && listeners->as_array()->empty())) {
            error_global("at least one [[listener]] is required");
        }

        if (cfg_.server.workers == 0) {
            const unsigned hw = std::thread::hardware_concurrency();
            cfg_.server.workers = std::clamp(hw, 1u, 256u);
        }
    }

    void server(const toml::table& t) {
        const std::string ctx = "[server]";
        check_keys(t,
                   {"workers", "drain_timeout", "access_log", "header_timeout", "idle_timeout", "max_header_bytes",
                    "max_headers", "max_body_bytes"},
                   {}, ctx, ctx);
        server_settings& s = cfg_.server;
        if (const auto* n = t.get("workers")) {
            if (auto v = read_int(*n, ctx, "workers", 0, 256)) {
                s.workers = static_cast<unsigned>(*v);
            }
        }
        if (const auto* n = t.get("drain_timeout")) {
            if (auto v = read_duration(*n, ctx, "drain_timeout", true)) {
                s.drain_timeout = *v;
            }
        }
        if (const auto* n = t.get("access_log")) {
            if (auto v = read_string(*n, ctx, "access_log")) {
                s.access_log = *v;
            }
        }
        if (const auto* n = t.get("header_timeout")) {
            if (auto v = read_duration(*n, ctx, "header_timeout", false)) {
                s.header_timeout = *v;
            }
        }
        if (const auto* n = t.get("idle_timeout")) {
            if (auto v = read_duration(*n, ctx, "idle_timeout", false)) {
                s.idle_timeout = *v;
            }
        }
        if (const auto* n = t.get("max_header_bytes")) {
            if (auto v = read_size(*n, ctx, "max_header_bytes", false)) {
                s.max_header_bytes = *v;
            }
        }
        if (const auto* n = t.get("max_headers")) {
            if (auto v = read_int(*n, ctx, "max_headers", 1, 10'000)) {
                s.max_headers = static_cast<std::uint32_t>(*v);
            }
        }
        if (const auto* n = t.get("max_body_bytes")) {
            // 0 is a policy ("no request bodies"), not a mistake.
            if (auto v = read_size(*n, ctx, "max_body_bytes", true)) {
                s.max_body_bytes = *v;
            }
        }
    }

    void admin(const toml::table& t) {
        const std::string ctx = "[admin]";
        check_keys(t, {"listen"}, {}, ctx, ctx);
        if (const auto* n = t.get("listen")) {
            if (auto ep = read_address(*n, ctx, "listen", "listen address", true)) {
                claim_address(*ep, *n, "[admin]");
                cfg_.admin.listen = std::move(*ep);
            }
        }
    }

    void listener_entry(const toml::table& t, std::size_t index) {
        std::string ctx = "listener[" + std::to_string(index) + "]";
        listener l;
        const toml::node* name_node = t.get("name");
        bool named = false;
        if (name_node) {
            if (auto name = read_string(*name_node, ctx, "name")) {
                l.name = *name;
                named = true;
                ctx = "listener " + quote(l.name);
            }
        } else {
            error(t, ctx + ": missing required key \"name\"");
        }
        check_keys(t, {"name", "listen", "tls", "max_connections", "max_connections_per_ip"}, {}, ctx, ctx);
        if (named && !listener_by_name_.emplace(l.name, cfg_.listeners.size()).second) {
            error(*name_node, "duplicate listener name " + quote(l.name));
        }
        if (const auto* n = t.get("listen")) {
            if (auto ep = read_address(*n, ctx, "listen", "listen address", true)) {
                claim_address(*ep, *n, ctx);
                l.listen = std::move(*ep);
            }
        } else {
            error(t, ctx + ": missing required key \"listen\"");
        }
        if (const auto* n = t.get("tls")) {
            if (const auto* tt = read_table(*n, ctx, "tls")) l.tls = tls_table(*tt, ctx);
        }
        if (const auto* n = t.get("max_connections")) {
            if (auto v = read_count(*n, ctx, "max_connections", 0, 10'000'000)) l.max_connections = *v;
        }
        if (const auto* n = t.get("max_connections_per_ip")) {
            if (auto v = read_count(*n, ctx, "max_connections_per_ip", 0, 10'000'000)) l.max_connections_per_ip = *v;
        }
        cfg_.listeners.push_back(std::move(l));
    }

    // tls = true | false | { ca_file = "...", server_name = "...", verify = true }
    std::optional<upstream_tls_settings> upstream_tls(const toml::node& n, const std::string& ctx) {
        upstream_tls_settings tls;
        if (n.is_boolean()) {
            if (!n.as_boolean()->get()) return std::nullopt;
        } else if (const auto* t = n.as_table()) {
            check_keys(*t, {"ca_file", "server_name", "verify"}, {}, ctx + " tls", ctx);
            if (const auto* v = t->get("ca_file")) {
                if (auto p = read_pem_path(*v, ctx, "tls.ca_file")) tls.ca_file = *p;
            }
            if (const auto* v = t->get("server_name")) {
                if (auto name = read_string(*v, ctx, "tls.server_name")) {
                    if (name->empty() || has_control_char(*name) || name->find_first_of(" /:") != std::string::npos) {
                        error(*v, at(ctx, "tls.server_name") + quote(*name) + " is not a host name");
                    } else {
                        tls.server_name = lower(*name);
                    }
                }
            }
            if (const auto* v = t->get("verify")) {
                if (auto b = read_bool(*v, ctx, "tls.verify")) tls.verify = *b;
            }
        } else {
            error(n, at(ctx, "tls") + "expected true, false or a table { ca_file, server_name, verify }, got " +
                         type_name(n));
            return std::nullopt;
        }
        try {
            tls.client = std::make_shared<sluice::upstream::tls_client>(
                sluice::upstream::tls_client_options{tls.ca_file, tls.server_name, tls.verify});
        } catch (const std::exception& e) {
            error(n, at(ctx, "tls") + e.what());
            return std::nullopt;
        }
        return tls;
    }

    // lua = "conf/lua/x.lua": read now (workers compile from memory) and compiled in a throwaway
    // state, so a syntax error fails `sluice -t` and a reload as LUA_FILE:LINE: message.
    std::shared_ptr<const lua_script> lua_file(const toml::node& n, const std::string& ctx) {
        auto path = read_string(n, ctx, "lua");
        if (!path) return nullptr;
        std::ifstream in(*path, std::ios::binary);
        if (!in) {
            error(n, at(ctx, "lua") + "cannot read " + quote(*path) + ": " + std::strerror(errno));
            return nullptr;
        }
        std::ostringstream text;
        text << in.rdbuf();
        auto script = std::make_shared<lua_script>(lua_script{*path, text.str()});
        if (auto bad = lua::check_syntax(script->path, script->source)) {
            const auto pos = n.source().begin;
            errors_.push_back(load_error{*path, bad->line, 0,
                                         bad->message + " (lua of " + ctx + ", " + file_ + ":" +
                                             std::to_string(pos.line) + ":" + std::to_string(pos.column) + ")"});
            return nullptr;
        }
        return script;
    }

    // A PEM file named in the config must be readable now, so `sluice -t` catches it.
    std::optional<std::string> read_pem_path(const toml::node& n, const std::string& ctx, std::string_view key) {
        auto path = read_string(n, ctx, key);
        if (!path) return std::nullopt;
        if (::access(path->c_str(), R_OK) != 0) {
            error(n, at(ctx, key) + "cannot read " + quote(*path) + ": " + std::strerror(errno));
            return std::nullopt;
        }
        return path;
    }

    // tls = { cert, key } or tls = { certs = [{ names = [...], cert, key }, ...] } (or both: the
    // cert/key pair is then the default, first).
    std::optional<tls_settings> tls_table(const toml::table& t, const std::string& ctx) {
        check_keys(t, {"cert", "key", "certs"}, {}, ctx + " tls", ctx);
        tls_settings tls;
        auto one = [&](const toml::table& c, const std::string& cctx, bool with_names) {
            tls_certificate cert;
            if (const auto* n = c.get("cert")) {
                if (auto p = read_pem_path(*n, cctx, "cert")) cert.cert = *p;
            } else {
                error(c, cctx + ": missing required key \"cert\"");
            }
            if (const auto* n = c.get("key")) {
                if (auto p = read_pem_path(*n, cctx, "key")) cert.key = *p;
            } else {
                error(c, cctx + ": missing required key \"key\"");
            }
            if (with_names) {
                if (const auto* n = c.get("names")) {
                    if (const auto* arr = n->as_array()) {
                        for (const auto& e : *arr)
                            if (auto name = read_string(e, cctx, "names")) cert.names.push_back(lower(*name));
                    } else {
                        error(*n, at(cctx, "names") + "expected an array of names, got " + type_name(*n));
                    }
                }
            }
            return cert;
        };
        if (t.contains("cert") || t.contains("key")) tls.certs.push_back(one(t, ctx + " tls", false));
        if (const auto* n = t.get("certs")) {
            if (const auto* arr = n->as_array()) {
                std::size_t i = 0;
                for (const auto& e : *arr) {
                    const std::string cctx = ctx + " tls.certs[" + std::to_string(i++) + "]";
                    if (const auto* ct = read_table(e, cctx, "")) {
                        check_keys(*ct, {"names", "cert", "key"}, {}, cctx, cctx);
                        tls.certs.push_back(one(*ct, cctx, true));
                    }
                }
            } else {
                error(*n, at(ctx, "tls.certs") + "expected an array of tables, got " + type_name(*n));
            }
        }
        if (tls.certs.empty()) {
            error(t, ctx + ": tls needs cert and key, or certs");
            return std::nullopt;
        }
        return tls;
    }

    void upstream_entry(const toml::table& t, std::size_t index) {
        std::string ctx = "upstream[" + std::to_string(index) + "]";
        upstream u;
        const toml::node* name_node = t.get("name");
        bool named = false;
        if (name_node) {
            if (auto name = read_string(*name_node, ctx, "name")) {
                u.name = *name;
                named = true;
                ctx = "upstream " + quote(u.name);
            }
        } else {
            error(t, ctx + ": missing required key \"name\"");
        }
        check_keys(t,
                   {"name", "balance", "servers", "timeouts", "keepalive", "hash_key", "hash_balance_factor",
                    "health_check", "outlier", "retries", "circuit_breaker", "tls"},
                   {}, ctx, ctx);
        if (named && !upstream_by_name_.emplace(u.name, cfg_.upstreams.size()).second) {
            error(*name_node, "duplicate upstream name " + quote(u.name));
        }

        bool balance_ok = true;
        if (const auto* n = t.get("balance")) {
            balance_ok = false;
            if (auto b = read_string(*n, ctx, "balance")) {
                static constexpr std::pair<std::string_view, balance_kind> kinds[] = {
                    {"round_robin", balance_kind::round_robin},
                    {"consistent_hash", balance_kind::consistent_hash},
                    {"least_request", balance_kind::least_request},
                    {"random_two", balance_kind::random_two},
                    {"random", balance_kind::random},
                };
                for (const auto& [name, kind] : kinds) {
                    if (*b == name) {
                        u.balance = kind;
                        balance_ok = true;
                    }
                }
                if (!balance_ok) {
                    error(*n, ctx + ": unknown balance " + quote(*b) +
                                  " (use \"round_robin\", \"consistent_hash\", \"least_request\", \"random_two\" or "
                                  "\"random\")");
                }
            }
        }
        upstream_hashing(t, ctx, u, balance_ok);

        if (const auto* n = t.get("servers")) {
            upstream_servers(*n, ctx, u);
        } else {
            error(t, ctx + ": missing required key \"servers\"");
        }

        if (const auto* n = t.get("timeouts")) {
            if (const auto* tt = read_table(*n, ctx, "timeouts")) {
                check_keys(*tt, {"connect", "response", "idle"}, {}, ctx + " timeouts", ctx);
                if (const auto* c = tt->get("connect")) {
                    if (auto d = read_duration(*c, ctx, "timeouts.connect", false)) {
                        u.timeouts.connect = *d;
                    }
                }
                if (const auto* c = tt->get("response")) {
                    if (auto d = read_duration(*c, ctx, "timeouts.response", false)) {
                        u.timeouts.response = *d;
                    }
                }
                if (const auto* c = tt->get("idle")) {
                    if (auto d = read_duration(*c, ctx, "timeouts.idle", false)) {
                        u.timeouts.idle = *d;
                    }
                }
            }
        }

        if (const auto* n = t.get("keepalive")) {
            if (auto v = read_int(*n, ctx, "keepalive", 0, 10'000)) {
                u.keepalive = static_cast<std::uint32_t>(*v);
            }
        }
        if (const auto* n = t.get("health_check")) {
            if (const auto* ht = read_table(*n, ctx, "health_check")) {
                u.health_check = health_check_table(*ht, ctx);
            }
        }
        if (const auto* n = t.get("tls")) u.tls = upstream_tls(*n, ctx);
        if (const auto* n = t.get("outlier")) {
            if (const auto* ot = read_table(*n, ctx, "outlier")) {
                outlier_table(*ot, ctx, u.outlier);
            }
        }
        if (const auto* n = t.get("retries")) {
            if (const auto* rt = read_table(*n, ctx, "retries")) {
                retries_table(*rt, ctx, u.retries);
            }
        }
        if (const auto* n = t.get("circuit_breaker")) {
            if (const auto* ct = read_table(*n, ctx, "circuit_breaker")) {
                u.circuit_breaker = circuit_breaker_table(*ct, ctx);
            }
        }
        cfg_.upstreams.push_back(std::move(u));
    }

    void upstream_servers(const toml::node& n, const std::string& ctx, upstream& u) {
        const auto* arr = n.as_array();
        if (!arr) {
            error(n, at(ctx, "servers") + "expected an array such as [ { address = \"127.0.0.1:9001\" } ], got " +
                         type_name(n));
            return;
        }
        if (arr->empty()) {
            error(n, at(ctx, "servers") + "at least one server is required");
            return;
        }
        for (std::size_t j = 0; j < arr->size(); ++j) {
            const toml::node& elem = *arr->get(j);
            const std::string key = "servers[" + std::to_string(j) + "]";
            upstream_server server;
            const toml::node* address_node = nullptr;
            if (elem.is_string()) {
                address_node = &elem;
            } else if (const auto* st = elem.as_table()) {
                check_keys(*st, {"address", "weight"}, {}, ctx + " " + key, ctx);
                address_node = st->get("address");
                if (!address_node) {
                    error(elem, at(ctx, key) + "missing required key \"address\"");
                }
                if (const auto* w = st->get("weight")) {
                    if (auto v = read_int(*w, ctx, key + ".weight", 1, 1000)) {
                        server.weight = static_cast<std::uint32_t>(*v);
                    }
                }
            } else {
                error(elem, at(ctx, key) + "expected { address = \"HOST:PORT\", weight = N } or \"HOST:PORT\", got " +
                                type_name(elem));
                continue;
            }
            if (!address_node) {
                continue;
            }
            auto ep = read_address(*address_node, ctx, key + ".address", "server address", false);
            if (!ep) {
                continue;
            }
            const bool repeated = std::any_of(u.servers.begin(), u.servers.end(),
                                              [&](const upstream_server& s) { return s.address == *ep; });
            if (repeated) {
                error(*address_node, ctx + ": server address " + quote(ep->to_string()) +
                                         " is listed twice (use weight instead)");
                continue;
            }
            server.address = std::move(*ep);
            u.servers.push_back(std::move(server));
        }
    }

    // --- [[upstream]] balancing, health checks, outlier ejection, retries ---

    // hash_key and hash_balance_factor: both only mean something for consistent_hash.
    void upstream_hashing(const toml::table& t, const std::string& ctx, upstream& u, bool balance_ok) {
        const bool hashing = u.balance == balance_kind::consistent_hash;
        for (const std::string_view key : {"hash_key", "hash_balance_factor"}) {
            if (balance_ok && !hashing && t.contains(key)) {
                error(t.find(key)->first,
                      ctx + ": " + std::string(key) + " is only used with balance = \"consistent_hash\"");
            }
        }
        if (const auto* n = t.get("hash_key")) {
            if (auto text = read_string(*n, ctx, "hash_key")) {
                if (auto spec = parse_hash_key(*text)) {
                    u.hash_key = std::move(*spec);
                } else {
                    error(*n, at(ctx, "hash_key") + "bad key " + quote(*text) +
                                  " (use \"client_ip\", \"header:NAME\", \"cookie:NAME\", \"path\" or \"query:NAME\")");
                }
            }
        }
        if (const auto* n = t.get("hash_balance_factor")) {
            double factor = 0;
            if (const auto* f = n->as_floating_point()) {
                factor = f->get();
            } else if (const auto* i = n->as_integer()) {
                factor = static_cast<double>(i->get());
            } else {
                error(*n, at(ctx, "hash_balance_factor") + "expected a number such as 1.25, got " + type_name(*n));
                return;
            }
            if (!(factor > 1.0 && factor <= 100.0)) {
                std::ostringstream shown;
                shown << factor;
                error(*n, at(ctx, "hash_balance_factor") + shown.str() +
                              " is out of range (must be greater than 1 and at most 100, e.g. 1.25)");
                return;
            }
            u.hash_balance_factor = factor;
        }
    }

    // "client_ip" | "path" | "header:NAME" | "cookie:NAME" | "query:NAME".
    static std::optional<hash_key_spec> parse_hash_key(std::string_view text) {
        using source = hash_key_spec::source;
        if (text == "client_ip") return hash_key_spec{source::client_ip, {}};
        if (text == "path") return hash_key_spec{source::path, {}};
        const auto colon = text.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        const std::string_view kind = text.substr(0, colon);
        const std::string_view name = text.substr(colon + 1);
        if (kind == "header" && is_token(name)) return hash_key_spec{source::header, std::string(name)};
        if (kind == "cookie" && is_token(name)) return hash_key_spec{source::cookie, std::string(name)};
        if (kind == "query" && !name.empty() && !has_control_char(name) &&
            name.find_first_of("&=# ") == std::string_view::npos) {
            return hash_key_spec{source::query, std::string(name)};
        }
        return std::nullopt;
    }

    std::optional<std::uint32_t> read_count(const toml::node& n, const std::string& ctx, const std::string& key,
                                            std::int64_t min, std::int64_t max) {
        auto v = read_int(n, ctx, key, min, max);
        if (!v) return std::nullopt;
        return static_cast<std::uint32_t>(*v);
    }

    health_check_settings health_check_table(const toml::table& t, const std::string& ctx) {
        check_keys(t, {"path", "interval", "timeout", "unhealthy", "healthy", "expected"}, {}, ctx + " health_check",
                   ctx);
        health_check_settings h;
        if (const auto* n = t.get("path")) {
            if (auto p = read_string(*n, ctx, "health_check.path")) {
                if (!p->starts_with('/') || has_control_char(*p) || p->find(' ') != std::string::npos) {
                    error(*n, at(ctx, "health_check.path") + quote(*p) +
                                  " must start with \"/\" and contain no spaces or control characters");
                } else {
                    h.path = *p;
                }
            }
        }
        if (const auto* n = t.get("interval")) {
            if (auto d = read_duration(*n, ctx, "health_check.interval", false)) h.interval = *d;
        }
        if (const auto* n = t.get("timeout")) {
            if (auto d = read_duration(*n, ctx, "health_check.timeout", false)) {
                if (*d > h.interval) {
                    error(*n, at(ctx, "health_check.timeout") + std::to_string(d->count()) +
                                  "ms must not exceed interval (" + std::to_string(h.interval.count()) + "ms)");
                } else {
                    h.timeout = *d;
                }
            }
        } else if (h.timeout > h.interval) {
            h.timeout = h.interval;  // a short interval shortens the default timeout with it
        }
        if (const auto* n = t.get("unhealthy")) {
            if (auto v = read_count(*n, ctx, "health_check.unhealthy", 1, 100)) h.unhealthy = *v;
        }
        if (const auto* n = t.get("healthy")) {
            if (auto v = read_count(*n, ctx, "health_check.healthy", 1, 100)) h.healthy = *v;
        }
        if (const auto* n = t.get("expected")) {
            if (auto e = status_ranges(*n, ctx, "health_check.expected")) h.expected = std::move(*e);
        }
        return h;
    }

    // 200, "200", "200-399", or an array of those.
    std::optional<std::vector<status_range>> status_ranges(const toml::node& n, const std::string& ctx,
                                                           std::string_view key) {
        std::vector<status_range> out;
        bool ok = true;
        auto bad = [&](const toml::node& e, const std::string& shown) {
            error(e, at(ctx, key) + "bad status or range " + shown +
                         " (use a status 100..599 or a range such as \"200-399\", or an array of them)");
            ok = false;
        };
        auto one = [&](const toml::node& e) {
            if (const auto* i = e.as_integer()) {
                if (i->get() < 100 || i->get() > 599) return bad(e, std::to_string(i->get()));
                const auto s = static_cast<std::uint16_t>(i->get());
                out.push_back({s, s});
                return;
            }
            const auto* str = e.as_string();
            if (!str) {
                error(e, at(ctx, key) + "expected a status or a range such as \"200-399\", got " + type_name(e));
                ok = false;
                return;
            }
            const std::string_view text = str->get();
            auto status = [](std::string_view d) -> std::optional<std::uint16_t> {
                if (d.size() != 3 || !std::all_of(d.begin(), d.end(), is_digit)) return std::nullopt;
                const unsigned v = static_cast<unsigned>((d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0'));
                if (v < 100 || v > 599) return std::nullopt;
                return static_cast<std::uint16_t>(v);
            };
            const auto dash = text.find('-');
            const auto first = status(text.substr(0, dash));
            const auto last = dash == std::string_view::npos ? first : status(text.substr(dash + 1));
            if (!first || !last || *first > *last) return bad(e, quote(text));
            out.push_back({*first, *last});
        };
        if (const auto* arr = n.as_array()) {
            if (arr->empty()) {
                error(n, at(ctx, key) + "must not be an empty list");
                return std::nullopt;
            }
            for (const toml::node& e : *arr) one(e);
        } else {
            one(n);
        }
        if (!ok) return std::nullopt;
        return out;
    }

    void outlier_table(const toml::table& t, const std::string& ctx, outlier_settings& o) {
        check_keys(t, {"consecutive_failures", "base_ejection", "max_ejection", "max_ejected_percent"}, {},
                   ctx + " outlier", ctx);
        if (const auto* n = t.get("consecutive_failures")) {
            if (auto v = read_count(*n, ctx, "outlier.consecutive_failures", 0, 1000)) o.consecutive_failures = *v;
        }
        if (const auto* n = t.get("base_ejection")) {
            if (auto d = read_duration(*n, ctx, "outlier.base_ejection", false)) o.base_ejection = *d;
        }
        const toml::node* max_node = t.get("max_ejection");
        if (max_node) {
            if (auto d = read_duration(*max_node, ctx, "outlier.max_ejection", false)) o.max_ejection = *d;
        }
        if (o.max_ejection < o.base_ejection) {
            if (max_node) {
                error(*max_node, at(ctx, "outlier.max_ejection") + std::to_string(o.max_ejection.count()) +
                                     "ms is shorter than base_ejection (" + std::to_string(o.base_ejection.count()) +
                                     "ms)");
            } else {
                o.max_ejection = o.base_ejection;  // only base given, longer than the default cap
            }
        }
        if (const auto* n = t.get("max_ejected_percent")) {
            if (auto v = read_count(*n, ctx, "outlier.max_ejected_percent", 0, 100)) o.max_ejected_percent = *v;
        }
    }

    void retries_table(const toml::table& t, const std::string& ctx, retry_settings& r) {
        check_keys(t, {"attempts", "on", "budget_percent"}, {}, ctx + " retries", ctx);
        if (const auto* n = t.get("attempts")) {
            if (auto v = read_count(*n, ctx, "retries.attempts", 1, 10)) r.attempts = *v;
        }
        if (const auto* n = t.get("budget_percent")) {
            if (auto v = read_count(*n, ctx, "retries.budget_percent", 0, 100)) r.budget_percent = *v;
        }
        const auto* n = t.get("on");
        if (!n) return;
        const auto* arr = n->as_array();
        if (!arr) {
            error(*n, at(ctx, "retries.on") + "expected an array such as [\"connect-failure\", \"503\"], got " +
                          type_name(*n));
            return;
        }
        retry_settings on;
        on.on_connect_failure = false;
        for (const toml::node& e : *arr) {
            std::string text;
            if (const auto* i = e.as_integer()) {
                text = std::to_string(i->get());
            } else if (const auto* s = e.as_string()) {
                text = s->get();
            } else {
                error(e, at(ctx, "retries.on") + "expected a string, got " + type_name(e));
                continue;
            }
            if (text == "connect-failure") {
                on.on_connect_failure = true;
            } else if (text == "timeout") {
                on.on_timeout = true;
            } else if (text == "reset") {
                on.on_reset = true;
            } else if (text == "5xx") {
                on.on_5xx = true;
            } else if (text.size() == 3 && std::all_of(text.begin(), text.end(), is_digit) && text >= "400" &&
                       text <= "599") {
                const auto code = static_cast<std::uint16_t>(std::stoi(text));
                if (std::find(on.on_status.begin(), on.on_status.end(), code) == on.on_status.end()) {
                    on.on_status.push_back(code);
                }
            } else {
                error(e, at(ctx, "retries.on") + "unknown condition " + quote(text) +
                             " (use \"connect-failure\", \"timeout\", \"reset\", \"5xx\" or a status 400..599 such "
                             "as \"503\")");
            }
        }
        r.on_connect_failure = on.on_connect_failure;
        r.on_timeout = on.on_timeout;
        r.on_reset = on.on_reset;
        r.on_5xx = on.on_5xx;
        r.on_status = std::move(on.on_status);
    }

    // --- [redis], [rate_limit.NAME] and upstream circuit_breaker (limits/, breaker/) ---

    void redis_section(const toml::table& root) {
        const toml::node* n = root.get("redis");
        if (!n) {
            return;
        }
        const auto* t = n->as_table();
        if (!t) {
            error(*n, "\"redis\" must be a table ([redis]), got " + type_name(*n));
            return;
        }
        const std::string ctx = "[redis]";
        check_keys(*t, {"servers", "timeout", "pool_size"}, {}, ctx, ctx);
        redis_settings r;
        if (const auto* s = t->get("servers")) {
            if (const auto* arr = s->as_array()) {
                if (arr->empty()) {
                    error(*s, at(ctx, "servers") + "at least one server is required");
                }
                for (std::size_t i = 0; i < arr->size(); ++i) {
                    const toml::node& e = *arr->get(i);
                    auto ep = read_address(e, ctx, "servers", "server address", false);
                    if (!ep) {
                        continue;
                    }
                    if (std::find(r.servers.begin(), r.servers.end(), *ep) != r.servers.end()) {
                        error(e, ctx + ": server address " + quote(ep->to_string()) + " is listed twice");
                        continue;
                    }
                    r.servers.push_back(std::move(*ep));
                }
            } else {
                error(*s, at(ctx, "servers") + "expected an array such as [\"127.0.0.1:6379\"], got " + type_name(*s));
            }
        } else {
            error(*t, ctx + ": missing required key \"servers\"");
        }
        if (const auto* v = t->get("timeout")) {
            if (auto d = read_duration(*v, ctx, "timeout", false)) {
                r.timeout = *d;
            }
        }
        if (const auto* v = t->get("pool_size")) {
            if (auto c = read_int(*v, ctx, "pool_size", 1, 1024)) {
                r.pool_size = static_cast<std::uint32_t>(*c);
            }
        }
        cfg_.redis = std::move(r);
    }

    // [cache]; after [redis] (store = "redis" needs it). Without the table the defaults apply.
    void cache_section(const toml::table& root) {
        const toml::node* n = root.get("cache");
        if (!n) {
            return;
        }
        const auto* t = n->as_table();
        if (!t) {
            error(*n, "\"cache\" must be a table ([cache]), got " + type_name(*n));
            return;
        }
        const std::string ctx = "[cache]";
        check_keys(*t, {"store", "max_bytes", "max_object_bytes", "default_ttl", "lock_timeout", "allow_authorization"},
                   {}, ctx, ctx);
        cache_settings& c = cfg_.cache;
        const toml::node* store_node = t->get("store");
        if (store_node) {
            if (auto s = read_string(*store_node, ctx, "store")) {
                if (*s == "memory") {
                    c.store = cache_store::memory;
                } else if (*s == "redis") {
                    c.store = cache_store::redis;
                    if (!cfg_.redis) error(*store_node, ctx + ": store \"redis\" requires a [redis] table with its servers");
                } else {
                    error(*store_node, at(ctx, "store") + "unknown store " + quote(*s) + " (use \"memory\" or \"redis\")");
                }
            }
        }
        bool sizes_ok = true;
        if (const auto* v = t->get("max_bytes")) {
            auto size = read_size(*v, ctx, "max_bytes", false);
            sizes_ok = sizes_ok && size.has_value();
            if (size) c.max_bytes = *size;
        }
        const toml::node* object_node = t->get("max_object_bytes");
        if (object_node) {
            auto size = read_size(*object_node, ctx, "max_object_bytes", false);
            sizes_ok = sizes_ok && size.has_value();
            if (size) c.max_object_bytes = *size;
        }
        if (sizes_ok && c.max_object_bytes > c.max_bytes) {
            error(object_node ? *object_node : *t->get("max_bytes"),
                  at(ctx, "max_object_bytes") + "must not exceed max_bytes (" + std::to_string(c.max_bytes) + " bytes)");
        }
        constexpr std::uint64_t redis_max_value = 512ull << 20;  // Redis's largest string
        if (sizes_ok && c.store == cache_store::redis && c.max_object_bytes > redis_max_value) {
            error(object_node ? *object_node : *store_node,
                  at(ctx, "max_object_bytes") + "at most \"512MiB\" with store \"redis\" (its largest value)");
        }
        if (const auto* v = t->get("default_ttl")) {
            if (auto d = read_duration(*v, ctx, "default_ttl", true)) {
                c.default_ttl = *d;
            }
        }
        if (const auto* v = t->get("lock_timeout")) {
            if (auto d = read_duration(*v, ctx, "lock_timeout", false)) {
                c.lock_timeout = *d;
            }
        }
        if (const auto* v = t->get("allow_authorization")) {
            if (auto b = read_bool(*v, ctx, "allow_authorization")) {
                c.allow_authorization = *b;
            }
        }
    }

    // [rate_limit.NAME] tables; after [redis] (store = "redis" needs it), before routes (which name them).
    void rate_limit_section(const toml::table& root) {
        const toml::node* n = root.get("rate_limit");
        if (!n) {
            return;
        }
        const auto* t = n->as_table();
        if (!t) {
            error(*n, "\"rate_limit\" must be tables [rate_limit.NAME], got " + type_name(*n));
            return;
        }
        for (auto&& [k, v] : *t) {
            const std::string name(k.str());
            const std::string ctx = "rate_limit " + quote(name);
            const auto* pt = v.as_table();
            if (!pt) {
                error(k, "rate_limit: " + quote(name) + " must be a table [rate_limit.NAME] (a policy), got " +
                             type_name(v));
                continue;
            }
            const bool valid_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-';
            });
            if (!valid_name) {
                error(k, ctx + ": a policy name may use only letters, digits, \"_\" and \"-\"");
                continue;
            }
            rate_limit_by_name_.emplace(name, cfg_.rate_limits.size());
            cfg_.rate_limits.push_back(rate_limit_table(*pt, name, ctx));
        }
    }

    rate_limit_policy rate_limit_table(const toml::table& t, const std::string& name, const std::string& ctx) {
        check_keys(t, {"key", "limits", "burst", "store", "on_redis_error"}, {}, ctx, ctx);
        rate_limit_policy p;
        p.name = name;
        if (const auto* n = t.get("key")) {
            if (auto key = read_string(*n, ctx, "key")) {
                if (*key == "client_ip") {
                    p.key = rate_limit_key::client_ip;
                } else if (*key == "route") {
                    p.key = rate_limit_key::route;
                } else if (key->starts_with("header:") && is_token(std::string_view(*key).substr(7))) {
                    p.key = rate_limit_key::header;
                    p.key_header = key->substr(7);
                } else {
                    error(*n, at(ctx, "key") + "unknown key " + quote(*key) +
                                  " (use \"client_ip\", \"header:NAME\" or \"route\")");
                }
            }
        }
        if (const auto* n = t.get("limits")) {
            rate_limit_limits(*n, ctx, p);
        } else {
            error(t, ctx + ": missing required key \"limits\" (e.g. limits = [\"10/second\", \"200/day\"])");
        }
        if (const auto* n = t.get("burst")) {
            if (auto b = read_int(*n, ctx, "burst", 0, 1'000'000'000)) {
                p.burst = static_cast<std::uint64_t>(*b);
                check_burst_horizon(*n, ctx, p);
            }
        }
        if (const auto* n = t.get("store")) {
            if (auto s = read_string(*n, ctx, "store")) {
                if (*s == "local") {
                    p.store = rate_limit_store::local;
                } else if (*s == "redis") {
                    p.store = rate_limit_store::redis;
                    if (!cfg_.redis) {
                        error(*n, ctx + ": store \"redis\" requires a [redis] table with its servers");
                    }
                } else {
                    error(*n, at(ctx, "store") + "unknown store " + quote(*s) + " (use \"local\" or \"redis\")");
                }
            }
        }
        if (const auto* n = t.get("on_redis_error")) {
            if (auto s = read_string(*n, ctx, "on_redis_error")) {
                if (*s == "allow" || *s == "deny") {
                    p.allow_on_redis_error = *s == "allow";
                } else {
                    error(*n, at(ctx, "on_redis_error") + quote(*s) + " is not \"allow\" or \"deny\"");
                }
            }
        }
        return p;
    }

    void rate_limit_limits(const toml::node& n, const std::string& ctx, rate_limit_policy& p) {
        const auto* arr = n.as_array();
        if (!arr) {
            error(n, at(ctx, "limits") + "expected an array such as [\"10/second\", \"200/day\"], got " + type_name(n));
            return;
        }
        if (arr->empty()) {
            error(n, at(ctx, "limits") + "at least one limit is required");
            return;
        }
        constexpr std::size_t max_limits = 8;  // limits::max_limits
        if (arr->size() > max_limits) {
            error(*arr->get(max_limits), at(ctx, "limits") + "at most " + std::to_string(max_limits) +
                                             " limits per policy");
            return;
        }
        for (const toml::node& e : *arr) {
            auto text = read_string(e, ctx, "limits");
            if (!text) {
                continue;
            }
            std::string why;
            auto rule = parse_rate(*text, why);
            if (!rule) {
                error(e, at(ctx, "limits") + "bad limit " + quote(*text) + ": " + why);
                continue;
            }
            const bool repeated = std::any_of(p.limits.begin(), p.limits.end(), [&](const rate_limit_rule& o) {
                return o.count == rule->count && o.period_s == rule->period_s;
            });
            if (repeated) {
                error(e, at(ctx, "limits") + quote(*text) + " is listed twice");
                continue;
            }
            p.limits.push_back(std::move(*rule));
        }
    }

    // A bucket of count + burst requests refilled over the period must span at most 100 years
    // (limits::params saturates there).
    void check_burst_horizon(const toml::node& n, const std::string& ctx, const rate_limit_policy& p) {
        if (p.limits.empty() || p.burst == 0) {
            return;
        }
        std::size_t shortest = 0;
        for (std::size_t i = 1; i < p.limits.size(); ++i) {
            if (p.limits[i].period_s < p.limits[shortest].period_s) {
                shortest = i;
            }
        }
        const rate_limit_rule& r = p.limits[shortest];
        const unsigned __int128 span = static_cast<unsigned __int128>(r.count + p.burst) * r.period_s / r.count;
        if (span > 100ull * 365 * 86'400) {
            error(n, at(ctx, "burst") + std::to_string(p.burst) + " is too large for " + quote(r.name) +
                         " (its bucket would take more than 100 years to refill)");
        }
    }

    // "10/second", "10 per second", "5/10s", "100/2 minutes" -> count per whole seconds, with a
    // canonical name ("10/second", "5/10s", "100/2m").
    static std::optional<rate_limit_rule> parse_rate(std::string_view text, std::string& why) {
        auto skip_spaces = [&] {
            while (!text.empty() && text.front() == ' ') {
                text.remove_prefix(1);
            }
        };
        auto number = [&]() -> std::optional<std::uint64_t> {
            std::uint64_t v = 0;
            std::size_t i = 0;
            for (; i < text.size() && is_digit(text[i]); ++i) {
                if (v > 10'000'000'000ull) {
                    return std::uint64_t{std::numeric_limits<std::uint64_t>::max()};
                }
                v = v * 10 + static_cast<unsigned>(text[i] - '0');
            }
            if (i == 0) {
                return std::nullopt;
            }
            text.remove_prefix(i);
            return v;
        };
        const std::string_view usage = " (use e.g. \"10/second\", \"50/hour\", \"200/day\", \"5/10s\")";
        skip_spaces();
        const auto count = number();
        if (!count) {
            why = "expected a count first" + std::string(usage);
            return std::nullopt;
        }
        skip_spaces();
        if (text.starts_with('/')) {
            text.remove_prefix(1);
        } else if (text.starts_with("per ")) {
            text.remove_prefix(4);
        } else {
            why = "expected \"/\" or \" per \" after the count" + std::string(usage);
            return std::nullopt;
        }
        skip_spaces();
        const std::uint64_t multiple = number().value_or(1);
        skip_spaces();
        while (!text.empty() && text.back() == ' ') {
            text.remove_suffix(1);
        }
        struct unit_word {
            std::string_view word;
            std::uint64_t seconds;
        };
        static constexpr unit_word words[] = {
            {"s", 1},     {"sec", 1},     {"secs", 1},     {"second", 1}, {"seconds", 1},
            {"m", 60},    {"min", 60},    {"mins", 60},    {"minute", 60}, {"minutes", 60},
            {"h", 3600},  {"hr", 3600},   {"hour", 3600},  {"hours", 3600},
            {"d", 86400}, {"day", 86400}, {"days", 86400},
        };
        std::uint64_t unit = 0;
        for (const unit_word& w : words) {
            if (w.word == text) {
                unit = w.seconds;
            }
        }
        if (unit == 0) {
            if (text.starts_with("month") || text.starts_with("year") || text.starts_with("week")) {
                why = "weeks, months and years are not units here: write days, e.g. \"1000/30d\"";
            } else {
                why = "unknown unit " + quote(text) + std::string(usage);
            }
            return std::nullopt;
        }
        if (*count == 0 || *count > 1'000'000'000) {
            why = "the count must be 1..1000000000";
            return std::nullopt;
        }
        if (multiple == 0 || multiple > 366 * 86'400 || multiple * unit > 366 * 86'400) {
            why = "the period must be 1 second to 366 days";
            return std::nullopt;
        }
        rate_limit_rule rule;
        rule.count = *count;
        rule.period_s = multiple * unit;
        if (rule.count > 1'000'000 * rule.period_s) {
            why = "more than 1000000 requests per second";
            return std::nullopt;
        }
        static constexpr std::pair<std::uint64_t, std::string_view> names[] = {
            {86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
        rule.name = std::to_string(rule.count) + "/";
        for (const auto& [seconds, word] : names) {
            if (unit == seconds) {
                rule.name += multiple == 1 ? std::string(word) : std::to_string(multiple) + std::string(word.substr(0, 1));
            }
        }
        return rule;
    }

    std::optional<circuit_breaker_settings> circuit_breaker_table(const toml::table& t, const std::string& ctx) {
        const std::string pre = "circuit_breaker.";
        check_keys(t,
                   {"failure_threshold", "recovery_timeout", "half_open_requests", "max_connections", "max_pending",
                    "on"},
                   {}, ctx + " circuit_breaker", ctx);
        circuit_breaker_settings c;
        if (const auto* n = t.get("failure_threshold")) {
            if (auto v = read_int(*n, ctx, pre + "failure_threshold", 1, 1'000'000)) {
                c.failure_threshold = static_cast<std::uint32_t>(*v);
            }
        }
        if (const auto* n = t.get("recovery_timeout")) {
            if (auto d = read_duration(*n, ctx, pre + "recovery_timeout", false)) {
                c.recovery_timeout = *d;
            }
        }
        if (const auto* n = t.get("half_open_requests")) {
            if (auto v = read_int(*n, ctx, pre + "half_open_requests", 1, 10'000)) {
                c.half_open_requests = static_cast<std::uint32_t>(*v);
            }
        }
        if (const auto* n = t.get("max_connections")) {
            if (auto v = read_int(*n, ctx, pre + "max_connections", 1, 1'000'000)) {
                c.max_connections = static_cast<std::uint32_t>(*v);
            }
        }
        if (const auto* n = t.get("max_pending")) {
            // 0: never wait for a connection (fail fast when none is free).
            if (auto v = read_int(*n, ctx, pre + "max_pending", 0, 1'000'000)) {
                c.max_pending = static_cast<std::uint32_t>(*v);
            }
        }
        if (const auto* n = t.get("on")) {
            const auto* arr = n->as_array();
            if (!arr) {
                error(*n, at(ctx, pre + "on") + "expected an array such as [\"connect-failure\", \"timeout\", \"5xx\"], got " +
                              type_name(*n));
                return c;
            }
            c.on_connect_failure = c.on_timeout = c.on_reset = c.on_5xx = false;
            for (const toml::node& e : *arr) {
                std::string text;
                if (const auto* i = e.as_integer()) {
                    text = std::to_string(i->get());
                } else if (const auto* s = e.as_string()) {
                    text = s->get();
                } else {
                    error(e, at(ctx, pre + "on") + "expected a string, got " + type_name(e));
                    continue;
                }
                if (text == "connect-failure") {
                    c.on_connect_failure = true;
                } else if (text == "timeout") {
                    c.on_timeout = true;
                } else if (text == "reset") {
                    c.on_reset = true;
                } else if (text == "5xx") {
                    c.on_5xx = true;
                } else if (text.size() == 3 && std::all_of(text.begin(), text.end(), is_digit) && text >= "500" &&
                           text <= "599") {
                    const auto code = static_cast<std::uint16_t>(std::stoi(text));
                    if (std::find(c.on_status.begin(), c.on_status.end(), code) == c.on_status.end()) {
                        c.on_status.push_back(code);
                    }
                } else {
                    error(e, at(ctx, pre + "on") + "unknown failure " + quote(text) +
                                 " (use \"connect-failure\", \"timeout\", \"reset\", \"5xx\" or a status 500..599 "
                                 "such as \"503\")");
                }
            }
        }
        return c;
    }

    void route_entry(const toml::table& t, std::size_t index) {
        route r;
        r.name = "route[" + std::to_string(index) + "]";
        std::string ctx = r.name;
        if (const auto* n = t.get("name")) {
            if (auto name = read_string(*n, ctx, "name")) {
                r.name = *name;
                ctx += " " + quote(*name);
            }
        }
        check_keys(t,
                   {"name", "match", "upstream", "redirect", "direct_response", "rewrite_prefix", "set_headers",
                    "remove_headers", "set_response_headers", "remove_response_headers", "cache", "websocket",
                    "rate_limit", "lua"},
                   {}, ctx, ctx);

        if (const auto* n = t.get("cache")) {
            if (auto on = read_bool(*n, ctx, "cache")) {
                r.cache = *on;
                if (*on && !t.contains("upstream")) {
                    error(*n, ctx + ": cache = true needs an upstream (redirects and direct responses are not cached)");
                }
            }
        }
        if (const auto* n = t.get("websocket")) {
            if (auto on = read_bool(*n, ctx, "websocket")) r.websocket = *on;
        }

        if (const auto* n = t.get("match")) {
            if (const auto* m = read_table(*n, ctx, "match")) {
                route_match_table(*m, ctx, r.match);
            }
        }

        // Exactly one action.
        std::vector<const toml::key*> actions;
        for (const std::string_view a : {"upstream", "redirect", "direct_response"}) {
            if (auto it = t.find(a); it != t.end()) {
                actions.push_back(&it->first);
            }
        }
        std::sort(actions.begin(), actions.end(), [](const toml::key* a, const toml::key* b) {
            return before(a->source().begin, b->source().begin);
        });
        if (actions.empty()) {
            error(t, ctx + ": no action (set one of upstream, redirect, direct_response)");
        } else if (actions.size() > 1) {
            std::string names;
            for (const toml::key* k : actions) {
                names += (names.empty() ? "" : ", ") + std::string(k->str());
            }
            error(*actions[1], ctx + ": more than one action (" + names +
                                   "); a route takes exactly one of upstream, redirect, direct_response");
        }

        if (const auto* n = t.get("upstream")) {
            if (auto name = read_string(*n, ctx, "upstream")) {
                if (auto it = upstream_by_name_.find(*name); it != upstream_by_name_.end()) {
                    r.upstream = *name;
                    r.upstream_index = it->second;
                } else {
                    error(*n, ctx + ": upstream " + quote(*name) + " is not defined");
                }
            }
        }
        if (const auto* n = t.get("rate_limit")) {
            if (auto name = read_string(*n, ctx, "rate_limit")) {
                if (auto it = rate_limit_by_name_.find(*name); it != rate_limit_by_name_.end()) {
                    r.rate_limit = *name;
                    r.rate_limit_index = it->second;
                } else {
                    error(*n, ctx + ": rate_limit " + quote(*name) + " is not defined (add a [rate_limit." + *name +
                                  "] table)");
                }
            }
        }
        if (const auto* n = t.get("redirect")) {
            if (const auto* rt = read_table(*n, ctx, "redirect")) {
                r.redirect = redirect_table(*rt, ctx);
            }
        }
        if (const auto* n = t.get("direct_response")) {
            if (const auto* dt = read_table(*n, ctx, "direct_response")) {
                r.direct_response = direct_response_table(*dt, ctx);
            }
        }

        if (const auto* n = t.get("rewrite_prefix")) {
            if (auto p = read_string(*n, ctx, "rewrite_prefix")) {
                if (!p->starts_with('/')) {
                    error(*n, at(ctx, "rewrite_prefix") + quote(*p) + " must start with \"/\"");
                } else if (!r.match.path_prefix) {
                    if (!(t.get("match") && t.get("match")->is_table() &&
                          t.get("match")->as_table()->contains("path_prefix"))) {
                        error(*n, ctx + ": rewrite_prefix requires match.path_prefix");
                    }
                } else {
                    r.rewrite_prefix = *p;
                }
            }
        }
        if (const auto* n = t.get("set_headers")) {
            r.set_headers = header_table(*n, ctx, "set_headers");
        }
        if (const auto* n = t.get("remove_headers")) {
            r.remove_headers = header_name_list(*n, ctx, "remove_headers");
        }
        if (const auto* n = t.get("set_response_headers")) {
            r.set_response_headers = header_table(*n, ctx, "set_response_headers");
        }
        if (const auto* n = t.get("remove_response_headers")) {
            r.remove_response_headers = header_name_list(*n, ctx, "remove_response_headers");
        }

        if (const auto* n = t.get("lua")) {
            r.lua = lua_file(*n, ctx);
        }

        for (const route& other : cfg_.routes) {
            if (other.name == r.name) {
                const toml::node* n = t.get("name");
                error(n ? *n : static_cast<const toml::node&>(t), "duplicate route name " + quote(r.name));
                break;
            }
        }
        cfg_.routes.push_back(std::move(r));
    }

    void route_match_table(const toml::table& m, const std::string& ctx, route_match& match) {
        check_keys(m, {"host", "path_prefix", "path_exact", "path_regex", "method", "header"}, {}, ctx + " match",
                   ctx);
        if (const auto* n = m.get("host")) {
            if (auto h = read_string(*n, ctx, "match.host")) {
                if (valid_host_pattern(*h)) {
                    match.host = lower(*h);
                } else {
                    error(*n, at(ctx, "match.host") + "bad host pattern " + quote(*h) +
                                  " (use \"*\", \"example.com\" or \"*.example.com\", without a port)");
                }
            }
        }

        std::vector<const toml::key*> paths;
        for (const std::string_view p : {"path_prefix", "path_exact", "path_regex"}) {
            if (auto it = m.find(p); it != m.end()) {
                paths.push_back(&it->first);
            }
        }
        std::sort(paths.begin(), paths.end(), [](const toml::key* a, const toml::key* b) {
            return before(a->source().begin, b->source().begin);
        });
        if (paths.size() > 1) {
            error(*paths[1], ctx + ": match: " + std::string(paths[0]->str()) + " and " +
                                 std::string(paths[1]->str()) +
                                 " cannot be combined (use one of path_prefix, path_exact, path_regex)");
        }
        for (const std::string_view p : {"path_prefix", "path_exact"}) {
            if (const auto* n = m.get(p)) {
                const std::string key = "match." + std::string(p);
                if (auto v = read_string(*n, ctx, key)) {
                    if (!v->starts_with('/')) {
                        error(*n, at(ctx, key) + quote(*v) + " must start with \"/\"");
                    } else if (p == "path_prefix") {
                        match.path_prefix = *v;
                    } else {
                        match.path_exact = *v;
                    }
                }
            }
        }
        if (const auto* n = m.get("path_regex")) {
            if (auto v = read_string(*n, ctx, "match.path_regex")) {
                auto re = std::make_shared<const re2::RE2>(*v, re2::RE2::Quiet);
                if (re->ok()) {
                    match.path_regex = *v;
                    match.regex = std::move(re);
                } else {
                    error(*n, at(ctx, "match.path_regex") + "bad regex " + quote(*v) + ": " + re->error());
                }
            }
        }

        if (const auto* n = m.get("method")) {
            auto add = [&](const toml::node& e) {
                if (auto s = read_string(e, ctx, "match.method")) {
                    if (!is_token(*s)) {
                        error(e, at(ctx, "match.method") + quote(*s) + " is not a valid method");
                    } else {
                        match.methods.push_back(upper(*s));
                    }
                }
            };
            if (const auto* arr = n->as_array()) {
                if (arr->empty()) {
                    error(*n, at(ctx, "match.method") + "must not be an empty list");
                }
                for (const toml::node& e : *arr) {
                    add(e);
                }
            } else if (n->is_string()) {
                add(*n);
            } else {
                error(*n, at(ctx, "match.method") + "expected a string or an array of strings, got " + type_name(*n));
            }
        }

        if (const auto* n = m.get("header")) {
            auto add = [&](const toml::node& e) {
                const auto* h = e.as_table();
                if (!h) {
                    error(e, at(ctx, "match.header") + "expected a table { name = \"...\", value = \"...\" }, got " +
                                 type_name(e));
                    return;
                }
                check_keys(*h, {"name", "value"}, {}, ctx + " match.header", ctx);
                header_match hm;
                const auto* name = h->get("name");
                if (!name) {
                    error(e, at(ctx, "match.header") + "missing required key \"name\"");
                    return;
                }
                auto hn = read_header_name(*name, ctx, "match.header.name");
                if (!hn) {
                    return;
                }
                hm.name = *hn;
                if (const auto* value = h->get("value")) {
                    auto v = read_string(*value, ctx, "match.header.value", true);
                    if (!v) {
                        return;
                    }
                    hm.value = *v;
                }
                match.headers.push_back(std::move(hm));
            };
            if (const auto* arr = n->as_array()) {
                for (const toml::node& e : *arr) {
                    add(e);
                }
            } else {
                add(*n);
            }
        }
    }

    redirect_action redirect_table(const toml::table& t, const std::string& ctx) {
        check_keys(t, {"location", "status"}, {}, ctx + " redirect", ctx);
        redirect_action a;
        if (const auto* n = t.get("location")) {
            if (auto loc = read_string(*n, ctx, "redirect.location")) {
                if (has_control_char(*loc)) {
                    error(*n, at(ctx, "redirect.location") + "must not contain control characters");
                } else {
                    a.location = *loc;
                }
            }
        } else {
            error(t, at(ctx, "redirect") + "missing required key \"location\"");
        }
        if (const auto* n = t.get("status")) {
            if (const auto* i = n->as_integer()) {
                const std::int64_t s = i->get();
                if (s == 301 || s == 302 || s == 303 || s == 307 || s == 308) {
                    a.status = static_cast<unsigned>(s);
                } else {
                    error(*n, at(ctx, "redirect.status") + std::to_string(s) +
                                  " is not a redirect status (use 301, 302, 303, 307 or 308)");
                }
            } else {
                error(*n, at(ctx, "redirect.status") + "expected an integer, got " + type_name(*n));
            }
        }
        return a;
    }

    direct_response_action direct_response_table(const toml::table& t, const std::string& ctx) {
        check_keys(t, {"status", "body", "content_type"}, {}, ctx + " direct_response", ctx);
        direct_response_action a;
        if (const auto* n = t.get("status")) {
            if (auto s = read_int(*n, ctx, "direct_response.status", 200, 599)) {
                a.status = static_cast<unsigned>(*s);
            }
        }
        if (const auto* n = t.get("body")) {
            if (auto b = read_string(*n, ctx, "direct_response.body", true)) {
                a.body = *b;
            }
        }
        if (const auto* n = t.get("content_type")) {
            if (auto c = read_string(*n, ctx, "direct_response.content_type")) {
                if (has_control_char(*c)) {
                    error(*n, at(ctx, "direct_response.content_type") + "must not contain control characters");
                } else {
                    a.content_type = *c;
                }
            }
        }
        return a;
    }

    // { Name = "value", ... } in the order written.
    header_list header_table(const toml::node& n, const std::string& ctx, std::string_view key) {
        header_list out;
        const auto* t = read_table(n, ctx, key);
        if (!t) {
            return out;
        }
        std::vector<std::pair<toml::source_position, std::pair<std::string, std::string>>> entries;
        for (auto&& [k, v] : *t) {
            const std::string name(k.str());
            if (!is_token(name)) {
                error(k, at(ctx, key) + quote(name) + " is not a valid header name");
                continue;
            }
            const std::string value_key = std::string(key) + "." + name;
            auto value = read_string(v, ctx, value_key, true);
            if (!value) {
                continue;
            }
            if (has_control_char(*value)) {
                error(v, at(ctx, value_key) + "header value must not contain control characters");
                continue;
            }
            entries.push_back({k.source().begin, {name, *value}});
        }
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return before(a.first, b.first); });
        for (auto& e : entries) {
            out.push_back(std::move(e.second));
        }
        return out;
    }

    std::vector<std::string> header_name_list(const toml::node& n, const std::string& ctx, std::string_view key) {
        std::vector<std::string> out;
        const auto* arr = n.as_array();
        if (!arr) {
            error(n, at(ctx, key) + "expected an array of header names, got " + type_name(n));
            return out;
        }
        for (const toml::node& e : *arr) {
            if (auto name = read_header_name(e, ctx, key)) {
                out.push_back(std::move(*name));
            }
        }
        return out;
    }
};

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
    const auto ms = parse_scaled(text, duration_units, false);
    if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<duration::rep>::max())) {
        return std::nullopt;
    }
    return duration(static_cast<duration::rep>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    return parse_scaled(text, size_units, true);
}

std::optional<endpoint> parse_endpoint(std::string_view text) {
    std::string why;
    return parse_endpoint_why(text, why);
}

load_result load_string(std::string_view toml_text, const std::string& source_name) {
    return loader(source_name).run(toml_text);
}

load_result load_file(const std::string& path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    auto cannot_read = [&](int err) {
        load_result result;
        result.errors.push_back(load_error{path, 0, 0, std::string("cannot read: ") + std::strerror(err)});
        return result;
    };
    if (!file) {
        return cannot_read(errno);
    }
    std::string text;
    char buffer[64 * 1024];
    errno = 0;
    while (true) {
        const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get());
        text.append(buffer, n);
        if (n < sizeof buffer) {
            break;
        }
    }
    if (std::ferror(file.get())) {
        return cannot_read(errno != 0 ? errno : EIO);
    }
    return load_string(text, path);
}

}  // namespace sluice::config
