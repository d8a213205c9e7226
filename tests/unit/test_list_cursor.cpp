// The list cursor: encode_list_cursor / decode_list_cursor round trips, and every way a cursor
// can be refused (malformed, tampered, truncated, made for another query).

#include "leadd/api/list_cursor.hpp"
#include "leadd/auth/secrets.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <variant>

using leadd::api::CursorError;
using leadd::api::decode_list_cursor;
using leadd::api::encode_list_cursor;
using leadd::api::filter_fingerprint;
using leadd::store::ListPosition;
using leadd::store::ListQuery;
using leadd::store::SortField;
using leadd::store::SortOrder;
using leadd::store::Status;

namespace {

ListQuery filtered_query() {
    ListQuery q;
    q.status = Status::Qualified;
    q.source = "webinar";
    q.search = "ada";
    q.created_after = 1'700'000'000'000;
    q.created_before = 1'800'000'000'000;
    q.updated_after = 1'750'000'000'000;
    return q;
}

ListPosition decoded_ok(std::string_view cursor, const ListQuery& q) {
    auto r = decode_list_cursor(cursor, q);
    if (auto* e = std::get_if<CursorError>(&r))
        FAIL("'" << cursor << "' refused as " << (*e == CursorError::Malformed ? "malformed" : "mismatch"));
    return std::get<ListPosition>(r);
}

std::optional<CursorError> refusal(std::string_view cursor, const ListQuery& q) {
    auto r = decode_list_cursor(cursor, q);
    if (auto* e = std::get_if<CursorError>(&r)) return *e;
    return std::nullopt;
}

// A cursor built byte by byte, with a correct check, to reach the checks behind the check.
std::string forged(std::uint8_t version, std::uint8_t sort, std::uint8_t order, const ListQuery& q,
                   std::size_t declared_name_bytes, const std::string& name) {
    std::string bytes{static_cast<char>(version), static_cast<char>(sort), static_cast<char>(order)};
    auto put_u64 = [&](std::uint64_t v) {
        for (int shift = 56; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(v >> shift & 0xff));
    };
    put_u64(filter_fingerprint(q));
    put_u64(1'705'314'600'000);
    put_u64(77);
    bytes.push_back(static_cast<char>(declared_name_bytes >> 8));
    bytes.push_back(static_cast<char>(declared_name_bytes & 0xff));
    bytes += name;
    const auto digest = leadd::auth::sha256(bytes);
    bytes.append(reinterpret_cast<const char*>(digest.data()), 4);

    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string text;
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : bytes) {
        bits = bits << 8 | static_cast<unsigned char>(c);
        for (count += 8; count >= 6; count -= 6) text.push_back(alphabet[bits >> (count - 6) & 63]);
    }
    if (count > 0) text.push_back(alphabet[bits << (6 - count) & 63]);
    return text;
}

bool is_base64url(const std::string& s) {
    return s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == std::string::npos;
}

}  // namespace

TEST_CASE("a cursor round-trips its position for every sort and order", "[cursor]") {
    const std::vector<ListPosition> positions{
        {0, "", 0},
        {1'705'314'600'000, "", 0x1234567890abcdefULL},
        {-1, "", ~0ULL},  // before 1970, and the largest id
        {0, "ada lovelace", 42},
        {0, "\xC3\xA9mile z\xC3\xBC" "rich \xF0\x9F\x98\x80", 7},  // UTF-8, 4-byte code points
        {0, std::string(leadd::api::max_cursor_name_bytes, 'x'), 9},  // the longest name
        {INT64_MAX, "a,b&c=d+e/f?g%h", 1},
    };
    for (const auto sort : {SortField::CreatedAt, SortField::UpdatedAt, SortField::Name})
        for (const auto order : {SortOrder::Desc, SortOrder::Asc})
            for (const auto& q : {ListQuery{}, filtered_query()})
                for (const auto& position : positions) {
                    ListQuery query = q;
                    query.sort = sort;
                    query.order = order;
                    const auto cursor = encode_list_cursor(query, position);
                    INFO(cursor);
                    CHECK(is_base64url(cursor));  // URL-safe as is, no padding
                    CHECK(decoded_ok(cursor, query) == position);
                }
}

TEST_CASE("page, limit and an earlier cursor are not part of what a cursor must match", "[cursor]") {
    ListQuery made = filtered_query();
    const auto cursor = encode_list_cursor(made, {5, "", 6});
    ListQuery replayed = filtered_query();
    replayed.page = 7;
    replayed.limit = 100;
    replayed.after = ListPosition{1, "x", 2};
    CHECK(decoded_ok(cursor, replayed) == ListPosition{5, "", 6});
}

TEST_CASE("a cursor replayed with another sort, order or filters is a mismatch", "[cursor]") {
    const ListQuery made = filtered_query();
    const auto cursor = encode_list_cursor(made, {1'705'314'600'000, "", 99});
    REQUIRE(decoded_ok(cursor, made) == ListPosition{1'705'314'600'000, "", 99});

    std::vector<std::pair<std::string, ListQuery>> others;
    auto with = [&](std::string what, auto change) {
        ListQuery q = made;
        change(q);
        others.emplace_back(std::move(what), q);
    };
    with("sort", [](ListQuery& q) { q.sort = SortField::UpdatedAt; });
    with("order", [](ListQuery& q) { q.order = SortOrder::Asc; });
    with("no status", [](ListQuery& q) { q.status.reset(); });
    with("other status", [](ListQuery& q) { q.status = Status::New; });
    with("no source", [](ListQuery& q) { q.source.reset(); });
    with("other source", [](ListQuery& q) { q.source = "Webinar"; });  // sources are case-sensitive
    with("no search", [](ListQuery& q) { q.search.reset(); });
    with("empty search", [](ListQuery& q) { q.search = ""; });
    with("other search", [](ListQuery& q) { q.search = "adb"; });
    with("no createdAfter", [](ListQuery& q) { q.created_after.reset(); });
    with("later createdAfter", [](ListQuery& q) { *q.created_after += 1; });
    with("no createdBefore", [](ListQuery& q) { q.created_before.reset(); });
    with("earlier createdBefore", [](ListQuery& q) { *q.created_before -= 1; });
    with("no updatedAfter", [](ListQuery& q) { q.updated_after.reset(); });
    with("updatedAfter as createdAfter", [](ListQuery& q) { std::swap(q.created_after, q.updated_after); });
    for (const auto& [what, q] : others) {
        INFO(what);
        CHECK(refusal(cursor, q) == CursorError::Mismatch);
    }
}

TEST_CASE("the filter fingerprint tells apart values that a plain concatenation would not", "[cursor]") {
    ListQuery a, b;
    a.source = "ab";
    a.search = "c";
    b.source = "a";
    b.search = "bc";
    CHECK(filter_fingerprint(a) != filter_fingerprint(b));
    ListQuery none, empty;
    empty.search = "";
    CHECK(filter_fingerprint(none) != filter_fingerprint(empty));
    CHECK(filter_fingerprint(filtered_query()) == filter_fingerprint(filtered_query()));
}

TEST_CASE("malformed cursors are refused, never misread", "[cursor]") {
    const ListQuery q;
    for (const std::string& bad : std::vector<std::string>{"", "A", "AA", "AAAA", "not a cursor", "====", "AAAA====", "+/+/", "a b",
                                  std::string(1, '\0'), std::string(2000, 'A'), std::string(100'000, '-')}) {
        INFO("'" << bad.substr(0, 40) << "'");
        CHECK(refusal(bad, q) == CursorError::Malformed);
    }
}

TEST_CASE("a truncated, extended or edited cursor is refused", "[cursor]") {
    ListQuery q;
    q.sort = SortField::Name;
    // 45, 38 and 37 bytes: no base64url character with unused bits, one with 2, one with 4.
    const std::string name = GENERATE(as<std::string>{}, "grace hopper", "grace", "ada1");
    const auto cursor = encode_list_cursor(q, {0, name, 0xfeedULL});
    REQUIRE(decoded_ok(cursor, q).name == name);

    for (std::size_t n = 0; n < cursor.size(); ++n) {
        INFO("first " << n << " characters");
        CHECK(refusal(cursor.substr(0, n), q) == CursorError::Malformed);
    }
    for (const std::string tail : {"A", "AA", "AAA", "AAAA", "-_"}) {
        INFO("extended by " << tail);
        CHECK(refusal(cursor + tail, q) == CursorError::Malformed);
    }
    // Every single-character change: to every other base64url character, and to a few that
    // are not base64url at all.
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.%";
    for (std::size_t i = 0; i < cursor.size(); ++i)
        for (const char c : alphabet) {
            if (c == cursor[i]) continue;
            std::string edited = cursor;
            edited[i] = c;
            INFO("character " << i << " -> " << c << ": " << edited);
            CHECK(refusal(edited, q) == CursorError::Malformed);
        }
}

TEST_CASE("a cursor with a correct check but impossible fields is refused", "[cursor]") {
    const ListQuery q;  // createdAt desc: sort 0, order 0
    // The forger itself makes what the server makes.
    CHECK(forged(1, 0, 0, q, 0, "") == encode_list_cursor(q, {1'705'314'600'000, "", 77}));
    CHECK(decoded_ok(forged(1, 0, 0, q, 0, ""), q) == ListPosition{1'705'314'600'000, "", 77});

    CHECK(refusal(forged(0, 0, 0, q, 0, ""), q) == CursorError::Malformed);  // version
    CHECK(refusal(forged(2, 0, 0, q, 0, ""), q) == CursorError::Malformed);
    CHECK(refusal(forged(255, 0, 0, q, 0, ""), q) == CursorError::Malformed);
    CHECK(refusal(forged(1, 3, 0, q, 0, ""), q) == CursorError::Malformed);  // sort
    CHECK(refusal(forged(1, 0, 2, q, 0, ""), q) == CursorError::Malformed);  // order
    // The declared name length disagrees with the bytes that follow.
    CHECK(refusal(forged(1, 0, 0, q, 3, "ab"), q) == CursorError::Malformed);
    CHECK(refusal(forged(1, 0, 0, q, 1, "ab"), q) == CursorError::Malformed);
    CHECK(refusal(forged(1, 0, 0, q, 0xffff, "ab"), q) == CursorError::Malformed);
    // A name longer than any lead can have.
    const std::string too_long(leadd::api::max_cursor_name_bytes + 1, 'x');
    CHECK(refusal(forged(1, 0, 0, q, too_long.size(), too_long), q) == CursorError::Malformed);
    // A well-formed cursor of another sort is a mismatch, not malformed.
    CHECK(refusal(forged(1, 2, 0, q, 2, "ab"), q) == CursorError::Mismatch);
}
