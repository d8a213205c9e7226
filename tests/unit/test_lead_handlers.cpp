// LeadHandlers and AdminHandlers driven in-process through a Router with hand-built requests.

#include "leadd/api/admin_handlers.hpp"
#include "leadd/api/json_lead.hpp"
#include "leadd/api/lead_handlers.hpp"
#include "leadd/auth/key_registry.hpp"
#include "leadd/auth/secrets.hpp"
#include "leadd/http/router.hpp"
#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"
#include "leadd/store/lead_store.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace json = boost::json;
using leadd::http::Response;

namespace {

constexpr std::string_view status_message =
    "Status must be one of: new, contacted, qualified, converted, lost, follow_up";
const std::string admin_token = "admin-secret-token";

// An HTTP request that owns its bytes (http::Request only holds views).
struct Call {
    Call(std::string m, std::string p) : method(std::move(m)), path(std::move(p)) {}

    std::string method;
    std::string path;
    std::string query;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string request_id = "req-test-1";
    bool body_too_large = false;

    Call& header(std::string name, std::string value) {
        headers.emplace_back(std::move(name), std::move(value));
        return *this;
    }
    Call& bearer(const std::string& token) { return header("Authorization", "Bearer " + token); }
    Call& json_body(std::string text) {
        body = std::move(text);
        return header("Content-Type", "application/json");
    }
};

std::set<std::string> keys_of(const json::object& o) {
    std::set<std::string> out;
    for (const auto& kv : o) out.insert(std::string(kv.key()));
    return out;
}

std::string header_of(const Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
        if (leadd::http::iequals(k, name)) return v;
    return "<absent>";
}

const std::set<std::string> lead_keys = {"id",     "name",     "email",     "phone",     "source",
                                         "status", "metadata", "createdAt", "updatedAt", "workspaceId"};
const std::set<std::string> error_keys_with_details = {"success", "error", "code", "details", "requestId"};

struct Api {
    leadd::store::LeadStore store;
    leadd::auth::KeyRegistry keys;
    leadd::api::LeadHandlers leads{store, keys};
    leadd::api::AdminHandlers admin{keys, store, leadd::auth::sha256(admin_token)};
    leadd::http::Router router;
    leadd::auth::Workspace ws_a, ws_b;
    std::string key_a, key_b;

    Api() {
        leads.register_routes(router);
        admin.register_routes(router);
        ws_a = keys.create_workspace("A");
        ws_b = keys.create_workspace("B");
        key_a = keys.issue_key(ws_a.id)->api_key;
        key_b = keys.issue_key(ws_b.id)->api_key;
    }

    Response send(const Call& c) const {
        leadd::http::Request rq;
        rq.method = c.method;
        rq.path = c.path;
        rq.query = c.query;
        rq.body = c.body;
        for (const auto& [k, v] : c.headers) rq.headers.emplace_back(k, v);
        rq.request_id = c.request_id;
        rq.body_too_large = c.body_too_large;
        return router.route(rq);
    }

    // POST /api/v1/leads with key A; returns the parsed response body.
    Response create(std::string body, const std::string* key = nullptr) const {
        return send(Call{"POST", "/api/v1/leads"}.bearer(key ? *key : key_a).json_body(std::move(body)));
    }
    json::object create_ok(std::string body, const std::string* key = nullptr) const {
        const auto r = create(std::move(body), key);
        INFO(r.body);
        REQUIRE(r.status == 201);
        return json::parse(r.body).as_object().at("data").as_object();
    }
    Response get(const std::string& id, const std::string* key = nullptr) const {
        return send(Call{"GET", "/api/v1/leads/" + id}.bearer(key ? *key : key_a));
    }
    Response put(const std::string& id, std::string body, const std::string* key = nullptr) const {
        return send(Call{"PUT", "/api/v1/leads/" + id}.bearer(key ? *key : key_a).json_body(std::move(body)));
    }
};

json::object parsed(const Response& r) {
    INFO("body: " << r.body);
    return json::parse(r.body).as_object();
}

// Checks the error envelope and returns the body.
json::object expect_error(const Response& r, int status, std::string_view code,
                          std::string_view request_id = "req-test-1") {
    INFO("status " << r.status << " body " << r.body);
    REQUIRE(r.status == status);
    const auto body = parsed(r);
    CHECK(body.at("success") == json::value(false));
    CHECK(body.at("code") == json::value(code));
    CHECK(body.at("error").is_string());
    CHECK(body.at("requestId") == json::value(request_id));
    for (const auto& k : keys_of(body)) CHECK(error_keys_with_details.count(k) == 1);
    return body;
}

std::string id_of(const json::object& lead) { return std::string(lead.at("id").as_string()); }

}  // namespace

// ---------------------------------------------------------------- create

TEST_CASE("POST creates: 201, Location, ETag, exactly the lead's keys", "[handlers][create]") {
    Api api;
    const auto r = api.create(R"({"name":"  John Smith ","email":"John.Doe@Example.com"})");
    REQUIRE(r.status == 201);
    CHECK(r.content_type.find("application/json") == 0);
    const auto body = parsed(r);
    CHECK(keys_of(body) == std::set<std::string>{"success", "data"});
    CHECK(body.at("success") == json::value(true));
    const auto& lead = body.at("data").as_object();
    CHECK(keys_of(lead) == lead_keys);

    const std::string id = id_of(lead);
    CHECK(std::regex_match(id, std::regex("^lead_[0-9a-f]{16}$")));
    CHECK(header_of(r, "Location") == "/api/v1/leads/" + id);
    CHECK(header_of(r, "ETag") == "\"1\"");
    CHECK(lead.at("name") == json::value("John Smith"));
    CHECK(lead.at("email") == json::value("John.Doe@Example.com"));
    CHECK(lead.at("phone").is_null());
    CHECK(lead.at("source").is_null());
    CHECK(lead.at("status") == json::value("new"));
    CHECK(lead.at("metadata") == json::value(json::object{}));
    CHECK(lead.at("workspaceId") == json::value(leadd::store::format_hex_id("ws_", api.ws_a.id)));
    const auto created = leadd::store::parse_iso8601(lead.at("createdAt").as_string());
    REQUIRE(created);
    CHECK(lead.at("updatedAt") == lead.at("createdAt"));

    // The lead is there, in the key's workspace.
    const auto got = api.get(id);
    REQUIRE(got.status == 200);
    CHECK(parsed(got).at("data") == json::value(lead));
    CHECK(header_of(got, "ETag") == "\"1\"");
}

TEST_CASE("writes answer without keeping the lead's JSON; a second read keeps it, and every answer has the same bytes",
          "[handlers][cache]") {
    Api api;
    const auto created = api.create(R"({"name":"Cache Me","email":"cache@example.com","metadata":{"k":[1,2]}})");
    REQUIRE(created.status == 201);
    const std::string id = id_of(parsed(created).at("data").as_object());
    const auto stored = [&] { return api.store.get(api.ws_a.id, *leadd::store::parse_hex_id("lead_", id)); };
    CHECK_FALSE(stored()->json.peek());  // a create (an import's leads, mostly never read) keeps no copy

    const auto first = api.get(id);
    REQUIRE(first.status == 200);
    CHECK(first.body == created.body);  // same lead, same version: the same bytes either way
    CHECK_FALSE(stored()->json.peek());  // read once: rendered, not kept (a lead read once stays small)

    const auto second = api.get(id);
    REQUIRE(second.status == 200);
    CHECK(second.body == created.body);
    REQUIRE(stored()->json.peek());  // read again: kept
    CHECK(std::string("{\"success\":true,\"data\":") + std::string(*stored()->json.peek()) + "}" == second.body);
    CHECK(api.get(id).body == created.body);  // answered from what was kept

    const auto updated = api.put(id, R"({"status":"contacted"})");
    REQUIRE(updated.status == 200);
    CHECK_FALSE(stored()->json.peek());  // the new version: not kept by the write
    CHECK(api.get(id).body == updated.body);
    CHECK_FALSE(stored()->json.peek());  // the new version's first read
    CHECK(api.get(id).body == updated.body);
    CHECK(stored()->json.peek());
}

TEST_CASE("a list page keeps each lead's JSON from the lead's second read on, and pages have the same bytes",
          "[handlers][cache]") {
    Api api;
    for (int i = 0; i < 3; ++i)
        REQUIRE(api.create(R"({"name":"Lister )" + std::to_string(i) + R"(","email":"lister)" + std::to_string(i) +
                           R"(@example.com"})")
                    .status == 201);
    const auto kept = [&] {
        int n = 0;
        for (const auto& lead : api.store.list_all(api.ws_a.id, {})) n += lead->json.peek().has_value();
        return n;
    };
    const auto first = api.send(Call{"GET", "/api/v1/leads"}.bearer(api.key_a));
    REQUIRE(first.status == 200);
    CHECK(kept() == 0);
    const auto second = api.send(Call{"GET", "/api/v1/leads"}.bearer(api.key_a));
    CHECK(kept() == 3);
    const auto third = api.send(Call{"GET", "/api/v1/leads"}.bearer(api.key_a));
    CHECK(first.body == second.body);
    CHECK(second.body == third.body);
    CHECK(parsed(third).at("data").at("leads").as_array().size() == 3);
}

TEST_CASE("a lead's JSON: any text parses back to itself; updatedAt is written apart only when it differs",
          "[handlers][render]") {
    // Strings of bytes that need escaping and bytes that do not, at every offset from the
    // 8-byte words the escaper checks at once, and a 2-byte UTF-8 character that may straddle one.
    const std::vector<std::string> pieces{"a", "Z", "\"", "\\", "\n", "\x01", "\x1f", " ", "/", "\xc3\xa9", "~", "\x7f"};
    std::mt19937 rng(11);
    const auto random_text = [&] {
        std::string text;
        for (std::size_t n = rng() % 40; n > 0; --n) text += pieces[rng() % pieces.size()];
        return text;
    };
    for (int i = 0; i < 2000; ++i) {
        leadd::store::Lead lead;
        lead.name = random_text();
        lead.email = random_text();
        lead.phone = random_text();
        lead.created_at = 1'700'000'000'000 + static_cast<leadd::store::Millis>(rng() % 1000);
        lead.updated_at = lead.created_at + static_cast<leadd::store::Millis>(rng() % 2) * 86'399'999;
        const auto json = json::parse(leadd::api::render_lead_json(lead)).as_object();
        CHECK(json.at("name").as_string() == lead.name);
        CHECK(json.at("email").as_string() == lead.email);
        CHECK(json.at("phone").as_string() == *lead.phone);
        CHECK(json.at("createdAt").as_string() == leadd::store::format_iso8601(lead.created_at));
        CHECK(json.at("updatedAt").as_string() == leadd::store::format_iso8601(lead.updated_at));
    }
}

TEST_CASE("POST takes every optional field", "[handlers][create]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"Ann","email":"ann@example.com","phone":"+1-555-456-7890",
        "source":"webinar","status":"qualified","metadata":{"company":"New Tech Corp","x":null}})");
    CHECK(lead.at("phone") == json::value("+1-555-456-7890"));
    CHECK(lead.at("source") == json::value("webinar"));
    CHECK(lead.at("status") == json::value("qualified"));
    CHECK(lead.at("metadata") == json::parse(R"({"company":"New Tech Corp","x":null})"));
}

TEST_CASE("authentication comes before the body: 401 before 400, 413 and 415", "[handlers][order]") {
    Api api;
    // No Authorization header at all, with a garbage body.
    Call no_auth{"POST", "/api/v1/leads"};
    no_auth.json_body("garbage");
    auto body = expect_error(api.send(no_auth), 401, "MISSING_AUTH_HEADER");
    CHECK(header_of(api.send(no_auth), "WWW-Authenticate").find("Bearer") == 0);

    // Not "Bearer <token>".
    for (const char* value : {"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc", api.key_a.c_str()}) {
        INFO(value);
        Call c{"POST", "/api/v1/leads"};
        c.header("Authorization", value).json_body("[]");
        expect_error(api.send(c), 401, "MISSING_AUTH_HEADER");
    }
    // Unknown key, with a text/plain body (415 would come later).
    Call unknown{"POST", "/api/v1/leads"};
    unknown.bearer("sk-workspace_" + std::string(51, 'Z')).header("Content-Type", "text/plain").body = "hi";
    expect_error(api.send(unknown), 401, "INVALID_API_KEY");
    // Unknown key with an oversized body: 401, not 413.
    Call big{"POST", "/api/v1/leads"};
    big.bearer("sk-workspace_" + std::string(51, 'Z'));
    big.body_too_large = true;
    expect_error(api.send(big), 401, "INVALID_API_KEY");
    // Missing auth on a malformed lead id: 401, not 404.
    Call get{"GET", "/api/v1/leads/not-an-id"};
    expect_error(api.send(get), 401, "MISSING_AUTH_HEADER");
    Call del{"DELETE", "/api/v1/leads/not-an-id"};
    del.bearer("wrong");
    expect_error(api.send(del), 401, "INVALID_API_KEY");

    // The scheme is case-insensitive.
    Call lower{"POST", "/api/v1/leads"};
    lower.header("Authorization", "bearer " + api.key_a).json_body(R"({"name":"A","email":"a@example.com"})");
    CHECK(api.send(lower).status == 201);
    (void)body;
}

TEST_CASE("routing comes before authentication", "[handlers][order]") {
    Api api;
    expect_error(api.send(Call{"GET", "/api/v1/nothing"}), 404, "NOT_FOUND");
    const auto r = api.send(Call{"DELETE", "/api/v1/leads"});
    expect_error(r, 405, "METHOD_NOT_ALLOWED");
    const std::string allow = header_of(r, "Allow");
    CHECK(allow.find("GET") != std::string::npos);
    CHECK(allow.find("POST") != std::string::npos);
    CHECK(allow.find("DELETE") == std::string::npos);
}

TEST_CASE("a body over the limit is 413 once authenticated", "[handlers][order]") {
    Api api;
    Call c{"POST", "/api/v1/leads"};
    c.bearer(api.key_a).header("Content-Type", "application/json");
    c.body_too_large = true;
    expect_error(api.send(c), 413, "PAYLOAD_TOO_LARGE");
    CHECK(api.store.size() == 0);
}

TEST_CASE("a body without a JSON content type is 415", "[handlers][body]") {
    Api api;
    const std::string valid = R"({"name":"A","email":"a@example.com"})";
    for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                             "text/json", "multipart/form-data; boundary=x"}) {
        INFO(type);
        Call c{"POST", "/api/v1/leads"};
        c.bearer(api.key_a).header("Content-Type", type).body = valid;
        expect_error(api.send(c), 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    Call none{"POST", "/api/v1/leads"};
    none.bearer(api.key_a).body = valid;
    expect_error(api.send(none), 415, "UNSUPPORTED_MEDIA_TYPE");
    // 415 comes before looking at the bytes.
    Call garbage{"POST", "/api/v1/leads"};
    garbage.bearer(api.key_a).header("Content-Type", "text/plain").body = "garbage";
    expect_error(api.send(garbage), 415, "UNSUPPORTED_MEDIA_TYPE");
    CHECK(api.store.size() == 0);

    // JSON media types, with parameters and in any case, are accepted.
    int n = 0;
    for (const char* type : {"application/json", "application/json; charset=utf-8", "Application/JSON",
                             "application/json;charset=UTF-8"}) {
        INFO(type);
        Call c{"POST", "/api/v1/leads"};
        c.bearer(api.key_a).header("content-type", type).body =
            R"({"name":"A","email":"a)" + std::to_string(++n) + R"(@example.com"})";
        CHECK(api.send(c).status == 201);
    }
}

TEST_CASE("a body that is not a JSON object is 400 INVALID_JSON", "[handlers][body]") {
    Api api;
    const std::string deep = std::string(100, '[') + std::string(100, ']');
    for (const std::string& text : {std::string("[]"), std::string("garbage"), std::string("\"str\""),
                                    std::string("null"), std::string("42"), std::string("{\"name\":"),
                                    std::string("{} {}"), std::string(""), std::string("{'a':1}"), deep}) {
        INFO("'" << text << "'");
        expect_error(api.create(text), 400, "INVALID_JSON");
        const auto lead = api.create_ok(R"({"name":"P","email":"p@example.com"})");
        expect_error(api.put(id_of(lead), text), 400, "INVALID_JSON");
        REQUIRE(api.send(Call{"DELETE", "/api/v1/leads/" + id_of(lead)}.bearer(api.key_a)).status == 200);
    }
    CHECK(api.store.size() == 0);
}

TEST_CASE("metadata numbers: exact as sent, and too large for a double is 400 INVALID_JSON", "[handlers][body]") {
    // Found by fuzzing: 1e400 was stored as infinity and shown as `Infinity` (the body was not
    // JSON, and the lead's log record could not be read back at the next start); and some
    // doubles came back 1 ulp off.
    Api api;
    for (const std::string text : {"1e400", "-1E+999", "[0, 1e309]"}) {
        INFO(text);
        expect_error(api.create(R"({"name":"Big","email":"big@example.com","metadata":{"x":)" + text + "}}"), 400,
                     "INVALID_JSON");
    }
    const auto r = api.create(R"({"name":"N","email":"n@example.com","metadata":{"x":-3.3333333333333334E86}})");
    REQUIRE(r.status == 201);
    CHECK(r.body.find(R"("metadata":{"x":-3.3333333333333334E86})") != std::string::npos);  // not ...334E86
    expect_error(api.put(id_of(parsed(r).at("data").as_object()), R"({"metadata":{"y":1e400}})"), 400,
                 "INVALID_JSON");
    CHECK(api.store.size() == 1);
}

TEST_CASE("validation errors carry field, value and message", "[handlers][body]") {
    Api api;
    auto body = expect_error(api.create(R"({"name":"A","email":"a@example.com","status":"invalid_status"})"),
                             400, "VALIDATION_ERROR");
    CHECK(body.at("error") == json::value("Validation failed"));
    CHECK(body.at("details") == json::value(json::object{{"field", "status"},
                                                         {"value", "invalid_status"},
                                                         {"message", status_message}}));
    body = expect_error(api.create(R"({"name":"A","email":"a@example.com","company":"Acme"})"), 400,
                        "VALIDATION_ERROR");
    CHECK(body.at("details").at("field") == json::value("company"));
    body = expect_error(api.create(R"({"name":"A","email":"a@example.com","id":"lead_0000000000000001"})"),
                        400, "VALIDATION_ERROR");
    CHECK(body.at("details").at("field") == json::value("id"));
    body = expect_error(api.create(R"({"email":"a@example.com"})"), 400, "VALIDATION_ERROR");
    CHECK(body.at("details").at("field") == json::value("name"));
    CHECK(api.store.size() == 0);
}

// ---------------------------------------------------------------- duplicates

TEST_CASE("409 DUPLICATE_EMAIL reports the email as sent and the existing lead", "[handlers][duplicate]") {
    Api api;
    const auto first = api.create_ok(R"({"name":"John","email":"john.doe@example.com"})");
    auto body = expect_error(api.create(R"({"name":"Other","email":"JOHN.Doe@EXAMPLE.com"})"), 409,
                             "DUPLICATE_EMAIL");
    CHECK(body.at("error") == json::value("Email already exists"));
    CHECK(body.at("details") ==
          json::value(json::object{{"email", "JOHN.Doe@EXAMPLE.com"},
                                   {"existingLeadId", id_of(first)},
                                   {"message", "A different lead with this email already exists in your workspace"}}));
    CHECK(api.store.size() == 1);

    // Another workspace may use it.
    CHECK(api.create(R"({"name":"B","email":"john.doe@example.com"})", &api.key_b).status == 201);

    // A PUT to another lead's email, in another case.
    const auto second = api.create_ok(R"({"name":"Second","email":"second@example.com"})");
    body = expect_error(api.put(id_of(second), R"({"email":"John.DOE@example.COM"})"), 409, "DUPLICATE_EMAIL");
    CHECK(body.at("details").at("email") == json::value("John.DOE@example.COM"));
    CHECK(body.at("details").at("existingLeadId") == json::value(id_of(first)));
    CHECK(parsed(api.get(id_of(second))).at("data").at("email") == json::value("second@example.com"));
}

// ---------------------------------------------------------------- get

TEST_CASE("GET: 200 with ETag; If-None-Match with the current ETag is 304", "[handlers][get]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"E","email":"e@example.com"})");
    const std::string id = id_of(lead);

    Call c{"GET", "/api/v1/leads/" + id};
    c.bearer(api.key_a).header("If-None-Match", "\"1\"");
    auto r = api.send(c);
    CHECK(r.status == 304);
    CHECK(r.body.empty());
    CHECK(header_of(r, "ETag") == "\"1\"");

    Call any{"GET", "/api/v1/leads/" + id};
    any.bearer(api.key_a).header("If-None-Match", "*");
    CHECK(api.send(any).status == 304);

    Call stale{"GET", "/api/v1/leads/" + id};
    stale.bearer(api.key_a).header("If-None-Match", "\"7\"");
    r = api.send(stale);
    CHECK(r.status == 200);
    CHECK(header_of(r, "ETag") == "\"1\"");

    // After a change the old ETag no longer matches.
    REQUIRE(api.put(id, R"({"status":"contacted"})").status == 200);
    r = api.send(c);
    CHECK(r.status == 200);
    CHECK(header_of(r, "ETag") == "\"2\"");
    CHECK(parsed(r).at("data").at("status") == json::value("contacted"));
}

TEST_CASE("malformed and unknown lead ids are 404 LEAD_NOT_FOUND", "[handlers][get]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"N","email":"n@example.com"})");
    std::string upper = id_of(lead);
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    upper.replace(0, 5, "lead_");
    for (const std::string& bad : {std::string("not-an-id"), std::string("lead_123"), upper,
                                   std::string("lead_0000000000000000"), id_of(lead) + "0",
                                   std::string("ws_0123456789abcdef"), std::string("%6cead_0123456789abcdef")}) {
        INFO(bad);
        expect_error(api.get(bad), 404, "LEAD_NOT_FOUND");
        expect_error(api.put(bad, R"({"status":"lost"})"), 404, "LEAD_NOT_FOUND");
        expect_error(api.send(Call{"DELETE", "/api/v1/leads/" + bad}.bearer(api.key_a)), 404, "LEAD_NOT_FOUND");
    }
    CHECK(parsed(api.get(id_of(lead))).at("data").at("status") == json::value("new"));
}

TEST_CASE("another workspace's lead is 404 for GET, PUT and DELETE", "[handlers][scope]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"Mine","email":"mine@example.com"})");
    const std::string id = id_of(lead);
    expect_error(api.get(id, &api.key_b), 404, "LEAD_NOT_FOUND");
    expect_error(api.put(id, R"({"name":"Stolen"})", &api.key_b), 404, "LEAD_NOT_FOUND");
    expect_error(api.send(Call{"DELETE", "/api/v1/leads/" + id}.bearer(api.key_b)), 404, "LEAD_NOT_FOUND");
    const auto still = parsed(api.get(id)).at("data");
    CHECK(still.at("name") == json::value("Mine"));
    const auto list_b = parsed(api.send(Call{"GET", "/api/v1/leads"}.bearer(api.key_b)));
    CHECK(list_b.at("data").at("pagination").at("total") == json::value(0));
}

// ---------------------------------------------------------------- update

TEST_CASE("PUT merges as in the seed's example and returns the whole lead", "[handlers][update]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"J","email":"john.doe@example.com",
        "metadata":{"utm_source":"google","utm_campaign":"spring_2024"}})");
    const std::string id = id_of(lead);
    const auto r = api.put(id, R"({"name":"John Smith","phone":"+1-555-456-7890","status":"qualified",
        "source":"webinar","metadata":{"company":"New Tech Corp","job_title":"Senior Manager",
        "budget":"$50k-100k","timeline":"Q2 2024","interests":["enterprise_solution","support_package"]}})");
    REQUIRE(r.status == 200);
    CHECK(header_of(r, "ETag") == "\"2\"");
    const auto body = parsed(r);
    CHECK(keys_of(body) == std::set<std::string>{"success", "data"});
    const auto& updated = body.at("data").as_object();
    CHECK(keys_of(updated) == lead_keys);
    CHECK(updated.at("id") == lead.at("id"));
    CHECK(updated.at("createdAt") == lead.at("createdAt"));
    CHECK(updated.at("workspaceId") == lead.at("workspaceId"));
    CHECK(updated.at("email") == json::value("john.doe@example.com"));
    CHECK(updated.at("name") == json::value("John Smith"));
    CHECK(updated.at("phone") == json::value("+1-555-456-7890"));
    CHECK(updated.at("source") == json::value("webinar"));
    CHECK(updated.at("status") == json::value("qualified"));
    CHECK(updated.at("metadata") ==
          json::parse(R"({"utm_source":"google","utm_campaign":"spring_2024","company":"New Tech Corp",
            "job_title":"Senior Manager","budget":"$50k-100k","timeline":"Q2 2024",
            "interests":["enterprise_solution","support_package"]})"));
    const auto created = leadd::store::parse_iso8601(updated.at("createdAt").as_string());
    const auto stamped = leadd::store::parse_iso8601(updated.at("updatedAt").as_string());
    REQUIRE(created);
    REQUIRE(stamped);
    CHECK(*stamped > *created);
}

TEST_CASE("PATCH does what PUT does", "[handlers][update]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"P","email":"p@example.com","phone":"5551234567"})");
    Call c{"PATCH", "/api/v1/leads/" + id_of(lead)};
    c.bearer(api.key_a).json_body(R"({"phone":null,"metadata":{"k":1}})");
    const auto r = api.send(c);
    REQUIRE(r.status == 200);
    const auto data = parsed(r).at("data");
    CHECK(data.at("phone").is_null());
    CHECK(data.at("metadata") == json::parse(R"({"k":1})"));
    CHECK(header_of(r, "ETag") == "\"2\"");
}

TEST_CASE("a PUT that changes nothing keeps updatedAt and the ETag", "[handlers][update]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"Same","email":"same@example.com","status":"lost"})");
    const std::string id = id_of(lead);
    for (const char* body : {"{}", R"({"name":"Same","status":"lost"})", R"({"metadata":{}})",
                             R"({"updatedAt":"2030-01-01T00:00:00.000Z"})"}) {
        INFO(body);
        const auto r = api.put(id, body);
        REQUIRE(r.status == 200);
        CHECK(header_of(r, "ETag") == "\"1\"");
        CHECK(parsed(r).at("data") == json::value(lead));
    }
    // The lead echoed back whole, as a client would after a GET, changes nothing either.
    const auto r = api.put(id, json::serialize(lead));
    REQUIRE(r.status == 200);
    CHECK(header_of(r, "ETag") == "\"1\"");
    CHECK(parsed(r).at("data") == json::value(lead));
}

TEST_CASE("If-Match: a stale ETag is 412 and changes nothing; the current one applies", "[handlers][update]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"IM","email":"im@example.com"})");
    const std::string id = id_of(lead);
    REQUIRE(api.put(id, R"({"status":"contacted"})").status == 200);  // now version 2

    for (const char* stale : {"\"1\"", "\"3\"", "1", "W/\"2\"", "garbage"}) {
        INFO(stale);
        Call c{"PUT", "/api/v1/leads/" + id};
        c.bearer(api.key_a).header("If-Match", stale).json_body(R"({"status":"lost"})");
        expect_error(api.send(c), 412, "PRECONDITION_FAILED");
    }
    CHECK(parsed(api.get(id)).at("data").at("status") == json::value("contacted"));

    Call ok{"PUT", "/api/v1/leads/" + id};
    ok.bearer(api.key_a).header("If-Match", "\"2\"").json_body(R"({"status":"lost"})");
    const auto r = api.send(ok);
    CHECK(r.status == 200);
    CHECK(header_of(r, "ETag") == "\"3\"");

    Call star{"PUT", "/api/v1/leads/" + id};
    star.bearer(api.key_a).header("If-Match", "*").json_body(R"({"status":"new"})");
    CHECK(api.send(star).status == 200);
}

TEST_CASE("id, workspaceId and createdAt can be sent only with their current values", "[handlers][update]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"Imm","email":"imm@example.com"})");
    const std::string id = id_of(lead);
    const std::string other_ws = leadd::store::format_hex_id("ws_", api.ws_b.id);

    auto body = expect_error(api.put(id, R"({"id":"lead_0000000000000001","name":"X"})"), 400, "VALIDATION_ERROR");
    CHECK(body.at("details") == json::value(json::object{
                                    {"field", "id"}, {"value", "lead_0000000000000001"}, {"message", "id cannot be modified"}}));

    body = expect_error(api.put(id, R"({"workspaceId":")" + other_ws + R"("})"), 400, "VALIDATION_ERROR");
    CHECK(body.at("details") == json::value(json::object{
                                    {"field", "workspaceId"}, {"value", other_ws}, {"message", "workspaceId cannot be modified"}}));

    body = expect_error(api.put(id, R"({"createdAt":"2001-01-01T00:00:00.000Z","name":"X"})"), 400,
                        "VALIDATION_ERROR");
    CHECK(body.at("details").at("field") == json::value("createdAt"));
    CHECK(body.at("details").at("message") == json::value("createdAt cannot be modified"));
    // Like every other validation error, details.value is the value the client sent.
    CHECK(body.at("details").at("value") == json::value("2001-01-01T00:00:00.000Z"));

    body = expect_error(api.put(id, R"({"createdAt":"not a time"})"), 400, "VALIDATION_ERROR");
    CHECK(body.at("details").at("field") == json::value("createdAt"));

    // Nothing changed.
    const auto now = api.get(id);
    CHECK(header_of(now, "ETag") == "\"1\"");
    CHECK(parsed(now).at("data").at("name") == json::value("Imm"));

    // With the current values they are accepted.
    const auto r = api.put(id, R"({"id":")" + id + R"(","workspaceId":")" +
                                   std::string(lead.at("workspaceId").as_string()) + R"(","createdAt":")" +
                                   std::string(lead.at("createdAt").as_string()) + R"(","name":"Renamed"})");
    CHECK(r.status == 200);
    CHECK(parsed(r).at("data").at("name") == json::value("Renamed"));
}

TEST_CASE("PUT null rules: name/email/status/metadata refused, phone/source cleared", "[handlers][update]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"Nul","email":"nul@example.com","phone":"5551234567","source":"web"})");
    const std::string id = id_of(lead);
    for (const char* field : {"name", "email", "status", "metadata"}) {
        INFO(field);
        const auto body = expect_error(api.put(id, std::string(R"({")") + field + R"(":null})"), 400,
                                       "VALIDATION_ERROR");
        CHECK(body.at("details").at("field") == json::value(field));
    }
    const auto r = api.put(id, R"({"phone":null,"source":null})");
    REQUIRE(r.status == 200);
    CHECK(parsed(r).at("data").at("phone").is_null());
    CHECK(parsed(r).at("data").at("source").is_null());
}

TEST_CASE("PUT validates the body before looking up the lead", "[handlers][order]") {
    Api api;
    // A well-formed id of no lead, with an invalid body: 400 (body) before 404 (store).
    const auto body = expect_error(api.put("lead_00000000000000ff", R"({"status":"bogus"})"), 400, "VALIDATION_ERROR");
    CHECK(body.at("details").at("field") == json::value("status"));
    expect_error(api.put("lead_00000000000000ff", R"({"status":"lost"})"), 404, "LEAD_NOT_FOUND");
}

// ---------------------------------------------------------------- delete

TEST_CASE("DELETE: 200 with exactly the documented body; then 404; email free again", "[handlers][delete]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"Del","email":"del@example.com"})");
    const std::string id = id_of(lead);

    const auto r = api.send(Call{"DELETE", "/api/v1/leads/" + id}.bearer(api.key_a));
    REQUIRE(r.status == 200);
    CHECK(r.content_type.find("application/json") == 0);
    const auto body = parsed(r);
    CHECK(keys_of(body) == std::set<std::string>{"success", "message", "data"});
    CHECK(body.at("success") == json::value(true));
    CHECK(body.at("message") == json::value("Lead deleted successfully"));
    const auto& data = body.at("data").as_object();
    CHECK(keys_of(data) == std::set<std::string>{"id", "deletedAt"});
    CHECK(data.at("id") == json::value(id));
    const auto deleted_at = leadd::store::parse_iso8601(data.at("deletedAt").as_string());
    REQUIRE(deleted_at);
    CHECK(*deleted_at >= *leadd::store::parse_iso8601(lead.at("createdAt").as_string()));

    expect_error(api.get(id), 404, "LEAD_NOT_FOUND");
    expect_error(api.put(id, R"({"name":"Back"})"), 404, "LEAD_NOT_FOUND");
    expect_error(api.send(Call{"DELETE", "/api/v1/leads/" + id}.bearer(api.key_a)), 404, "LEAD_NOT_FOUND");

    const auto again = api.create_ok(R"({"name":"Del 2","email":"DEL@example.com"})");
    CHECK(id_of(again) != id);
}

TEST_CASE("DELETE honours If-Match", "[handlers][delete]") {
    Api api;
    const auto lead = api.create_ok(R"({"name":"D","email":"d@example.com"})");
    const std::string id = id_of(lead);
    Call stale{"DELETE", "/api/v1/leads/" + id};
    stale.bearer(api.key_a).header("If-Match", "\"9\"");
    expect_error(api.send(stale), 412, "PRECONDITION_FAILED");
    CHECK(api.get(id).status == 200);
    Call current{"DELETE", "/api/v1/leads/" + id};
    current.bearer(api.key_a).header("If-Match", "\"1\"");
    CHECK(api.send(current).status == 200);
    CHECK(api.get(id).status == 404);
}

// ---------------------------------------------------------------- list

TEST_CASE("GET list: exact keys, pagination, filters, newest first", "[handlers][list]") {
    Api api;
    std::vector<std::string> ids;
    for (int i = 0; i < 25; ++i)
        ids.push_back(id_of(api.create_ok(R"({"name":"L)" + std::to_string(i) + R"(","email":"l)" +
                                          std::to_string(i) + R"(@example.com","status":")" +
                                          (i % 5 == 0 ? "lost" : "new") + R"("})")));

    Call c{"GET", "/api/v1/leads"};
    c.bearer(api.key_a);
    auto body = parsed(api.send(c));
    CHECK(keys_of(body) == std::set<std::string>{"success", "data"});
    const auto& data = body.at("data").as_object();
    CHECK(keys_of(data) == std::set<std::string>{"leads", "pagination"});
    CHECK(data.at("leads").as_array().size() == 10);
    auto pagination = data.at("pagination").as_object();
    CHECK(pagination.erase("nextCursor") == 1);  // more leads follow (cursor walks: test_list.py)
    CHECK(pagination == json::parse(R"({"page":1,"limit":10,"total":25,"totalPages":3,
        "hasNext":true,"hasPrev":false})").as_object());
    for (const auto& l : data.at("leads").as_array()) CHECK(keys_of(l.as_object()) == lead_keys);

    c.query = "page=3&limit=10";
    body = parsed(api.send(c));
    CHECK(body.at("data").at("leads").as_array().size() == 5);
    CHECK(body.at("data").at("pagination") == json::parse(R"({"page":3,"limit":10,"total":25,"totalPages":3,
        "hasNext":false,"hasPrev":true})"));

    c.query = "page=4";
    body = parsed(api.send(c));
    CHECK(body.at("data").at("leads").as_array().empty());
    CHECK(body.at("data").at("pagination").at("total") == json::value(25));
    CHECK(body.at("data").at("pagination").at("hasNext") == json::value(false));

    c.query = "status=lost&limit=100";
    body = parsed(api.send(c));
    CHECK(body.at("data").at("pagination").at("total") == json::value(5));
    for (const auto& l : body.at("data").at("leads").as_array()) CHECK(l.at("status") == json::value("lost"));

    c.query = "search=L1&limit=100";  // L1, L10..L19, case-insensitive on name/email
    body = parsed(api.send(c));
    CHECK(body.at("data").at("pagination").at("total") == json::value(11));

    // Newest first: every lead appears once, in createdAt desc then id desc order.
    c.query = "limit=100";
    body = parsed(api.send(c));
    const auto& leads = body.at("data").at("leads").as_array();
    REQUIRE(leads.size() == 25);
    for (std::size_t i = 1; i < leads.size(); ++i) {
        const auto& a = leads[i - 1].as_object();
        const auto& b = leads[i].as_object();
        const std::string ca(a.at("createdAt").as_string()), cb(b.at("createdAt").as_string());
        CHECK((ca > cb || (ca == cb && std::string(a.at("id").as_string()) > std::string(b.at("id").as_string()))));
    }
}

TEST_CASE("GET list: an empty workspace has totalPages 0", "[handlers][list]") {
    Api api;
    Call c{"GET", "/api/v1/leads"};
    c.bearer(api.key_b);
    const auto body = parsed(api.send(c));
    CHECK(body.at("data").at("leads").as_array().empty());
    CHECK(body.at("data").at("pagination") == json::parse(R"({"page":1,"limit":10,"total":0,"totalPages":0,
        "hasNext":false,"hasPrev":false})"));
}

TEST_CASE("GET list: bad parameters are 400 naming the parameter", "[handlers][list]") {
    Api api;
    for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
             {"limit=101", "limit"}, {"limit=0", "limit"}, {"page=0", "page"}, {"page=x", "page"},
             {"status=bogus", "status"}, {"source=", "source"}, {"search=%zz", "search"}}) {
        INFO(query);
        Call c{"GET", "/api/v1/leads"};
        c.bearer(api.key_a);
        c.query = query;
        const auto body = expect_error(api.send(c), 400, "VALIDATION_ERROR");
        CHECK(body.at("details").at("field") == json::value(field));
    }
}

// ---------------------------------------------------------------- admin

TEST_CASE("admin: the token is required and checked", "[handlers][admin]") {
    Api api;
    expect_error(api.send(Call{"GET", "/api/v1/admin/workspaces"}), 401, "MISSING_AUTH_HEADER");
    expect_error(api.send(Call{"GET", "/api/v1/admin/workspaces"}.bearer("wrong")), 401, "INVALID_API_KEY");
    // An API key is not the admin token.
    expect_error(api.send(Call{"GET", "/api/v1/admin/workspaces"}.bearer(api.key_a)), 401, "INVALID_API_KEY");
    Call post{"POST", "/api/v1/admin/workspaces"};
    post.bearer(admin_token + "x").json_body(R"({"name":"Nope"})");
    expect_error(api.send(post), 401, "INVALID_API_KEY");
    CHECK(api.keys.workspaces().size() == 2);
}

TEST_CASE("admin: create a workspace, use its key, list, issue and revoke keys", "[handlers][admin]") {
    Api api;
    Call create{"POST", "/api/v1/admin/workspaces"};
    create.bearer(admin_token).json_body(R"({"name":"Acme"})");
    auto r = api.send(create);
    REQUIRE(r.status == 201);
    auto body = parsed(r);
    CHECK(keys_of(body) == std::set<std::string>{"success", "data"});
    const auto ws = body.at("data").as_object();
    CHECK(keys_of(ws) == std::set<std::string>{"workspaceId", "name", "keyId", "apiKey", "createdAt"});
    CHECK(ws.at("name") == json::value("Acme"));
    const std::string ws_id(ws.at("workspaceId").as_string());
    const std::string api_key(ws.at("apiKey").as_string());
    CHECK(std::regex_match(ws_id, std::regex("^ws_[0-9a-f]{16}$")));
    CHECK(std::regex_match(std::string(ws.at("keyId").as_string()), std::regex("^key_[0-9a-f]{16}$")));
    CHECK(std::regex_match(api_key, std::regex("^sk-workspace_[A-Za-z0-9]{51}$")));
    CHECK(leadd::store::parse_iso8601(ws.at("createdAt").as_string()).has_value());

    // The key works, and scopes leads to the new workspace.
    const auto lead = api.create_ok(R"({"name":"Acme lead","email":"a@acme.com"})", &api_key);
    CHECK(lead.at("workspaceId") == json::value(ws_id));

    // Listed, with its lead count, after the two the fixture made.
    r = api.send(Call{"GET", "/api/v1/admin/workspaces"}.bearer(admin_token));
    REQUIRE(r.status == 200);
    body = parsed(r);
    const auto& list = body.at("data").at("workspaces").as_array();
    REQUIRE(list.size() == 3);
    CHECK(list[2].at("workspaceId") == json::value(ws_id));
    CHECK(list[2].at("leadCount") == json::value(1));
    CHECK(list[0].at("leadCount") == json::value(0));
    CHECK(keys_of(list[2].as_object()) == std::set<std::string>{"workspaceId", "name", "createdAt", "leadCount"});

    // A second key.
    Call issue{"POST", "/api/v1/admin/workspaces/" + ws_id + "/keys"};
    issue.bearer(admin_token);
    r = api.send(issue);
    REQUIRE(r.status == 201);
    const auto key2 = parsed(r).at("data").as_object();
    CHECK(keys_of(key2) == std::set<std::string>{"workspaceId", "keyId", "apiKey", "createdAt"});
    CHECK(key2.at("workspaceId") == json::value(ws_id));
    const std::string api_key2(key2.at("apiKey").as_string());
    CHECK(api_key2 != api_key);
    CHECK(api.get(id_of(lead), &api_key2).status == 200);

    // Revoke the first key: it answers 401 INVALID_API_KEY from then on; the second still works.
    Call revoke{"DELETE", "/api/v1/admin/keys/" + std::string(ws.at("keyId").as_string())};
    revoke.bearer(admin_token);
    CHECK(api.send(revoke).status == 200);
    expect_error(api.get(id_of(lead), &api_key), 401, "INVALID_API_KEY");
    CHECK(api.get(id_of(lead), &api_key2).status == 200);
    CHECK(api.send(revoke).status == 404);  // already revoked
}

TEST_CASE("admin: keys for unknown or malformed workspaces are 404 WORKSPACE_NOT_FOUND", "[handlers][admin]") {
    Api api;
    for (const char* ws : {"ws_0000000000000000", "ws_nothex", "acme"}) {
        INFO(ws);
        Call issue{"POST", std::string("/api/v1/admin/workspaces/") + ws + "/keys"};
        issue.bearer(admin_token);
        expect_error(api.send(issue), 404, "WORKSPACE_NOT_FOUND");
    }
}

TEST_CASE("admin: workspace names are validated", "[handlers][admin]") {
    Api api;
    for (const char* body : {"{}", R"({"name":""})", R"({"name":7})", R"({"name":"A","extra":1})"}) {
        INFO(body);
        Call c{"POST", "/api/v1/admin/workspaces"};
        c.bearer(admin_token).json_body(body);
        expect_error(api.send(c), 400, "VALIDATION_ERROR");
    }
    Call garbage{"POST", "/api/v1/admin/workspaces"};
    garbage.bearer(admin_token).json_body("[]");
    expect_error(api.send(garbage), 400, "INVALID_JSON");
    CHECK(api.keys.workspaces().size() == 2);
}

TEST_CASE("without AdminHandlers registered, admin paths are plain 404", "[handlers][admin]") {
    leadd::store::LeadStore store;
    leadd::auth::KeyRegistry keys;
    leadd::api::LeadHandlers leads{store, keys};
    leadd::http::Router router;
    leads.register_routes(router);
    leadd::http::Request rq;
    rq.method = "GET";
    rq.path = "/api/v1/admin/workspaces";
    rq.request_id = "r";
    const std::string auth = "Bearer " + admin_token;
    rq.headers.emplace_back("Authorization", auth);
    const auto r = router.route(rq);
    CHECK(r.status == 404);
    CHECK(parsed(r).at("code") == json::value("NOT_FOUND"));
}
