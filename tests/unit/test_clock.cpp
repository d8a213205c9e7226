// format_iso8601 / parse_iso8601: the one timestamp form the API shows and accepts.

#include "leadd/store/clock.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>

using leadd::store::format_iso8601;
using leadd::store::Millis;
using leadd::store::parse_iso8601;

namespace {

struct Known {
    Millis t;
    const char* text;
};

// Values computed independently (Python's datetime, proleptic Gregorian, UTC).
constexpr Known known_instants[] = {
    {0, "1970-01-01T00:00:00.000Z"},
    {5, "1970-01-01T00:00:00.005Z"},
    {50, "1970-01-01T00:00:00.050Z"},
    {999, "1970-01-01T00:00:00.999Z"},
    {1000, "1970-01-01T00:00:01.000Z"},
    {86'400'000, "1970-01-02T00:00:00.000Z"},
    {1705415400000, "2024-01-16T14:30:00.000Z"},
    {1709210096789, "2024-02-29T12:34:56.789Z"},        // leap day
    {951868799999, "2000-02-29T23:59:59.999Z"},         // leap day of a year divisible by 400
    {2147483648000, "2038-01-19T03:14:08.000Z"},        // past 32-bit seconds
    {253402300799999, "9999-12-31T23:59:59.999Z"},
    {-1, "1969-12-31T23:59:59.999Z"},                   // pre-1970
    {-999, "1969-12-31T23:59:59.001Z"},
    {-1000, "1969-12-31T23:59:59.000Z"},
    {-86'400'000, "1969-12-31T00:00:00.000Z"},
    {-14182940000, "1969-07-20T20:17:40.000Z"},
    {-2208988800000, "1900-01-01T00:00:00.000Z"},
    {-11670911999999, "1600-03-01T00:00:00.001Z"},
    {-62135596800000, "0001-01-01T00:00:00.000Z"},
};

}  // namespace

TEST_CASE("format_iso8601 writes known instants exactly", "[clock]") {
    for (const auto& k : known_instants) {
        INFO("t = " << k.t);
        CHECK(format_iso8601(k.t) == k.text);
    }
}

TEST_CASE("parse_iso8601 reads known instants exactly", "[clock]") {
    for (const auto& k : known_instants) {
        INFO(k.text);
        const auto parsed = parse_iso8601(k.text);
        REQUIRE(parsed.has_value());
        CHECK(*parsed == k.t);
    }
}

TEST_CASE("format_iso8601 pads every field", "[clock]") {
    CHECK(format_iso8601(1) == "1970-01-01T00:00:00.001Z");
    CHECK(format_iso8601(10) == "1970-01-01T00:00:00.010Z");
    CHECK(format_iso8601(100) == "1970-01-01T00:00:00.100Z");
    // 2001-02-03T04:05:06.007Z: every field has a leading zero.
    const auto t = parse_iso8601("2001-02-03T04:05:06.007Z");
    REQUIRE(t.has_value());
    CHECK(format_iso8601(*t) == "2001-02-03T04:05:06.007Z");
    CHECK(format_iso8601(*t).size() == 24);
}

TEST_CASE("append_iso8601 appends after what the string holds", "[clock]") {
    const auto t = parse_iso8601("2999-12-31T23:59:59.999Z");
    REQUIRE(t.has_value());
    std::string out = "\"updatedAt\":\"";
    leadd::store::append_iso8601(out, *t);
    out += '"';
    CHECK(out == "\"updatedAt\":\"2999-12-31T23:59:59.999Z\"");
    std::string after_year_zero;
    leadd::store::append_iso8601(after_year_zero, *parse_iso8601("0000-01-01T00:00:00.000Z") + 1);
    CHECK(after_year_zero == "0000-01-01T00:00:00.001Z");
}

TEST_CASE("format and parse round-trip over many random instants", "[clock]") {
    std::mt19937_64 rng(20240229);
    // Years 0001 .. 9999, where the form is always 24 characters.
    std::uniform_int_distribution<Millis> any(-62135596800000, 253402300799999);
    for (int i = 0; i < 200'000; ++i) {
        const Millis t = any(rng);
        const std::string text = format_iso8601(t);
        INFO("t = " << t << " text = " << text);
        REQUIRE(text.size() == 24);
        const auto back = parse_iso8601(text);
        REQUIRE(back.has_value());
        REQUIRE(*back == t);
    }
}

TEST_CASE("consecutive milliseconds format in increasing order", "[clock]") {
    // Lexicographic order of the text must follow time order (clients sort on it).
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<Millis> any(0, 253402300799998);
    for (int i = 0; i < 20'000; ++i) {
        const Millis t = any(rng);
        REQUIRE(format_iso8601(t) < format_iso8601(t + 1));
    }
    // Day, month and year boundaries.
    CHECK(format_iso8601(-1) < format_iso8601(0));
    const auto new_year = parse_iso8601("2024-01-01T00:00:00.000Z");
    REQUIRE(new_year);
    CHECK(format_iso8601(*new_year - 1) == "2023-12-31T23:59:59.999Z");
}

TEST_CASE("parse_iso8601 round-trips random valid calendar texts", "[clock]") {
    std::mt19937 rng(42);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    auto days_in = [](int y, int m) {
        static constexpr int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return m == 2 && leap ? 29 : d[m - 1];
    };
    for (int i = 0; i < 50'000; ++i) {
        const int y = pick(1, 9999), m = pick(1, 12), d = pick(1, days_in(y, m));
        char buf[32];
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, pick(0, 23),
                      pick(0, 59), pick(0, 59), pick(0, 999));
        INFO(buf);
        const auto t = parse_iso8601(buf);
        REQUIRE(t.has_value());
        REQUIRE(format_iso8601(*t) == buf);
    }
}

TEST_CASE("parse_iso8601 accepts the last valid value of every field", "[clock]") {
    CHECK(parse_iso8601("2024-12-31T23:59:59.999Z").has_value());
    CHECK(parse_iso8601("2024-02-29T00:00:00.000Z").has_value());
    CHECK(parse_iso8601("2000-02-29T00:00:00.000Z").has_value());
    CHECK(parse_iso8601("2023-02-28T00:00:00.000Z").has_value());
    CHECK(parse_iso8601("2023-04-30T00:00:00.000Z").has_value());
    CHECK(parse_iso8601("2023-01-31T00:00:00.000Z").has_value());
}

TEST_CASE("parse_iso8601 rejects impossible dates and times", "[clock]") {
    const char* impossible[] = {
        "2023-02-29T00:00:00.000Z",  // 2023 is not a leap year
        "1900-02-29T00:00:00.000Z",  // divisible by 100, not by 400
        "2100-02-29T00:00:00.000Z",
        "2024-02-30T00:00:00.000Z",
        "2024-04-31T00:00:00.000Z",
        "2024-06-31T00:00:00.000Z",
        "2024-09-31T00:00:00.000Z",
        "2024-11-31T00:00:00.000Z",
        "2024-01-32T00:00:00.000Z",
        "2024-01-00T00:00:00.000Z",
        "2024-00-10T00:00:00.000Z",
        "2024-13-01T00:00:00.000Z",
        "2024-01-16T24:00:00.000Z",  // 24:00 is not accepted
        "2024-01-16T23:60:00.000Z",
        "2024-01-16T23:59:60.000Z",  // no leap seconds
        "2024-01-16T99:00:00.000Z",
    };
    for (const char* s : impossible) {
        INFO(s);
        CHECK_FALSE(parse_iso8601(s).has_value());
    }
}

TEST_CASE("parse_iso8601 rejects every other form", "[clock]") {
    const std::string malformed[] = {
        "",
        "2024-01-16T14:30:00.000",        // missing Z
        "2024-01-16T14:30:00.000z",       // lower-case z
        "2024-01-16t14:30:00.000Z",       // lower-case t
        "2024-01-16 14:30:00.000Z",       // space instead of T
        "2024-01-16T14:30:00Z",           // no milliseconds
        "2024-01-16T14:30:00.00Z",        // two-digit milliseconds
        "2024-01-16T14:30:00.0000Z",      // four-digit milliseconds
        "2024-01-16T14:30:00,000Z",       // comma
        "2024-01-16T14:30:00.000+00:00",  // offset instead of Z
        "2024-01-16T14:30:00.000Z ",      // trailing space
        " 2024-01-16T14:30:00.000Z",      // leading space
        "2024-1-16T14:30:00.000Z",
        "2024-01-6T14:30:00.000Z",
        "24-01-16T14:30:00.000Z",
        "+2024-01-16T14:30:00.000Z",
        "2024/01/16T14:30:00.000Z",
        "2024-01-16T14-30-00.000Z",
        "2O24-01-16T14:30:00.000Z",       // letter O
        "2024-01-16T14:3a:00.000Z",
        "2024-01-16T14:30:00.0a0Z",
        "2024-01-16T-4:30:00.000Z",
        "2024-01-16",
        "2024-01-16T14:30:00.000ZZ",
        "1705415400000",
        std::string("2024-01-16T14:30:00.000Z\0", 25),
        std::string("2024-01-16T14:30:\0000.000Z", 24),
    };
    for (const auto& s : malformed) {
        INFO("'" << s << "'");
        CHECK_FALSE(parse_iso8601(s).has_value());
    }
}

TEST_CASE("now_millis is a plausible Unix time in milliseconds", "[clock]") {
    const Millis now = leadd::store::now_millis();
    // After 2024-01-01 and before 2100-01-01: seconds or microseconds would fall outside.
    CHECK(now > 1704067200000);
    CHECK(now < 4102444800000);
}
