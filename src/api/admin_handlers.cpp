#include "leadd/api/admin_handlers.hpp"

#include "leadd/api/request_checks.hpp"
#include "leadd/http/envelope.hpp"
#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"

#include <boost/json/array.hpp>

namespace leadd::api {

namespace json = boost::json;

namespace {

json::object issued_key_json(const auth::IssuedKey& key) {
    return {{"workspaceId", store::format_hex_id("ws_", key.workspace)},
            {"keyId", store::format_hex_id("key_", key.key_id)},
            {"apiKey", key.api_key},
            {"createdAt", store::format_iso8601(key.created_at)}};
}

}  // namespace

void AdminHandlers::register_routes(http::Router& router) {
    router.add("POST", "/api/v1/admin/workspaces",
               [this](auto& rq, auto&) { return create_workspace(rq); });
    router.add("GET", "/api/v1/admin/workspaces",
               [this](auto& rq, auto&) { return list_workspaces(rq); });
    router.add("POST", "/api/v1/admin/workspaces/{workspaceId}/keys",
               [this](auto& rq, auto& p) { return create_key(rq, p[0]); });
    router.add("DELETE", "/api/v1/admin/keys/{keyId}",
               [this](auto& rq, auto& p) { return revoke_key(rq, p[0]); });
}

std::optional<http::Response> AdminHandlers::check_admin(const http::Request& request) const {
    const auto token = bearer_token(request);
    if (!token) {
        auto r = http::error_response(401, "MISSING_AUTH_HEADER",
                                      "Authorization header must be 'Bearer <admin token>'", request);
        r.set_header("WWW-Authenticate", "Bearer");
        return r;
    }
    if (!auth::constant_time_equal(auth::sha256(*token), admin_token_)) {
        auto r = http::error_response(401, "INVALID_API_KEY", "Invalid admin token", request);
        r.set_header("WWW-Authenticate", "Bearer");
        return r;
    }
    if (auto refused = refuse_unread_body(request)) return refused;
    if (request.method != "GET" && !keys_.writable()) return writes_unavailable(request);
    return std::nullopt;
}

http::Response AdminHandlers::create_workspace(const http::Request& request) const {
    if (auto denied = check_admin(request)) return std::move(*denied);
    auto body = parse_json_object(request);
    if (auto* bad = std::get_if<http::Response>(&body)) return std::move(*bad);
    const auto& object = std::get<json::object>(body);
    for (const auto& kv : object)
        if (kv.key() != "name")
            return validation_error(request, {kv.key(), kv.value(), "Unknown field: " + std::string(kv.key())});
    const auto* name = object.if_contains("name");
    if (name == nullptr) return validation_error(request, {"name", nullptr, "Name is required"});
    const auto length = name->is_string() ? count_code_points(name->get_string()) : 0;
    if (!name->is_string() || length < 1 || length > 100)
        return validation_error(request, {"name", *name, "Name must be a string of 1 to 100 characters"});

    const auto ws = keys_.create_workspace(std::string(name->get_string()));
    const auto key = keys_.issue_key(ws.id);
    return http::success_response(201, json::object{{"workspaceId", store::format_hex_id("ws_", ws.id)},
                                                    {"name", ws.name},
                                                    {"keyId", store::format_hex_id("key_", key->key_id)},
                                                    {"apiKey", key->api_key},
                                                    {"createdAt", store::format_iso8601(ws.created_at)}});
}

http::Response AdminHandlers::list_workspaces(const http::Request& request) const {
    if (auto denied = check_admin(request)) return std::move(*denied);
    json::array list;
    for (const auto& ws : keys_.workspaces())
        list.push_back({{"workspaceId", store::format_hex_id("ws_", ws.id)},
                        {"name", ws.name},
                        {"createdAt", store::format_iso8601(ws.created_at)},
                        {"leadCount", store_.count(ws.id)}});
    return http::success_response(200, json::object{{"workspaces", std::move(list)}});
}

http::Response AdminHandlers::create_key(const http::Request& request,
                                         std::string_view workspace_id) const {
    if (auto denied = check_admin(request)) return std::move(*denied);
    const auto ws = store::parse_hex_id("ws_", workspace_id);
    const auto key = ws ? keys_.issue_key(*ws) : std::nullopt;
    if (!key)
        return http::error_response(404, "WORKSPACE_NOT_FOUND", "Workspace not found", request);
    return http::success_response(201, issued_key_json(*key));
}

http::Response AdminHandlers::revoke_key(const http::Request& request, std::string_view key_id) const {
    if (auto denied = check_admin(request)) return std::move(*denied);
    const auto id = store::parse_hex_id("key_", key_id);
    const auto revoked_at = id ? keys_.revoke(*id) : std::nullopt;
    if (!revoked_at) return http::error_response(404, "KEY_NOT_FOUND", "API key not found", request);
    return http::success_response(
        200, json::object{{"keyId", key_id}, {"revokedAt", store::format_iso8601(*revoked_at)}});
}

}  // namespace leadd::api
