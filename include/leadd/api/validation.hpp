#pragma once
// Turns a request body (already parsed as a JSON object) into a typed store command, or the
// first VALIDATION_ERROR found: {field, value, message}. Fields are checked in a fixed order
// (unknown fields first, in body order, then name, email, phone, source, status, metadata), so
// the same body always gets the same error.

#include "leadd/store/lead.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace leadd::api {

struct FieldError {
    std::string field;
    boost::json::value value;
    std::string message;
};

inline constexpr std::size_t max_metadata_bytes = 64 * 1024;
inline constexpr std::size_t max_metadata_depth = 16;
inline constexpr std::string_view status_message =
    "Status must be one of: new, contacted, qualified, converted, lost, follow_up";

std::variant<store::NewLead, FieldError> validate_create(const boost::json::object& body);

// `path_id` is the lead id of the URL and `workspace` the caller's: a body may echo id and
// workspaceId only with those values (createdAt is checked by the store against the lead).
// An accepted metadata merge patch is moved out of `body` into the LeadPatch, not copied (a
// copy was ~660 of a PUT's ~31 000 instructions): it keeps the body's storage, which must outlive
// the patch, and the body's "metadata" member is left an empty object.
std::variant<store::LeadPatch, FieldError> validate_patch(boost::json::object& body,
                                                          std::string_view path_id,
                                                          store::WorkspaceId workspace);

// The single-field rules, shared by create, patch and tests.
bool is_valid_email(std::string_view email);
std::size_t count_code_points(std::string_view utf8);
std::size_t json_depth(const boost::json::value& v);  // scalar 0, {} or [] 1, {"a":{}} 2
// Never less than the bytes boost::json::serialize writes for `v`, without serializing: a size
// check needs the exact count only when this is over its limit. Stops adding once past
// `stop_above` (the result then only says "more than that").
std::size_t serialized_size_bound(const boost::json::value& v, std::size_t stop_above = SIZE_MAX);

}  // namespace leadd::api
