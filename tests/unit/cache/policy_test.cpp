// RFC 9111 freshness, age and storability for each directive, with the clock passed in.

#include "cache/policy.hpp"

#include "cache/http_date.hpp"

#include <gtest/gtest.h>

#include <random>

namespace sluice::cache {
namespace {

using std::chrono::seconds;

const time_point t0{seconds(1'700'000'000)};

std::string date(seconds offset = seconds(0)) { return format_http_date(t0 + offset); }

request_policy get_request(const header_list& h = {}, const settings& s = {}) { return check_request("GET", h, s); }

// A storable decision for a response received at t0 to a GET sent at t0.
storage_decision decide_store(unsigned status, const header_list& response, const settings& s = {},
                              const header_list& request = {}) {
    return check_response(get_request(request, s), status, response, t0, t0, s);
}

entry stored(const header_list& response, const settings& s = {}, unsigned status = 200) {
    const storage_decision d = decide_store(status, response, s);
    EXPECT_TRUE(d.store) << d.reason;
    return make_entry(status, response, d, header_list{}, t0, t0);
}

// --- request side ---

TEST(CachePolicyRequest, OnlyGetAndHeadAreCacheable) {
    EXPECT_TRUE(check_request("GET", header_list{}, {}).cacheable);
    const request_policy head = check_request("HEAD", header_list{}, {});
    EXPECT_TRUE(head.cacheable);
    EXPECT_TRUE(head.head);
    for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"}) {
        const request_policy p = check_request(m, header_list{}, {});
        EXPECT_FALSE(p.cacheable) << m;
        EXPECT_EQ(p.bypass_reason, "method") << m;
    }
}

TEST(CachePolicyRequest, AuthorizationBypassesUnlessAllowed) {
    const header_list h{{"Authorization", "Bearer x"}};
    const request_policy denied = get_request(h);
    EXPECT_FALSE(denied.cacheable);
    EXPECT_EQ(denied.bypass_reason, "authorization");
    const request_policy allowed = get_request(h, settings{seconds(0), true});
    EXPECT_TRUE(allowed.cacheable);
    EXPECT_TRUE(allowed.authorization);
}

TEST(CachePolicyRequest, Directives) {
    const request_policy no_store = get_request({{"Cache-Control", "no-store"}});
    EXPECT_FALSE(no_store.cacheable);
    EXPECT_EQ(no_store.bypass_reason, "no-store");
    EXPECT_TRUE(get_request({{"Cache-Control", "no-cache"}}).no_cache);
    EXPECT_TRUE(get_request({{"Cache-Control", "max-age=0"}}).no_cache);
    EXPECT_FALSE(get_request({{"Cache-Control", "max-age=5"}}).no_cache);
    EXPECT_TRUE(get_request({{"Pragma", "no-cache"}}).no_cache);
    // Pragma is ignored when Cache-Control is present.
    EXPECT_FALSE(get_request({{"Cache-Control", "max-age=5"}, {"Pragma", "no-cache"}}).no_cache);
    const request_policy p = get_request({{"cache-control", "max-stale, min-fresh=7, only-if-cached"}});
    EXPECT_EQ(p.max_stale, seconds::max());
    EXPECT_EQ(p.min_fresh, seconds(7));
    EXPECT_TRUE(p.only_if_cached);
    EXPECT_FALSE(p.no_cache);
}

TEST(CachePolicyRequest, UnsafeMethodsInvalidate) {
    EXPECT_TRUE(invalidates("POST", 200));
    EXPECT_TRUE(invalidates("DELETE", 204));
    EXPECT_TRUE(invalidates("PUT", 301));
    EXPECT_FALSE(invalidates("POST", 404));
    EXPECT_FALSE(invalidates("POST", 500));
    EXPECT_FALSE(invalidates("GET", 200));
    EXPECT_FALSE(invalidates("HEAD", 200));
}

// --- freshness lifetime per directive ---

TEST(CachePolicyFreshness, MaxAge) {
    const entry e = stored({{"Date", date()}, {"Cache-Control", "public, max-age=60"}});
    EXPECT_EQ(e.fresh.lifetime, seconds(60));
    EXPECT_EQ(e.fresh.initial_age, seconds(0));
    EXPECT_FALSE(e.fresh.heuristic);
    EXPECT_FALSE(e.fresh.no_stale);
    EXPECT_EQ(current_age(e, t0 + seconds(10)), seconds(10));
    EXPECT_EQ(remaining_ttl(e, t0 + seconds(10)), seconds(50));
    EXPECT_EQ(decide(e, get_request(), t0 + seconds(59)), use::fresh);
    EXPECT_EQ(decide(e, get_request(), t0 + seconds(60)), use::revalidate);  // age == lifetime: stale
}

TEST(CachePolicyFreshness, SMaxageBeatsMaxAgeAndForbidsRequestedStaleness) {
    const entry e = stored({{"Cache-Control", "max-age=10, s-maxage=100"}});
    EXPECT_EQ(e.fresh.lifetime, seconds(100));
    EXPECT_TRUE(e.fresh.no_stale);
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "max-stale=1000"}}), t0 + seconds(150)), use::revalidate);
    // ...but a window the response grants explicitly still applies.
    const entry swr = stored({{"Cache-Control", "s-maxage=10, stale-while-revalidate=30"}});
    EXPECT_EQ(swr.fresh.stale_while_revalidate, seconds(30));
    EXPECT_EQ(decide(swr, get_request(), t0 + seconds(20)), use::stale_while_revalidate);
}

TEST(CachePolicyFreshness, MaxAgeBeatsExpires) {
    const entry e = stored({{"Date", date()}, {"Expires", date(seconds(1000))}, {"Cache-Control", "max-age=5"}});
    EXPECT_EQ(e.fresh.lifetime, seconds(5));
}

TEST(CachePolicyFreshness, ExpiresMinusDate) {
    const header_list h{{"Date", date()}, {"Expires", date(seconds(300))}};
    const storage_decision d = check_response(get_request(), 200, h, t0, t0 + seconds(2), {});
    ASSERT_TRUE(d.store) << d.reason;
    EXPECT_EQ(d.fresh.lifetime, seconds(300));  // Expires - Date, not Expires - response_time
    EXPECT_EQ(d.fresh.initial_age, seconds(2));
    // Without Date, the response time stands in for it.
    const storage_decision no_date = check_response(get_request(), 200, {{"Expires", date(seconds(300))}}, t0,
                                                    t0 + seconds(100), {});
    ASSERT_TRUE(no_date.store);
    EXPECT_EQ(no_date.fresh.lifetime, seconds(200));
    // Expires in the past: lifetime 0.
    EXPECT_EQ(freshness_lifetime({}, 200, {{"Date", date()}, {"Expires", date(seconds(-10))}}, t0, {}), seconds(0));
}

TEST(CachePolicyFreshness, InvalidExpiresMeansExpired) {
    EXPECT_EQ(freshness_lifetime({}, 200, {{"Expires", "0"}}, t0, settings{seconds(99), false}), seconds(0));
    const storage_decision without_validator = decide_store(200, {{"Expires", "0"}});
    EXPECT_FALSE(without_validator.store);
    EXPECT_EQ(without_validator.reason, "no-lifetime");
    const storage_decision with_validator = decide_store(200, {{"Expires", "0"}, {"ETag", "\"v1\""}});
    ASSERT_TRUE(with_validator.store);
    EXPECT_EQ(with_validator.fresh.lifetime, seconds(0));
}

TEST(CachePolicyFreshness, HeuristicOnlyWithDefaultTtlAndOnlyForHeuristicStatuses) {
    const settings none{};
    const settings ttl30{seconds(30), false};
    EXPECT_EQ(decide_store(200, {}, none).reason, "no-lifetime");
    EXPECT_EQ(decide_store(200, {{"ETag", "\"a\""}}, none).reason, "no-lifetime");  // default_ttl 0: not stored
    for (unsigned status : {200u, 203u, 204u, 300u, 301u, 308u, 404u, 405u, 410u, 414u, 501u}) {
        const storage_decision d = decide_store(status, {}, ttl30);
        ASSERT_TRUE(d.store) << status << " " << d.reason;
        EXPECT_TRUE(d.fresh.heuristic);
        EXPECT_EQ(d.fresh.lifetime, seconds(30));
    }
    // Not heuristically cacheable: explicit freshness needed.
    EXPECT_EQ(decide_store(302, {}, ttl30).reason, "no-lifetime");
    EXPECT_EQ(decide_store(307, {}, ttl30).reason, "no-lifetime");
    EXPECT_TRUE(decide_store(302, {{"Cache-Control", "max-age=10"}}, ttl30).store);
    // Never stored, whatever the response says.
    for (unsigned status : {206u, 304u, 400u, 401u, 403u, 500u, 502u, 503u, 504u}) {
        EXPECT_EQ(decide_store(status, {{"Cache-Control", "public, max-age=10"}}, ttl30).reason, "status") << status;
    }
    // Explicit freshness wins over the default.
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "max-age=5"}}, ttl30).fresh.lifetime, seconds(5));
    EXPECT_FALSE(decide_store(200, {{"Cache-Control", "max-age=5"}}, ttl30).fresh.heuristic);
}

TEST(CachePolicyFreshness, NoStoreAndPrivateAreNotStored) {
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "no-store, max-age=60"}}).reason, "no-store");
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "private, max-age=60"}}).reason, "private");
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "private=\"X-User\", max-age=60"}}).reason, "private");
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "max-age=60"}, {"Cache-Control", "No-Store"}}).reason, "no-store");
}

TEST(CachePolicyFreshness, NoCacheIsStoredButAlwaysRevalidated) {
    const entry e = stored({{"Cache-Control", "no-cache, max-age=600, stale-if-error=60"}, {"ETag", "\"v1\""}});
    EXPECT_TRUE(e.fresh.no_cache);
    EXPECT_TRUE(e.fresh.no_stale);
    EXPECT_EQ(e.fresh.stale_if_error, seconds(0));
    EXPECT_EQ(decide(e, get_request(), t0), use::revalidate);
    EXPECT_FALSE(usable_on_error(e, t0));
    // Without a validator a no-cache response is useless to keep.
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "no-cache"}}).reason, "no-lifetime");
    // With one, it needs no lifetime at all (and default_ttl does not matter).
    EXPECT_TRUE(decide_store(200, {{"Cache-Control", "no-cache"}, {"Last-Modified", date(seconds(-60))}}).store);
}

TEST(CachePolicyFreshness, MustRevalidateForbidsEveryStaleUse) {
    const entry e = stored({{"Cache-Control",
                             "max-age=10, must-revalidate, stale-while-revalidate=60, stale-if-error=60"}});
    EXPECT_TRUE(e.fresh.no_stale);
    EXPECT_EQ(e.fresh.stale_while_revalidate, seconds(0));
    EXPECT_EQ(e.fresh.stale_if_error, seconds(0));
    EXPECT_EQ(decide(e, get_request(), t0 + seconds(5)), use::fresh);
    EXPECT_EQ(decide(e, get_request(), t0 + seconds(11)), use::revalidate);
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "max-stale"}}), t0 + seconds(11)), use::revalidate);
    EXPECT_TRUE(usable_on_error(e, t0 + seconds(5)));  // still fresh
    EXPECT_FALSE(usable_on_error(e, t0 + seconds(11)));
    const entry proxy = stored({{"Cache-Control", "max-age=10, proxy-revalidate, stale-if-error=60"}});
    EXPECT_FALSE(usable_on_error(proxy, t0 + seconds(11)));
}

TEST(CachePolicyFreshness, AuthorizationNeedsPublicSMaxageOrMustRevalidate) {
    const settings allow{seconds(0), true};
    const header_list auth{{"Authorization", "Basic eDp5"}};
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "max-age=60"}}, allow, auth).reason, "authorization");
    EXPECT_TRUE(decide_store(200, {{"Cache-Control", "public, max-age=60"}}, allow, auth).store);
    EXPECT_TRUE(decide_store(200, {{"Cache-Control", "s-maxage=60"}}, allow, auth).store);
    EXPECT_TRUE(decide_store(200, {{"Cache-Control", "max-age=60, must-revalidate"}}, allow, auth).store);
    // Not allowed at all: the request bypasses the cache.
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "public, max-age=60"}}, {}, auth).reason, "bypass");
}

TEST(CachePolicyFreshness, SetCookieIsNotSharedCached) {
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "public, max-age=60"}, {"Set-Cookie", "id=1"}}).reason,
              "set-cookie");
}

TEST(CachePolicyFreshness, VaryStarIsNotStored) {
    EXPECT_EQ(decide_store(200, {{"Cache-Control", "max-age=60"}, {"Vary", "Accept, *"}}).reason, "vary-star");
    EXPECT_TRUE(decide_store(200, {{"Cache-Control", "max-age=60"}, {"Vary", "Accept"}}).store);
}

TEST(CachePolicyFreshness, HeadResponsesAreNotStored) {
    const request_policy head = check_request("HEAD", header_list{}, {});
    EXPECT_EQ(check_response(head, 200, {{"Cache-Control", "max-age=60"}}, t0, t0, {}).reason, "head");
}

// --- age ---

TEST(CachePolicyAge, AgeHeaderPlusResponseDelay) {
    // Age 100 from upstream caches, 3 s in flight: corrected_age_value = 103 > apparent age 3.
    const header_list h{{"Date", date()}, {"Age", "100"}};
    EXPECT_EQ(initial_age(h, t0, t0 + seconds(3)), seconds(103));
    // A Date far in the past dominates a small Age.
    EXPECT_EQ(initial_age({{"Date", date(seconds(-500))}, {"Age", "10"}}, t0, t0 + seconds(1)), seconds(501));
    // A Date in the future (clock skew) gives no negative age.
    EXPECT_EQ(initial_age({{"Date", date(seconds(3600))}}, t0, t0), seconds(0));
    // Invalid Age is ignored; a list takes its first value.
    EXPECT_EQ(initial_age({{"Age", "abc"}}, t0, t0 + seconds(2)), seconds(2));
    EXPECT_EQ(initial_age({{"Age", "7, 9"}}, t0, t0), seconds(7));
    // Huge values saturate at 2^31.
    EXPECT_EQ(initial_age({{"Age", "99999999999999999999"}}, t0, t0), seconds(std::int64_t{1} << 31));
}

TEST(CachePolicyAge, CurrentAgeGrowsWithResidentTime) {
    const storage_decision d =
        check_response(get_request(), 200, {{"Cache-Control", "max-age=100"}, {"Age", "30"}}, t0, t0, {});
    const entry e = make_entry(200, {{"Cache-Control", "max-age=100"}, {"Age", "30"}}, d, header_list{}, t0, t0);
    EXPECT_EQ(current_age(e, t0), seconds(30));
    EXPECT_EQ(current_age(e, t0 + seconds(45)), seconds(75));
    EXPECT_EQ(remaining_ttl(e, t0 + seconds(45)), seconds(25));
    EXPECT_EQ(remaining_ttl(e, t0 + seconds(80)), seconds(-10));
    // A clock that went backwards does not make it younger than when stored.
    EXPECT_EQ(current_age(e, t0 - seconds(5)), seconds(30));
}

// Invariant over random entries and times: fresh exactly while remaining_ttl > 0 (no request
// constraints), and age grows one for one with time once stored.
TEST(CachePolicyAge, FreshExactlyWhileTtlPositive) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 10'000; ++i) {
        entry e;
        e.response_time = t0;
        e.fresh.lifetime = seconds(rng() % 1000);
        e.fresh.initial_age = seconds(rng() % 1000);
        const time_point now = t0 + seconds(rng() % 3000);
        const use u = decide(e, get_request(), now);
        EXPECT_EQ(u == use::fresh, remaining_ttl(e, now).count() > 0);
        EXPECT_EQ(current_age(e, now + seconds(17)) - current_age(e, now), seconds(17));
    }
}

// --- serving stale ---

TEST(CachePolicyStale, StaleWhileRevalidateWindow) {
    const entry e = stored({{"Cache-Control", "max-age=10, stale-while-revalidate=30"}});
    EXPECT_EQ(decide(e, get_request(), t0 + seconds(9)), use::fresh);
    EXPECT_EQ(decide(e, get_request(), t0 + seconds(10)), use::stale_while_revalidate);
    EXPECT_EQ(decide(e, get_request(), t0 + seconds(39)), use::stale_while_revalidate);
    EXPECT_EQ(decide(e, get_request(), t0 + seconds(40)), use::revalidate);
    // A request that insists on validation gets it.
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "no-cache"}}), t0 + seconds(5)), use::revalidate);
}

TEST(CachePolicyStale, StaleIfErrorWindow) {
    const entry e = stored({{"Cache-Control", "max-age=10, stale-if-error=60"}});
    EXPECT_EQ(decide(e, get_request(), t0 + seconds(20)), use::revalidate);
    EXPECT_TRUE(usable_on_error(e, t0 + seconds(5)));
    EXPECT_TRUE(usable_on_error(e, t0 + seconds(69)));
    EXPECT_FALSE(usable_on_error(e, t0 + seconds(70)));
    const entry plain = stored({{"Cache-Control", "max-age=10"}});
    EXPECT_FALSE(usable_on_error(plain, t0 + seconds(11)));
    EXPECT_TRUE(is_error_status(503));
    EXPECT_FALSE(is_error_status(404));
}

TEST(CachePolicyStale, RequestMaxAgeMinFreshMaxStale) {
    const entry e = stored({{"Cache-Control", "max-age=100"}});
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "max-age=30"}}), t0 + seconds(20)), use::fresh);
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "max-age=30"}}), t0 + seconds(31)), use::revalidate);
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "min-fresh=50"}}), t0 + seconds(40)), use::fresh);
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "min-fresh=50"}}), t0 + seconds(60)), use::revalidate);
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "max-stale=20"}}), t0 + seconds(110)), use::stale_allowed);
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "max-stale=20"}}), t0 + seconds(121)), use::revalidate);
    EXPECT_EQ(decide(e, get_request({{"Cache-Control", "max-stale"}}), t0 + seconds(100'000)), use::stale_allowed);
}

// --- entries, validation, refresh ---

TEST(CachePolicyEntry, StoredHeadersDropHopByHopAgeLengthAndCookies) {
    const header_list h{{"Connection", "close, X-Hop"}, {"X-Hop", "1"},          {"Keep-Alive", "timeout=5"},
                        {"Transfer-Encoding", "chunked"}, {"Age", "5"},        {"Content-Length", "10"},
                        {"Content-Type", "text/plain"},    {"ETag", "\"e\""},  {"Date", date()},
                        {"Proxy-Authenticate", "Basic"},   {"Upgrade", "h2c"}, {"Cache-Control", "max-age=1"}};
    EXPECT_EQ(stored_headers(h), (header_list{{"Content-Type", "text/plain"},
                                              {"ETag", "\"e\""},
                                              {"Date", date()},
                                              {"Cache-Control", "max-age=1"}}));
}

TEST(CachePolicyEntry, MakeEntryKeepsValidatorsAndVary) {
    const header_list response{{"Cache-Control", "max-age=60"},
                               {"ETag", " W/\"v7\" "},
                               {"Last-Modified", date(seconds(-3600))},
                               {"Vary", "Accept-Encoding, accept-language"}};
    const header_list request{{"Accept-Encoding", "gzip"}};
    const storage_decision d = check_response(get_request(request), 200, response, t0, t0 + seconds(1), {});
    const entry e = make_entry(200, response, d, request, t0, t0 + seconds(1));
    EXPECT_EQ(e.status, 200);
    EXPECT_EQ(e.etag, "W/\"v7\"");
    EXPECT_EQ(e.last_modified, date(seconds(-3600)));
    EXPECT_EQ(e.vary, (std::vector<std::string>{"accept-encoding", "accept-language"}));
    EXPECT_FALSE(e.secondary.empty());
    EXPECT_EQ(e.request_time, t0);
    EXPECT_EQ(e.response_time, t0 + seconds(1));
    EXPECT_TRUE(e.body.empty());
    EXPECT_EQ(conditional_headers(e),
              (header_list{{"If-None-Match", "W/\"v7\""}, {"If-Modified-Since", date(seconds(-3600))}}));
}

TEST(CachePolicyEntry, ClientConditionalsAgainstAnEntry) {
    const entry e = stored({{"Cache-Control", "max-age=60"}, {"ETag", "\"v1\""}, {"Last-Modified", date(seconds(-100))}});
    EXPECT_TRUE(not_modified(e, header_list{{"If-None-Match", "\"v0\", W/\"v1\""}}));
    EXPECT_TRUE(not_modified(e, header_list{{"If-None-Match", "*"}}));
    EXPECT_FALSE(not_modified(e, header_list{{"If-None-Match", "\"v2\""}}));
    // If-None-Match decides when present, even if If-Modified-Since would match.
    EXPECT_FALSE(not_modified(e, header_list{{"If-None-Match", "\"v2\""}, {"If-Modified-Since", date()}}));
    EXPECT_TRUE(not_modified(e, header_list{{"If-Modified-Since", date(seconds(-100))}}));
    EXPECT_FALSE(not_modified(e, header_list{{"If-Modified-Since", date(seconds(-101))}}));
    EXPECT_FALSE(not_modified(e, header_list{}));
}

TEST(CachePolicyEntry, NotModifiedRefreshesFreshnessAndHeaders) {
    entry e = stored({{"Date", date()}, {"Cache-Control", "max-age=10"}, {"ETag", "\"v1\""}, {"X-Version", "1"},
                      {"Content-Type", "text/plain"}});
    e.body = "payload";
    const time_point later = t0 + seconds(100);
    EXPECT_EQ(decide(e, get_request(), later), use::revalidate);
    const refresh_result r =
        refresh(e, {{"Date", date(seconds(100))}, {"Cache-Control", "max-age=60"}, {"ETag", "\"v1\""},
                    {"X-Version", "2"}, {"Content-Length", "0"}, {"Connection", "keep-alive"}},
                get_request(), later, later, {});
    EXPECT_TRUE(r.matched);
    ASSERT_TRUE(r.decision.store) << r.decision.reason;
    EXPECT_EQ(r.updated.body, "payload");
    EXPECT_EQ(r.updated.fresh.lifetime, seconds(60));
    EXPECT_EQ(r.updated.response_time, later);
    EXPECT_EQ(decide(r.updated, get_request(), later + seconds(30)), use::fresh);
    EXPECT_EQ(get_field(r.updated.headers, "x-version"), "2");
    EXPECT_EQ(get_field(r.updated.headers, "content-type"), "text/plain");
    EXPECT_EQ(get_field(r.updated.headers, "content-length"), std::nullopt);
    EXPECT_EQ(get_field(r.updated.headers, "connection"), std::nullopt);
    EXPECT_EQ(get_field(r.updated.headers, "cache-control"), "max-age=60");

    EXPECT_FALSE(refresh(e, {{"ETag", "\"v2\""}}, get_request(), later, later, {}).matched);
    const refresh_result no_store = refresh(e, {{"Cache-Control", "no-store"}}, get_request(), later, later, {});
    EXPECT_FALSE(no_store.decision.store);
    EXPECT_EQ(no_store.updated.body, "payload");
    // A HEAD may revalidate what GET stored.
    EXPECT_TRUE(refresh(e, {{"Cache-Control", "max-age=5"}}, check_request("HEAD", header_list{}, {}), later, later, {})
                    .decision.store);
}

TEST(CachePolicyEntry, MissingDateIsAddedAsTheResponseTime) {
    const header_list response{{"Cache-Control", "max-age=60"}};
    const storage_decision d = check_response(get_request(), 200, response, t0, t0 + seconds(2), {});
    const entry e = make_entry(200, response, d, header_list{}, t0, t0 + seconds(2));
    EXPECT_EQ(get_field(e.headers, "date"), date(seconds(2)));
    const entry dated = stored({{"Date", date(seconds(-1))}, {"Cache-Control", "max-age=60"}});
    EXPECT_EQ(get_field(dated.headers, "date"), date(seconds(-1)));
}

TEST(CachePolicyEntry, RefreshWithoutDateOrWithAge) {
    const entry e = stored({{"Date", date()}, {"Cache-Control", "max-age=10"}, {"ETag", "\"v1\""}});
    const time_point later = t0 + seconds(1000);
    // Without a Date the old one must not make the refreshed entry 1000 s old.
    const refresh_result r = refresh(e, {{"ETag", "\"v1\""}}, get_request(), later, later, {});
    ASSERT_TRUE(r.decision.store);
    EXPECT_EQ(r.updated.fresh.initial_age, seconds(0));
    EXPECT_EQ(get_field(r.updated.headers, "date"), date(seconds(1000)));
    EXPECT_EQ(decide(r.updated, get_request(), later + seconds(5)), use::fresh);
    // The 304's Age counts, but is not stored.
    const refresh_result aged =
        refresh(e, {{"Date", date(seconds(1000))}, {"Age", "4"}}, get_request(), later, later, {});
    EXPECT_EQ(aged.updated.fresh.initial_age, seconds(4));
    EXPECT_EQ(get_field(aged.updated.headers, "age"), std::nullopt);
}

TEST(CachePolicyEntry, StoreTtlCoversFreshnessStaleWindowsAndRevalidation) {
    const entry plain = stored({{"Cache-Control", "max-age=60"}});
    EXPECT_EQ(store_ttl(plain, t0), seconds(60));
    EXPECT_EQ(store_ttl(plain, t0 + seconds(50)), seconds(10));
    EXPECT_EQ(store_ttl(plain, t0 + seconds(500)), seconds(1));  // never 0 or negative
    const entry windows = stored({{"Cache-Control", "max-age=60, stale-while-revalidate=30, stale-if-error=600"}});
    EXPECT_EQ(store_ttl(windows, t0), seconds(660));
    const entry validated = stored({{"Cache-Control", "max-age=60"}, {"ETag", "\"a\""}});
    EXPECT_EQ(store_ttl(validated, t0), seconds(360));
    const entry long_lived = stored({{"Cache-Control", "max-age=3600"}, {"ETag", "\"a\""}});
    EXPECT_EQ(store_ttl(long_lived, t0), seconds(7200));
}

}  // namespace
}  // namespace sluice::cache
