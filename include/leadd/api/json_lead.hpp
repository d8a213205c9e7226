#pragma once
// A lead as the API shows it, in the documented key order.

#include "leadd/store/lead.hpp"

#include <boost/json/object.hpp>

#include <string>

namespace leadd::api {

boost::json::object lead_to_json(const store::Lead& lead);
// The same, serialized: rendered once per lead version and cached in the lead.
const std::string& lead_json_text(const store::Lead& lead);

// The strong ETag of a lead: its version, quoted ("\"3\"").
std::string etag_of(const store::Lead& lead);

// Whether an If-Match / If-None-Match value ("*", or a comma-separated list of entity tags)
// matches the lead's ETag. If-Match compares strongly (a weak W/"..." tag never matches);
// If-None-Match compares weakly (RFC 9110 13.1.1-2).
enum class EtagComparison { Strong, Weak };
bool etag_condition_matches(std::string_view header, std::uint64_t version, EtagComparison how);

}  // namespace leadd::api
