#include "leadd/store/merge_patch.hpp"

#include "leadd/store/json_text.hpp"

#include <boost/json/serializer.hpp>

#include <array>
#include <charconv>

namespace leadd::store {

void apply_merge_patch(boost::json::object& target, const boost::json::object& patch) {
    for (const auto& [key, value] : patch) {
        if (value.is_null()) {
            target.erase(key);
        } else if (value.is_object()) {
            auto it = target.find(key);
            if (it == target.end() || !it->value().is_object()) {
                boost::json::object fresh;
                apply_merge_patch(fresh, value.get_object());
                target[key] = std::move(fresh);
            } else {
                apply_merge_patch(it->value().get_object(), value.get_object());
            }
        } else {
            target[key] = value;
        }
    }
}

namespace {

// The end of the JSON value starting at text[i], in the compact text serialize writes (past
// the text's end if it is not such a text).
std::size_t skip_value(std::string_view text, std::size_t i) {
    int depth = 0;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '"') {
            for (++i; i < text.size() && text[i] != '"'; ++i)
                if (text[i] == '\\') ++i;  // the escaped byte cannot end the string
            if (depth == 0) return i + 1;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            if (depth == 0) return i;  // the end of the enclosing object: a scalar ended here
            if (--depth == 0) return i + 1;
        } else if (c == ',' && depth == 0) {
            return i;
        }
    }
    return i;
}

// Appends what boost::json::serialize would return for `value`. Strings, integers and booleans
// (what an update's metadata nearly always holds) are written directly: a serializer per value
// cost ~300 instructions, the direct way ~170, which took ~250 off the bench's PUT (~31 000).
// Doubles (whose shortest text is the serializer's to choose) and arrays go through one, with a
// buffer on the stack. (Writing a whole object directly measured no faster than one serializer
// for it: the serializer's cost is its setup, paid once per object.)
void append_serialized(std::string& out, const boost::json::value& value) {
    switch (value.kind()) {
    case boost::json::kind::string: append_json_string(out, value.get_string()); return;
    case boost::json::kind::bool_: out += value.get_bool() ? "true" : "false"; return;
    case boost::json::kind::int64:
    case boost::json::kind::uint64: {
        char digits[24];
        const auto end = value.is_int64() ? std::to_chars(digits, digits + sizeof digits, value.get_int64()).ptr
                                          : std::to_chars(digits, digits + sizeof digits, value.get_uint64()).ptr;
        out.append(digits, end);
        return;
    }
    default: break;
    }
    boost::json::serializer writer;
    writer.reset(&value);
    char buffer[256];
    do {
        const std::string_view part = writer.read(buffer, sizeof buffer);
        out.append(part.data(), part.size());
    } while (!writer.done());
}

}  // namespace

std::optional<std::string> merge_scalars_into_text(std::string_view target_text, const boost::json::object& patch) {
    // Which patch members the target already has, on the stack: a bigger patch (rare) takes the
    // object way rather than a heap block here.
    std::array<bool, 64> named{};
    if (patch.size() > named.size()) return std::nullopt;
    for (const auto& member : patch)
        if (member.value().is_null() || member.value().is_object()) return std::nullopt;
    if (target_text.size() < 2 || target_text.front() != '{') return std::nullopt;

    std::string out;
    out.reserve(target_text.size() + 64 * patch.size());
    out += '{';
    std::size_t i = 1;
    // The bounds checks only guard against a text that is not what serialize writes (never a
    // Metadata's): such a text takes the object way, which reports it.
    while (i < target_text.size() && target_text[i] != '}') {
        // "key":value, then ',' or the final '}'.
        const std::size_t key_begin = i + 1;
        const std::size_t key_end = target_text.find('"', key_begin);
        if (key_end == std::string_view::npos || key_end + 1 >= target_text.size()) return std::nullopt;
        const std::string_view key = target_text.substr(key_begin, key_end - key_begin);
        if (key.find('\\') != std::string_view::npos) return std::nullopt;
        const std::size_t value_begin = key_end + 2;
        const std::size_t value_end = skip_value(target_text, value_begin);
        if (value_end >= target_text.size()) return std::nullopt;
        if (out.size() > 1) out += ',';
        out.append(target_text.data() + i, value_begin - i);  // "key":
        if (const auto it = patch.find(key); it != patch.end()) {
            named[static_cast<std::size_t>(it - patch.begin())] = true;
            append_serialized(out, it->value());
        } else {
            out.append(target_text.data() + value_begin, value_end - value_begin);
        }
        i = target_text[value_end] == ',' ? value_end + 1 : value_end;
    }
    std::size_t index = 0;
    for (const auto& member : patch) {
        if (named[index++]) continue;
        if (out.size() > 1) out += ',';
        append_json_string(out, member.key());
        out += ':';
        append_serialized(out, member.value());
    }
    if (i >= target_text.size()) return std::nullopt;
    out += '}';
    return out;
}

}  // namespace leadd::store
