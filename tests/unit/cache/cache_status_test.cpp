// Cache-Status members (RFC 9211) and the metric label each one counts under.

#include "cache/cache_status.hpp"

#include <gtest/gtest.h>

namespace sluice::cache {
namespace {

using fwd = cache_status::fwd;

TEST(CacheStatus, Strings) {
    EXPECT_EQ((cache_status{.hit = true}.to_string()), "sluice; hit");
    EXPECT_EQ((cache_status{.hit = true, .ttl = 42}.to_string()), "sluice; hit; ttl=42");
    EXPECT_EQ((cache_status{.forward = fwd::miss, .stored = true}.to_string()), "sluice; fwd=miss; stored");
    EXPECT_EQ((cache_status{.forward = fwd::uri_miss, .fwd_status = 200, .stored = true}.to_string()),
              "sluice; fwd=uri-miss; fwd-status=200; stored");
    EXPECT_EQ((cache_status{.forward = fwd::stale, .fwd_status = 304}.to_string()), "sluice; fwd=stale; fwd-status=304");
    EXPECT_EQ((cache_status{.forward = fwd::bypass}.to_string()), "sluice; fwd=bypass");
    EXPECT_EQ((cache_status{.forward = fwd::method}.to_string()), "sluice; fwd=method");
    EXPECT_EQ((cache_status{.forward = fwd::vary_miss}.to_string()), "sluice; fwd=vary-miss");
    EXPECT_EQ((cache_status{.forward = fwd::request, .fwd_status = 200}.to_string()),
              "sluice; fwd=request; fwd-status=200");
    EXPECT_EQ((cache_status{.hit = true, .ttl = -5, .detail = "stale-while-revalidate"}.to_string()),
              "sluice; hit; ttl=-5; detail=stale-while-revalidate");
    EXPECT_EQ((cache_status{.forward = fwd::stale, .fwd_status = 503, .detail = "stale-if-error"}.to_string()),
              "sluice; fwd=stale; fwd-status=503; detail=stale-if-error");
    EXPECT_EQ((cache_status{.forward = fwd::miss, .collapsed = true}.to_string()), "sluice; fwd=miss; collapsed");
}

TEST(CacheStatus, KeyAndDetailAreValidStructuredValues) {
    EXPECT_EQ((cache_status{.hit = true, .key = "http://h/a?\"q\"\\"}.to_string()),
              R"(sluice; hit; key="http://h/a?\"q\"\\")");
    EXPECT_EQ((cache_status{.forward = fwd::miss, .detail = "redis error"}.to_string()),
              R"(sluice; fwd=miss; detail="redis error")");
    EXPECT_EQ((cache_status{.hit = true}.to_string("edge-1")), "edge-1; hit");
    EXPECT_EQ((cache_status{.hit = true}.to_string("my cache")), R"("my cache"; hit)");
}

TEST(CacheStatus, MetricResults) {
    EXPECT_EQ((cache_status{.hit = true}.metric_result()), "hit");
    EXPECT_EQ((cache_status{.hit = true, .ttl = 10}.metric_result()), "hit");
    EXPECT_EQ((cache_status{.hit = true, .ttl = -1}.metric_result()), "stale");
    EXPECT_EQ((cache_status{.hit = true, .detail = "stale-while-revalidate"}.metric_result()), "stale");
    EXPECT_EQ((cache_status{.forward = fwd::stale, .fwd_status = 304}.metric_result()), "stale");
    EXPECT_EQ((cache_status{.forward = fwd::stale, .fwd_status = 503, .detail = "stale-if-error"}.metric_result()),
              "stale");
    EXPECT_EQ((cache_status{.forward = fwd::stale, .fwd_status = 200, .stored = true}.metric_result()), "miss");
    EXPECT_EQ((cache_status{.forward = fwd::miss, .stored = true}.metric_result()), "miss");
    EXPECT_EQ((cache_status{.forward = fwd::uri_miss}.metric_result()), "miss");
    EXPECT_EQ((cache_status{.forward = fwd::vary_miss}.metric_result()), "miss");
    EXPECT_EQ((cache_status{.forward = fwd::request}.metric_result()), "miss");
    EXPECT_EQ((cache_status{.forward = fwd::miss, .collapsed = true}.metric_result()), "hit");
    EXPECT_EQ((cache_status{.forward = fwd::bypass}.metric_result()), "bypass");
    EXPECT_EQ((cache_status{.forward = fwd::method}.metric_result()), "bypass");
}

}  // namespace
}  // namespace sluice::cache
