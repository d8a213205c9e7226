#include "leadd/api/query.hpp"

#include "leadd/http/envelope.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace leadd::api {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

FieldError query_error(std::string_view param, std::string_view raw, std::string message) {
    return FieldError{std::string(param), boost::json::value(http::to_valid_utf8(raw)),
                      std::move(message)};
}

// A decimal integer in [lo, hi], digits only (no sign, no exponent, no spaces).
std::optional<std::size_t> parse_bounded(std::string_view s, std::size_t lo, std::size_t hi) {
    std::size_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi)
        return std::nullopt;
    return v;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

std::vector<std::pair<std::string_view, std::string_view>> split_query(std::string_view query) {
    std::vector<std::pair<std::string_view, std::string_view>> out;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto part = query.substr(0, amp);
        if (!part.empty()) {
            const auto eq = part.find('=');
            out.emplace_back(part.substr(0, eq),
                             eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return out;
}

namespace {

// Walks the query's parameters named in `known` (the first of each; unknown and repeated ones
// are skipped), percent-decoded and checked to be UTF-8, calling `take(name, value)` for each;
// stops at the first error, from decoding or from `take`.
template <std::size_t N, class Take>
std::optional<FieldError> for_each_known_param(std::string_view query, const std::array<std::string_view, N>& known,
                                                Take&& take) {
    std::array<bool, N> seen{};
    for (const auto& [raw_name, raw_value] : split_query(query)) {
        const auto name = percent_decode(raw_name);
        if (!name) continue;  // an unknown parameter, whatever its spelling
        const auto it = std::find(known.begin(), known.end(), *name);
        if (it == known.end() || seen[static_cast<std::size_t>(it - known.begin())]) continue;
        seen[static_cast<std::size_t>(it - known.begin())] = true;
        const auto value = percent_decode(raw_value);
        if (!value) return query_error(*name, raw_value, *name + " is not validly percent-encoded");
        if (!http::is_valid_utf8(*value)) return query_error(*name, *value, *name + " must be valid UTF-8");
        if (auto error = take(*it, *value)) return error;
    }
    return std::nullopt;
}

// status, source or search into `q`: the filters the list and the export share.
std::optional<FieldError> take_filter(std::string_view name, const std::string& value, store::ListQuery& q) {
    if (name == "status") {
        auto s = store::parse_status(value);
        if (!s) return query_error("status", value, std::string(status_message));
        q.status = *s;
    } else if (name == "source") {
        const auto n = count_code_points(value);
        if (n < 1 || n > 100) return query_error("source", value, "source must be 1 to 100 characters");
        q.source = value;
    } else {
        if (count_code_points(value) > max_search_chars)
            return query_error("search", value, "search must be at most 200 characters");
        q.search = value;
    }
    return std::nullopt;
}

}  // namespace

std::variant<store::ListQuery, FieldError> parse_list_query(std::string_view query) {
    store::ListQuery q;
    static constexpr std::array<std::string_view, 5> known{"page", "limit", "status", "source", "search"};
    auto error = for_each_known_param(query, known, [&](std::string_view name, const std::string& value) -> std::optional<FieldError> {
        if (name == "page") {
            auto v = parse_bounded(value, 1, max_page);
            if (!v) return query_error("page", value, "page must be an integer from 1 to 1000000000");
            q.page = *v;
        } else if (name == "limit") {
            auto v = parse_bounded(value, 1, max_limit);
            if (!v) return query_error("limit", value, "limit must be an integer from 1 to 100");
            q.limit = *v;
        } else {
            return take_filter(name, value, q);
        }
        return std::nullopt;
    });
    if (error) return std::move(*error);
    return q;
}

std::variant<ExportQuery, FieldError> parse_export_query(std::string_view query) {
    ExportQuery q;
    static constexpr std::array<std::string_view, 4> known{"format", "status", "source", "search"};
    auto error = for_each_known_param(query, known, [&](std::string_view name, const std::string& value) -> std::optional<FieldError> {
        if (name != "format") return take_filter(name, value, q.filters);
        if (value == "ndjson") q.format = ExportFormat::Ndjson;
        else if (value == "csv") q.format = ExportFormat::Csv;
        else return query_error("format", value, "format must be one of: ndjson, csv");
        return std::nullopt;
    });
    if (error) return std::move(*error);
    return q;
}

}  // namespace leadd::api
