// TOML -> validated config snapshot. The loader walks the parsed document once, checks every key
// it meets, and records every problem (with the source position toml++ kept for the node) instead
// of stopping at the first; a config with any error yields no snapshot at all.

#include "config/loader.hpp"

#include <re2/re2.h>
#include <toml++/toml.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
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
        check_keys(root, {"server", "admin", "listener", "upstream", "route"}, {"rate_limit", "cache", "redis"},
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
        check_keys(t, {"name", "listen"}, {"tls"}, ctx, ctx);
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
        cfg_.listeners.push_back(std::move(l));
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
        check_keys(t, {"name", "balance", "servers", "timeouts", "keepalive"},
                   {"hash_key", "health_check", "circuit_breaker", "retries"}, ctx, ctx);
        if (named && !upstream_by_name_.emplace(u.name, cfg_.upstreams.size()).second) {
            error(*name_node, "duplicate upstream name " + quote(u.name));
        }

        if (const auto* n = t.get("balance")) {
            if (auto b = read_string(*n, ctx, "balance")) {
                if (*b == "round_robin") {
                    u.balance = balance_kind::round_robin;
                } else if (*b == "consistent_hash" || *b == "least_request" || *b == "random_two") {
                    error(*n, ctx + ": balance " + quote(*b) + " is not supported yet");
                } else {
                    error(*n, ctx + ": unknown balance " + quote(*b) + " (use \"round_robin\")");
                }
            }
        }

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
                    "remove_headers", "set_response_headers", "remove_response_headers", "cache", "websocket"},
                   {"rate_limit", "lua"}, ctx, ctx);

        for (const std::string_view flag : {"cache", "websocket"}) {
            if (const auto* n = t.get(flag)) {
                if (auto on = read_bool(*n, ctx, flag); on && *on) {
                    error(t.find(flag)->first, ctx + ": " + quote(flag) + " is not supported yet");
                }
            }
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
