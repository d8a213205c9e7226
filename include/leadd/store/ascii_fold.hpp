#pragma once
// ASCII case folding: the one rule the email index, `search` and name order share. A-Z become
// a-z; every other byte (UTF-8 included) compares as it is, so `É` and `é` stay different.

#include "leadd/store/lead.hpp"

#include <string>
#include <string_view>

namespace leadd::store {

constexpr unsigned char ascii_fold(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}
constexpr char ascii_fold_char(char c) { return static_cast<char>(ascii_fold(static_cast<unsigned char>(c))); }

inline std::string ascii_folded(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = ascii_fold_char(c);
    return out;
}

// Whether `text`, folded, contains `folded_needle` (already folded; the empty needle is in every text).
inline bool contains_folded(std::string_view text, std::string_view folded_needle) {
    if (folded_needle.empty()) return true;
    if (folded_needle.size() > text.size()) return false;
    const auto first = static_cast<unsigned char>(folded_needle[0]);
    const std::size_t last_start = text.size() - folded_needle.size();
    for (std::size_t start = 0; start <= last_start; ++start) {
        if (ascii_fold(static_cast<unsigned char>(text[start])) != first) continue;
        std::size_t matched = 1;
        while (matched < folded_needle.size() &&
               ascii_fold(static_cast<unsigned char>(text[start + matched])) ==
                   static_cast<unsigned char>(folded_needle[matched]))
            ++matched;
        if (matched == folded_needle.size()) return true;
    }
    return false;
}

// What `search` matches: the needle in the lead's name or in its email.
inline bool lead_contains_folded(const Lead& lead, std::string_view folded_needle) {
    return contains_folded(lead.name, folded_needle) || contains_folded(lead.email, folded_needle);
}

}  // namespace leadd::store
