// The list endpoint's query string: percent_decode, split_query, parse_list_query.

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
