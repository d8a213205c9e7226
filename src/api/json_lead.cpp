#include "leadd/api/json_lead.hpp"

#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"
#include "leadd/store/json_text.hpp"

#include <charconv>
#include <cstdint>

namespace leadd::api {

namespace {

// Room for a rendering beyond the lead's own text: the keys, ids and timestamps (~230 bytes).
constexpr std::size_t rendering_frame = 256;

// Writes the lead's JSON at the end of `out`, in the documented key order, without a json::object
// (building one first cost more than the rest of a GET).
void render_into(std::string& out, const store::Lead& lead) {
    // A read rendering a lead for the first time finds its strings cold at a million leads: they
    // arrive while the text is written. (A write's answer renders the lead it just built, whose
    // lines are hot.)
    store::prefetch_text(lead);
    // Room first, so the text does not grow on the way (escapes aside).
    out.reserve(out.size() + rendering_frame + store::text_bytes(lead));
    out += R"({"id":")";
    store::append_hex_id(out, "lead_", lead.id);
    out += R"(","name":)";
    store::append_json_string(out, lead.name);
    out += R"(,"email":)";
    store::append_json_string(out, lead.email);
    out += R"(,"phone":)";
    if (lead.phone) store::append_json_string(out, *lead.phone);
    else out += "null";
    out += R"(,"source":)";
    if (lead.source) store::append_json_string(out, *lead.source);
    else out += "null";
    out += R"(,"status":")";
    out += store::to_string(lead.status);
    out += R"(","metadata":)";
    out += lead.metadata.text();
    out += R"(,"createdAt":")";
    const std::size_t created_at = out.size();
    store::append_iso8601(out, lead.created_at);
    const std::size_t created_at_size = out.size() - created_at;
    out += R"(","updatedAt":")";
    if (lead.updated_at == lead.created_at) {  // every create: the same text again
        out.append(out, created_at, created_at_size);
    } else {
        store::append_iso8601(out, lead.updated_at);
    }
    out += R"(","workspaceId":")";
    store::append_hex_id(out, "ws_", lead.workspace);
    out += R"("})";
}

// Appends the rendering a read kept in the lead, if one did.
bool append_kept(std::string& out, const store::Lead& lead) {
    const auto kept = lead.json.peek();
    if (kept) out += *kept;
    return kept.has_value();
}

}  // namespace

void append_lead_json(std::string& out, const store::Lead& lead) {
    if (!append_kept(out, lead)) render_into(out, lead);
}

void append_read_lead_json(std::string& out, const store::Lead& lead) {
    if (append_kept(out, lead)) return;
    const std::size_t start = out.size();
    render_into(out, lead);
    if (lead.json.read_before()) lead.json.keep(std::string_view(out).substr(start));
}

std::string render_lead_json(const store::Lead& lead) {
    std::string out;
    append_lead_json(out, lead);
    return out;
}

std::size_t lead_json_room(const store::Lead& lead) {
    if (const auto kept = lead.json.peek()) return kept->size();
    return rendering_frame + store::text_bytes(lead);
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
