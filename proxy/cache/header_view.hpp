#pragma once
// Header fields as the cache sees them: plain std types, no Beast. A stored or inspected response
// carries a header_list; a request is read through a header_view, a borrowed, type-erased getter
// the request path can point at its own Beast fields without copying them.

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice::cache {

// Name/value pairs in wire order; names in any case, several fields may share a name.
using header_list = std::vector<std::pair<std::string, std::string>>;

// Read access to one message's header fields. get(name) returns the values of every field named
// `name` (ASCII case-insensitive) joined by ", " in order, or nullopt when there is none; a field
// present with an empty value gives "". A view borrows: what it points at must outlive it.
class header_view {
public:
    header_view(const header_list& fields) noexcept;  // NOLINT: implicit on purpose

    // Any callable `std::optional<std::string>(std::string_view name)` with the semantics of get(),
    // e.g. a lambda over Beast's fields that joins equal_range(name) with ", ".
    template <class F>
        requires std::is_invocable_r_v<std::optional<std::string>, const F&, std::string_view>
    static header_view from(const F& getter) noexcept {
        return header_view(static_cast<const void*>(&getter), [](const void* ctx, std::string_view name) {
            return std::optional<std::string>((*static_cast<const F*>(ctx))(name));
        });
    }

    std::optional<std::string> get(std::string_view name) const { return fn_(ctx_, name); }
    bool has(std::string_view name) const { return get(name).has_value(); }

private:
    using getter_fn = std::optional<std::string> (*)(const void*, std::string_view);
    header_view(const void* ctx, getter_fn fn) noexcept : ctx_(ctx), fn_(fn) {}

    const void* ctx_;
    getter_fn fn_;
};

// The values of every field named `name` in `fields`, joined by ", "; nullopt when there is none.
std::optional<std::string> get_field(const header_list& fields, std::string_view name);

bool iequals(std::string_view a, std::string_view b) noexcept;
std::string lowercase(std::string_view s);
std::string_view trim(std::string_view s) noexcept;  // drops spaces and tabs at both ends

// Calls f(element) for each non-empty, trimmed element of a comma-separated list; commas inside
// double-quoted strings do not split.
template <class F>
void for_each_element(std::string_view list, F&& f) {
    std::size_t start = 0;
    bool quoted = false;
    for (std::size_t i = 0; i <= list.size(); ++i) {
        if (i < list.size()) {
            const char c = list[i];
            if (quoted && c == '\\' && i + 1 < list.size()) {
                ++i;
                continue;
            }
            if (c == '"') quoted = !quoted;
            if (c != ',' || quoted) continue;
        }
        const std::string_view element = trim(list.substr(start, i - start));
        if (!element.empty()) f(element);
        start = i + 1;
    }
}

}  // namespace sluice::cache
