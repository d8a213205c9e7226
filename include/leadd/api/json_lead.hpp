#pragma once
// A lead as the API shows it, in the documented key order.

#include "leadd/store/lead.hpp"

#include <boost/json/object.hpp>

#include <string>

namespace leadd::api {

boost::json::object lead_to_json(const store::Lead& lead);

// The strong ETag of a lead: its version, quoted ("\"3\"").
std::string etag_of(const store::Lead& lead);

// Parses an If-Match / If-None-Match value holding one strong ETag. "*" gives nullopt (matches
// any version); anything that is not one of our ETags gives 0, which no lead's version equals.
std::optional<std::uint64_t> parse_etag_condition(std::string_view header);

}  // namespace leadd::api
