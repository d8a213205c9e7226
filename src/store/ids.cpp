#include "leadd/store/ids.hpp"

namespace leadd::store {

void append_hex_id(std::string& out, std::string_view prefix, std::uint64_t value) {
    static constexpr char digits[] = "0123456789abcdef";
    out.append(prefix);
    const std::size_t at = out.size();
    out.resize(at + 16);
    for (int i = 15; i >= 0; --i) {
        out[at + static_cast<std::size_t>(i)] = digits[value & 0xf];
        value >>= 4;
    }
}

std::string format_hex_id(std::string_view prefix, std::uint64_t value) {
    std::string out;
    append_hex_id(out, prefix, value);
    return out;
}

std::optional<std::uint64_t> parse_hex_id(std::string_view prefix, std::string_view text) {
    if (text.size() != prefix.size() + 16 || text.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text.substr(prefix.size())) {
        unsigned digit;
        if (c >= '0' && c <= '9') digit = static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f') digit = static_cast<unsigned>(c - 'a' + 10);
        else return std::nullopt;
        value = value << 4 | digit;
    }
    return value;
}

// splitmix64's finalizer: each step (xor with a right shift of itself, multiplication by an odd
// constant) is invertible modulo 2^64, so the whole map is a bijection.
std::uint64_t IdGenerator::scramble(std::uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

std::uint64_t IdGenerator::unscramble(std::uint64_t x) {
    // Each step of scramble undone in reverse order; the constants are the multiplicative
    // inverses modulo 2^64 of scramble's.
    x ^= x >> 31 ^ x >> 62;
    x *= 0x319642b2d24d8ec3ULL;
    x ^= x >> 27 ^ x >> 54;
    x *= 0x96de1b173f119089ULL;
    x ^= x >> 30 ^ x >> 60;
    return x;
}

}  // namespace leadd::store
