#include "leadd/store/json_text.hpp"

#include <cstdint>
#include <cstring>

namespace leadd::store {

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

}  // namespace leadd::store
