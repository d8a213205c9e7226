#include "leadd/api/json_lead.hpp"

#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"

#include <boost/json/serialize.hpp>

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

const std::string& lead_json_text(const store::Lead& lead) {
    return lead.json.get_or_fill([&] { return boost::json::serialize(lead_to_json(lead)); });
}

std::string etag_of(const store::Lead& lead) { return '"' + std::to_string(lead.version) + '"'; }

bool etag_condition_matches(std::string_view header, std::uint64_t version, EtagComparison how) {
    const auto trim = [](std::string_view v) {
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        return v;
    };
    while (!header.empty()) {
        const auto comma = header.find(',');
        std::string_view tag = trim(header.substr(0, comma));
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        if (tag == "*") return true;
        if (tag.starts_with("W/")) {
            if (how == EtagComparison::Strong) continue;
            tag.remove_prefix(2);
        }
        if (tag.size() < 3 || tag.front() != '"' || tag.back() != '"') continue;
        const auto digits = tag.substr(1, tag.size() - 2);
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (ec == std::errc() && end == digits.data() + digits.size() && v == version) return true;
    }
    return false;
}

}  // namespace leadd::api
