#include "cache/http_date.hpp"

#include "cache/header_view.hpp"

#include <array>
#include <cstdio>

namespace sluice::cache {

namespace {

constexpr std::array<std::string_view, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> day_names{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> long_day_names{"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                         "Thursday", "Friday", "Saturday"};

// A cursor over the text; each read consumes on success and reports failure otherwise.
struct reader {
    std::string_view s;

    bool literal(std::string_view lit) {
        if (!s.starts_with(lit)) return false;
        s.remove_prefix(lit.size());
        return true;
    }
    // Exactly `n` digits.
    bool digits(std::size_t n, int& out) {
        if (s.size() < n) return false;
        int v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (s[i] < '0' || s[i] > '9') return false;
            v = v * 10 + (s[i] - '0');
        }
        s.remove_prefix(n);
        out = v;
        return true;
    }
    bool month(int& out) {
        for (std::size_t i = 0; i < month_names.size(); ++i) {
            if (literal(month_names[i])) {
                out = static_cast<int>(i) + 1;
                return true;
            }
        }
        return false;
    }
    template <std::size_t N>
    bool one_of(const std::array<std::string_view, N>& names) {
        for (std::string_view n : names) {
            if (literal(n)) return true;
        }
        return false;
    }
    // "HH:MM:SS"
    bool time_of_day(int& h, int& m, int& sec) {
        return digits(2, h) && literal(":") && digits(2, m) && literal(":") && digits(2, sec);
    }
};

std::optional<std::chrono::sys_seconds> make_time(int year, int month, int day, int h, int m, int sec) {
    using namespace std::chrono;
    const year_month_day ymd{std::chrono::year(year), std::chrono::month(static_cast<unsigned>(month)),
                             std::chrono::day(static_cast<unsigned>(day))};
    if (!ymd.ok() || h > 23 || m > 59 || sec > 60) return std::nullopt;
    if (sec == 60) sec = 59;  // a leap second: the last whole second of that minute
    return sys_seconds(sys_days(ymd)) + hours(h) + minutes(m) + seconds(sec);
}

std::optional<std::chrono::sys_seconds> imf_fixdate(reader r) {
    int day = 0, month = 0, year = 0, h = 0, m = 0, sec = 0;
    if (r.one_of(day_names) && r.literal(", ") && r.digits(2, day) && r.literal(" ") && r.month(month) &&
        r.literal(" ") && r.digits(4, year) && r.literal(" ") && r.time_of_day(h, m, sec) && r.literal(" GMT") &&
        r.s.empty()) {
        return make_time(year, month, day, h, m, sec);
    }
    return std::nullopt;
}

std::optional<std::chrono::sys_seconds> rfc850(reader r) {
    int day = 0, month = 0, yy = 0, h = 0, m = 0, sec = 0;
    if (r.one_of(long_day_names) && r.literal(", ") && r.digits(2, day) && r.literal("-") && r.month(month) &&
        r.literal("-") && r.digits(2, yy) && r.literal(" ") && r.time_of_day(h, m, sec) && r.literal(" GMT") &&
        r.s.empty()) {
        return make_time(yy >= 70 ? 1900 + yy : 2000 + yy, month, day, h, m, sec);
    }
    return std::nullopt;
}

std::optional<std::chrono::sys_seconds> asctime(reader r) {
    int day = 0, month = 0, year = 0, h = 0, m = 0, sec = 0;
    if (!(r.one_of(day_names) && r.literal(" ") && r.month(month) && r.literal(" "))) return std::nullopt;
    if (r.literal(" ")) {
        if (!r.digits(1, day)) return std::nullopt;
    } else if (!r.digits(2, day)) {
        return std::nullopt;
    }
    if (r.literal(" ") && r.time_of_day(h, m, sec) && r.literal(" ") && r.digits(4, year) && r.s.empty()) {
        return make_time(year, month, day, h, m, sec);
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text) {
    text = trim(text);
    if (auto t = imf_fixdate(reader{text})) return t;
    if (auto t = rfc850(reader{text})) return t;
    return asctime(reader{text});
}

std::string format_http_date(std::chrono::sys_seconds t) {
    using namespace std::chrono;
    const sys_days days = floor<std::chrono::days>(t);
    const year_month_day ymd(days);
    const hh_mm_ss<seconds> hms(t - days);
    const weekday wd(days);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d GMT", day_names[wd.c_encoding()].data(),
                  static_cast<unsigned>(ymd.day()), month_names[static_cast<unsigned>(ymd.month()) - 1].data(),
                  static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                  static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
    return buf;
}

}  // namespace sluice::cache
