#include "admin/config_json.hpp"

#include "upstream/server_state.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace sluice::admin {

namespace json = boost::json;

namespace {

std::string ms(config::duration d) { return std::to_string(d.count()) + "ms"; }

json::object headers(const config::header_list& h) {
    json::object o;
    for (const auto& [k, v] : h) o[k] = v;
    return o;
}

json::array strings(const std::vector<std::string>& v) {
    json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
}

std::string_view balance_name(config::balance_kind b) {
    switch (b) {
    case config::balance_kind::round_robin: return "round_robin";
    case config::balance_kind::consistent_hash: return "consistent_hash";
    case config::balance_kind::least_request: return "least_request";
    case config::balance_kind::random_two: return "random_two";
    case config::balance_kind::random: return "random";
    }
    return "round_robin";
}

}  // namespace

std::string config_to_json(const config::config& cfg) {
    json::object root;
    root["generation"] = cfg.generation;
    root["source"] = cfg.source;

    const auto& s = cfg.server;
    root["server"] = json::object{{"workers", s.workers},
                                  {"drain_timeout", ms(s.drain_timeout)},
                                  {"access_log", s.access_log},
                                  {"header_timeout", ms(s.header_timeout)},
                                  {"idle_timeout", ms(s.idle_timeout)},
                                  {"max_header_bytes", s.max_header_bytes},
                                  {"max_headers", s.max_headers},
                                  {"max_body_bytes", s.max_body_bytes}};
    if (cfg.admin.listen) root["admin"] = json::object{{"listen", cfg.admin.listen->to_string()}};

    json::array listeners;
    for (const auto& l : cfg.listeners) {
        listeners.push_back(json::object{{"name", l.name},
                                         {"listen", l.listen.to_string()},
                                         {"max_connections", l.max_connections},
                                         {"max_connections_per_ip", l.max_connections_per_ip}});
    }
    root["listeners"] = std::move(listeners);

    json::array upstreams;
    for (const auto& u : cfg.upstreams) {
        json::array servers;
        for (const auto& srv : u.servers) {
            json::object o{{"address", srv.address.to_string()}, {"weight", srv.weight}};
            if (srv.state) o["healthy"] = srv.state->healthy.load(std::memory_order_relaxed);
            servers.push_back(std::move(o));
        }
        json::object entry{
            {"name", u.name},
            {"balance", balance_name(u.balance)},
            {"servers", std::move(servers)},
            {"timeouts", json::object{{"connect", ms(u.timeouts.connect)},
                                      {"response", ms(u.timeouts.response)},
                                      {"idle", ms(u.timeouts.idle)}}},
            {"keepalive", u.keepalive}};
        if (u.tls) {
            entry["tls"] = json::object{
                {"ca_file", u.tls->ca_file}, {"server_name", u.tls->server_name}, {"verify", u.tls->verify}};
        }
        upstreams.push_back(std::move(entry));
    }
    root["upstreams"] = std::move(upstreams);

    json::array routes;
    for (const auto& r : cfg.routes) {
        json::object match{{"host", r.match.host}};
        if (r.match.path_prefix) match["path_prefix"] = *r.match.path_prefix;
        if (r.match.path_exact) match["path_exact"] = *r.match.path_exact;
        if (r.match.path_regex) match["path_regex"] = *r.match.path_regex;
        if (!r.match.methods.empty()) match["method"] = strings(r.match.methods);
        if (!r.match.headers.empty()) {
            json::array hs;
            for (const auto& h : r.match.headers) {
                json::object ho{{"name", h.name}};
                if (h.value) ho["value"] = *h.value;
                hs.push_back(std::move(ho));
            }
            match["header"] = std::move(hs);
        }
        json::object o{{"name", r.name}, {"match", std::move(match)}};
        if (r.redirect) o["redirect"] = json::object{{"location", r.redirect->location}, {"status", r.redirect->status}};
        else if (r.direct_response)
            o["direct_response"] = json::object{{"status", r.direct_response->status},
                                                {"content_type", r.direct_response->content_type},
                                                {"body_bytes", r.direct_response->body.size()}};
        else o["upstream"] = r.upstream;
        if (r.rewrite_prefix) o["rewrite_prefix"] = *r.rewrite_prefix;
        if (!r.set_headers.empty()) o["set_headers"] = headers(r.set_headers);
        if (!r.remove_headers.empty()) o["remove_headers"] = strings(r.remove_headers);
        if (!r.set_response_headers.empty()) o["set_response_headers"] = headers(r.set_response_headers);
        if (!r.remove_response_headers.empty()) o["remove_response_headers"] = strings(r.remove_response_headers);
        if (r.lua) o["lua"] = r.lua->path;
        routes.push_back(std::move(o));
    }
    root["routes"] = std::move(routes);
    return json::serialize(root);
}

}  // namespace sluice::admin
