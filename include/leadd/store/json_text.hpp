#pragma once
// JSON text written directly into a string, byte for byte as boost::json::serialize writes it:
// the API's lead JSON (api/json_lead) and the metadata text merge (store/merge_patch) both build
// their text this way, without a json::value or a serializer per value.

#include <string>
#include <string_view>

namespace leadd::store {

// Appends `s` as a JSON string literal (quotes and escapes included): '"' and '\' escaped,
// \b \f \n \r \t by name, other bytes below 0x20 as \u00XX, everything else (UTF-8) as is.
void append_json_string(std::string& out, std::string_view s);

}  // namespace leadd::store
