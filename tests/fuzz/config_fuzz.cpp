// libFuzzer target: config::load_string on arbitrary text. Loading never throws; it returns a
// config or errors, each with a position inside the text.

#include "config/loader.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto r = sluice::config::load_string(text, "fuzz.toml");
    if (r.ok() == !r.errors.empty()) std::abort();  // exactly one of a config and errors
    for (const auto& e : r.errors) {
        if (e.message.empty() || e.line < 0 || e.column < 0) std::abort();
        if (e.to_string().rfind("fuzz.toml", 0) != 0) std::abort();
    }
    return 0;
}
