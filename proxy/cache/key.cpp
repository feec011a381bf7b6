#include "cache/key.hpp"

#include <algorithm>
#include <utility>

namespace sluice::cache {

namespace {

// "host:port" with the port dropped when it is the scheme's default.
std::string_view without_default_port(std::string_view scheme, std::string_view host) {
    const std::string_view port = scheme == "https" ? ":443" : scheme == "http" ? ":80" : "";
    if (!port.empty() && host.ends_with(port) && host.size() > port.size()) {
        host.remove_suffix(port.size());
    }
    return host;
}

// The value with list elements trimmed and rejoined with ",": "gzip , br" -> "gzip,br".
std::string normalise_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    bool first = true;
    for_each_element(value, [&](std::string_view element) {
        if (!std::exchange(first, false)) out += ',';
        out += element;
    });
    return out;
}

}  // namespace

std::string primary_key(std::string_view scheme, std::string_view host, std::string_view target) {
    std::string out = lowercase(scheme);
    out += "://";
    out += lowercase(without_default_port(out.substr(0, out.size() - 3), host));
    out += target;
    return out;
}

std::optional<std::string> primary_key_from_url(std::string_view url) {
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    const std::string scheme = lowercase(url.substr(0, sep));
    if (scheme != "http" && scheme != "https") return std::nullopt;
    std::string_view rest = url.substr(sep + 3);
    const auto path = std::min(rest.find_first_of("/?#"), rest.size());
    const std::string_view host = rest.substr(0, path);
    if (host.empty() || host.find('@') != std::string_view::npos) return std::nullopt;
    std::string_view target = rest.substr(path);
    if (const auto frag = target.find('#'); frag != std::string_view::npos) target = target.substr(0, frag);
    std::string full;  // built by append: GCC 12 warns falsely on "literal" + std::string&&
    if (target.empty() || target.front() != '/') full += '/';
    full += target;
    return primary_key(scheme, host, full);
}

std::string_view key_target(std::string_view key) noexcept {
    const auto sep = key.find("://");
    if (sep == std::string_view::npos) return {};
    const auto slash = key.find('/', sep + 3);
    return slash == std::string_view::npos ? std::string_view{} : key.substr(slash);
}

bool key_has_prefix(std::string_view key, std::string_view prefix) noexcept {
    if (prefix.starts_with('/')) return key_target(key).starts_with(prefix);
    return key.starts_with(prefix);
}

vary_spec parse_vary(std::string_view value) {
    vary_spec spec;
    for_each_element(value, [&](std::string_view element) {
        if (element == "*") {
            spec.star = true;
            return;
        }
        std::string name = lowercase(element);
        if (std::find(spec.names.begin(), spec.names.end(), name) == spec.names.end()) {
            spec.names.push_back(std::move(name));
        }
    });
    return spec;
}

std::string secondary_key(std::span<const std::string> names, header_view request) {
    // name, then "-" for an absent field or "=" length ":" value: unambiguous whatever the values.
    std::string out;
    for (const std::string& name : names) {
        out += name;
        if (const auto value = request.get(name)) {
            const std::string v = normalise_value(*value);
            out += '=';
            out += std::to_string(v.size());
            out += ':';
            out += v;
        } else {
            out += '-';
        }
        out += '\n';
    }
    return out;
}

}  // namespace sluice::cache
