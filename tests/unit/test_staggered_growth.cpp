// make_room_staggered: alike tables filled at one pace grow at inserts far apart, each to the
// capacity it would have grown to anyway.

#include "leadd/store/staggered_growth.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

using Table = boost::unordered_flat_map<std::uint64_t, std::uint64_t>;
constexpr std::size_t tables = 64;

// Inserts `total` keys round robin into `tables` tables (as evenly spread ids fill the shards)
// and returns, for each table, the insert (counted over all tables) at which it first grew past
// `capacity`; the tables end as `end`.
std::vector<std::size_t> first_growth_past(std::size_t capacity, std::size_t total, bool staggered,
                                           std::vector<Table>& end) {
    end.assign(tables, Table{});
    for (auto& t : end) t.reserve(capacity * 7 / 8);  // every table starts at `capacity`
    REQUIRE(end[0].bucket_count() == capacity);
    std::vector<std::size_t> grew(tables, 0);
    for (std::uint64_t key = 0; key < total; ++key) {
        const std::size_t i = key % tables;
        if (staggered) leadd::store::make_room_staggered(end[i], i, tables);
        end[i].emplace(key, key);
        if (grew[i] == 0 && end[i].bucket_count() > capacity) grew[i] = key + 1;
    }
    return grew;
}

}  // namespace

TEST_CASE("alike tables filled at one pace grow far apart, each in its turn, to the capacity they would have grown to",
          "[store][growth]") {
    Table probe;
    probe.reserve(1000);
    const std::size_t capacity = probe.bucket_count();
    const std::size_t max_load = probe.max_load();
    REQUIRE(max_load > 400);
    const std::size_t total = tables * (max_load + 1);  // every table past its max load: all grow either way

    std::vector<Table> plain_end, staggered_end;
    const auto plain = first_growth_past(capacity, total, false, plain_end);
    const auto staggered = first_growth_past(capacity, total, true, staggered_end);

    // The trouble: grown only when full, all of them grow within one round of inserts.
    REQUIRE(std::count(plain.begin(), plain.end(), 0) == 0);
    CHECK(*std::max_element(plain.begin(), plain.end()) - *std::min_element(plain.begin(), plain.end()) < tables);

    // Staggered: every one grows, in table order, the first at about three quarters of its max
    // load and each next one at least a round of inserts later, the last before it is full.
    REQUIRE(std::count(staggered.begin(), staggered.end(), 0) == 0);
    for (std::size_t i = 1; i < tables; ++i) {
        INFO("table " << i);
        CHECK(staggered[i] >= staggered[i - 1] + tables / 2);
    }
    CHECK(staggered.front() <= tables * (max_load * 3 / 4 + 2));
    CHECK(staggered.back() <= *std::min_element(plain.begin(), plain.end()));
    CHECK(staggered.back() - staggered.front() >= tables * (max_load / 5));  // spread over most of a quarter of the fill

    // Each grows to the capacity it would have grown to, and keeps every entry.
    for (std::size_t i = 0; i < tables; ++i) {
        CHECK(staggered_end[i].bucket_count() == plain_end[i].bucket_count());
        CHECK(staggered_end[i].size() == plain_end[i].size());
    }
}
