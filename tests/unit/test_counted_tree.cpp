#include "leadd/store/counted_tree.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <iterator>
#include <random>
#include <set>
#include <vector>

using leadd::store::CountedTree;

namespace {

struct IntTraits {
    using Entry = int;
    using Bound = int;
    static Bound bound_of(Entry e) { return e; }
    static bool less(int a, int b) { return a < b; }
};

// Every answer of the tree against the sorted model: size, order both ways, rank and bounds of
// probes in and between entries, select of every index.
template <class Tree>
void check_against(const Tree& tree, const std::set<int>& model, int probe_span) {
    REQUIRE(tree.size() == model.size());
    const std::vector<int> sorted(model.begin(), model.end());
    REQUIRE(std::vector<int>(tree.begin(), tree.end()) == sorted);
    std::vector<int> backwards;
    for (auto it = tree.end(); it != tree.begin();) backwards.push_back(*--it);
    REQUIRE(std::vector<int>(backwards.rbegin(), backwards.rend()) == sorted);
    for (std::size_t k = 0; k < sorted.size(); ++k) REQUIRE(*tree.select(k) == sorted[k]);
    CHECK(tree.select(sorted.size()) == tree.end());
    for (int probe = -1; probe <= probe_span + 1; ++probe) {
        INFO("probe " << probe);
        const auto lower = std::lower_bound(sorted.begin(), sorted.end(), probe);
        const auto upper = std::upper_bound(sorted.begin(), sorted.end(), probe);
        REQUIRE(tree.rank_lower(probe) == static_cast<std::size_t>(lower - sorted.begin()));
        REQUIRE(tree.rank_upper(probe) == static_cast<std::size_t>(upper - sorted.begin()));
        if (lower == sorted.end()) REQUIRE(tree.lower_bound(probe) == tree.end());
        else REQUIRE(*tree.lower_bound(probe) == *lower);
        if (upper == sorted.end()) REQUIRE(tree.upper_bound(probe) == tree.end());
        else REQUIRE(*tree.upper_bound(probe) == *upper);
        REQUIRE((tree.find(probe) != tree.end()) == model.contains(probe));
    }
}

template <class Tree>
void random_operations(unsigned seed, int key_span, int steps, int check_every) {
    INFO("seed " << seed << " span " << key_span);
    std::mt19937 rng(seed);
    Tree tree;
    std::set<int> model;
    std::uniform_int_distribution<int> key(0, key_span);
    for (int step = 0; step < steps; ++step) {
        const int k = key(rng);
        // Phases that mostly grow, then mostly shrink, so merges and empty nodes are reached.
        const bool growing = (step / 2000) % 2 == 0;
        if (std::uniform_int_distribution<int>(0, 9)(rng) < (growing ? 7 : 3)) {
            REQUIRE(tree.insert(k) == model.insert(k).second);
        } else {
            REQUIRE(tree.erase(k) == (model.erase(k) == 1));
        }
        if (step % check_every == 0) check_against(tree, model, key_span);
    }
    check_against(tree, model, key_span);
}

}  // namespace

TEST_CASE("counted tree: random inserts and erases agree with std::set (tiny nodes, deep tree)", "[counted_tree]") {
    for (unsigned seed : {1u, 2u, 3u, 4u})
        random_operations<CountedTree<IntTraits, 4, 4>>(seed, 600, 12000, 500);
}

TEST_CASE("counted tree: random inserts and erases agree with std::set (default nodes)", "[counted_tree]") {
    for (unsigned seed : {5u, 6u}) random_operations<CountedTree<IntTraits>>(seed, 20000, 40000, 4000);
}

TEST_CASE("counted tree: appends interleaved with erases anywhere, including at the end", "[counted_tree]") {
    // Appends take a shortcut (the last leaf, the rightmost path's sizes): erases in the middle
    // and at the end (emptying and merging the last leaves) must leave it landing right.
    std::mt19937 rng(11);
    CountedTree<IntTraits, 4, 4> tree;
    std::set<int> model;
    int next = 0;
    for (int step = 0; step < 30000; ++step) {
        const int r = std::uniform_int_distribution<int>(0, 9)(rng);
        if (r < 6) {
            REQUIRE(tree.insert(next));
            model.insert(next++);
        } else if (r < 8 || model.empty()) {
            const int k = std::uniform_int_distribution<int>(0, std::max(next, 1))(rng);
            REQUIRE(tree.erase(k) == (model.erase(k) == 1));
        } else {
            const int last = *model.rbegin();
            REQUIRE(tree.erase(last));
            model.erase(last);
        }
        if (step % 1000 == 0) check_against(tree, model, next + 2);
    }
    check_against(tree, model, next + 2);
}

TEST_CASE("counted tree: ascending and descending loads, then erasing everything", "[counted_tree]") {
    CountedTree<IntTraits, 8, 4> ascending, descending;
    std::set<int> model;
    for (int i = 0; i < 3000; ++i) {
        REQUIRE(ascending.insert(i));
        REQUIRE(descending.insert(2999 - i));
        model.insert(i);
    }
    REQUIRE_FALSE(ascending.insert(17));
    check_against(ascending, model, 3000);
    check_against(descending, model, 3000);
    // An ascending load packs nodes full; a shuffled load leaves them ~70% full.
    std::mt19937 rng(7);
    std::vector<int> order(model.begin(), model.end());
    std::shuffle(order.begin(), order.end(), rng);
    CountedTree<IntTraits, 8, 4> shuffled;
    for (int k : order) shuffled.insert(k);
    CHECK(ascending.memory_bytes() * 10 < shuffled.memory_bytes() * 8);
    for (std::size_t i = 0; i < order.size(); ++i) {
        REQUIRE(ascending.erase(order[i]));
        model.erase(order[i]);
        if (i % 250 == 0) check_against(ascending, model, 3000);
    }
    CHECK(ascending.empty());
    CHECK(ascending.begin() == ascending.end());
    CHECK(ascending.memory_bytes() == 0);
    REQUIRE(ascending.insert(5));  // usable again after emptying
    CHECK(*ascending.begin() == 5);
}
