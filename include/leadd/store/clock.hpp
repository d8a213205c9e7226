#pragma once
// Wall-clock milliseconds and the ISO-8601 form the API shows ("2024-01-16T14:30:00.000Z").

#include "leadd/store/lead.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace leadd::store {

Millis now_millis();

// Always 24 characters, UTC, millisecond precision.
std::string format_iso8601(Millis t);
void append_iso8601(std::string& out, Millis t);  // the same, appended to `out`

// Accepts exactly the form format_iso8601 writes (and only valid calendar dates).
std::optional<Millis> parse_iso8601(std::string_view s);

}  // namespace leadd::store
