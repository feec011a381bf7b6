// HTTP-date: the three formats RFC 9110 requires recipients to accept.

#include "cache/http_date.hpp"

#include <gtest/gtest.h>

namespace sluice::cache {
namespace {

using namespace std::chrono;

const sys_seconds nov_1994 = sys_days(year(1994) / November / 6) + hours(8) + minutes(49) + seconds(37);

TEST(HttpDate, ThreeFormats) {
    EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), nov_1994);
    EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), nov_1994);
    EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), nov_1994);
    EXPECT_EQ(parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT "), nov_1994);
    EXPECT_EQ(parse_http_date("Thursday, 01-Jan-26 00:00:00 GMT"), sys_seconds(sys_days(year(2026) / January / 1)));
}

TEST(HttpDate, Invalid) {
    for (const char* s : {"0", "-1", "", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
                          "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT"}) {
        EXPECT_EQ(parse_http_date(s), std::nullopt) << s;
    }
}

TEST(HttpDate, FormatRoundTrips) {
    EXPECT_EQ(format_http_date(nov_1994), "Sun, 06 Nov 1994 08:49:37 GMT");
    for (std::int64_t t = 0; t < 4'000'000'000; t += 86'400 * 37 + 3'607) {
        const sys_seconds s{seconds(t)};
        EXPECT_EQ(parse_http_date(format_http_date(s)), s) << format_http_date(s);
    }
}

}  // namespace
}  // namespace sluice::cache
