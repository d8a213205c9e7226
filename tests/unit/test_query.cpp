// The list and export query strings: percent_decode, split_query, parse_list_query (with its
// timestamps and cursor), parse_export_query.

#include "leadd/api/list_cursor.hpp"
#include "leadd/api/query.hpp"
#include "leadd/http/envelope.hpp"

#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <variant>

namespace json = boost::json;
using leadd::api::FieldError;
using leadd::api::parse_list_query;
using leadd::api::percent_decode;
using leadd::api::split_query;
using leadd::store::ListQuery;
using leadd::store::Status;

namespace {

ListQuery query_ok(std::string_view q) {
    auto r = parse_list_query(q);
    if (auto* e = std::get_if<FieldError>(&r))
        FAIL("'" << q << "' refused: field=" << e->field << " message=" << e->message);
    return std::get<ListQuery>(r);
}

FieldError query_error(std::string_view q) {
    auto r = parse_list_query(q);
    if (!std::holds_alternative<FieldError>(r)) FAIL("'" << q << "' accepted");
    return std::get<FieldError>(r);
}

using Pairs = std::vector<std::pair<std::string, std::string>>;
Pairs split(std::string_view q) {
    Pairs out;
    for (auto [k, v] : split_query(q)) out.emplace_back(std::string(k), std::string(v));
    return out;
}

}  // namespace

TEST_CASE("percent_decode decodes escapes and '+'", "[query]") {
    CHECK(percent_decode("") == std::optional<std::string>(""));
    CHECK(percent_decode("plain") == std::optional<std::string>("plain"));
    CHECK(percent_decode("a+b") == std::optional<std::string>("a b"));
    CHECK(percent_decode("a%20b") == std::optional<std::string>("a b"));
    CHECK(percent_decode("%2B") == std::optional<std::string>("+"));  // an encoded plus is a plus
    CHECK(percent_decode("%41%42c") == std::optional<std::string>("ABc"));
    CHECK(percent_decode("%4a%4A") == std::optional<std::string>("JJ"));  // either hex case
    CHECK(percent_decode("100%25") == std::optional<std::string>("100%"));
    CHECK(percent_decode("%2541") == std::optional<std::string>("%41"));  // decoded once only
    CHECK(percent_decode("john%40example.com") == std::optional<std::string>("john@example.com"));
    CHECK(percent_decode("%E2%82%AC") == std::optional<std::string>("\xE2\x82\xAC"));
    CHECK(percent_decode("%00") == std::optional<std::string>(std::string(1, '\0')));
    CHECK(percent_decode("%ff") == std::optional<std::string>("\xFF"));
    CHECK(percent_decode("++") == std::optional<std::string>("  "));
}

TEST_CASE("percent_decode refuses bad escapes", "[query]") {
    for (const char* bad : {"%", "%4", "a%", "a%4", "%G1", "%1G", "%zz", "%%", "%-1", "% 1", "abc%2", "%%41"}) {
        INFO("'" << bad << "'");
        CHECK_FALSE(percent_decode(bad).has_value());
    }
}

TEST_CASE("split_query splits on '&' and the first '='", "[query]") {
    CHECK(split("").empty());
    CHECK(split("a=1&b=2") == Pairs{{"a", "1"}, {"b", "2"}});
    CHECK(split("a") == Pairs{{"a", ""}});
    CHECK(split("a=") == Pairs{{"a", ""}});
    CHECK(split("=x") == Pairs{{"", "x"}});
    CHECK(split("a=1=2") == Pairs{{"a", "1=2"}});
    CHECK(split("&&a=1&&b=2&") == Pairs{{"a", "1"}, {"b", "2"}});
    CHECK(split("&") == Pairs{});
    // Nothing is decoded.
    CHECK(split("a%20b=c+d%26e") == Pairs{{"a%20b", "c+d%26e"}});
    // Repeats are kept, in order.
    CHECK(split("p=1&p=2") == Pairs{{"p", "1"}, {"p", "2"}});
}

TEST_CASE("parse_list_query: defaults", "[query]") {
    const auto q = query_ok("");
    CHECK(q.page == 1);
    CHECK(q.limit == 10);
    CHECK_FALSE(q.status);
    CHECK_FALSE(q.source);
    CHECK_FALSE(q.search);
}

TEST_CASE("parse_list_query: every parameter", "[query]") {
    const auto q = query_ok("page=3&limit=25&status=follow_up&source=Web+Site&search=J%C3%B6hn%40");
    CHECK(q.page == 3);
    CHECK(q.limit == 25);
    CHECK(q.status == Status::FollowUp);
    CHECK(q.source == std::optional<std::string>("Web Site"));
    CHECK(q.search == std::optional<std::string>("J\xC3\xB6hn@"));
}

TEST_CASE("parse_list_query: page and limit bounds", "[query]") {
    CHECK(query_ok("page=1").page == 1);
    CHECK(query_ok("page=1000000000").page == 1'000'000'000);
    CHECK(query_ok("limit=1").limit == 1);
    CHECK(query_ok("limit=100").limit == 100);
    CHECK(query_ok("limit=007").limit == 7);
}

TEST_CASE("parse_list_query: bad page values name 'page'", "[query]") {
    for (const char* v : {"0", "-1", "1000000001", "abc", "1.5", "+1", "1e3", " 1", "1 ", "0x10",
                          "99999999999999999999999999", "", "%201", "1%00"}) {
        const std::string q = std::string("page=") + v;
        INFO(q);
        const auto e = query_error(q);
        CHECK(e.field == "page");
        CHECK(e.value.is_string());
    }
    // The value is reported decoded, as the client meant it.
    CHECK(query_error("page=abc").value == json::value("abc"));
    CHECK(query_error("page=").value == json::value(""));
}

TEST_CASE("parse_list_query: bad limit values name 'limit'", "[query]") {
    for (const char* v : {"0", "101", "1000", "-5", "ten", "", "10.0", "18446744073709551617"}) {
        const std::string q = std::string("limit=") + v;
        INFO(q);
        const auto e = query_error(q);
        CHECK(e.field == "limit");
    }
    CHECK(query_error("limit=101").value == json::value("101"));
}

TEST_CASE("parse_list_query: status must be a valid status", "[query]") {
    CHECK(query_ok("status=new").status == Status::New);
    CHECK(query_ok("status=contacted").status == Status::Contacted);
    CHECK(query_ok("status=qualified").status == Status::Qualified);
    CHECK(query_ok("status=converted").status == Status::Converted);
    CHECK(query_ok("status=lost").status == Status::Lost);
    CHECK(query_ok("status=follow%5Fup").status == Status::FollowUp);
    for (const char* v : {"bogus", "New", "", "follow-up", "new+"}) {
        const std::string q = std::string("status=") + v;
        INFO(q);
        const auto e = query_error(q);
        CHECK(e.field == "status");
        CHECK(e.message == leadd::api::status_message);
    }
    CHECK(query_error("status=bogus").value == json::value("bogus"));
}

TEST_CASE("parse_list_query: source is exact and 1..100 characters", "[query]") {
    CHECK(query_ok("source=Webinar").source == std::optional<std::string>("Webinar"));  // case kept
    CHECK(query_ok("source=" + std::string(100, 's')).source.value().size() == 100);
    std::string hundred_e;
    for (int i = 0; i < 100; ++i) hundred_e += "%C3%A9";
    CHECK(query_ok("source=" + hundred_e).source.value().size() == 200);  // 100 characters
    CHECK(query_error("source=").field == "source");
    CHECK(query_error("source=" + std::string(101, 's')).field == "source");
}

TEST_CASE("parse_list_query: search up to 200 characters", "[query]") {
    CHECK(query_ok("search=JOHN").search == std::optional<std::string>("JOHN"));  // not lower-cased here
    CHECK(query_ok("search=" + std::string(200, 'q')).search.value().size() == 200);
    const auto e = query_error("search=" + std::string(201, 'q'));
    CHECK(e.field == "search");
}

TEST_CASE("parse_list_query: bad escapes and bad UTF-8 name the parameter", "[query]") {
    auto e = query_error("search=%zz");
    CHECK(e.field == "search");
    e = query_error("source=%E2%82");  // truncated UTF-8 sequence
    CHECK(e.field == "source");
    e = query_error("search=%FF");
    CHECK(e.field == "search");
    // The reported value is valid UTF-8 whatever the client sent (it goes into a JSON body).
    REQUIRE(e.value.is_string());
    CHECK(leadd::http::is_valid_utf8(e.value.get_string()));
    e = query_error("page=%4");
    CHECK(e.field == "page");
}

TEST_CASE("parse_list_query: the first occurrence of a parameter wins", "[query]") {
    CHECK(query_ok("page=2&page=3").page == 2);
    CHECK(query_ok("limit=5&limit=50").limit == 5);
    CHECK(query_ok("status=lost&status=new").status == Status::Lost);
    CHECK(query_ok("source=a&source=b").source == std::optional<std::string>("a"));
    CHECK(query_ok("search=x&search=y").search == std::optional<std::string>("x"));
    // A later bad repeat is not even looked at...
    CHECK(query_ok("page=2&page=abc").page == 2);
    // ...but a bad first one is refused even if a good one follows.
    CHECK(query_error("limit=abc&limit=5").field == "limit");
    // Encoded names are the same parameter.
    CHECK(query_ok("p%61ge=4&page=5").page == 4);
}

TEST_CASE("parse_list_query: unknown parameters are ignored", "[query]") {
    const auto q = query_ok("foo=bar&page=2&Page=abc&LIMIT=0&x&%zz=1&=7&utm_source=google&limit=20");
    CHECK(q.page == 2);
    CHECK(q.limit == 20);
    CHECK_FALSE(q.status);
    CHECK_FALSE(q.source);
    CHECK_FALSE(q.search);
}

TEST_CASE("parse_list_query: a parameter without '=' has an empty value", "[query]") {
    CHECK(query_error("page").field == "page");
    CHECK(query_error("limit&page=2").field == "limit");
}

// ---------------------------------------------------------------- sort, order, time bounds, cursor

TEST_CASE("parse_list_query: sort and order default to createdAt desc, each can be chosen", "[query]") {
    using leadd::store::SortField;
    using leadd::store::SortOrder;
    const auto defaults = query_ok("");
    CHECK(defaults.sort == SortField::CreatedAt);
    CHECK(defaults.order == SortOrder::Desc);
    CHECK_FALSE(defaults.created_after);
    CHECK_FALSE(defaults.created_before);
    CHECK_FALSE(defaults.updated_after);
    CHECK_FALSE(defaults.after);

    CHECK(query_ok("sort=createdAt").sort == SortField::CreatedAt);
    CHECK(query_ok("sort=updatedAt").sort == SortField::UpdatedAt);
    CHECK(query_ok("sort=name").sort == SortField::Name);
    CHECK(query_ok("sort=name").order == SortOrder::Desc);
    CHECK(query_ok("order=asc").order == SortOrder::Asc);
    CHECK(query_ok("order=asc").sort == SortField::CreatedAt);  // order alone applies to createdAt
    CHECK(query_ok("order=desc").order == SortOrder::Desc);
    const auto both = query_ok("order=asc&sort=updatedAt");
    CHECK((both.sort == SortField::UpdatedAt && both.order == SortOrder::Asc));
}

TEST_CASE("parse_list_query: bad sort and order values name the parameter", "[query]") {
    for (const char* v : {"", "createdat", "CreatedAt", "email", "id", "name ", "-name", "created_at"}) {
        const std::string q = std::string("sort=") + v;
        INFO(q);
        const auto e = query_error(q);
        CHECK(e.field == "sort");
        CHECK(e.message == "sort must be one of: createdAt, updatedAt, name");
        CHECK(e.value == json::value(v));
    }
    for (const char* v : {"", "ASC", "Desc", "ascending", "1", "up"}) {
        const std::string q = std::string("order=") + v;
        INFO(q);
        const auto e = query_error(q);
        CHECK(e.field == "order");
        CHECK(e.message == "order must be one of: asc, desc");
    }
}

TEST_CASE("parse_query_timestamp: the API's form, and the same without milliseconds", "[query]") {
    using leadd::api::parse_query_timestamp;
    CHECK(parse_query_timestamp("2024-01-15T10:30:00.000Z") == std::optional<std::int64_t>(1'705'314'600'000));
    CHECK(parse_query_timestamp("2024-01-15T10:30:00.123Z") == std::optional<std::int64_t>(1'705'314'600'123));
    CHECK(parse_query_timestamp("2024-01-15T10:30:00Z") == std::optional<std::int64_t>(1'705'314'600'000));
    CHECK(parse_query_timestamp("1970-01-01T00:00:00Z") == std::optional<std::int64_t>(0));
    CHECK(parse_query_timestamp("2024-02-29T23:59:59Z") == std::optional<std::int64_t>(1'709'251'199'000));
    for (const char* bad : {"", "2024-01-15", "2024-01-15T10:30Z", "2024-01-15T10:30:00", "2024-01-15T10:30:00.000",
                            "2024-01-15T10:30:00+00:00", "2024-01-15T10:30:00.000+00:00", "2024-01-15 10:30:00Z",
                            "2024-01-15t10:30:00z", "2024-01-15T10:30:00.0Z", "2024-01-15T10:30:00.0000Z",
                            "2024-01-15T10:30:00.00Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
                            "2024-01-15T24:00:00Z", "2024-01-15T10:60:00Z", "2024-01-15T10:30:60Z",
                            "1705314600000", "2024-01-15T10:30:00ZZ", "X024-01-15T10:30:00Z", "2024-01-15T10:30:0aZ"}) {
        INFO("'" << bad << "'");
        CHECK_FALSE(parse_query_timestamp(bad).has_value());
    }
}

TEST_CASE("parse_list_query: createdAfter, createdBefore and updatedAfter", "[query]") {
    const auto q = query_ok("createdAfter=2024-01-15T10%3A30%3A00.000Z&createdBefore=2024-01-16T00:00:00Z"
                            "&updatedAfter=2024-01-15T12:00:00.001Z");
    CHECK(q.created_after == std::optional<std::int64_t>(1'705'314'600'000));
    CHECK(q.created_before == std::optional<std::int64_t>(1'705'363'200'000));
    CHECK(q.updated_after == std::optional<std::int64_t>(1'705'320'000'001));
    // Bounds that leave nothing between them are a valid (empty) query, not an error.
    CHECK(query_ok("createdAfter=2024-01-16T00:00:00Z&createdBefore=2024-01-15T00:00:00Z").created_after);

    for (const char* name : {"createdAfter", "createdBefore", "updatedAfter"}) {
        for (const char* v : {"", "yesterday", "2024-01-15", "2024-01-15T10:30:00%2B00:00", "2024-01-32T00:00:00Z"}) {
            const std::string query = std::string(name) + "=" + v;
            INFO(query);
            const auto e = query_error(query);
            CHECK(e.field == name);
            CHECK(e.message == std::string(name) + " must be an ISO 8601 UTC timestamp such as 2024-01-15T10:30:00.000Z");
        }
    }
    // The decoded value is reported ('+' in a query string is a space).
    CHECK(query_error("createdAfter=2024-01-15T10:30:00+00:00").value == json::value("2024-01-15T10:30:00 00:00"));
}

TEST_CASE("parse_list_query: a cursor sets the position after which the page starts", "[query]") {
    using leadd::api::encode_list_cursor;
    const std::string filters = "status=lost&source=web&search=ada&createdAfter=2024-01-01T00:00:00Z"
                                "&createdBefore=2025-01-01T00:00:00Z&updatedAfter=2024-06-01T00:00:00Z";
    const auto made = query_ok("sort=name&order=asc&" + filters);
    const leadd::store::ListPosition last{0, "grace hopper", 0x1234};
    const auto cursor = encode_list_cursor(made, last);

    // Same sort, order and filters, in any order, with any page and limit: accepted.
    auto q = query_ok(filters + "&cursor=" + cursor + "&order=asc&limit=50&page=9&sort=name");
    CHECK(q.after == std::optional<leadd::store::ListPosition>(last));
    CHECK(q.limit == 50);
    q = query_ok("cursor=" + cursor + "&sort=name&order=asc&" + filters);
    CHECK(q.after == std::optional<leadd::store::ListPosition>(last));

    // Another sort, order or filter: the cursor does not match.
    for (const std::string& other : std::vector<std::string>{"sort=name&" + filters, "sort=createdAt&order=asc&" + filters,
                                    "sort=name&order=asc&" + filters.substr(filters.find('&') + 1),
                                    "sort=name&order=asc&status=new&" + filters.substr(filters.find('&') + 1),
                                    "sort=name&order=asc&search=ad&" + filters,  // the first search wins: "ad"
                                    "sort=name&order=asc"}) {
        INFO(other);
        const auto e = query_error(other + "&cursor=" + cursor);
        CHECK(e.field == "cursor");
        CHECK(e.value == json::value(cursor));
        CHECK(e.message.starts_with("cursor does not match this query"));
    }
}

TEST_CASE("parse_list_query: a malformed cursor names 'cursor'", "[query]") {
    const auto good = leadd::api::encode_list_cursor(query_ok(""), {1'705'314'600'000, "", 7});
    CHECK(query_ok("cursor=" + good).after.has_value());
    for (const std::string& bad : std::vector<std::string>{std::string(), std::string("abc"), good.substr(0, good.size() - 1), good + "A",
                                  "%2B" + good.substr(1), std::string(5000, 'A')}) {
        INFO(bad);
        const auto e = query_error("cursor=" + bad);
        CHECK(e.field == "cursor");
        CHECK(e.message == "cursor is not a cursor this server issued");
    }
    // Bad percent-encoding or UTF-8 is reported like any parameter's.
    CHECK(query_error("cursor=%zz").field == "cursor");
    CHECK(query_error("cursor=%FF").field == "cursor");
}

TEST_CASE("parse_export_query: the list's time bounds, and no sort or cursor", "[query]") {
    using leadd::api::ExportQuery;
    using leadd::api::parse_export_query;
    auto r = parse_export_query("format=csv&createdAfter=2024-01-15T10:30:00Z&createdBefore=2024-01-16T00:00:00.000Z"
                                "&updatedAfter=2024-01-15T12:00:00Z&status=new&sort=bogus&order=up&cursor=junk&page=0");
    REQUIRE(std::holds_alternative<ExportQuery>(r));
    const auto& q = std::get<ExportQuery>(r);
    CHECK(q.filters.created_after == std::optional<std::int64_t>(1'705'314'600'000));
    CHECK(q.filters.created_before == std::optional<std::int64_t>(1'705'363'200'000));
    CHECK(q.filters.updated_after == std::optional<std::int64_t>(1'705'320'000'000));
    CHECK(q.filters.status == Status::New);
    CHECK(q.filters.sort == leadd::store::SortField::CreatedAt);
    CHECK(q.filters.order == leadd::store::SortOrder::Desc);
    CHECK_FALSE(q.filters.after);
    for (const char* name : {"createdAfter", "createdBefore", "updatedAfter"}) {
        r = parse_export_query(std::string(name) + "=2024-01-15");
        REQUIRE(std::holds_alternative<FieldError>(r));
        CHECK(std::get<FieldError>(r).field == name);
    }
}
