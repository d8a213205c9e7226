#pragma once
// The list endpoint's cursor: where the next page starts, as an opaque, URL-safe string.
//
// Layout (before base64url without padding; integers big-endian):
//   | version 1 | sort 1 | order 1 | filters 8 | time 8 | id 8 | name length 2 | name | check 4 |
// - sort: 0 createdAt, 1 updatedAt, 2 name; order: 0 desc, 1 asc.
// - filters: filter_fingerprint of the query that made the cursor, so a cursor replayed with
//   other filters (whose order it is no place in) is refused rather than silently misread.
// - time, id, name: the ListPosition of the last lead of the page (name at most
//   max_cursor_name_bytes: the API's 200 code points, 4 bytes each at most).
// - check: the first 4 bytes of SHA-256 of everything before it. It catches truncated and
//   mangled cursors; it is not a signature: a client that forges a cursor can only name a
//   position in its own workspace's order, which any real cursor could also name.

#include "leadd/store/lead_store.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace leadd::api {

inline constexpr std::uint8_t list_cursor_version = 1;
inline constexpr std::size_t max_cursor_name_bytes = 200 * 4;

// A stable digest of the filters that decide which leads a listing holds (status, source,
// search and the time bounds); page, limit, sort, order and the cursor itself are not filters.
std::uint64_t filter_fingerprint(const store::ListQuery& query);

// The cursor for the page that starts after `last` in `query`'s order, under `query`'s filters.
std::string encode_list_cursor(const store::ListQuery& query, const store::ListPosition& last);

enum class CursorError {
    Malformed,  // not a cursor this server wrote: bad base64url, length, version, check, fields
    Mismatch,   // a sound cursor, but made for another sort, order or other filters
};

// The position `text` carries, if it was made for a query with `query`'s sort, order and filters.
std::variant<store::ListPosition, CursorError> decode_list_cursor(std::string_view text,
                                                                  const store::ListQuery& query);

}  // namespace leadd::api
