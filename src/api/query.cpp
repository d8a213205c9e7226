#include "leadd/api/query.hpp"

#include "leadd/http/envelope.hpp"

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

std::variant<store::ListQuery, FieldError> parse_list_query(std::string_view query) {
    store::ListQuery q;
    bool seen_page = false, seen_limit = false, seen_status = false, seen_source = false,
         seen_search = false;
    for (const auto& [raw_name, raw_value] : split_query(query)) {
        const auto name = percent_decode(raw_name);
        if (!name) continue;  // an unknown parameter, whatever its spelling
        bool* seen = *name == "page"     ? &seen_page
                     : *name == "limit"  ? &seen_limit
                     : *name == "status" ? &seen_status
                     : *name == "source" ? &seen_source
                     : *name == "search" ? &seen_search
                                         : nullptr;
        if (seen == nullptr || *seen) continue;
        *seen = true;
        const auto value = percent_decode(raw_value);
        if (!value) return query_error(*name, raw_value, *name + " is not validly percent-encoded");
        if (!http::is_valid_utf8(*value))
            return query_error(*name, *value, *name + " must be valid UTF-8");
        if (*name == "page") {
            auto v = parse_bounded(*value, 1, max_page);
            if (!v) return query_error("page", *value, "page must be an integer from 1 to 1000000000");
            q.page = *v;
        } else if (*name == "limit") {
            auto v = parse_bounded(*value, 1, max_limit);
            if (!v) return query_error("limit", *value, "limit must be an integer from 1 to 100");
            q.limit = *v;
        } else if (*name == "status") {
            auto s = store::parse_status(*value);
            if (!s) return query_error("status", *value, std::string(status_message));
            q.status = *s;
        } else if (*name == "source") {
            const auto n = count_code_points(*value);
            if (n < 1 || n > 100) return query_error("source", *value, "source must be 1 to 100 characters");
            q.source = *value;
        } else {
            if (count_code_points(*value) > max_search_chars)
                return query_error("search", *value, "search must be at most 200 characters");
            q.search = *value;
        }
    }
    return q;
}

}  // namespace leadd::api
