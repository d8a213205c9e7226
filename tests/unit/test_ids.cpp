// Printed ids ("lead_" / "ws_" / "key_" + 16 lowercase hex) and the lead id generator.

#include "leadd/store/ids.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <vector>

using leadd::store::format_hex_id;
using leadd::store::IdGenerator;
using leadd::store::parse_hex_id;

TEST_CASE("format_hex_id writes the prefix and 16 lowercase hex digits", "[ids]") {
    CHECK(format_hex_id("lead_", 0) == "lead_0000000000000000");
    CHECK(format_hex_id("lead_", 1) == "lead_0000000000000001");
    CHECK(format_hex_id("ws_", 0x0123456789abcdefULL) == "ws_0123456789abcdef");
    CHECK(format_hex_id("key_", 0xFEDCBA9876543210ULL) == "key_fedcba9876543210");
    CHECK(format_hex_id("lead_", std::numeric_limits<std::uint64_t>::max()) ==
          "lead_ffffffffffffffff");
    CHECK(format_hex_id("", 0xabcULL) == "0000000000000abc");
}

TEST_CASE("parse_hex_id inverts format_hex_id", "[ids]") {
    std::mt19937_64 rng(1);
    for (int i = 0; i < 100'000; ++i) {
        const std::uint64_t v = rng();
        const auto text = format_hex_id("lead_", v);
        REQUIRE(text.size() == 21);
        const auto back = parse_hex_id("lead_", text);
        REQUIRE(back.has_value());
        REQUIRE(*back == v);
    }
    CHECK(parse_hex_id("ws_", "ws_0000000000000000") == std::optional<std::uint64_t>(0));
    CHECK(parse_hex_id("ws_", "ws_ffffffffffffffff") ==
          std::optional<std::uint64_t>(std::numeric_limits<std::uint64_t>::max()));
    CHECK(parse_hex_id("key_", "key_0123456789abcdef") ==
          std::optional<std::uint64_t>(0x0123456789abcdefULL));
}

TEST_CASE("parse_hex_id rejects everything but prefix + 16 lowercase hex", "[ids]") {
    const char* bad[] = {
        "",
        "lead_",
        "lead_0123456789ABCDEF",   // uppercase
        "lead_0123456789abcdeF",   // one uppercase digit
        "lead_0123456789abcde",    // 15 digits
        "lead_0123456789abcdef0",  // 17 digits
        "lead_0123456789abcdeg",   // not hex
        "lead_0123456789abcde ",   // trailing space
        " lead_0123456789abcdef",  // leading space
        "lead-0123456789abcdef",   // wrong separator
        "LEAD_0123456789abcdef",   // prefix is case-sensitive
        "ws_0123456789abcdef",     // another kind of id
        "0123456789abcdef",        // no prefix
        "lead_0x23456789abcdef",
        "lead_+123456789abcdef",
        "lead_-123456789abcdef",
        "lead_lead_0123456789ab",  // prefix repeated
        "xlead_123456789abcdef",   // right length, wrong prefix
    };
    for (const char* s : bad) {
        INFO("'" << s << "'");
        CHECK_FALSE(parse_hex_id("lead_", s).has_value());
    }
    CHECK_FALSE(parse_hex_id("lead_", std::string_view("lead_0123456789abcde\0", 21)).has_value());
    CHECK_FALSE(parse_hex_id("ws_", "lead_0123456789abcdef").has_value());
}

TEST_CASE("a million consecutive generated ids are distinct", "[ids]") {
    IdGenerator gen;
    constexpr std::size_t n = 1'000'000;
    std::vector<std::uint64_t> ids;
    ids.reserve(n);
    for (std::size_t i = 0; i < n; ++i) ids.push_back(gen.next());
    CHECK(gen.next_counter() == n + 1);
    std::sort(ids.begin(), ids.end());
    CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
}

TEST_CASE("scramble is not the identity and does not look sequential", "[ids]") {
    int fixed_points = 0;
    int sequential = 0;
    for (std::uint64_t c = 1; c <= 10'000; ++c) {
        if (IdGenerator::scramble(c) == c) ++fixed_points;
        if (IdGenerator::scramble(c + 1) == IdGenerator::scramble(c) + 1) ++sequential;
    }
    CHECK(fixed_points == 0);
    CHECK(sequential == 0);
    // The high bits change too: ids spread over the whole 64-bit range (they pick the shard).
    std::set<std::uint64_t> top_nibbles;
    for (std::uint64_t c = 1; c <= 1000; ++c) top_nibbles.insert(IdGenerator::scramble(c) >> 60);
    CHECK(top_nibbles.size() == 16);
    std::set<std::uint64_t> low_nibbles;
    for (std::uint64_t c = 1; c <= 1000; ++c) low_nibbles.insert(IdGenerator::scramble(c) & 0xf);
    CHECK(low_nibbles.size() == 16);
}

TEST_CASE("scramble is pinned: the same counter gives the same id in every build", "[ids]") {
    // Ids are derived from the persisted counter, so the bijection must never change, or a
    // restarted server could hand out an id that an earlier version already used.
    // splitmix64's finalizer; 0xe220a8397b1dcdaf is splitmix64's well-known first output.
    CHECK(IdGenerator::scramble(0x9e3779b97f4a7c15ULL) == 0xe220a8397b1dcdafULL);
    CHECK(IdGenerator::scramble(1) == 0x5692161d100b05e5ULL);
}

TEST_CASE("generators started at the same counter produce the same ids", "[ids]") {
    IdGenerator a(12345);
    IdGenerator b(12345);
    for (int i = 0; i < 10'000; ++i) REQUIRE(a.next() == b.next());
    CHECK(a.next_counter() == 12345 + 10'000);
    CHECK(a.next_counter() == b.next_counter());

    IdGenerator fresh;
    CHECK(fresh.next_counter() == 1);
    CHECK(fresh.next() == IdGenerator::scramble(1));
    CHECK(fresh.next_counter() == 2);
}

TEST_CASE("a generator resumed from the persisted counter never repeats an earlier id", "[ids]") {
    IdGenerator before;
    std::vector<std::uint64_t> issued;
    for (int i = 0; i < 5000; ++i) issued.push_back(before.next());

    IdGenerator after(before.next_counter());  // what a restart does
    // It continues the same sequence...
    IdGenerator continued(before.next_counter());
    CHECK(after.next() == before.next());
    // ...and never revisits an issued id.
    std::sort(issued.begin(), issued.end());
    for (int i = 0; i < 5000; ++i)
        REQUIRE_FALSE(std::binary_search(issued.begin(), issued.end(), continued.next()));
}

TEST_CASE("unscramble inverts scramble (scramble is a bijection)", "[ids]") {
    std::mt19937_64 rng(3);
    for (int i = 0; i < 200'000; ++i) {
        const std::uint64_t x = rng();
        REQUIRE(IdGenerator::unscramble(IdGenerator::scramble(x)) == x);
        REQUIRE(IdGenerator::scramble(IdGenerator::unscramble(x)) == x);
    }
    for (std::uint64_t c : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{2},
                            std::numeric_limits<std::uint64_t>::max()})
        CHECK(IdGenerator::unscramble(IdGenerator::scramble(c)) == c);
}

TEST_CASE("observe moves the counter past a recovered id, never backwards", "[ids]") {
    IdGenerator original;
    std::vector<std::uint64_t> issued;
    for (int i = 0; i < 100; ++i) issued.push_back(original.next());

    // Recovery sees the ids in any order; the counter ends past the largest one.
    IdGenerator recovered;
    for (auto it = issued.rbegin(); it != issued.rend(); ++it) recovered.observe(*it);
    CHECK(recovered.next_counter() == original.next_counter());
    CHECK(recovered.next() == original.next());

    // An old id does not pull the counter back.
    IdGenerator ahead(1000);
    ahead.observe(IdGenerator::scramble(5));
    CHECK(ahead.next_counter() == 1000);
    ahead.observe(IdGenerator::scramble(2000));
    CHECK(ahead.next_counter() == 2001);
}

TEST_CASE("restore_counter only moves the counter forward", "[ids]") {
    IdGenerator g(50);
    g.restore_counter(10);
    CHECK(g.next_counter() == 50);
    g.restore_counter(500);
    CHECK(g.next_counter() == 500);
    CHECK(g.next() == IdGenerator::scramble(500));
}
