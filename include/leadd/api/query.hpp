#pragma once
// The list endpoint's query string: percent-decoding and the rules for page, limit, status,
// source and search. Parameters it does not know are ignored; for a repeated one, the first wins.

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

}  // namespace leadd::api
