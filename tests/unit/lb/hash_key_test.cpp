// Hash keys from requests: each hash_key source, missing and empty values, cookie and query
// parsing.

#include "config/config.hpp"
#include "lb/hash_key.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <string>

namespace sluice::lb {
namespace {

using source = config::hash_key_spec::source;

// Headers by lower-cased name, looked up case-insensitively as the caller's lookup would.
struct headers {
    std::map<std::string, std::string> fields;
    header_lookup lookup() const {
        return [this](std::string_view name) -> std::optional<std::string_view> {
            std::string lower(name);
            for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            auto it = fields.find(lower);
            if (it == fields.end()) return std::nullopt;
            return std::string_view(it->second);
        };
    }
};

std::optional<std::string_view> key(const config::hash_key_spec& spec, const headers& h,
                                    std::string_view query = "user=bob&x=1", std::string_view path = "/items/7") {
    return extract_hash_key(spec, "192.0.2.10", path, query, h.lookup());
}

TEST(HashKey, EverySource) {
    const headers h{{{"x-user", "alice"}, {"cookie", "theme=dark; sid=abc123;lang=en"}}};
    EXPECT_EQ(key({source::client_ip, ""}, h), "192.0.2.10");
    EXPECT_EQ(key({source::path, ""}, h), "/items/7");
    EXPECT_EQ(key({source::header, "X-User"}, h), "alice");
    EXPECT_EQ(key({source::cookie, "sid"}, h), "abc123");
    EXPECT_EQ(key({source::cookie, "lang"}, h), "en");
    EXPECT_EQ(key({source::query, "user"}, h), "bob");
    EXPECT_EQ(key({source::query, "x"}, h), "1");
}

TEST(HashKey, MissingOrEmptyGivesNothing) {
    const headers h{{{"x-empty", ""}, {"cookie", "a=; b=2"}}};
    EXPECT_FALSE(key({source::header, "X-User"}, h));
    EXPECT_FALSE(key({source::header, "X-Empty"}, h));
    EXPECT_FALSE(key({source::cookie, "sid"}, h));
    EXPECT_FALSE(key({source::cookie, "a"}, h));
    EXPECT_FALSE(key({source::cookie, "sid"}, headers{}));
    EXPECT_FALSE(key({source::query, "nope"}, h));
    EXPECT_FALSE(key({source::query, "user"}, h, ""));
    EXPECT_FALSE(extract_hash_key({source::client_ip, ""}, "", "/", "", h.lookup()));
    EXPECT_FALSE(extract_hash_key({source::header, "X"}, "1.2.3.4", "/", "", nullptr));
}

TEST(HashKey, CookieAndQueryParsing) {
    EXPECT_EQ(cookie_value("a=1", "a"), "1");
    EXPECT_EQ(cookie_value("  a = 1 ;b=2", "a"), "1");
    EXPECT_EQ(cookie_value("ab=1; b=2", "b"), "2");
    EXPECT_EQ(cookie_value("a=x=y", "a"), "x=y");
    EXPECT_FALSE(cookie_value("ab=1", "a"));
    EXPECT_FALSE(cookie_value("", "a"));
    EXPECT_EQ(query_value("a=1&b=2&a=3", "a"), "1");
    EXPECT_EQ(query_value("flag&b=2", "flag"), "");
    EXPECT_EQ(query_value("q=a%20b", "q"), "a%20b");  // raw, not decoded
    EXPECT_FALSE(query_value("aa=1", "a"));
}

TEST(HashKey, RequestHashIsTheHashOfTheKey) {
    const headers h{{{"x-user", "alice"}}};
    const auto got = request_hash({source::header, "x-user"}, "1.2.3.4", "/", "", h.lookup());
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, hash_key("alice"));
    EXPECT_NE(hash_key("alice"), hash_key("alicf"));
    EXPECT_EQ(hash_key("alice"), hash_key(std::string("alice")));
    EXPECT_FALSE(request_hash({source::header, "x-other"}, "1.2.3.4", "/", "", h.lookup()));
}

}  // namespace
}  // namespace sluice::lb
