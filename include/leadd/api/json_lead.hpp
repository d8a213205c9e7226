#pragma once
// A lead as the API shows it, in the documented key order.

#include "leadd/store/lead.hpp"

#include <string>

namespace leadd::api {

// The lead's JSON text, for reads (GET, list): rendered once per lead version and cached in the
// lead. Writes answer with render_lead_json / append_lead_json instead: caching every created or
// updated version cost ~400 bytes per lead whether or not anyone read it (a batch import's
// leads mostly are not), and reads fill the cache anyway.
const std::string& lead_json_text(const store::Lead& lead);
// The same text without filling the cache (the cached text when a read already made it).
std::string render_lead_json(const store::Lead& lead);
void append_lead_json(std::string& out, const store::Lead& lead);

// The strong ETag of a lead: its version, quoted ("\"3\"").
std::string etag_of(const store::Lead& lead);

// Whether an If-Match / If-None-Match value ("*", or a comma-separated list of entity tags)
// matches the lead's ETag. If-Match compares strongly (a weak W/"..." tag never matches);
// If-None-Match compares weakly (RFC 9110 13.1.1-2).
enum class EtagComparison { Strong, Weak };
bool etag_condition_matches(std::string_view header, std::uint64_t version, EtagComparison how);

}  // namespace leadd::api
