#pragma once
// A lead as the API shows it, in the documented key order.

#include "leadd/store/lead.hpp"

#include <string>

namespace leadd::api {

// The lead's JSON, for reads (GET, list), appended to `out`: the rendering kept in the lead, or
// rendered straight into `out`, and kept from the lead version's second read on (store::
// RenderCache says why not on the first). Writes answer with append_lead_json instead: keeping
// every created or updated version cost ~400 bytes per lead whether or not anyone read it (a
// batch import's leads mostly are not).
void append_read_lead_json(std::string& out, const store::Lead& lead);
// The same text without keeping it (the kept text when a read already kept it).
void append_lead_json(std::string& out, const store::Lead& lead);
std::string render_lead_json(const store::Lead& lead);
// Room for the lead's JSON: the kept text's size, or a bound on its rendering (escapes aside),
// so that a body reserved with it is allocated once.
std::size_t lead_json_room(const store::Lead& lead);

// The strong ETag of a lead: its version, quoted ("\"3\"").
std::string etag_of(const store::Lead& lead);

// Whether an If-Match / If-None-Match value ("*", or a comma-separated list of entity tags)
// matches the lead's ETag. If-Match compares strongly (a weak W/"..." tag never matches);
// If-None-Match compares weakly (RFC 9110 13.1.1-2).
enum class EtagComparison { Strong, Weak };
bool etag_condition_matches(std::string_view header, std::uint64_t version, EtagComparison how);

}  // namespace leadd::api
