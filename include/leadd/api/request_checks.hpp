#pragma once
// The checks every API handler runs, in the contract's order: authentication (401), then the
// body (415, 400 INVALID_JSON). Each returns what it found, or the error response to send.

#include "leadd/api/validation.hpp"
#include "leadd/auth/key_registry.hpp"
#include "leadd/auth/rate_limiter.hpp"
#include "leadd/http/message.hpp"
#include "leadd/store/result.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string_view>
#include <variant>

namespace leadd::api {

// The token of "Authorization: Bearer <token>" (scheme case-insensitive), or nullopt.
std::optional<std::string_view> bearer_token(const http::Request& request);

// The caller (workspace and key), or 401.
std::variant<auth::Caller, http::Response> authenticate(const http::Request& request,
                                                        const auth::KeyRegistry& keys);

// The checks in front of every API-key endpoint, in the contract's order: authentication (401),
// the caller's rate limit (429; `limiter` null or off: no limit), 413 if the body was too large to
// read (so a handler never acts on a request whose body it did not see), then `handle(workspace)`.
// With a limit on, every answer after authentication carries the X-RateLimit-* headers.
template <class Handle>
http::Response admit_caller(const http::Request& request, const auth::KeyRegistry& keys,
                            auth::RateLimiter* limiter, Handle&& handle);

// 413 PAYLOAD_TOO_LARGE when the server did not read the body because of its size.
std::optional<http::Response> refuse_unread_body(const http::Request& request);

// The body as a JSON object. 415 if a body came with a non-JSON content type; 400 INVALID_JSON
// if it is empty, not JSON, nested deeper than the parser allows, or not an object.
// `storage` lets a handler parse into its own short-lived arena (a monotonic resource on the
// stack); whatever outlives the handler must be copied into default storage.
std::variant<boost::json::object, http::Response> parse_json_object(const http::Request& request,
                                                                    boost::json::storage_ptr storage = {});

// 503 SERVICE_UNAVAILABLE with Retry-After: the log refuses writes (disk full, I/O error).
http::Response writes_unavailable(const http::Request& request);

http::Response validation_error(const http::Request& request, const FieldError& error);

http::Response lead_not_found(const http::Request& request);
// The one place a store refusal becomes an HTTP answer. `sent_email` is the address as the
// request spelled it, which is what a 409 reports; `body` the request's JSON (an immutable field
// reports the value sent).
http::Response store_error(const http::Request& request, const store::StoreError& e,
                           std::string_view sent_email = {}, const boost::json::object* body = nullptr);

// 429 RATE_LIMIT_EXCEEDED with Retry-After; and the four X-RateLimit-* headers for any answer.
http::Response rate_limited(const http::Request& request, const auth::Quota& quota);
void add_rate_limit_headers(http::Response& response, const auth::Quota& quota);

template <class Handle>
http::Response admit_caller(const http::Request& request, const auth::KeyRegistry& keys,
                            auth::RateLimiter* limiter, Handle&& handle) {
    auto who = authenticate(request, keys);
    if (auto* denied = std::get_if<http::Response>(&who)) return std::move(*denied);
    const auto& caller = std::get<auth::Caller>(who);
    if (limiter == nullptr || !limiter->enabled()) {
        if (auto refused = refuse_unread_body(request)) return std::move(*refused);
        return handle(caller.workspace);
    }
    const auth::Quota quota = limiter->admit(caller.key);
    http::Response r = !quota.allowed                             ? rate_limited(request, quota)
                       : request.body_too_large                   ? *refuse_unread_body(request)
                                                                  : handle(caller.workspace);
    add_rate_limit_headers(r, quota);
    return r;
}

}  // namespace leadd::api
