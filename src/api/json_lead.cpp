#include "leadd/api/json_lead.hpp"

#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>

namespace leadd::api {

namespace {

// Whether any of the 8 bytes of `word` is below 0x20, '"' or '\\' (the bytes JSON escapes):
// the usual bit tricks for "has a byte below n" and "has a zero byte" (on the word xor'd with
// each of those two bytes repeated), exact as yes/no answers.
bool word_needs_escaping(std::uint64_t word) {
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    const auto has_zero = [](std::uint64_t v) { return ((v - ones) & ~v & highs) != 0; };
    const bool control = ((word - 0x20 * ones) & ~word & highs) != 0;  // a byte < 0x20 (bytes >= 0x80 never set it)
    return control || has_zero(word ^ ('"' * ones)) || has_zero(word ^ ('\\' * ones));
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    // Names and emails almost never need escaping: eight bytes are checked at a time, and the
    // string goes out in one append when none does.
    std::size_t clean = 0;
    for (std::uint64_t word; clean + 8 <= s.size(); clean += 8) {
        std::memcpy(&word, s.data() + clean, 8);
        if (word_needs_escaping(word)) break;
    }
    std::size_t run = 0;  // start of the current stretch that needs no escaping
    for (std::size_t i = clean; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.substr(run, i - run));
        run = i + 1;
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            out += "\\u00";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    out.append(s.substr(run));
    out.push_back('"');
}

void append_lead_json(std::string& out, const store::Lead& lead) {
    if (const std::string* cached = lead.json.peek()) {
        out += *cached;
        return;
    }
    // Written directly, in the documented key order: building a json::object first costs more
    // than the rest of a GET. Room is made first for the keys, ids and timestamps (~230 bytes),
    // the strings and the metadata, so the text does not grow on the way (escapes aside).
    out.reserve(out.size() + 256 + store::text_bytes(lead));
    out += R"({"id":")";
    store::append_hex_id(out, "lead_", lead.id);
    out += R"(","name":)";
    append_json_string(out, lead.name);
    out += R"(,"email":)";
    append_json_string(out, lead.email);
    out += R"(,"phone":)";
    if (lead.phone) append_json_string(out, *lead.phone);
    else out += "null";
    out += R"(,"source":)";
    if (lead.source) append_json_string(out, *lead.source);
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

std::string render_lead_json(const store::Lead& lead) {
    std::string out;
    append_lead_json(out, lead);
    return out;
}

const std::string& lead_json_text(const store::Lead& lead) {
    return lead.json.get_or_fill([&] {
        std::string text = render_lead_json(lead);
        text.shrink_to_fit();  // kept as long as the lead: no growth slack (it was ~half the text)
        return text;
    });
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
