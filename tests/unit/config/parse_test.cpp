// The value parsers on their own: durations, sizes, endpoints, and the error formatting.

#include "config/loader.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sluice::config {
namespace {

using std::chrono::milliseconds;

TEST(ConfigParseDuration, AcceptsUnits) {
    EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
    EXPECT_EQ(parse_duration("30s"), milliseconds(30'000));
    EXPECT_EQ(parse_duration("5m"), milliseconds(300'000));
    EXPECT_EQ(parse_duration("1h"), milliseconds(3'600'000));
    EXPECT_EQ(parse_duration("0s"), milliseconds(0));
    EXPECT_EQ(parse_duration("0ms"), milliseconds(0));
}

TEST(ConfigParseDuration, AcceptsFractions) {
    EXPECT_EQ(parse_duration("1.5s"), milliseconds(1'500));
    EXPECT_EQ(parse_duration("0.25s"), milliseconds(250));
    EXPECT_EQ(parse_duration("1.5m"), milliseconds(90'000));
    EXPECT_EQ(parse_duration("0.001s"), milliseconds(1));
}

TEST(ConfigParseDuration, RejectsGarbage) {
    for (const char* bad : {"", "30", "s", "ms", "-5s", "+5s", "10 parsecs", "5 s", " 5s", "5s ", "1.5ms",
                            "0.0001s", ".5s", "5.s", "1d", "30S", "5M", "1e3s", "5sec", "5s5", "0x10s",
                            "99999999999999999999s", "9999999999999999h"}) {
        EXPECT_EQ(parse_duration(bad), std::nullopt) << '"' << bad << '"';
    }
}

TEST(ConfigParseSize, AcceptsBytesAndUnits) {
    EXPECT_EQ(parse_size("512"), 512u);
    EXPECT_EQ(parse_size("0"), 0u);
    EXPECT_EQ(parse_size("1B"), 1u);
    EXPECT_EQ(parse_size("64KiB"), 64u * 1024);
    EXPECT_EQ(parse_size("8MiB"), 8u * 1024 * 1024);
    EXPECT_EQ(parse_size("1GiB"), 1ull << 30);
    EXPECT_EQ(parse_size("1KB"), 1'000u);
    EXPECT_EQ(parse_size("2MB"), 2'000'000u);
    EXPECT_EQ(parse_size("3GB"), 3'000'000'000ull);
    EXPECT_EQ(parse_size("1.5KiB"), 1'536u);
}

TEST(ConfigParseSize, RejectsGarbage) {
    for (const char* bad : {"", "12XB", "KiB", "-1", "1.5B", "64kib", "64 KiB", "64K", "1.KiB", "x",
                            "99999999999GiB", "99999999999999999999"}) {
        EXPECT_EQ(parse_size(bad), std::nullopt) << '"' << bad << '"';
    }
}

TEST(ConfigParseEndpoint, AcceptsHostPort) {
    EXPECT_EQ(parse_endpoint("127.0.0.1:80"), (endpoint{"127.0.0.1", 80}));
    EXPECT_EQ(parse_endpoint("localhost:9001"), (endpoint{"localhost", 9001}));
    EXPECT_EQ(parse_endpoint("items-1.svc_a.example.com:65535"), (endpoint{"items-1.svc_a.example.com", 65535}));
    EXPECT_EQ(parse_endpoint("0.0.0.0:0"), (endpoint{"0.0.0.0", 0}));  // port 0: the caller decides
}

TEST(ConfigParseEndpoint, AcceptsBracketedIpv6) {
    EXPECT_EQ(parse_endpoint("[::1]:8080"), (endpoint{"::1", 8080}));
    EXPECT_EQ(parse_endpoint("[2001:db8::7]:443"), (endpoint{"2001:db8::7", 443}));
}

TEST(ConfigParseEndpoint, RejectsBadAddresses) {
    for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":80", "::1:80", "::1", "[::1]", "[::1]80", "[::1:80",
                            "[zz]:80", "[127.0.0.1]:80", "host:65536", "host:99999999", "host:http", "host:-1",
                            "host:+1", "ho st:80", "a..b:80", ".a:80", "a.:80", "host:80/x", "h*st:80"}) {
        EXPECT_EQ(parse_endpoint(bad), std::nullopt) << '"' << bad << '"';
    }
}

TEST(ConfigParseEndpoint, ToStringRoundTrips) {
    EXPECT_EQ((endpoint{"127.0.0.1", 80}).to_string(), "127.0.0.1:80");
    EXPECT_EQ((endpoint{"::1", 8080}).to_string(), "[::1]:8080");
    EXPECT_EQ((endpoint{"example.com", 0}).to_string(), "example.com:0");
    for (const char* text : {"127.0.0.1:80", "[::1]:8080", "localhost:1", "[2001:db8::7]:443"}) {
        const auto ep = parse_endpoint(text);
        ASSERT_TRUE(ep) << text;
        EXPECT_EQ(ep->to_string(), text);
    }
}

TEST(ConfigParseError, ToStringFormats) {
    EXPECT_EQ((load_error{"conf/x.toml", 12, 11, "boom"}).to_string(), "conf/x.toml:12:11: boom");
    EXPECT_EQ((load_error{"conf/x.toml", 0, 0, "cannot read: No such file or directory"}).to_string(),
              "conf/x.toml: cannot read: No such file or directory");
}

}  // namespace
}  // namespace sluice::config
