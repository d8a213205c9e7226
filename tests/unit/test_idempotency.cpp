// Idempotency-Key: the table of stored answers (claims, replays, expiry, workspaces), its log
// encoding, and the API's header rules and request fingerprint.

#include "leadd/api/idempotency_key.hpp"
#include "leadd/store/idempotency.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

using namespace leadd;
using store::IdempotencyTable;
using Verdict = IdempotencyTable::Verdict;

namespace {

constexpr store::WorkspaceId ws = 7;
constexpr store::Millis t0 = 1'700'000'000'000;

store::IdempotencyEntry answered(std::string key, std::string fingerprint, store::Millis at, std::string body = "{}") {
    return {ws, std::move(key), std::move(fingerprint), at, {201, std::move(body), "/api/v1/leads/x", "\"1\""}};
}

http::Request post(std::string_view path, std::string_view query = "") {
    http::Request r;
    r.method = "POST";
    r.path = path;
    r.query = query;
    return r;
}

}  // namespace

TEST_CASE("a claimed key is running until finished or released", "[idempotency]") {
    IdempotencyTable table;
    CHECK(table.claim(ws, "k", "fp", t0).verdict == Verdict::Run);
    CHECK(table.claim(ws, "k", "fp", t0).verdict == Verdict::InProgress);
    CHECK(table.claim(ws, "k", "other", t0).verdict == Verdict::Reused);
    table.release(ws, "k");
    CHECK(table.claim(ws, "k", "other", t0).verdict == Verdict::Run);  // free again, for any request
    table.finish(answered("k", "other", t0, "first"));
    const auto replay = table.claim(ws, "k", "other", t0 + 1);
    REQUIRE(replay.verdict == Verdict::Replay);
    CHECK(replay.entry->answer.body == "first");
    CHECK(table.claim(ws, "k", "fp", t0 + 1).verdict == Verdict::Reused);
    table.release(ws, "k");  // an answered key is not freed
    CHECK(table.claim(ws, "k", "other", t0 + 2).verdict == Verdict::Replay);
    CHECK(table.size() == 1);
}

TEST_CASE("keys are per workspace", "[idempotency]") {
    IdempotencyTable table;
    table.finish(answered("k", "fp", t0));
    CHECK(table.claim(ws + 1, "k", "fp", t0).verdict == Verdict::Run);
    CHECK(table.claim(ws, "k", "fp", t0).verdict == Verdict::Replay);
    // A key that starts with a stored key is another key.
    CHECK(table.claim(ws, "kk", "fp", t0).verdict == Verdict::Run);
}

TEST_CASE("an answer is kept 24 hours, then the key is free", "[idempotency]") {
    IdempotencyTable table;
    table.finish(answered("old", "fp", t0));
    table.finish(answered("new", "fp", t0 + 1000));
    CHECK(table.claim(ws, "old", "fp", t0 + IdempotencyTable::retention - 1).verdict == Verdict::Replay);
    CHECK(table.claim(ws, "old", "x", t0 + IdempotencyTable::retention).verdict == Verdict::Run);
    CHECK(table.claim(ws, "new", "fp", t0 + IdempotencyTable::retention).verdict == Verdict::Replay);
    CHECK(table.entries(t0 + IdempotencyTable::retention).size() == 1);  // "old" is running, not answered
    // Recovery skips what has expired and keeps the rest.
    IdempotencyTable restored;
    restored.restore(answered("a", "fp", t0), t0 + IdempotencyTable::retention);
    restored.restore(answered("b", "fp", t0 + 1), t0 + IdempotencyTable::retention);
    CHECK(restored.size() == 1);
    CHECK(restored.claim(ws, "b", "fp", t0 + 2).verdict == Verdict::Replay);
}

TEST_CASE("an entry's payload round-trips, and a damaged one is refused", "[idempotency]") {
    const auto entry = answered("key-1", std::string(32, '\x01'), t0, R"({"success":true})");
    const std::string payload = store::encode_idempotency_entry(entry);
    const auto back = store::decode_idempotency_entry(payload);
    REQUIRE(back);
    CHECK(back->workspace == entry.workspace);
    CHECK(back->key == entry.key);
    CHECK(back->fingerprint == entry.fingerprint);
    CHECK(back->answered_at == entry.answered_at);
    CHECK(back->answer.status == 201);
    CHECK(back->answer.body == entry.answer.body);
    CHECK(back->answer.location == entry.answer.location);
    CHECK(back->answer.etag == entry.answer.etag);
    for (std::size_t cut = 0; cut < payload.size(); ++cut) CHECK_FALSE(store::decode_idempotency_entry(payload.substr(0, cut)));
    CHECK_FALSE(store::decode_idempotency_entry(payload + "x"));
}

TEST_CASE("the Idempotency-Key header: absent, valid, or a 400 naming it", "[idempotency][api]") {
    auto with_key = [](std::string_view value) {
        http::Request r = post("/api/v1/leads");
        r.headers.emplace_back("Idempotency-Key", value);
        return api::idempotency_key(r);
    };
    CHECK(std::holds_alternative<std::monostate>(api::idempotency_key(post("/api/v1/leads"))));
    CHECK(std::get<std::string>(with_key("order-42_retry:1")) == "order-42_retry:1");
    const std::string longest(api::max_idempotency_key_length, 'k');
    CHECK(std::get<std::string>(with_key(longest)) == longest);
    for (std::string_view bad : {std::string_view(""), std::string_view("a b"), std::string_view("tab\t"),
                                 std::string_view("caf\xc3\xa9"), std::string_view("\x7f")}) {
        const auto parsed = with_key(bad);
        REQUIRE(std::holds_alternative<api::FieldError>(parsed));
        CHECK(std::get<api::FieldError>(parsed).field == "Idempotency-Key");
    }
    CHECK(std::holds_alternative<api::FieldError>(with_key(longest + "k")));
}

TEST_CASE("the fingerprint: equal JSON is the same request; path, query or a value is not", "[idempotency][api]") {
    namespace json = boost::json;
    auto fp = [](const http::Request& r, std::string_view body) {
        return api::request_fingerprint(r, json::parse(body).as_object());
    };
    const auto leads = post("/api/v1/leads");
    const auto base = fp(leads, R"({"name":"A","email":"a@x.test","metadata":{"x":1,"y":[1,{"b":2,"a":1}]}})");
    CHECK(base.size() == 32);
    CHECK(fp(leads, R"( { "metadata" : {"y":[1,{"a":1,"b":2}],"x":1}, "email":"a@x.test", "name":"A" } )") == base);
    CHECK(fp(leads, R"({"name":"A","email":"a@x.test","metadata":{"x":1,"y":[{"b":2,"a":1},1]}})") != base);
    CHECK(fp(leads, R"({"name":"A","email":"a@x.test","metadata":{"x":2,"y":[1,{"b":2,"a":1}]}})") != base);
    CHECK(fp(leads, R"({"name":"A","email":"a@x.test","metadata":{"x":"1","y":[1,{"b":2,"a":1}]}})") != base);
    const std::string body = R"({"name":"A","email":"a@x.test","metadata":{"x":1,"y":[1,{"b":2,"a":1}]}})";
    CHECK(fp(post("/api/v1/leads/batch"), body) != base);
    CHECK(fp(post("/api/v1/leads", "atomic=true"), body) != base);
    // A key that contains what a separator would look like does not collide with two keys.
    CHECK(fp(leads, R"({"a\",\"b":1})") != fp(leads, R"({"a":1,"b":1})"));
}
