#pragma once
// A lead as the API shows it, in the documented key order.

#include "leadd/store/lead.hpp"

#include <boost/json/object.hpp>

#include <string>

namespace leadd::api {

// The lead's JSON text: rendered once per lead version and cached in the lead.
const std::string& lead_json_text(const store::Lead& lead);
// Renders without the cache (what lead_json_text caches).
std::string render_lead_json(const store::Lead& lead);
// Appends `s` as a JSON string literal (quotes and escapes included).
void append_json_string(std::string& out, std::string_view s);
// Appends `value` serialized (what boost::json::serialize returns, without its own string).
void append_json(std::string& out, const boost::json::object& value);

// The strong ETag of a lead: its version, quoted ("\"3\"").
std::string etag_of(const store::Lead& lead);

// Whether an If-Match / If-None-Match value ("*", or a comma-separated list of entity tags)
// matches the lead's ETag. If-Match compares strongly (a weak W/"..." tag never matches);
// If-None-Match compares weakly (RFC 9110 13.1.1-2).
enum class EtagComparison { Strong, Weak };
bool etag_condition_matches(std::string_view header, std::uint64_t version, EtagComparison how);

}  // namespace leadd::api
