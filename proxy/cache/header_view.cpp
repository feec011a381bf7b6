#include "cache/header_view.hpp"

namespace sluice::cache {

namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

header_view::header_view(const header_list& fields) noexcept
    : header_view(static_cast<const void*>(&fields), [](const void* ctx, std::string_view name) {
          return get_field(*static_cast<const header_list*>(ctx), name);
      }) {}

std::optional<std::string> get_field(const header_list& fields, std::string_view name) {
    std::optional<std::string> out;
    for (const auto& [n, v] : fields) {
        if (!iequals(n, name)) continue;
        if (out) {
            *out += ", ";
            *out += v;
        } else {
            out = v;
        }
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower(c);
    return out;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace sluice::cache
