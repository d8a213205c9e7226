// Router: literal and {param} segments, 404 NOT_FOUND, 405 METHOD_NOT_ALLOWED with Allow, and
// Request's case-insensitive headers.

#include "leadd/http/router.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <sstream>
#include <string>

namespace json = boost::json;
using leadd::http::PathParams;
using leadd::http::Request;
using leadd::http::Response;
using leadd::http::Router;

namespace {

// A handler that reports which route ran and with which parameters: "METHOD pattern|p1|p2".
leadd::http::Handler echo(std::string label) {
    return [label](const Request&, const PathParams& params) {
        Response r;
        r.body = label;
        for (auto p : params) r.body += "|" + std::string(p);
        return r;
    };
}

Router lead_router() {
    Router router;
    router.add("POST", "/api/v1/leads", echo("create"));
    router.add("GET", "/api/v1/leads", echo("list"));
    router.add("GET", "/api/v1/leads/{leadId}", echo("get"));
    router.add("PUT", "/api/v1/leads/{leadId}", echo("put"));
    router.add("PATCH", "/api/v1/leads/{leadId}", echo("patch"));
    router.add("DELETE", "/api/v1/leads/{leadId}", echo("delete"));
    router.add("POST", "/api/v1/admin/workspaces/{workspaceId}/keys", echo("keys"));
    router.add("GET", "/healthz", echo("health"));
    router.add("GET", "/", echo("root"));
    return router;
}

Response call(const Router& router, std::string_view method, std::string_view path,
              std::string request_id = "req-42") {
    Request rq;
    rq.method = method;
    rq.path = path;
    rq.request_id = std::move(request_id);
    return router.route(rq);
}

std::string header_of(const Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
        if (leadd::http::iequals(k, name)) return v;
    return "<absent>";
}

std::set<std::string> split_allow(const std::string& allow) {
    std::set<std::string> out;
    std::stringstream ss(allow);
    std::string item;
    while (std::getline(ss, item, ',')) {
        while (!item.empty() && item.front() == ' ') item.erase(0, 1);
        while (!item.empty() && item.back() == ' ') item.pop_back();
        out.insert(item);
    }
    return out;
}

}  // namespace

TEST_CASE("literal routes match exactly", "[router]") {
    const Router router = lead_router();
    CHECK(call(router, "POST", "/api/v1/leads").body == "create");
    CHECK(call(router, "GET", "/api/v1/leads").body == "list");
    CHECK(call(router, "GET", "/healthz").body == "health");
    CHECK(call(router, "GET", "/").body == "root");
}

TEST_CASE("{param} segments match one non-empty segment and are passed in order", "[router]") {
    const Router router = lead_router();
    CHECK(call(router, "GET", "/api/v1/leads/lead_0123456789abcdef").body == "get|lead_0123456789abcdef");
    CHECK(call(router, "PUT", "/api/v1/leads/x").body == "put|x");
    CHECK(call(router, "PATCH", "/api/v1/leads/x").body == "patch|x");
    CHECK(call(router, "DELETE", "/api/v1/leads/anything-at-all").body == "delete|anything-at-all");
    // Parameters are passed raw, not decoded.
    CHECK(call(router, "GET", "/api/v1/leads/a%2Fb").body == "get|a%2Fb");
    CHECK(call(router, "POST", "/api/v1/admin/workspaces/ws_1/keys").body == "keys|ws_1");

    Router two;
    two.add("GET", "/a/{x}/b/{y}", echo("two"));
    CHECK(call(two, "GET", "/a/1/b/2").body == "two|1|2");
    CHECK(call(two, "GET", "/a/1/c/2").status == 404);
}

TEST_CASE("trailing slashes, empty segments and extra segments do not match", "[router]") {
    const Router router = lead_router();
    for (const char* path : {"/api/v1/leads/", "/api/v1/leads//", "/api/v1//leads", "//api/v1/leads",
                             "/api/v1/leads/x/", "/api/v1/leads/x/y", "/api/v1", "/api/v1/lead",
                             "/api/v1/leadsx", "/API/v1/leads", "/healthz/", "api/v1/leads", "",
                             "/api/v1/admin/workspaces//keys", "/api/v1/leads?x=1"}) {
        INFO("'" << path << "'");
        const auto r = call(router, "GET", path);
        CHECK(r.status == 404);
        CHECK(r.body.find("\"NOT_FOUND\"") != std::string::npos);
    }
}

TEST_CASE("404 NOT_FOUND is the documented error envelope with the request id", "[router]") {
    const Router router = lead_router();
    const auto r = call(router, "GET", "/nope", "req-404");
    REQUIRE(r.status == 404);
    CHECK(r.content_type.find("application/json") == 0);
    const auto body = json::parse(r.body).as_object();
    CHECK(body.at("success") == json::value(false));
    CHECK(body.at("code") == json::value("NOT_FOUND"));
    CHECK(body.at("error").is_string());
    CHECK_FALSE(body.at("error").as_string().empty());
    CHECK(body.at("requestId") == json::value("req-404"));
    CHECK(header_of(r, "Allow") == "<absent>");
    for (const auto& kv : body) CHECK((kv.key() == "success" || kv.key() == "error" || kv.key() == "code" ||
                                       kv.key() == "details" || kv.key() == "requestId"));
}

TEST_CASE("405 METHOD_NOT_ALLOWED lists the allowed methods in Allow", "[router]") {
    const Router router = lead_router();
    {
        const auto r = call(router, "POST", "/api/v1/leads/x", "req-405");
        REQUIRE(r.status == 405);
        const auto body = json::parse(r.body).as_object();
        CHECK(body.at("success") == json::value(false));
        CHECK(body.at("code") == json::value("METHOD_NOT_ALLOWED"));
        CHECK(body.at("requestId") == json::value("req-405"));
        CHECK(split_allow(header_of(r, "Allow")) == std::set<std::string>{"GET", "PUT", "PATCH", "DELETE"});
    }
    {
        const auto r = call(router, "DELETE", "/api/v1/leads");
        REQUIRE(r.status == 405);
        CHECK(split_allow(header_of(r, "Allow")) == std::set<std::string>{"GET", "POST"});
    }
    {
        const auto r = call(router, "POST", "/healthz");
        REQUIRE(r.status == 405);
        CHECK(header_of(r, "Allow") == "GET");
    }
    {
        const auto r = call(router, "GET", "/api/v1/admin/workspaces/ws_1/keys");
        REQUIRE(r.status == 405);
        CHECK(header_of(r, "Allow") == "POST");
    }
}

TEST_CASE("Allow names each method once even when several patterns match", "[router]") {
    Router router;
    router.add("GET", "/x/{id}", echo("param"));
    router.add("GET", "/x/y", echo("literal"));
    router.add("DELETE", "/x/y", echo("del"));
    const auto r = call(router, "PUT", "/x/y");
    REQUIRE(r.status == 405);
    const std::string allow = header_of(r, "Allow");
    CHECK(split_allow(allow) == std::set<std::string>{"GET", "DELETE"});
    CHECK(allow.find("GET") == allow.rfind("GET"));
}

TEST_CASE("the most specific pattern wins whatever the order routes were added in", "[router]") {
    Router router;
    router.add("GET", "/x/{id}/{part}", echo("two params"));
    router.add("GET", "/x/{id}/y", echo("one param"));
    router.add("GET", "/x/z/y", echo("literal"));
    router.add("POST", "/x/w/y", echo("literal post"));
    CHECK(call(router, "GET", "/x/z/y").body == "literal");
    CHECK(call(router, "GET", "/x/a/y").body == "one param|a");
    CHECK(call(router, "GET", "/x/a/b").body == "two params|a|b");
    // The literal route takes the path even though only a less specific one has the method.
    const auto r = call(router, "GET", "/x/w/y");
    REQUIRE(r.status == 405);
    CHECK(header_of(r, "Allow") == "POST");
}

TEST_CASE("the method must match exactly", "[router]") {
    const Router router = lead_router();
    CHECK(call(router, "HEAD", "/healthz").status == 405);
    CHECK(call(router, "OPTIONS", "/api/v1/leads").status == 405);
    CHECK(call(router, "GETX", "/healthz").status == 405);
}

TEST_CASE("the handler receives the request itself", "[router]") {
    Router router;
    router.add("POST", "/echo", [](const Request& rq, const PathParams&) {
        Response r;
        r.status = 201;
        r.body = std::string(rq.body) + "|" + std::string(rq.query) + "|" + std::string(rq.header("X-A"));
        return r;
    });
    Request rq;
    rq.method = "POST";
    rq.path = "/echo";
    rq.query = "q=1";
    rq.body = "payload";
    rq.headers = {{"x-a", "hdr"}};
    const auto r = router.route(rq);
    CHECK(r.status == 201);
    CHECK(r.body == "payload|q=1|hdr");
}

TEST_CASE("routes() lists every (method, pattern) registered", "[router]") {
    const Router router = lead_router();
    const auto routes = router.routes();
    CHECK(routes.size() == 9);
    CHECK(std::find(routes.begin(), routes.end(),
                    std::pair<std::string, std::string>{"PATCH", "/api/v1/leads/{leadId}"}) != routes.end());
}

TEST_CASE("Request::header is case-insensitive", "[router][request]") {
    Request rq;
    rq.headers = {{"content-type", "application/json"}, {"AUTHORIZATION", "Bearer x"}, {"X-Mixed-Case", "v"}};
    CHECK(rq.header("Content-Type") == "application/json");
    CHECK(rq.header("CONTENT-TYPE") == "application/json");
    CHECK(rq.header("content-type") == "application/json");
    CHECK(rq.header("Authorization") == "Bearer x");
    CHECK(rq.header("x-mixed-case") == "v");
    CHECK(rq.header("If-Match").empty());
    CHECK(rq.has_header("authorization"));
    CHECK(rq.has_header("X-MIXED-CASE"));
    CHECK_FALSE(rq.has_header("If-Match"));
    CHECK_FALSE(rq.has_header("Content-Typ"));
    CHECK_FALSE(rq.has_header("Content-Type2"));
    // An empty header is present, with an empty value.
    rq.headers.emplace_back("If-None-Match", "");
    CHECK(rq.has_header("if-none-match"));
    CHECK(rq.header("if-none-match").empty());
}

TEST_CASE("iequals folds ASCII case only", "[router][request]") {
    using leadd::http::iequals;
    CHECK(iequals("", ""));
    CHECK(iequals("Content-Type", "content-type"));
    CHECK(iequals("ABCXYZ", "abcxyz"));
    CHECK_FALSE(iequals("abc", "abd"));
    CHECK_FALSE(iequals("abc", "abcd"));
    CHECK_FALSE(iequals("a-b", "a_b"));
    CHECK_FALSE(iequals("@", "`"));  // 0x40 and 0x60 differ by 32 but are not letters
    CHECK_FALSE(iequals("[", "{"));
}
