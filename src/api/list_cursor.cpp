#include "leadd/api/list_cursor.hpp"

#include "leadd/auth/secrets.hpp"

#include <array>
#include <optional>

namespace leadd::api {

namespace {

constexpr std::string_view base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// version, sort, order, filters, time, id, name length | name | check
constexpr std::size_t fixed_head_bytes = 1 + 1 + 1 + 8 + 8 + 8 + 2;
constexpr std::size_t check_bytes = 4;
constexpr std::size_t max_cursor_bytes = fixed_head_bytes + max_cursor_name_bytes + check_bytes;
// Base64url of max_cursor_bytes: anything longer is refused before it is decoded.
constexpr std::size_t max_cursor_chars = (max_cursor_bytes * 4 + 2) / 3;

void put_u64(std::string& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift & 0xff));
}

std::uint64_t read_u64(std::string_view bytes, std::size_t at) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
    return v;
}

// An optional string, written so that no two different values write the same bytes.
void put_optional_text(std::string& out, const std::optional<std::string>& text) {
    if (!text) {
        out.push_back('\0');
        return;
    }
    out.push_back('\1');
    put_u64(out, text->size());
    out += *text;
}

void put_optional_time(std::string& out, const std::optional<store::Millis>& t) {
    out.push_back(t ? '\1' : '\0');
    if (t) put_u64(out, static_cast<std::uint64_t>(*t));
}

std::array<unsigned char, check_bytes> check_of(std::string_view bytes) {
    const auto digest = auth::sha256(bytes);
    return {digest[0], digest[1], digest[2], digest[3]};
}

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16 |
                                static_cast<unsigned char>(bytes[i + 1]) << 8 |
                                static_cast<unsigned char>(bytes[i + 2]);
        for (int shift = 18; shift >= 0; shift -= 6) out.push_back(base64url_alphabet[v >> shift & 63]);
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
        out.push_back(base64url_alphabet[v >> 18 & 63]);
        out.push_back(base64url_alphabet[v >> 12 & 63]);
    } else if (rest == 2) {
        const std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16 | static_cast<unsigned char>(bytes[i + 1]) << 8;
        out.push_back(base64url_alphabet[v >> 18 & 63]);
        out.push_back(base64url_alphabet[v >> 12 & 63]);
        out.push_back(base64url_alphabet[v >> 6 & 63]);
    }
    return out;
}

// Strict: only the base64url alphabet, no padding, and the unused low bits of the last
// character zero, so every byte string has exactly one text and an edited text is never read
// as the same cursor.
std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (const char c : text) {
        const auto value = base64url_alphabet.find(c);
        if (value == std::string_view::npos) return std::nullopt;
        bits = bits << 6 | static_cast<std::uint32_t>(value);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            out.push_back(static_cast<char>(bits >> bit_count & 0xff));
        }
    }
    if ((bits & ((1u << bit_count) - 1)) != 0) return std::nullopt;
    return out;
}

}  // namespace

std::uint64_t filter_fingerprint(const store::ListQuery& query) {
    std::string canonical;
    canonical.push_back(query.status ? static_cast<char>(static_cast<std::uint8_t>(*query.status) + 1) : '\0');
    put_optional_text(canonical, query.source);
    put_optional_text(canonical, query.search);
    put_optional_time(canonical, query.created_after);
    put_optional_time(canonical, query.created_before);
    put_optional_time(canonical, query.updated_after);
    const auto digest = auth::sha256(canonical);
    return read_u64(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()), 0);
}

std::string encode_list_cursor(const store::ListQuery& query, const store::ListPosition& last) {
    std::string bytes;
    bytes.reserve(fixed_head_bytes + last.name.size() + check_bytes);
    bytes.push_back(static_cast<char>(list_cursor_version));
    bytes.push_back(static_cast<char>(query.sort));
    bytes.push_back(static_cast<char>(query.order));
    put_u64(bytes, filter_fingerprint(query));
    put_u64(bytes, static_cast<std::uint64_t>(last.time));
    put_u64(bytes, last.id);
    // A stored name is at most 200 code points (max_cursor_name_bytes), well inside 16 bits.
    bytes.push_back(static_cast<char>(last.name.size() >> 8 & 0xff));
    bytes.push_back(static_cast<char>(last.name.size() & 0xff));
    bytes += last.name;
    const auto check = check_of(bytes);
    bytes.append(reinterpret_cast<const char*>(check.data()), check.size());
    return base64url_encode(bytes);
}

std::variant<store::ListPosition, CursorError> decode_list_cursor(std::string_view text,
                                                                  const store::ListQuery& query) {
    if (text.size() > max_cursor_chars) return CursorError::Malformed;
    const auto decoded = base64url_decode(text);
    if (!decoded || decoded->size() < fixed_head_bytes + check_bytes) return CursorError::Malformed;
    const std::string_view bytes = *decoded;
    const std::string_view body = bytes.substr(0, bytes.size() - check_bytes);
    const auto check = check_of(body);
    if (bytes.substr(body.size()) != std::string_view(reinterpret_cast<const char*>(check.data()), check.size()))
        return CursorError::Malformed;

    const auto byte_at = [&](std::size_t at) { return static_cast<unsigned char>(bytes[at]); };
    const std::size_t name_bytes = std::size_t{byte_at(fixed_head_bytes - 2)} << 8 | byte_at(fixed_head_bytes - 1);
    if (byte_at(0) != list_cursor_version || byte_at(1) > static_cast<unsigned char>(store::SortField::Name) ||
        byte_at(2) > static_cast<unsigned char>(store::SortOrder::Asc) || name_bytes > max_cursor_name_bytes ||
        body.size() != fixed_head_bytes + name_bytes)
        return CursorError::Malformed;

    if (byte_at(1) != static_cast<unsigned char>(query.sort) || byte_at(2) != static_cast<unsigned char>(query.order) ||
        read_u64(bytes, 3) != filter_fingerprint(query))
        return CursorError::Mismatch;
    return store::ListPosition{static_cast<store::Millis>(read_u64(bytes, 11)),
                               std::string(body.substr(fixed_head_bytes)), read_u64(bytes, 19)};
}

}  // namespace leadd::api
