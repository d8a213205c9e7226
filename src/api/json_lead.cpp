#include "leadd/api/json_lead.hpp"

#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"

#include <charconv>

namespace leadd::api {

boost::json::object lead_to_json(const store::Lead& lead) {
    boost::json::object o;
    o.reserve(10);
    o["id"] = store::format_hex_id("lead_", lead.id);
    o["name"] = lead.name;
    o["email"] = lead.email;
    o["phone"] = lead.phone ? boost::json::value(*lead.phone) : boost::json::value(nullptr);
    o["source"] = lead.source ? boost::json::value(*lead.source) : boost::json::value(nullptr);
    o["status"] = store::to_string(lead.status);
    o["metadata"] = lead.metadata;
    o["createdAt"] = store::format_iso8601(lead.created_at);
    o["updatedAt"] = store::format_iso8601(lead.updated_at);
    o["workspaceId"] = store::format_hex_id("ws_", lead.workspace);
    return o;
}

std::string etag_of(const store::Lead& lead) { return '"' + std::to_string(lead.version) + '"'; }

std::optional<std::uint64_t> parse_etag_condition(std::string_view header) {
    while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) header.remove_prefix(1);
    while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) header.remove_suffix(1);
    if (header == "*") return std::nullopt;
    if (header.size() < 3 || header.front() != '"' || header.back() != '"') return 0;
    const auto digits = header.substr(1, header.size() - 2);
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc() || end != digits.data() + digits.size()) return 0;
    return v;
}

}  // namespace leadd::api
