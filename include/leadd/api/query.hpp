#pragma once
// The list and export endpoints' query strings: percent-decoding and the rules for page, limit,
// status, source, search, the time bounds, sort, order and cursor (and an export's format).
// Parameters it does not know are ignored; for a repeated one, the first wins.

#include "leadd/api/validation.hpp"
#include "leadd/store/lead_store.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace leadd::api {

// application/x-www-form-urlencoded decoding ('+' is a space). nullopt on a bad %-escape.
std::optional<std::string> percent_decode(std::string_view s);

// Splits "a=1&b=2" into raw (still encoded) pairs.
std::vector<std::pair<std::string_view, std::string_view>> split_query(std::string_view query);

inline constexpr std::size_t max_page = 1'000'000'000;
inline constexpr std::size_t max_limit = 100;
inline constexpr std::size_t max_search_chars = 200;

// createdAfter, createdBefore and updatedAfter: UTC with a 'Z', to the millisecond as the API
// writes its timestamps ("2024-01-15T10:30:00.000Z") or to the second ("2024-01-15T10:30:00Z",
// meaning .000). Other ISO 8601 forms (offsets, other precisions, dates alone) are refused
// rather than guessed at.
std::optional<store::Millis> parse_query_timestamp(std::string_view s);

// page, limit, the filters, sort (createdAt, updatedAt or name) and order (desc or asc; alone it
// orders by createdAt), and cursor: a cursor from encode_list_cursor for this same sort, order
// and filters sets `after` (and page then means nothing). Each bad value is a FieldError naming
// its parameter.
std::variant<store::ListQuery, FieldError> parse_list_query(std::string_view query);

// The export endpoint's query: `format` (ndjson, the default, or csv) and the list's filters
// (status, source, search, createdAfter, createdBefore, updatedAfter) under exactly the list's
// rules. An export is always newest first: page, limit, sort, order and cursor mean nothing to
// it and are ignored like any unknown parameter.
enum class ExportFormat { Ndjson, Csv };
struct ExportQuery {
    ExportFormat format = ExportFormat::Ndjson;
    store::ListQuery filters;  // page and limit left at their defaults
};
std::variant<ExportQuery, FieldError> parse_export_query(std::string_view query);

}  // namespace leadd::api
