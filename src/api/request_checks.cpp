#include "leadd/api/request_checks.hpp"

#include "leadd/http/envelope.hpp"
#include "leadd/store/ids.hpp"
#include "leadd/store/json_parse.hpp"

namespace leadd::api {

namespace json = boost::json;

namespace {

// Deep enough for metadata at its documented limit (16) inside the body, shallow enough that a
// hostile "[[[[..." is refused by the parser without deep recursion later.
constexpr std::size_t max_body_depth = 64;

http::Response unauthorized(const http::Request& request, std::string_view code,
                            std::string_view message) {
    auto r = http::error_response(401, code, message, request);
    r.set_header("WWW-Authenticate", "Bearer");
    return r;
}

bool is_json_media_type(std::string_view content_type) {
    auto media = content_type.substr(0, content_type.find(';'));
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
    while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
    if (http::iequals(media, "application/json")) return true;
    return media.size() > 5 && http::iequals(media.substr(media.size() - 5), "+json") &&
           http::iequals(media.substr(0, 12), "application/");
}

}  // namespace

std::optional<std::string_view> bearer_token(const http::Request& request) {
    std::string_view value = request.header("Authorization");
    if (value.size() < 7 || !http::iequals(value.substr(0, 7), "Bearer ")) return std::nullopt;
    value.remove_prefix(7);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    return value;
}

std::variant<auth::Caller, http::Response> authenticate(const http::Request& request,
                                                        const auth::KeyRegistry& keys) {
    const auto token = bearer_token(request);
    if (!token)
        return unauthorized(request, "MISSING_AUTH_HEADER",
                            "Authorization header must be 'Bearer <api key>'");
    const auto caller = keys.authenticate(*token);
    if (!caller) return unauthorized(request, "INVALID_API_KEY", "Invalid or revoked API key");
    return *caller;
}

std::optional<http::Response> refuse_unread_body(const http::Request& request) {
    if (!request.body_too_large) return std::nullopt;
    return http::error_response(413, "PAYLOAD_TOO_LARGE", "Request body is larger than the limit",
                                request);
}

std::variant<json::object, http::Response> parse_json_object(const http::Request& request,
                                                             json::storage_ptr storage) {
    const std::string_view content_type = request.header("Content-Type");
    if (!request.body.empty() && !is_json_media_type(content_type))
        return http::error_response(415, "UNSUPPORTED_MEDIA_TYPE",
                                    "Request body must be sent as application/json", request);
    json::parse_options options;
    options.max_depth = max_body_depth;
    boost::system::error_code ec;
    json::value parsed = store::parse_json(request.body, ec, std::move(storage), options);
    if (ec)
        return http::error_response(400, "INVALID_JSON", "Request body is not valid JSON", request,
                                    {{"message", ec.message()}});
    if (!parsed.is_object())
        return http::error_response(400, "INVALID_JSON", "Request body must be a JSON object",
                                    request);
    return std::move(parsed.get_object());
}

http::Response writes_unavailable(const http::Request& request) {
    auto r = http::error_response(503, "SERVICE_UNAVAILABLE",
                                  "Writes are unavailable: the log cannot be written; reads still work",
                                  request);
    r.set_header("Retry-After", "1");
    return r;
}

http::Response validation_error(const http::Request& request, const FieldError& error) {
    return http::error_response(
        400, "VALIDATION_ERROR", "Validation failed", request,
        {{"field", error.field}, {"value", error.value}, {"message", error.message}});
}

http::Response rate_limited(const http::Request& request, const auth::Quota& quota) {
    auto r = http::error_response(
        429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded", request,
        {{"limit", quota.limit},
         {"retryAfter", quota.retry_after},
         {"message", "This API key made " + std::to_string(quota.used) + " requests in the last 60 minutes; try again in " +
                         std::to_string(quota.retry_after) + " seconds"}});
    r.set_header("Retry-After", std::to_string(quota.retry_after));
    return r;
}

void add_rate_limit_headers(http::Response& response, const auth::Quota& quota) {
    response.set_header("X-RateLimit-Limit", std::to_string(quota.limit));
    response.set_header("X-RateLimit-Remaining", std::to_string(quota.remaining));
    response.set_header("X-RateLimit-Reset", std::to_string(quota.reset_at));
    response.set_header("X-RateLimit-Used", std::to_string(quota.used));
}

http::Response lead_not_found(const http::Request& request) {
    return http::error_response(404, "LEAD_NOT_FOUND", "Lead not found", request);
}

http::Response store_error(const http::Request& request, const store::StoreError& e,
                           std::string_view sent_email, const json::object* body) {
    switch (e.code) {
    case store::StoreErrc::LeadNotFound:
        return lead_not_found(request);
    case store::StoreErrc::DuplicateEmail:
        return http::error_response(
            409, "DUPLICATE_EMAIL", "Email already exists", request,
            {{"email", sent_email},
             {"existingLeadId", store::format_hex_id("lead_", e.existing_lead)},
             {"message", "A different lead with this email already exists in your workspace"}});
    case store::StoreErrc::PreconditionFailed:
        return http::error_response(412, "PRECONDITION_FAILED",
                                    "If-Match does not match the lead's current ETag", request);
    case store::StoreErrc::ImmutableField: {
        const json::value* sent = body ? body->if_contains(e.field) : nullptr;
        return validation_error(request, {e.field, sent ? *sent : json::value(nullptr),
                                          e.field + " cannot be modified"});
    }
    case store::StoreErrc::Unavailable:
        return writes_unavailable(request);
    case store::StoreErrc::MetadataTooLarge:
        return validation_error(
            request, {"metadata", nullptr, "Metadata must be at most 65536 bytes when serialized"});
    }
    return http::error_response(500, "INTERNAL_ERROR", "Internal error", request);
}

}  // namespace leadd::api
