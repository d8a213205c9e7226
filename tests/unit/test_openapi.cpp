// The OpenAPI document compiled into the binary (docs/openapi.json) against the routes main
// serves: every route registered by register_service_routes is documented, and every documented
// operation is a route. Adding a route without documenting it (or the reverse) fails here.
// tests/openapi validates the document itself; tests/integration/test_openapi.py sends each
// documented operation to a real server.

#include "leadd/api/admin_handlers.hpp"
#include "leadd/api/lead_handlers.hpp"
#include "leadd/api/openapi.hpp"
#include "leadd/api/routes.hpp"
#include "leadd/auth/key_registry.hpp"
#include "leadd/auth/secrets.hpp"
#include "leadd/ops/health.hpp"
#include "leadd/ops/metrics.hpp"
#include "leadd/store/lead_store.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>
#include <string>
#include <utility>

namespace json = boost::json;

namespace {

using Operation = std::pair<std::string, std::string>;  // (METHOD, path template)

// Everything main serves once started, with the admin API on.
struct ServedRoutes {
    leadd::ops::Health health;
    leadd::store::LeadStore store;
    leadd::auth::KeyRegistry keys;
    leadd::api::LeadHandlers leads{store, keys};
    leadd::api::AdminHandlers admin{keys, store, leadd::auth::sha256("admin-token")};
    leadd::ops::Metrics metrics;
    leadd::http::Router router;

    ServedRoutes() { leadd::api::register_service_routes(router, {health, leads, &admin, &metrics}); }
};

json::object parsed_document() {
    const json::value doc = json::parse(leadd::api::openapi_document());
    REQUIRE(doc.is_object());
    return doc.get_object();
}

std::set<Operation> documented_operations(const json::object& doc) {
    static const std::set<std::string> methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};
    std::set<Operation> out;
    for (const auto& [path, item] : doc.at("paths").as_object())
        for (const auto& [key, operation] : item.as_object())
            if (methods.contains(std::string(key))) {
                std::string method(key);
                std::transform(method.begin(), method.end(), method.begin(),
                               [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
                out.emplace(method, std::string(path));
            }
    return out;
}

std::set<Operation> routed_operations(const leadd::http::Router& router) {
    const auto routes = router.routes();
    return {routes.begin(), routes.end()};
}

std::set<Operation> missing_from(const std::set<Operation>& from, const std::set<Operation>& of) {
    std::set<Operation> out;
    std::set_difference(of.begin(), of.end(), from.begin(), from.end(), std::inserter(out, out.end()));
    return out;
}

std::string describe(const std::set<Operation>& operations) {
    std::string out;
    for (const auto& [method, path] : operations) out += method + " " + path + "\n";
    return out;
}

leadd::http::Request get_document(std::vector<std::pair<std::string_view, std::string_view>> headers = {}) {
    leadd::http::Request r;
    r.method = "GET";
    r.path = "/openapi.json";
    r.headers = std::move(headers);
    r.request_id = "req-openapi";
    return r;
}

std::string header_of(const leadd::http::Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
        if (leadd::http::iequals(k, name)) return v;
    return {};
}

}  // namespace

TEST_CASE("the embedded document is an OpenAPI 3.1 JSON document") {
    const auto doc = parsed_document();
    const auto& version = doc.at("openapi").as_string();
    CHECK(std::string_view(version).starts_with("3.1."));
    CHECK(doc.at("info").as_object().contains("title"));
    CHECK(!doc.at("paths").as_object().empty());
}

TEST_CASE("every route main serves is documented, and every documented operation is served") {
    ServedRoutes served;
    const auto routed = routed_operations(served.router);
    const auto documented = documented_operations(parsed_document());
    REQUIRE(routed.size() == served.router.routes().size());  // no route registered twice

    INFO("routes without documentation:\n" << describe(missing_from(documented, routed)));
    CHECK(missing_from(documented, routed).empty());
    INFO("documented operations no route serves:\n" << describe(missing_from(routed, documented)));
    CHECK(missing_from(routed, documented).empty());

    // The parts this check exists for are all there (a router missing them would pass vacuously).
    for (const Operation& expected : {Operation{"GET", "/api/v1/leads/{leadId}"},
                                      Operation{"DELETE", "/api/v1/admin/keys/{keyId}"},
                                      Operation{"GET", "/readyz"}, Operation{"GET", "/metrics"},
                                      Operation{"GET", "/openapi.json"}})
        CHECK(routed.contains(expected));
}

TEST_CASE("the check notices a route added without documentation") {
    ServedRoutes served;
    served.router.add("POST", "/api/v1/leads/{leadId}/notes", [](auto&, auto&) { return leadd::http::Response{}; });
    const auto undocumented = missing_from(documented_operations(parsed_document()), routed_operations(served.router));
    CHECK(undocumented == std::set<Operation>{{"POST", "/api/v1/leads/{leadId}/notes"}});
}

TEST_CASE("GET /openapi.json serves the embedded document with an ETag, and 304 for that ETag") {
    ServedRoutes served;
    const auto r = served.router.route(get_document());
    REQUIRE(r.status == 200);
    CHECK(r.body == leadd::api::openapi_document());
    CHECK(r.content_type.starts_with("application/json"));
    CHECK(header_of(r, "Cache-Control") == "no-cache");
    const std::string etag = header_of(r, "ETag");
    REQUIRE(etag.size() == 18);  // "<16 hex>"

    const auto same = served.router.route(get_document({{"If-None-Match", etag}}));
    CHECK(same.status == 304);
    CHECK(same.body.empty());
    CHECK(header_of(same, "ETag") == etag);
    const std::string weak_in_list = "\"0\", W/" + etag;
    CHECK(served.router.route(get_document({{"If-None-Match", weak_in_list}})).status == 304);
    CHECK(served.router.route(get_document({{"If-None-Match", "\"0000000000000000\""}})).status == 200);

    // No API key needed, and no other method.
    CHECK(served.router.route(get_document({{"Authorization", "Bearer nonsense"}})).status == 200);
    auto post = get_document();
    post.method = "POST";
    CHECK(served.router.route(post).status == 405);
}
