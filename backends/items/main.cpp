// sluice-items: a small in-memory items API used as a reference upstream for Sluice.
//
//   GET /items               200 JSON array of items
//   POST /items              {"name": string, "price": number} -> 201 item, Location: /items/{id}
//   GET /items/{id}          200 item, Cache-Control: public, max-age=60, ETag (of the item's JSON);
//                            ?cc=VALUE (percent-encoded) sends that Cache-Control instead, ?vary=NAMES a Vary;
//                            If-None-Match naming the current ETag (or *) -> 304 without a body;
//                            X-Items-Status: 5xx answers that status instead (fault injection)
//   PUT /items/{id}          same body rules -> 200 updated item
//   DELETE /items/{id}       204
//   absent id -> 404 {"error":"not found"}; bad body -> 400; other methods -> 405
//   GET /healthz, GET /stats (from backends/common)
#include "http_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>

namespace {

using namespace sluice::backends;
namespace json = boost::json;

constexpr std::size_t kMaxBody = 1024 * 1024;

struct Item {
    std::uint64_t id = 0;
    std::string name;
    double price = 0;
};

struct ItemFields {
    std::string name;
    double price = 0;
};

// Shortest text that reads back as the same double (so 9.99 stays "9.99", 10 stays "10").
std::string format_number(double v) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc{} ? std::string(buf, end) : std::string("0");
}

std::string to_json(const Item& item) {
    return "{\"id\":" + std::to_string(item.id) +
           ",\"name\":" + json::serialize(json::string_view(item.name)) +
           ",\"price\":" + format_number(item.price) + "}";
}

class Store {
public:
    std::string list_json() const {
        std::lock_guard lock(mutex_);
        std::string out = "[";
        for (const auto& [id, item] : items_) {
            if (out.size() > 1) out += ',';
            out += to_json(item);
        }
        out += ']';
        return out;
    }
    std::optional<Item> get(std::uint64_t id) const {
        std::lock_guard lock(mutex_);
        auto it = items_.find(id);
        if (it == items_.end()) return std::nullopt;
        return it->second;
    }
    Item create(ItemFields f) {
        std::lock_guard lock(mutex_);
        Item item{next_id_++, std::move(f.name), f.price};
        items_.emplace(item.id, item);
        return item;
    }
    std::optional<Item> update(std::uint64_t id, ItemFields f) {
        std::lock_guard lock(mutex_);
        auto it = items_.find(id);
        if (it == items_.end()) return std::nullopt;
        it->second.name = std::move(f.name);
        it->second.price = f.price;
        return it->second;
    }
    bool remove(std::uint64_t id) {
        std::lock_guard lock(mutex_);
        return items_.erase(id) > 0;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::uint64_t, Item> items_;
    std::uint64_t next_id_ = 1;
};

Store g_store;

// Parses {"name": string, "price": number}; on failure returns nullopt and sets `error`.
std::optional<ItemFields> parse_fields(std::string_view text, std::string& error) {
    boost::system::error_code ec;
    json::value doc = json::parse(text, ec);
    if (ec) {
        error = "invalid JSON: " + ec.message();
        return std::nullopt;
    }
    const json::object* obj = doc.if_object();
    if (!obj) {
        error = "body must be a JSON object";
        return std::nullopt;
    }
    const json::value* name = obj->if_contains("name");
    const json::value* price = obj->if_contains("price");
    if (!name || !name->is_string()) {
        error = "\"name\" must be a string";
        return std::nullopt;
    }
    if (!price || !price->is_number()) {
        error = "\"price\" must be a number";
        return std::nullopt;
    }
    double p = price->to_number<double>(ec);
    if (ec || !std::isfinite(p)) {
        error = "\"price\" must be a finite number";
        return std::nullopt;
    }
    return ItemFields{std::string(name->get_string()), p};
}

Response json_ok(unsigned status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

Response method_not_allowed(std::string allow) {
    Response r = json_error(405, "method not allowed");
    r.headers.push_back({"Allow", std::move(allow)});
    return r;
}

// Reads and validates an item body; sets `response` to the error answer on failure.
asio::awaitable<std::optional<ItemFields>> read_fields(Exchange& ex, Response& response) {
    BodyText body = co_await ex.read_body_text(kMaxBody);
    if (body.ec) {
        response = json_error(400, "malformed request body");
        co_return std::nullopt;
    }
    if (body.too_large) {
        response = json_error(413, "body larger than 1 MiB");
        co_return std::nullopt;
    }
    std::string error;
    auto fields = parse_fields(body.text, error);
    if (!fields) response = json_error(400, error);
    co_return fields;
}

// The ETag of an item's representation: a hash of its JSON, quoted.
std::string etag_of(const std::string& body) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, std::hash<std::string>{}(body), 16);
    std::string tag(1, '"');
    tag.append(buf, end);
    tag += '"';
    return tag;
}

// If-None-Match (a list of entity tags, weak comparison, or *) names `etag`.
bool none_match(std::string_view list, std::string_view etag) {
    auto strip = [](std::string_view t) {
        while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
        while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
        if (t.starts_with("W/")) t.remove_prefix(2);
        return t;
    };
    while (!list.empty()) {
        const auto comma = list.find(',');
        const auto tag = strip(list.substr(0, comma));
        if (tag == "*" || tag == strip(etag)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

// The value of `name` in a query string, %XX decoded; nullopt when absent.
std::optional<std::string> query_value(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            std::string out;
            const auto v = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
            for (std::size_t i = 0; i < v.size(); ++i) {
                unsigned x = 0;
                if (v[i] == '%' && i + 2 < v.size() &&
                    std::from_chars(v.data() + i + 1, v.data() + i + 3, x, 16).ptr == v.data() + i + 3) {
                    out += static_cast<char>(x);
                    i += 2;
                } else {
                    out += v[i];
                }
            }
            return out;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

std::optional<std::uint64_t> parse_id(std::string_view text) {
    std::uint64_t id = 0;
    if (text.empty()) return std::nullopt;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return id;
}

asio::awaitable<void> handle(Exchange& ex) {
    const Request& req = ex.request();
    const std::string& method = req.method;
    bool get = method == "GET" || method == "HEAD";
    Response res;

    if (req.path == "/items") {
        if (get) {
            res = json_ok(200, g_store.list_json());
        } else if (method == "POST") {
            if (auto fields = co_await read_fields(ex, res)) {
                Item item = g_store.create(std::move(*fields));
                res = json_ok(201, to_json(item));
                res.headers.push_back({"Location", "/items/" + std::to_string(item.id)});
            }
        } else {
            res = method_not_allowed("GET, HEAD, POST");
        }
    } else if (req.path.starts_with("/items/")) {
        auto id = parse_id(std::string_view(req.path).substr(7));
        if (method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE") {
            if (!id) {
                res = json_error(404, "not found");
            } else if (get) {
                const auto forced = req.header("X-Items-Status");
                unsigned forced_status = 0;
                if (forced) std::from_chars(forced->data(), forced->data() + forced->size(), forced_status);
                if (forced_status >= 500 && forced_status <= 599) {
                    res = json_error(forced_status, "failure requested by X-Items-Status");
                } else if (auto item = g_store.get(*id)) {
                    std::string body = to_json(*item);
                    const std::string etag = etag_of(body);
                    const auto inm = req.header("If-None-Match");
                    res = inm && none_match(*inm, etag) ? json_ok(304, "") : json_ok(200, std::move(body));
                    res.headers.push_back(
                        {"Cache-Control", query_value(req.query, "cc").value_or("public, max-age=60")});
                    res.headers.push_back({"ETag", etag});
                    if (auto vary = query_value(req.query, "vary")) res.headers.push_back({"Vary", *vary});
                } else {
                    res = json_error(404, "not found");
                }
            } else if (method == "PUT") {
                if (auto fields = co_await read_fields(ex, res)) {
                    if (auto item = g_store.update(*id, std::move(*fields)))
                        res = json_ok(200, to_json(*item));
                    else
                        res = json_error(404, "not found");
                }
            } else {
                res = g_store.remove(*id) ? json_ok(204, "") : json_error(404, "not found");
            }
        } else {
            res = method_not_allowed("GET, HEAD, PUT, DELETE");
        }
    } else {
        res = json_error(404, "not found");
    }
    co_await ex.respond(std::move(res));
}

}  // namespace

int main(int argc, char** argv) {
    return serve(argc, argv, "sluice-items", "items", handle);
}
