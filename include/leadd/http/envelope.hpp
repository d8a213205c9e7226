#pragma once
// The JSON envelope every response uses:
//   success: {"success": true, "data": ...}
//   error:   {"success": false, "error": "...", "code": "...", "details": {...}, "requestId": "..."}

#include "leadd/http/message.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace leadd::http {

// Bytes that did not arrive inside a JSON document (paths, query values, header values) may be
// invalid UTF-8; this replaces each invalid sequence with U+FFFD so the body stays valid JSON.
std::string to_valid_utf8(std::string_view bytes);
bool is_valid_utf8(std::string_view bytes);

Response success_response(int status, boost::json::value data);
// The same envelope around `data_json`, which is already serialized JSON.
Response success_response_text(int status, std::string_view data_json);
// For a large answer written straight into its body, without copying it into an envelope after:
// the body starts as success_envelope_head(), the data's JSON is appended, and
// success_response_built closes the envelope and takes the body over. `data_bytes`: room reserved
// for the data, so that a body whose size is known up front is allocated once.
std::string success_envelope_head(std::size_t data_bytes = 0);
Response success_response_built(int status, std::string body);
// `details` is left out of the body when empty.
Response error_response(int status, std::string_view code, std::string_view message,
                        const Request& request, boost::json::object details = {});

}  // namespace leadd::http
