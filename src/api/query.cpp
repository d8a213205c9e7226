#include "leadd/api/query.hpp"

#include "leadd/api/list_cursor.hpp"
#include "leadd/http/envelope.hpp"
#include "leadd/store/clock.hpp"

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

// The filters the list and the export share.
constexpr std::array<std::string_view, 6> filter_params{"status",       "source",        "search",
                                                        "createdAfter", "createdBefore", "updatedAfter"};

template <std::size_t N, std::size_t M>
constexpr std::array<std::string_view, N + M> join(const std::array<std::string_view, N>& a,
                                                    const std::array<std::string_view, M>& b) {
    std::array<std::string_view, N + M> out{};
    for (std::size_t i = 0; i < N; ++i) out[i] = a[i];
    for (std::size_t i = 0; i < M; ++i) out[N + i] = b[i];
    return out;
}

// One of filter_params into `q`.
std::optional<FieldError> take_filter(std::string_view name, const std::string& value, store::ListQuery& q) {
    if (name == "createdAfter" || name == "createdBefore" || name == "updatedAfter") {
        const auto t = parse_query_timestamp(value);
        if (!t)
            return query_error(name, value,
                               std::string(name) + " must be an ISO 8601 UTC timestamp such as 2024-01-15T10:30:00.000Z");
        (name == "createdAfter" ? q.created_after : name == "createdBefore" ? q.created_before : q.updated_after) = *t;
    } else if (name == "status") {
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

std::optional<store::Millis> parse_query_timestamp(std::string_view s) {
    // "2024-01-15T10:30:00Z": the millisecond form with ".000" put back.
    if (s.size() == 20 && s[19] == 'Z') return store::parse_iso8601(std::string(s.substr(0, 19)) + ".000Z");
    return store::parse_iso8601(s);
}

std::variant<store::ListQuery, FieldError> parse_list_query(std::string_view query) {
    store::ListQuery q;
    std::optional<std::string> cursor;  // read once sort, order and the filters it must match are known
    static constexpr auto known =
        join(std::array<std::string_view, 5>{"page", "limit", "sort", "order", "cursor"}, filter_params);
    auto error = for_each_known_param(query, known, [&](std::string_view name, const std::string& value) -> std::optional<FieldError> {
        if (name == "sort") {
            if (value == "createdAt") q.sort = store::SortField::CreatedAt;
            else if (value == "updatedAt") q.sort = store::SortField::UpdatedAt;
            else if (value == "name") q.sort = store::SortField::Name;
            else return query_error("sort", value, "sort must be one of: createdAt, updatedAt, name");
        } else if (name == "order") {
            if (value == "desc") q.order = store::SortOrder::Desc;
            else if (value == "asc") q.order = store::SortOrder::Asc;
            else return query_error("order", value, "order must be one of: asc, desc");
        } else if (name == "cursor") {
            cursor = value;
        } else if (name == "page") {
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
    if (cursor) {
        auto position = decode_list_cursor(*cursor, q);
        if (auto* e = std::get_if<CursorError>(&position))
            return query_error("cursor", *cursor,
                               *e == CursorError::Mismatch
                                   ? "cursor does not match this query: send the sort, order and filters of the request that returned it"
                                   : "cursor is not a cursor this server issued");
        q.after = std::move(std::get<store::ListPosition>(position));
    }
    return q;
}

std::variant<ExportQuery, FieldError> parse_export_query(std::string_view query) {
    ExportQuery q;
    static constexpr auto known = join(std::array<std::string_view, 1>{"format"}, filter_params);
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
