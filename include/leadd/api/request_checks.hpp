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

std::variant<store::WorkspaceId, http::Response> authenticate(const http::Request& request,
                                                              const auth::KeyRegistry& keys);

// The body as a JSON object. 415 if a body came with a non-JSON content type; 400 INVALID_JSON
// if it is empty, not JSON, nested deeper than the parser allows, or not an object.
std::variant<boost::json::object, http::Response> parse_json_object(const http::Request& request);

http::Response validation_error(const http::Request& request, const FieldError& error);

}  // namespace leadd::api
