// validate_create / validate_patch and the single-field rules: the lead table of API.md.

#include "leadd/api/validation.hpp"
#include "leadd/store/ids.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <variant>

namespace json = boost::json;
using leadd::api::FieldError;
using leadd::api::validate_create;
using leadd::api::validate_patch;
using leadd::store::LeadPatch;
using leadd::store::NewLead;
using leadd::store::Status;

namespace {

constexpr std::string_view status_message =
    "Status must be one of: new, contacted, qualified, converted, lost, follow_up";

const leadd::store::WorkspaceId ws = 0x0123456789abcdefULL;
const std::string ws_text = "ws_0123456789abcdef";
const std::string path_id = "lead_00000000000000aa";

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

// A valid create body with `extra` members set (replacing same-named ones).
json::object create_body(json::object extra = {}) {
    json::object body{{"name", "John Smith"}, {"email", "john.doe@example.com"}};
    for (auto& kv : extra) body[kv.key()] = kv.value();
    return body;
}

NewLead created_ok(const json::object& body) {
    auto r = validate_create(body);
    if (auto* e = std::get_if<FieldError>(&r))
        FAIL("unexpected error: field=" << e->field << " message=" << e->message
                                        << " body=" << json::serialize(body));
    return std::get<NewLead>(r);
}

FieldError create_error(const json::object& body) {
    auto r = validate_create(body);
    if (!std::holds_alternative<FieldError>(r)) FAIL("accepted: " << json::serialize(body));
    return std::get<FieldError>(r);
}

// On a copy: an accepted patch takes the body's metadata.
LeadPatch patch_ok(const json::object& body) {
    json::object taken = body;
    auto r = validate_patch(taken, path_id, ws);
    if (auto* e = std::get_if<FieldError>(&r))
        FAIL("unexpected error: field=" << e->field << " message=" << e->message
                                        << " body=" << json::serialize(body));
    return std::get<LeadPatch>(r);
}

FieldError patch_error(const json::object& body) {
    json::object taken = body;
    auto r = validate_patch(taken, path_id, ws);
    if (!std::holds_alternative<FieldError>(r)) FAIL("accepted: " << json::serialize(body));
    return std::get<FieldError>(r);
}

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

// {"k":{"k":...{}}} with `depth` objects in all (depth 1 = {}).
json::value nested_objects(std::size_t depth) {
    json::value v = json::object{};
    for (std::size_t i = 1; i < depth; ++i) v = json::object{{"k", std::move(v)}};
    return v;
}

// {"a": [[...[]...]]}: one object around depth-1 nested arrays.
json::value object_of_nested_arrays(std::size_t depth) {
    json::value v = json::array{};
    for (std::size_t i = 2; i < depth; ++i) v = json::array{std::move(v)};
    return json::object{{"a", std::move(v)}};
}

// A metadata object whose serialized form is exactly `bytes` long: {"k":"xxx..."}.
json::object metadata_of_size(std::size_t bytes) {
    json::object o{{"k", std::string(bytes - 8, 'x')}};
    REQUIRE(json::serialize(o).size() == bytes);
    return o;
}

}  // namespace

// ---------------------------------------------------------------- the single-field helpers

TEST_CASE("count_code_points counts UTF-8 code points, not bytes", "[validation]") {
    using leadd::api::count_code_points;
    CHECK(count_code_points("") == 0);
    CHECK(count_code_points("abc") == 3);
    CHECK(count_code_points("\xC3\xA9") == 1);                  // é, 2 bytes
    CHECK(count_code_points("\xE2\x82\xAC") == 1);              // €, 3 bytes
    CHECK(count_code_points("\xF0\x9F\x98\x80") == 1);          // 😀, 4 bytes
    CHECK(count_code_points("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z") == 5);
    CHECK(count_code_points(repeat("\xE6\x97\xA5", 200)) == 200);  // 日 x 200 = 600 bytes
}

TEST_CASE("json_depth: scalar 0, empty container 1, one more per level", "[validation]") {
    using leadd::api::json_depth;
    CHECK(json_depth(json::parse("1")) == 0);
    CHECK(json_depth(json::parse("\"s\"")) == 0);
    CHECK(json_depth(json::parse("null")) == 0);
    CHECK(json_depth(json::parse("{}")) == 1);
    CHECK(json_depth(json::parse("[]")) == 1);
    CHECK(json_depth(json::parse(R"({"a":1,"b":"x"})")) == 1);
    CHECK(json_depth(json::parse(R"({"a":{}})")) == 2);
    CHECK(json_depth(json::parse("[[]]")) == 2);
    CHECK(json_depth(json::parse(R"({"a":[{"b":[]}]})")) == 4);
    // The deepest branch counts, wherever it is.
    CHECK(json_depth(json::parse(R"({"a":1,"b":{"c":{"d":{}}},"e":{}})")) == 4);
    CHECK(json_depth(nested_objects(16)) == 16);
    CHECK(json_depth(object_of_nested_arrays(17)) == 17);
}

TEST_CASE("serialized_size_bound is never below what serialize writes", "[validation]") {
    using leadd::api::serialized_size_bound;
    std::string controls;
    for (int c = 0; c < 0x20; ++c) controls += static_cast<char>(c);  // \u00XX: 6 bytes each
    const json::value values[] = {
        nullptr, true, false, 0, -1, std::numeric_limits<std::int64_t>::min(),
        std::numeric_limits<std::uint64_t>::max(), 0.1, -std::numeric_limits<double>::max(),
        std::numeric_limits<double>::denorm_min(), -1.5e-300, "", "plain", json::string(controls),
        json::string(100, '"'), json::string(100, '\\'), "\xC3\xA9\xE2\x82\xAC",
        json::object{}, json::array{}, json::array{json::array{}, json::object{}},
        json::object{{controls, controls}, {"\"", json::array{1, 2.5, nullptr, "x"}}},
        json::object{{"a", json::object{{"b", json::object{{"c", -0.0}}}}}},
        json::parse(R"({"notes":"Follow up scheduled for next week","touches":12})"),
    };
    for (const auto& v : values) {
        INFO(json::serialize(v));
        CHECK(serialized_size_bound(v) >= json::serialize(v).size());
    }
    // Past `stop_above` it stops adding: still over the limit, without walking the rest.
    const json::value big = metadata_of_size(65537);
    CHECK(serialized_size_bound(big, 100) > 100);
    CHECK(serialized_size_bound(big) >= 65537);
}

TEST_CASE("is_valid_email accepts ordinary addresses", "[validation]") {
    using leadd::api::is_valid_email;
    const std::string good[] = {
        "john.doe@example.com",
        "John.Doe@Example.COM",
        "a@b.co",
        "first+tag@sub.domain.example.org",
        "o'brien@example.ie",
        "x_y-z@my-domain.io",
        "1234@example.com",
        repeat("a", 64) + "@example.com",  // longest local part
    };
    for (const auto& e : good) {
        INFO(e);
        CHECK(is_valid_email(e));
    }
}

TEST_CASE("is_valid_email rejects malformed addresses", "[validation]") {
    using leadd::api::is_valid_email;
    const std::string bad[] = {
        "",
        "plainaddress",
        "@example.com",
        "john@",
        "john@example",          // no TLD
        "john@example.c",        // one-letter TLD
        "john@example.c0m",      // digit in TLD
        "john doe@example.com",  // space
        "john@exa mple.com",
        " john@example.com",
        "john@example.com ",
        "john..doe@example.com",
        ".john@example.com",
        "john.@example.com",
        "john@-example.com",
        "john@example-.com",
        "john@example..com",
        "john@.example.com",
        "john@example.com.",
        "john@@example.com",
        "jo@hn@example.com",
        "john@exam_ple.com",
        "j\xC3\xB6hn@example.com",  // non-ASCII local part
        "john@ex\xC3\xA4mple.com",
        "john@[127.0.0.1]",
        "\"john\"@example.com",
        repeat("a", 65) + "@example.com",  // local part over 64
        "john@" + repeat("a", 64) + ".com",  // label over 63
    };
    for (const auto& e : bad) {
        INFO(e);
        CHECK_FALSE(is_valid_email(e));
    }
}

// The rules of is_valid_email written as regular expressions, an oracle that shares no code with
// it: dot-atom local part of 1..64 bytes; labels of 1..63 letters, digits and '-' not at either
// end; two labels or more, the last of two letters or more; 254 bytes in all.
bool email_by_regex(const std::string& s) {
    static const std::regex local(R"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)");
    static const std::regex domain(R"(([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,})");
    const auto at = s.rfind('@');
    if (at == std::string::npos || s.size() > 254) return false;
    const std::string l = s.substr(0, at), d = s.substr(at + 1);
    if (l.size() > 64 || d.size() > 253 || !std::regex_match(l, local) || !std::regex_match(d, domain)) return false;
    for (std::size_t start = 0, dot; start <= d.size(); start = dot + 1) {
        dot = std::min(d.find('.', start), d.size());
        if (dot - start > 63) return false;
    }
    return true;
}

TEST_CASE("is_valid_email agrees with the rules as regular expressions on random strings", "[validation]") {
    using leadd::api::is_valid_email;
    // Bytes that matter to some rule, so short random strings hit every branch.
    const std::string alphabet = "aZ09.@-_+' \"\xC3[";
    std::mt19937 rng(20261128);
    int accepted = 0;
    for (int round = 0; round < 200000; ++round) {
        std::string s;
        for (std::size_t n = rng() % 14; n-- > 0;) s += alphabet[rng() % alphabet.size()];
        if (rng() % 4 == 0) s += (rng() % 2 ? "@example.com" : ".co");
        INFO(s);
        const bool expected = email_by_regex(s);
        accepted += expected;
        REQUIRE(is_valid_email(s) == expected);
    }
    CHECK(accepted > 1000);  // the strings reach the accepting branches too, not only refusals
    for (const std::string& s : {repeat("a", 63) + "." + repeat("b", 63) + ".com", "a@" + repeat("b", 63) + ".com",
                                 "a@" + repeat("b", 64) + ".com", repeat("c", 64) + "@d.ef", repeat("c", 65) + "@d.ef",
                                 "a@" + repeat("b.", 125) + "cd", "a@" + repeat("b.", 126) + "cd"}) {
        INFO(s);
        CHECK(is_valid_email(s) == email_by_regex(s));
    }
}

TEST_CASE("email length: 254 accepted, 255 rejected", "[validation]") {
    // local 64 + '@' + 63.63.57.com (189) = 254
    const std::string local = repeat("l", 64);
    const std::string d254 = repeat("a", 63) + "." + repeat("b", 63) + "." + repeat("c", 57) + ".com";
    const std::string d255 = repeat("a", 63) + "." + repeat("b", 63) + "." + repeat("c", 58) + ".com";
    const std::string e254 = local + "@" + d254;
    const std::string e255 = local + "@" + d255;
    REQUIRE(e254.size() == 254);
    REQUIRE(e255.size() == 255);
    CHECK(leadd::api::is_valid_email(e254));
    CHECK_FALSE(leadd::api::is_valid_email(e255));

    CHECK(created_ok(create_body({{"email", e254}})).email == e254);
    const auto e = create_error(create_body({{"email", e255}}));
    CHECK(e.field == "email");
    CHECK(e.value == json::value(e255));
}

// ---------------------------------------------------------------- create

TEST_CASE("create: a minimal body gets the documented defaults", "[validation][create]") {
    const auto lead = created_ok(create_body());
    CHECK(lead.name == "John Smith");
    CHECK(lead.email == "john.doe@example.com");
    CHECK_FALSE(lead.phone.has_value());
    CHECK_FALSE(lead.source.has_value());
    CHECK(lead.status == Status::New);
    CHECK(lead.metadata.text() == "{}");
}

TEST_CASE("create: every field is taken as given", "[validation][create]") {
    const auto lead = created_ok(obj(R"({"name":"Ann Lee","email":"Ann.Lee@Example.COM",
        "phone":"+1-555-456-7890","source":"webinar","status":"qualified",
        "metadata":{"company":"New Tech Corp","n":null,"tags":["a","b"],"deep":{"x":1}}})"));
    CHECK(lead.name == "Ann Lee");
    CHECK(lead.email == "Ann.Lee@Example.COM");  // stored as given, not lower-cased
    CHECK(lead.phone == std::optional<std::string>("+1-555-456-7890"));
    CHECK(lead.source == std::optional<std::string>("webinar"));
    CHECK(lead.status == Status::Qualified);
    // On create metadata is stored as given: a null value stays.
    CHECK(json::value(lead.metadata.object()) ==
          json::parse(R"({"company":"New Tech Corp","n":null,"tags":["a","b"],"deep":{"x":1}})"));
}

TEST_CASE("create: name and email are required", "[validation][create]") {
    {
        const auto e = create_error(obj(R"({"email":"a@example.com"})"));
        CHECK(e.field == "name");
        CHECK(e.message == "Name is required");
    }
    {
        const auto e = create_error(obj(R"({"name":"Ann"})"));
        CHECK(e.field == "email");
        CHECK(e.message == "Email is required");
    }
    {
        const auto e = create_error(obj(R"({})"));
        CHECK(e.field == "name");  // name is checked before email
    }
}

TEST_CASE("create: null name or email is refused naming the field", "[validation][create]") {
    auto e = create_error(create_body({{"name", nullptr}}));
    CHECK(e.field == "name");
    CHECK(e.value.is_null());
    e = create_error(create_body({{"email", nullptr}}));
    CHECK(e.field == "email");
    CHECK(e.value.is_null());
}

TEST_CASE("create: name is trimmed, then must be 1..200 code points", "[validation][create]") {
    CHECK(created_ok(create_body({{"name", "  Ann Lee \t\n"}})).name == "Ann Lee");
    CHECK(created_ok(create_body({{"name", "A"}})).name == "A");
    // Inner spaces are kept.
    CHECK(created_ok(create_body({{"name", " Ann   Lee "}})).name == "Ann   Lee");

    for (const char* empty : {"", " ", "   ", "\t\n\r "}) {
        INFO("'" << empty << "'");
        const auto e = create_error(create_body({{"name", empty}}));
        CHECK(e.field == "name");
        CHECK(e.value == json::value(empty));  // the value as sent
    }
    for (auto non_string : {json::value(42), json::value(true), json::parse("[]"), json::parse("{}")}) {
        const auto e = create_error(create_body({{"name", non_string}}));
        CHECK(e.field == "name");
        CHECK(e.value == non_string);
    }
}

TEST_CASE("create: 200-code-point names are accepted, 201 refused, whatever the byte length",
          "[validation][create]") {
    for (std::string_view ch : {std::string_view("a"), std::string_view("\xC3\xA9"),
                                std::string_view("\xE6\x97\xA5"), std::string_view("\xF0\x9F\x98\x80")}) {
        INFO("character of " << ch.size() << " bytes");
        const std::string n200 = repeat(ch, 200);
        const std::string n201 = repeat(ch, 201);
        CHECK(created_ok(create_body({{"name", n200}})).name == n200);
        // Surrounding spaces do not count.
        CHECK(created_ok(create_body({{"name", "  " + n200 + "  "}})).name == n200);
        const auto e = create_error(create_body({{"name", n201}}));
        CHECK(e.field == "name");
        CHECK(e.value == json::value(n201));
    }
}

TEST_CASE("create: phone rules", "[validation][create]") {
    const std::string good[] = {"1234567", "+1-555-456-7890", "(555) 456.7890", "+44 20 7946 0958",
                                repeat("9", 20), "+(1) 2-3.4 5 6 7"};
    for (const auto& p : good) {
        INFO(p);
        CHECK(created_ok(create_body({{"phone", p}})).phone == std::optional<std::string>(p));
    }
    CHECK_FALSE(created_ok(create_body({{"phone", nullptr}})).phone.has_value());

    const std::string bad[] = {"", "123456", repeat("9", 21), "555-456-789x", "555_456_7890",
                               "+1 555 456 7890 ext 5", "+1/555/4567890", "\xEF\xBC\x91" "234567"};
    for (const auto& p : bad) {
        INFO("'" << p << "'");
        const auto e = create_error(create_body({{"phone", p}}));
        CHECK(e.field == "phone");
        CHECK(e.value == json::value(p));
    }
    const auto e = create_error(create_body({{"phone", 5554567890}}));
    CHECK(e.field == "phone");
    CHECK(e.value == json::value(5554567890));
}

TEST_CASE("create: source rules", "[validation][create]") {
    CHECK(created_ok(create_body({{"source", "website"}})).source == std::optional<std::string>("website"));
    CHECK(created_ok(create_body({{"source", "W"}})).source == std::optional<std::string>("W"));
    CHECK(created_ok(create_body({{"source", repeat("s", 100)}})).source.value().size() == 100);
    // 100 characters, 200 bytes.
    CHECK(created_ok(create_body({{"source", repeat("\xC3\xA9", 100)}})).source.has_value());
    CHECK_FALSE(created_ok(create_body({{"source", nullptr}})).source.has_value());

    for (const auto& s : {std::string(""), repeat("s", 101), repeat("\xC3\xA9", 101)}) {
        const auto e = create_error(create_body({{"source", s}}));
        CHECK(e.field == "source");
        CHECK(e.value == json::value(s));
    }
    CHECK(create_error(create_body({{"source", 7}})).field == "source");
}

TEST_CASE("create: every documented status is accepted", "[validation][create]") {
    const std::pair<const char*, Status> all[] = {
        {"new", Status::New},       {"contacted", Status::Contacted}, {"qualified", Status::Qualified},
        {"converted", Status::Converted}, {"lost", Status::Lost},   {"follow_up", Status::FollowUp}};
    for (const auto& [text, status] : all) {
        INFO(text);
        CHECK(created_ok(create_body({{"status", text}})).status == status);
        CHECK(leadd::store::to_string(status) == text);
    }
}

TEST_CASE("create: an invalid status gets the seed's exact message", "[validation][create]") {
    const auto e = create_error(create_body({{"status", "invalid_status"}}));
    CHECK(e.field == "status");
    CHECK(e.value == json::value("invalid_status"));
    CHECK(e.message == status_message);
    CHECK(leadd::api::status_message == status_message);

    for (auto bad : {json::value("New"), json::value("QUALIFIED"), json::value("follow-up"),
                     json::value(" new"), json::value(""), json::value(1), json::value(nullptr)}) {
        INFO(json::serialize(bad));
        const auto e2 = create_error(create_body({{"status", bad}}));
        CHECK(e2.field == "status");
        CHECK(e2.message == status_message);
    }
}

TEST_CASE("create: metadata must be an object", "[validation][create]") {
    for (auto bad : {json::parse("[]"), json::parse("\"x\""), json::parse("1"), json::parse("null")}) {
        INFO(json::serialize(bad));
        CHECK(create_error(create_body({{"metadata", bad}})).field == "metadata");
    }
}

TEST_CASE("create: metadata depth 16 accepted, 17 refused", "[validation][create]") {
    CHECK(created_ok(create_body({{"metadata", nested_objects(16)}})).metadata.object() ==
          nested_objects(16).as_object());
    CHECK(create_error(create_body({{"metadata", nested_objects(17)}})).field == "metadata");
    // Arrays count as levels too.
    CHECK_NOTHROW(created_ok(create_body({{"metadata", object_of_nested_arrays(16)}})));
    CHECK(create_error(create_body({{"metadata", object_of_nested_arrays(17)}})).field == "metadata");
}

TEST_CASE("create: metadata of 64 KiB serialized accepted, one byte more refused", "[validation][create]") {
    CHECK(created_ok(create_body({{"metadata", metadata_of_size(65536)}})).metadata.object() ==
          metadata_of_size(65536));
    CHECK(create_error(create_body({{"metadata", metadata_of_size(65537)}})).field == "metadata");
    // The limit is on the serialized form: escapes count as what they serialize to.
    json::object quoted{{"k", std::string(32765, '"')}};  // each '"' serializes as 2 bytes
    REQUIRE(json::serialize(quoted).size() > 65536);
    CHECK(create_error(create_body({{"metadata", quoted}})).field == "metadata");
}

TEST_CASE("create: unknown fields are refused naming the field", "[validation][create]") {
    const auto e = create_error(create_body({{"company", "Acme"}}));
    CHECK(e.field == "company");
    CHECK(e.value == json::value("Acme"));
    CHECK(e.message.find("company") != std::string::npos);
    // Field names are case-sensitive.
    CHECK(create_error(create_body({{"Name", "x"}})).field == "Name");
    CHECK(create_error(create_body({{"e-mail", "x"}})).field == "e-mail");
}

TEST_CASE("create: unknown fields are reported first, in body order", "[validation][create]") {
    // The body's name and email are invalid too, but unknown fields come first.
    const auto body = obj(R"({"name":"","zeta":1,"email":"bad","alpha":2})");
    const auto e = create_error(body);
    CHECK(e.field == "zeta");
    CHECK(e.value == json::value(1));
    // Then name, email, phone, source, status, metadata, whatever the body order.
    CHECK(create_error(obj(R"({"metadata":1,"status":"x","source":"","phone":"1","email":"bad","name":""})"))
              .field == "name");
    CHECK(create_error(obj(R"({"metadata":1,"status":"x","source":"","phone":"1","email":"bad","name":"A"})"))
              .field == "email");
    CHECK(create_error(obj(R"({"metadata":1,"status":"x","source":"","phone":"1","email":"a@b.co","name":"A"})"))
              .field == "phone");
    CHECK(create_error(obj(R"({"metadata":1,"status":"x","source":"","email":"a@b.co","name":"A"})"))
              .field == "source");
    CHECK(create_error(obj(R"({"metadata":1,"status":"x","email":"a@b.co","name":"A"})")).field == "status");
}

TEST_CASE("create: server-assigned fields are refused naming the field", "[validation][create]") {
    for (const char* f : {"id", "createdAt", "updatedAt", "workspaceId"}) {
        INFO(f);
        const auto e = create_error(create_body({{f, "lead_0000000000000001"}}));
        CHECK(e.field == f);
        CHECK(e.value == json::value("lead_0000000000000001"));
    }
}

// ---------------------------------------------------------------- patch

TEST_CASE("patch: an empty body changes nothing", "[validation][patch]") {
    const auto p = patch_ok(obj("{}"));
    CHECK_FALSE(p.name);
    CHECK_FALSE(p.email);
    CHECK_FALSE(p.phone);
    CHECK_FALSE(p.source);
    CHECK_FALSE(p.status);
    CHECK_FALSE(p.metadata_merge);
    CHECK_FALSE(p.expect_created_at);
    CHECK_FALSE(p.created_at_unreadable);
    CHECK_FALSE(p.if_match);
}

TEST_CASE("patch: the seed's bodies", "[validation][patch]") {
    auto p = patch_ok(obj(R"({"status":"contacted","phone":"+1-555-123-9999"})"));
    CHECK(p.status == Status::Contacted);
    REQUIRE(p.phone.has_value());
    CHECK(*p.phone == std::optional<std::string>("+1-555-123-9999"));
    CHECK_FALSE(p.name);
    CHECK_FALSE(p.metadata_merge);

    p = patch_ok(obj(R"({"name":"John Smith","phone":"+1-555-456-7890","status":"qualified",
        "source":"webinar","metadata":{"company":"New Tech Corp","interests":["a","b"]}})"));
    CHECK(p.name == std::optional<std::string>("John Smith"));
    CHECK(p.status == Status::Qualified);
    CHECK(p.source == std::optional<std::optional<std::string>>(std::optional<std::string>("webinar")));
    REQUIRE(p.metadata_merge);
    CHECK(json::value(*p.metadata_merge) == json::parse(R"({"company":"New Tech Corp","interests":["a","b"]})"));
}

TEST_CASE("patch: name, email and status may not be null", "[validation][patch]") {
    auto e = patch_error(obj(R"({"name":null})"));
    CHECK(e.field == "name");
    e = patch_error(obj(R"({"email":null})"));
    CHECK(e.field == "email");
    e = patch_error(obj(R"({"status":null})"));
    CHECK(e.field == "status");
    CHECK(e.message == status_message);
}

TEST_CASE("patch: metadata null is refused", "[validation][patch]") {
    const auto e = patch_error(obj(R"({"metadata":null})"));
    CHECK(e.field == "metadata");
}

TEST_CASE("patch: phone and source null clear the field", "[validation][patch]") {
    const auto p = patch_ok(obj(R"({"phone":null,"source":null})"));
    REQUIRE(p.phone.has_value());  // present...
    CHECK_FALSE(p.phone->has_value());  // ...and cleared
    REQUIRE(p.source.has_value());
    CHECK_FALSE(p.source->has_value());
    // Absent stays absent.
    const auto q = patch_ok(obj(R"({"phone":null})"));
    CHECK_FALSE(q.source.has_value());
}

TEST_CASE("patch: fields are validated as on create", "[validation][patch]") {
    CHECK(patch_ok(obj(R"({"name":"  Ann  "})")).name == std::optional<std::string>("Ann"));
    CHECK(patch_error(obj(R"({"name":"   "})")).field == "name");
    CHECK(patch_error(obj(R"({"name":7})")).field == "name");
    CHECK(patch_ok(json::object{{"name", repeat("\xC3\xA9", 200)}}).name.value().size() == 400);
    CHECK(patch_error(json::object{{"name", repeat("\xC3\xA9", 201)}}).field == "name");
    CHECK(patch_ok(obj(R"({"email":"New@Example.com"})")).email == std::optional<std::string>("New@Example.com"));
    CHECK(patch_error(obj(R"({"email":"not-an-email"})")).field == "email");
    CHECK(patch_error(obj(R"({"phone":"12"})")).field == "phone");
    CHECK(patch_error(obj(R"({"source":""})")).field == "source");
    const auto s = patch_error(obj(R"({"status":"invalid_status"})"));
    CHECK(s.field == "status");
    CHECK(s.value == json::value("invalid_status"));
    CHECK(s.message == status_message);
    CHECK(patch_error(obj(R"({"metadata":[1]})")).field == "metadata");
    CHECK(patch_error(obj(R"({"metadata":"x"})")).field == "metadata");
    CHECK(patch_error(json::object{{"metadata", nested_objects(17)}}).field == "metadata");
    CHECK(patch_ok(json::object{{"metadata", nested_objects(16)}}).metadata_merge.has_value());
    CHECK(patch_error(json::object{{"metadata", metadata_of_size(65537)}}).field == "metadata");
    CHECK(patch_ok(json::object{{"metadata", metadata_of_size(65536)}}).metadata_merge.has_value());
    // Escapes count as what they serialize to, as on create.
    json::object quoted{{"k", std::string(32765, '"')}};
    REQUIRE(json::serialize(quoted).size() > 65536);
    CHECK(patch_error(json::object{{"metadata", quoted}}).field == "metadata");
}

TEST_CASE("patch: the metadata is moved out of the body, not copied, and only when accepted", "[validation][patch]") {
    json::monotonic_resource arena;
    json::object body = json::parse(R"({"status":"lost","metadata":{"notes":"n","touches":3}})", &arena).as_object();
    const auto r = validate_patch(body, path_id, ws);
    REQUIRE(std::holds_alternative<LeadPatch>(r));
    const auto& merge = std::get<LeadPatch>(r).metadata_merge;
    REQUIRE(merge);
    CHECK(json::value(*merge) == json::parse(R"({"notes":"n","touches":3})"));
    CHECK(merge->storage() == body.storage());  // the body's arena: nothing was copied out of it
    CHECK(body.at("metadata").as_object().empty());
    // Refused: the body keeps it.
    json::object refused = obj(R"({"status":"nope","metadata":{"k":1}})");
    CHECK(std::holds_alternative<FieldError>(validate_patch(refused, path_id, ws)));
    CHECK(refused.at("metadata") == json::parse(R"({"k":1})"));
}

TEST_CASE("patch: nulls inside metadata are kept (they remove keys when merged)", "[validation][patch]") {
    const auto p = patch_ok(obj(R"({"metadata":{"gone":null,"o":{"x":null}}})"));
    REQUIRE(p.metadata_merge);
    CHECK(json::value(*p.metadata_merge) == json::parse(R"({"gone":null,"o":{"x":null}})"));
}

TEST_CASE("patch: unknown fields are refused naming the field, before anything else", "[validation][patch]") {
    auto e = patch_error(obj(R"({"name":"","company":"Acme"})"));
    CHECK(e.field == "company");
    CHECK(e.value == json::value("Acme"));
    e = patch_error(obj(R"({"Status":"new"})"));
    CHECK(e.field == "Status");
}

TEST_CASE("patch: id may be echoed only with the lead's id", "[validation][patch]") {
    CHECK_NOTHROW(patch_ok(json::object{{"id", path_id}, {"status", "lost"}}));
    auto e = patch_error(json::object{{"id", "lead_00000000000000bb"}});
    CHECK(e.field == "id");
    CHECK(e.message == "id cannot be modified");
    CHECK(e.value == json::value("lead_00000000000000bb"));
    // Same id spelled differently is another value.
    e = patch_error(json::object{{"id", "lead_00000000000000AA"}});
    CHECK(e.field == "id");
    e = patch_error(json::object{{"id", nullptr}});
    CHECK(e.field == "id");
    CHECK(e.message == "id cannot be modified");
    e = patch_error(json::object{{"id", 170}});
    CHECK(e.field == "id");
}

TEST_CASE("patch: workspaceId may be echoed only with the caller's workspace", "[validation][patch]") {
    CHECK_NOTHROW(patch_ok(json::object{{"workspaceId", ws_text}}));
    auto e = patch_error(json::object{{"workspaceId", "ws_ffffffffffffffff"}});
    CHECK(e.field == "workspaceId");
    CHECK(e.message == "workspaceId cannot be modified");
    e = patch_error(json::object{{"workspaceId", nullptr}});
    CHECK(e.field == "workspaceId");
    CHECK(e.message == "workspaceId cannot be modified");
}

TEST_CASE("patch: createdAt is passed to the store to compare", "[validation][patch]") {
    auto p = patch_ok(obj(R"({"createdAt":"2024-01-15T10:30:00.000Z"})"));
    REQUIRE(p.expect_created_at);
    CHECK(*p.expect_created_at == 1705314600000);
    CHECK_FALSE(p.created_at_unreadable);
    // Not a timestamp: refused by the store as "createdAt cannot be modified".
    for (const char* bad : {R"({"createdAt":"yesterday"})", R"({"createdAt":null})",
                            R"({"createdAt":1705314600000})", R"({"createdAt":"2024-01-15T10:30:00Z"})"}) {
        INFO(bad);
        p = patch_ok(obj(bad));
        CHECK(p.created_at_unreadable);
    }
}

TEST_CASE("patch: updatedAt sent by a client is ignored", "[validation][patch]") {
    for (const char* body : {R"({"updatedAt":"2030-01-01T00:00:00.000Z"})", R"({"updatedAt":"garbage"})",
                             R"({"updatedAt":null})", R"({"updatedAt":5})"}) {
        INFO(body);
        const auto p = patch_ok(obj(body));
        CHECK_FALSE(p.expect_created_at);
        CHECK_FALSE(p.created_at_unreadable);
        CHECK_FALSE(p.name);
        CHECK_FALSE(p.metadata_merge);
    }
}

TEST_CASE("patch: a whole lead echoed back is accepted", "[validation][patch]") {
    json::object lead{{"id", path_id},
                      {"name", "John Smith"},
                      {"email", "john.doe@example.com"},
                      {"phone", nullptr},
                      {"source", "webinar"},
                      {"status", "qualified"},
                      {"metadata", json::object{{"company", "New Tech Corp"}}},
                      {"createdAt", "2024-01-15T10:30:00.000Z"},
                      {"updatedAt", "2024-01-16T14:30:00.000Z"},
                      {"workspaceId", ws_text}};
    const auto p = patch_ok(lead);
    CHECK(p.name == std::optional<std::string>("John Smith"));
    CHECK(p.email == std::optional<std::string>("john.doe@example.com"));
    REQUIRE(p.phone.has_value());
    CHECK_FALSE(p.phone->has_value());
    CHECK(p.status == Status::Qualified);
    CHECK(p.expect_created_at == std::optional<leadd::store::Millis>(1705314600000));
}
