// Primary keys (scheme, host, target) and Vary secondary keys.

#include "cache/key.hpp"

#include <gtest/gtest.h>

namespace sluice::cache {
namespace {

TEST(CacheKey, PrimaryKeyNormalisesSchemeAndHostOnly) {
    EXPECT_EQ(primary_key("http", "Example.COM", "/Items/1?b=2&a=1"), "http://example.com/Items/1?b=2&a=1");
    EXPECT_EQ(primary_key("HTTPS", "api.example.com:8443", "/x"), "https://api.example.com:8443/x");
    // The scheme's default port is dropped, any other port kept.
    EXPECT_EQ(primary_key("http", "example.com:80", "/"), primary_key("http", "example.com", "/"));
    EXPECT_EQ(primary_key("https", "example.com:443", "/"), "https://example.com/");
    EXPECT_EQ(primary_key("http", "example.com:443", "/"), "http://example.com:443/");
    EXPECT_EQ(primary_key("http", "[::1]:8080", "/"), "http://[::1]:8080/");
    // Different targets, schemes or hosts are different keys.
    EXPECT_NE(primary_key("http", "a", "/x"), primary_key("http", "a", "/x?"));
    EXPECT_NE(primary_key("http", "a", "/x"), primary_key("https", "a", "/x"));
    EXPECT_NE(primary_key("http", "a:81", "/x"), primary_key("http", "a", "/x"));
}

TEST(CacheKey, FromUrlMatchesTheRequestKey) {
    EXPECT_EQ(primary_key_from_url("http://Example.com:80/items/1?x=1"), primary_key("http", "example.com", "/items/1?x=1"));
    EXPECT_EQ(primary_key_from_url("https://h"), "https://h/");
    EXPECT_EQ(primary_key_from_url("http://h?q=1"), "http://h/?q=1");
    EXPECT_EQ(primary_key_from_url("http://h/p#frag"), "http://h/p");
    EXPECT_EQ(primary_key_from_url("ftp://h/p"), std::nullopt);
    EXPECT_EQ(primary_key_from_url("/items/1"), std::nullopt);
    EXPECT_EQ(primary_key_from_url("http:///p"), std::nullopt);
    EXPECT_EQ(primary_key_from_url("http://user@h/p"), std::nullopt);
}

TEST(CacheKey, PrefixMatchesPathsOnEveryHostOrAUrlPrefix) {
    const std::string a = primary_key("http", "a.example", "/items/1");
    const std::string b = primary_key("https", "b.example:8443", "/items/2?x");
    const std::string c = primary_key("http", "a.example", "/other");
    EXPECT_EQ(key_target(b), "/items/2?x");
    EXPECT_TRUE(key_has_prefix(a, "/items"));
    EXPECT_TRUE(key_has_prefix(b, "/items/"));
    EXPECT_FALSE(key_has_prefix(c, "/items"));
    EXPECT_TRUE(key_has_prefix(a, "/"));
    EXPECT_TRUE(key_has_prefix(a, *primary_key_from_url("http://A.example/it")));
    EXPECT_FALSE(key_has_prefix(b, *primary_key_from_url("http://a.example/")));
}

TEST(CacheKey, ParseVary) {
    const vary_spec v = parse_vary("Accept-Encoding, accept-encoding,Accept-Language ,  ");
    EXPECT_EQ(v.names, (std::vector<std::string>{"accept-encoding", "accept-language"}));
    EXPECT_FALSE(v.star);
    EXPECT_TRUE(parse_vary("Accept, *").star);
    EXPECT_TRUE(parse_vary("").names.empty());
}

TEST(CacheKey, SecondaryKeySameAndDifferentValues) {
    const std::vector<std::string> names{"accept-encoding", "accept-language"};
    const header_list gzip_en{{"Accept-Encoding", "gzip"}, {"Accept-Language", "en"}};
    const header_list gzip_en_again{{"accept-language", "en"}, {"ACCEPT-ENCODING", "gzip"}, {"X-Other", "1"}};
    const header_list br_en{{"Accept-Encoding", "br"}, {"Accept-Language", "en"}};
    EXPECT_EQ(secondary_key(names, gzip_en), secondary_key(names, gzip_en_again));
    EXPECT_NE(secondary_key(names, gzip_en), secondary_key(names, br_en));
    EXPECT_EQ(secondary_key({}, gzip_en), "");
}

TEST(CacheKey, SecondaryKeyNormalisesWhitespaceAndRepeatedFields) {
    const std::vector<std::string> names{"accept-encoding"};
    const std::string canonical = secondary_key(names, header_list{{"Accept-Encoding", "gzip,br"}});
    EXPECT_EQ(secondary_key(names, header_list{{"Accept-Encoding", "  gzip ,  br "}}), canonical);
    EXPECT_EQ(secondary_key(names, header_list{{"Accept-Encoding", "gzip"}, {"Accept-Encoding", "br"}}), canonical);
    EXPECT_NE(secondary_key(names, header_list{{"Accept-Encoding", "br,gzip"}}), canonical);  // order matters
}

TEST(CacheKey, AbsentFieldDiffersFromEmptyField) {
    const std::vector<std::string> names{"accept-language"};
    const std::string absent = secondary_key(names, header_list{});
    const std::string empty = secondary_key(names, header_list{{"Accept-Language", ""}});
    const std::string blank = secondary_key(names, header_list{{"Accept-Language", "   "}});
    EXPECT_NE(absent, empty);
    EXPECT_EQ(empty, blank);
    EXPECT_EQ(absent, secondary_key(names, header_list{{"Accept", "x"}}));
}

TEST(CacheKey, ValuesCannotForgeAnotherFieldsKey) {
    // Length prefixes keep a crafted value from reading as two fields.
    const std::vector<std::string> two{"a", "b"};
    EXPECT_NE(secondary_key(two, header_list{{"a", "1\nb=1:2"}}), secondary_key(two, header_list{{"a", "1"}, {"b", "2"}}));
}

TEST(CacheKey, HeaderViewFromACallable) {
    const auto getter = [](std::string_view name) -> std::optional<std::string> {
        if (name == "accept-encoding") return std::string("gzip");
        return std::nullopt;
    };
    const std::vector<std::string> names{"accept-encoding"};
    EXPECT_EQ(secondary_key(names, header_view::from(getter)),
              secondary_key(names, header_list{{"Accept-Encoding", "gzip"}}));
}

}  // namespace
}  // namespace sluice::cache
