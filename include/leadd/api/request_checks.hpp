#pragma once
// The checks every API handler runs, in the contract's order: authentication (401), then the
// body (415, 400 INVALID_JSON). Each returns what it found, or the error response to send.

#include "leadd/api/validation.hpp"
#include "leadd/auth/key_registry.hpp"
#include "leadd/http/message.hpp"

#include <boost/json/object.hpp>

#include <optional>
#include <string_view>
#include <variant>

namespace leadd::api {

// The token of "Authorization: Bearer <token>" (scheme case-insensitive), or nullopt.
std::optional<std::string_view> bearer_token(const http::Request& request);

// The caller's workspace; or 401; or, once the caller is known, 413 if the body was too large to
// read (so a handler never acts on a request whose body it did not see, body or not).
std::variant<store::WorkspaceId, http::Response> authenticate(const http::Request& request,
                                                              const auth::KeyRegistry& keys);

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

}  // namespace leadd::api
