// Cache-Control parsing: names case-insensitive, quoted arguments, first occurrence wins,
// overflow saturates, invalid lifetimes mean stale.

#include "cache/cache_control.hpp"

#include <gtest/gtest.h>

namespace sluice::cache {
namespace {

using std::chrono::seconds;

TEST(CacheControl, ResponseDirectives) {
    const cache_control cc = parse_cache_control(
        "Public, MAX-AGE=60, s-maxage=\"120\", must-revalidate, proxy-revalidate, stale-while-revalidate=30, "
        "stale-if-error=600, no-cache, no-store, private");
    EXPECT_TRUE(cc.is_public);
    EXPECT_EQ(cc.max_age, seconds(60));
    EXPECT_EQ(cc.s_maxage, seconds(120));
    EXPECT_TRUE(cc.must_revalidate);
    EXPECT_TRUE(cc.proxy_revalidate);
    EXPECT_EQ(cc.stale_while_revalidate, seconds(30));
    EXPECT_EQ(cc.stale_if_error, seconds(600));
    EXPECT_TRUE(cc.no_cache);
    EXPECT_TRUE(cc.no_store);
    EXPECT_TRUE(cc.is_private);
}

TEST(CacheControl, EmptyAndUnknown) {
    const cache_control cc = parse_cache_control(" , x-custom=\"a, b\", immutable,,");
    EXPECT_FALSE(cc.no_store || cc.no_cache || cc.is_public || cc.is_private);
    EXPECT_FALSE(cc.max_age);
}

TEST(CacheControl, QualifiedFormsCountAsPlain) {
    const cache_control cc = parse_cache_control("private=\"Set-Cookie, X-User\", no-cache=\"X-A\", max-age=5");
    EXPECT_TRUE(cc.is_private);
    EXPECT_TRUE(cc.no_cache);
    EXPECT_EQ(cc.max_age, seconds(5));  // the comma inside quotes did not split
}

TEST(CacheControl, FirstOccurrenceWins) {
    EXPECT_EQ(parse_cache_control("max-age=5, max-age=500").max_age, seconds(5));
}

TEST(CacheControl, InvalidLifetimeMeansStaleOtherInvalidArgumentsAreIgnored) {
    EXPECT_EQ(parse_cache_control("max-age=abc").max_age, seconds(0));
    EXPECT_EQ(parse_cache_control("max-age").max_age, seconds(0));
    EXPECT_EQ(parse_cache_control("s-maxage=-1").s_maxage, seconds(0));
    EXPECT_EQ(parse_cache_control("stale-if-error=x").stale_if_error, std::nullopt);
    EXPECT_EQ(parse_cache_control("min-fresh").min_fresh, std::nullopt);
    EXPECT_EQ(parse_cache_control("max-stale").max_stale, seconds::max());
    EXPECT_EQ(parse_cache_control("max-stale=9").max_stale, seconds(9));
}

TEST(CacheControl, DeltaSecondsSaturate) {
    EXPECT_EQ(parse_delta_seconds("2147483648"), seconds(std::int64_t{1} << 31));
    EXPECT_EQ(parse_delta_seconds("99999999999999999999999999"), seconds(std::int64_t{1} << 31));
    EXPECT_EQ(parse_delta_seconds("0"), seconds(0));
    EXPECT_EQ(parse_delta_seconds(""), std::nullopt);
    EXPECT_EQ(parse_delta_seconds("1.5"), std::nullopt);
    EXPECT_EQ(parse_delta_seconds("+1"), std::nullopt);
}

}  // namespace
}  // namespace sluice::cache
