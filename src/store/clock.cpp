#include "leadd/store/clock.hpp"

#include <chrono>
#include <cstdio>

namespace leadd::store {

Millis now_millis() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

namespace {

// Howard Hinnant's days_from_civil / civil_from_days: exact proleptic Gregorian arithmetic
// without the time zone database or gmtime_r's locale-free-but-slow path.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
    static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

bool read_digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        out = out * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return true;
}

}  // namespace

void append_iso8601(std::string& out, Millis t) {
    std::int64_t days = t / 86'400'000;
    std::int64_t ms_of_day = t % 86'400'000;
    if (ms_of_day < 0) {
        ms_of_day += 86'400'000;
        --days;
    }
    std::int64_t y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    const auto secs = ms_of_day / 1000;
    if (y < 0 || y > 9999) {  // outside what the API shows; keep the general form
        char buf[64];
        std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                      static_cast<long long>(y), m, d, static_cast<long long>(secs / 3600),
                      static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                      static_cast<long long>(ms_of_day % 1000));
        out += buf;
        return;
    }
    // Written into a local array, two digits at a time from a table, then appended: this runs
    // for every timestamp of every response. (Written through the string's own buffer digit by
    // digit, it took ~300 instructions: a char store may alias anything, so the compiler
    // reloaded the string's data pointer after each one.)
    char text[24];
    const auto pair = [&text](std::size_t at, unsigned value) {  // value < 100
        static constexpr char digits[] =
            "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
            "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
            "8081828384858687888990919293949596979899";
        text[at] = digits[2 * value];
        text[at + 1] = digits[2 * value + 1];
    };
    const auto year = static_cast<unsigned>(y), millis = static_cast<unsigned>(ms_of_day % 1000);
    const auto second_of_day = static_cast<unsigned>(secs);
    pair(0, year / 100);
    pair(2, year % 100);
    text[4] = '-';
    pair(5, m);
    text[7] = '-';
    pair(8, d);
    text[10] = 'T';
    pair(11, second_of_day / 3600);
    text[13] = ':';
    pair(14, second_of_day / 60 % 60);
    text[16] = ':';
    pair(17, second_of_day % 60);
    text[19] = '.';
    text[20] = static_cast<char>('0' + millis / 100);
    pair(21, millis % 100);
    text[23] = 'Z';
    out.append(text, sizeof text);
}

std::string format_iso8601(Millis t) {
    std::string out;
    append_iso8601(out, t);
    return out;
}

std::optional<Millis> parse_iso8601(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS.mmmZ
    if (s.size() != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != '.' || s[23] != 'Z')
        return std::nullopt;
    unsigned y, mo, d, h, mi, sec, ms;
    if (!read_digits(s, 0, 4, y) || !read_digits(s, 5, 2, mo) || !read_digits(s, 8, 2, d) ||
        !read_digits(s, 11, 2, h) || !read_digits(s, 14, 2, mi) || !read_digits(s, 17, 2, sec) ||
        !read_digits(s, 20, 3, ms))
        return std::nullopt;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return std::nullopt;
    const std::int64_t days = days_from_civil(y, mo, d);
    return ((days * 24 + h) * 60 + mi) * 60'000 + sec * 1000 + ms;
}

}  // namespace leadd::store
