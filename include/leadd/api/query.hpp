#pragma once
// The list and export endpoints' query strings: percent-decoding and the rules for page, limit,
// status, source and search (and an export's format). Parameters it does not know are ignored; for a repeated one, the first wins.

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

std::variant<store::ListQuery, FieldError> parse_list_query(std::string_view query);

// The export endpoint's query: `format` (ndjson, the default, or csv) and the list's filters
// (status, source, search) under exactly the list's rules. page and limit mean nothing to an
// export and are ignored like any unknown parameter.
enum class ExportFormat { Ndjson, Csv };
struct ExportQuery {
    ExportFormat format = ExportFormat::Ndjson;
    store::ListQuery filters;  // page and limit left at their defaults
};
std::variant<ExportQuery, FieldError> parse_export_query(std::string_view query);

}  // namespace leadd::api
