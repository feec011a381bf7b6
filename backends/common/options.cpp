// Command-line parsing for the reference backends (no Asio or Beast here).
#include "http_server.hpp"

#include <charconv>
#include <string>

namespace sluice::backends {
namespace {

template <typename T>
bool parse_number(std::string_view text, T& out) {
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

std::string usage(std::string_view program) {
    std::string u = "usage: ";
    u += program;
    u += " --listen HOST:PORT [--name NAME] [--threads N]\n"
         "  --listen HOST:PORT  address to bind (port 0: the kernel picks; IPv6 as [::1]:PORT)\n"
         "  --name NAME         value of the X-Backend response header\n"
         "  --threads N         threads running the event loop (default 1)\n";
    return u;
}

bool parse_listen(std::string_view text, Options& out) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    std::string_view host = text.substr(0, colon);
    std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host.empty()) host = "0.0.0.0";
    if (!parse_number(port, out.port)) return false;
    out.host = std::string(host);
    return true;
}

}  // namespace

std::optional<Options> parse_options(int argc, char** argv, std::string_view program,
                                     std::string_view default_name, std::string& error,
                                     bool& help) {
    Options opts;
    opts.name = std::string(default_name);
    bool have_listen = false;
    help = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            help = true;
            error = usage(program);
            return std::nullopt;
        }
        std::string_view key = arg;
        std::optional<std::string_view> value;
        if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
            key = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        }
        if (key != "--listen" && key != "--name" && key != "--threads") {
            error = "unknown argument: " + std::string(arg) + "\n" + usage(program);
            return std::nullopt;
        }
        if (!value) {
            if (i + 1 >= argc) {
                error = "missing value for " + std::string(key) + "\n" + usage(program);
                return std::nullopt;
            }
            value = std::string_view(argv[++i]);
        }
        if (key == "--listen") {
            if (!parse_listen(*value, opts)) {
                error = "invalid --listen (want HOST:PORT): " + std::string(*value) + "\n";
                return std::nullopt;
            }
            have_listen = true;
        } else if (key == "--name") {
            bool printable = !value->empty();
            for (unsigned char c : *value) printable = printable && c >= 0x20 && c != 0x7f;
            if (!printable) {
                error = "--name must be non-empty printable text\n";
                return std::nullopt;
            }
            opts.name = std::string(*value);
        } else {
            if (!parse_number(*value, opts.threads) || opts.threads < 1 || opts.threads > 256) {
                error = "invalid --threads (want 1..256): " + std::string(*value) + "\n";
                return std::nullopt;
            }
        }
    }
    if (!have_listen) {
        error = "--listen is required\n" + usage(program);
        return std::nullopt;
    }
    return opts;
}

}  // namespace sluice::backends
