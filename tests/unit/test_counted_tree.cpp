#include "leadd/store/counted_tree.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <iterator>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
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

// Categories: a Traits that declares them (a lead's status) has every inner node count its
// subtree's entries per category, so one category ranks, selects and iterates in O(log n) as if
// it were a tree of its own. Every check below compares with a model kept outside the tree, so a
// count the tree forgot to carry (through an append, a spill, a split, a merge, a recategorize)
// shows up as a wrong size, select, rank or step.

namespace {

// Ordered by key alone: the category rides along, as a lead's status does in a listing order,
// and recategorize must not move the entry.
struct Tagged {
    int key = 0;
    unsigned char category = 0;
};

Tagged tagged(int key, unsigned category) { return {key, static_cast<unsigned char>(category)}; }

template <std::size_t N>
struct TaggedTraits {
    using Entry = Tagged;
    using Bound = int;
    static constexpr std::size_t categories = N;
    static Bound bound_of(const Entry& e) { return e.key; }
    static bool less(const Entry& a, const Entry& b) { return a.key < b.key; }
    static bool less(const Entry& a, int b) { return a.key < b; }
    static bool less(int a, const Entry& b) { return a < b.key; }
    static bool less(int a, int b) { return a < b; }
    static unsigned category_of(const Entry& e) { return e.category; }
    static void set_category(Entry& e, unsigned category) { e.category = static_cast<unsigned char>(category); }
};

template <class Tree>
constexpr unsigned categories_of = 0;
template <class Traits, std::size_t L, std::size_t I>
constexpr unsigned categories_of<CountedTree<Traits, L, I>> = Traits::categories;

using CategoryModel = std::map<int, unsigned>;  // key -> category

std::vector<int> keys_of(const CategoryModel& model, unsigned category) {
    std::vector<int> keys;
    for (const auto& [key, c] : model)
        if (c == category) keys.push_back(key);
    return keys;
}

// Names the first difference: REQUIRE on two whole vectors would print thousands of keys.
template <class T>
void require_same(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
    for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i)
        if (got[i] != want[i]) FAIL(what << ": [" << i << "] is " << got[i] << ", expected " << want[i]);
    if (got.size() != want.size()) FAIL(what << ": " << got.size() << " items, expected " << want.size());
}

// Every answer of a categorized tree against the model. The unfiltered ones first (categories
// must not disturb them, and recategorize must not move an entry), then per category: size,
// select of every k and past the last, iteration both ways with each position's rank(), and
// rank_lower/rank_upper of every probe in [probe_lo, probe_hi].
template <class Tree>
void check_categories(const Tree& tree, const CategoryModel& model, int probe_lo, int probe_hi) {
    constexpr unsigned categories = categories_of<Tree>;
    INFO("probes from " << probe_lo);
    REQUIRE(tree.size() == model.size());
    std::vector<int> keys, key_categories;
    for (const auto& [key, c] : model) {
        keys.push_back(key);
        key_categories.push_back(static_cast<int>(c));
    }

    // The bounds on the walks stop an iterator that never reaches its end; the size check then fails.
    std::vector<int> got_keys, got_categories, backward, selected;
    for (auto it = tree.begin(); it != tree.end() && got_keys.size() <= keys.size(); ++it) {
        got_keys.push_back(it->key);
        got_categories.push_back(it->category);
    }
    require_same(got_keys, keys, "keys in order");
    // The stored category too, not only the counts: recategorize goes through set_category.
    require_same(got_categories, key_categories, "categories in order");
    for (auto it = tree.end(); it != tree.begin() && backward.size() <= keys.size();) backward.push_back((--it)->key);
    std::reverse(backward.begin(), backward.end());
    require_same(backward, keys, "keys backwards");
    for (std::size_t k = 0; k < keys.size(); ++k) selected.push_back(tree.select(k)->key);
    require_same(selected, keys, "select(k)");
    REQUIRE(tree.select(keys.size()) == tree.end());
    std::vector<std::size_t> lower, upper, want_lower, want_upper;
    for (int probe = probe_lo; probe <= probe_hi; ++probe) {
        lower.push_back(tree.rank_lower(probe));
        upper.push_back(tree.rank_upper(probe));
        want_lower.push_back(static_cast<std::size_t>(std::lower_bound(keys.begin(), keys.end(), probe) - keys.begin()));
        want_upper.push_back(static_cast<std::size_t>(std::upper_bound(keys.begin(), keys.end(), probe) - keys.begin()));
    }
    require_same(lower, want_lower, "rank_lower(probe_lo + i)");
    require_same(upper, want_upper, "rank_upper(probe_lo + i)");

    std::size_t total = 0;
    for (unsigned c = 0; c < categories; ++c) {
        INFO("category " << c);
        const std::vector<int> want = keys_of(model, c);
        const std::size_t n = want.size();
        REQUIRE(tree.size(c) == n);
        total += tree.size(c);
        std::vector<std::size_t> positions(n), reversed_positions(n);
        std::iota(positions.begin(), positions.end(), std::size_t{0});
        std::reverse_copy(positions.begin(), positions.end(), reversed_positions.begin());
        std::vector<int> reversed_want(want.rbegin(), want.rend());

        std::vector<int> got;
        std::vector<std::size_t> ranks;
        for (std::size_t k = 0; k < n; ++k) {
            const auto it = tree.select(k, c);
            if (it == tree.end(c)) FAIL("select(" << k << ", c) is end(c), with " << n << " entries in c");
            got.push_back(it->key);
            ranks.push_back(it.rank());
        }
        require_same(got, want, "select(k, c)");
        require_same(ranks, positions, "select(k, c).rank()");
        REQUIRE(tree.select(n, c) == tree.end(c));
        REQUIRE(tree.select(n + 5, c) == tree.end(c));

        // Each ++ must land where select names the next position (operator== across the two).
        got.clear();
        ranks.clear();
        for (auto it = tree.select(0, c); it != tree.end(c) && got.size() <= n; ++it) {
            if (!(it == tree.select(got.size(), c)))
                FAIL("++ reached key " << it->key << ", not select(" << got.size() << ", c)");
            got.push_back(it->key);
            ranks.push_back(it.rank());
        }
        require_same(got, want, "++ from select(0, c)");
        require_same(ranks, positions, "rank() going forward");

        got.clear();
        ranks.clear();
        if (n > 0) {
            auto it = tree.end(c);
            for (std::size_t i = 0; i < n; ++i) {
                --it;
                got.push_back(it->key);
                ranks.push_back(it.rank());
            }
            REQUIRE(it == tree.select(0, c));
        }
        require_same(got, reversed_want, "-- from end(c)");
        require_same(ranks, reversed_positions, "rank() going backward");

        std::vector<std::size_t> lower_c, upper_c, entry_lower_c, want_lower_c, want_upper_c;
        for (int probe = probe_lo; probe <= probe_hi; ++probe) {
            lower_c.push_back(tree.rank_lower(probe, c));
            upper_c.push_back(tree.rank_upper(probe, c));
            // An Entry probe of another category ranks the same: the category is not in the order.
            entry_lower_c.push_back(tree.rank_lower(tagged(probe, (c + 1) % categories), c));
            want_lower_c.push_back(static_cast<std::size_t>(std::lower_bound(want.begin(), want.end(), probe) - want.begin()));
            want_upper_c.push_back(static_cast<std::size_t>(std::upper_bound(want.begin(), want.end(), probe) - want.begin()));
        }
        require_same(lower_c, want_lower_c, "rank_lower(probe_lo + i, c)");
        require_same(upper_c, want_upper_c, "rank_upper(probe_lo + i, c)");
        require_same(entry_lower_c, want_lower_c, "rank_lower(Entry{probe_lo + i, other category}, c)");
    }
    REQUIRE(total == tree.size());
}

// The model of a tree that changes step by step: each key's category, and each category's size
// tallied beside it, so that the sizes can be checked after every step (require_counts) without
// a pass over the map.
struct TalliedModel {
    CategoryModel categories;
    std::vector<std::size_t> counts;

    explicit TalliedModel(unsigned category_count) : counts(category_count) {}
    void insert(int key, unsigned category) {  // `key` absent
        categories.emplace(key, category);
        ++counts[category];
    }
    void erase(CategoryModel::iterator at) {
        --counts[at->second];
        categories.erase(at);
    }
    void erase(int key) { erase(categories.find(key)); }  // `key` present
    void recategorize(CategoryModel::iterator at, unsigned category) {
        --counts[at->second];
        ++counts[category];
        at->second = category;
    }
};

// The per-category sizes the model expects, checked after every operation so that a failure
// names the operation that broke a count, not the next full check.
template <class Tree>
void require_counts(const Tree& tree, const std::vector<std::size_t>& counts) {
    for (unsigned c = 0; c < counts.size(); ++c) {
        INFO("category " << c);
        REQUIRE(tree.size(c) == counts[c]);
    }
}

template <class Tree>
void random_categorized_operations(unsigned seed, int key_span, int steps, int check_every) {
    INFO("seed " << seed << " span " << key_span);
    constexpr unsigned categories = categories_of<Tree>;
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> key(0, key_span);
    std::uniform_int_distribution<unsigned> category(0, categories - 1);
    Tree tree;
    TalliedModel model(categories);
    for (int step = 0; step < steps; ++step) {
        INFO("step " << step);
        const int k = key(rng);
        const unsigned c = category(rng);
        const int op = std::uniform_int_distribution<int>(0, 9)(rng);
        // Phases that mostly grow, then mostly shrink, so merges and emptied nodes are reached.
        const bool growing = (step / 2000) % 2 == 0;
        const auto found = model.categories.find(k);
        const bool present = found != model.categories.end();
        if (op < (growing ? 6 : 2)) {
            REQUIRE(tree.insert(tagged(k, c)) == !present);
            if (!present) model.insert(k, c);
        } else if (op < 8) {
            // By key or by an Entry of any category: erase finds by the order alone.
            REQUIRE((op % 2 == 0 ? tree.erase(k) : tree.erase(tagged(k, c))) == present);
            if (present) model.erase(found);
        } else {
            // To any category, the present one included (an update that keeps the status).
            const bool moved = op == 8 ? tree.recategorize(k, c) : tree.recategorize(tagged(k, (c + 1) % categories), c);
            REQUIRE(moved == present);
            if (present) model.recategorize(found, c);
        }
        require_counts(tree, model.counts);
        if (step % check_every == 0) check_categories(tree, model.categories, -1, key_span + 1);
    }
    check_categories(tree, model.categories, -1, key_span + 1);

    // Then down to nothing in random order: the last merges and root collapses, and the counts
    // of a tree that empties.
    std::vector<int> remaining;
    for (const auto& [k, c] : model.categories) remaining.push_back(k);
    std::shuffle(remaining.begin(), remaining.end(), rng);
    for (std::size_t i = 0; i < remaining.size(); ++i) {
        INFO("draining, erase " << i << " of " << remaining.size() << ": key " << remaining[i]);
        REQUIRE(tree.erase(remaining[i]));
        model.erase(remaining[i]);
        require_counts(tree, model.counts);
        if (i % (remaining.size() / 8 + 1) == 0) check_categories(tree, model.categories, -1, key_span + 1);
    }
    check_categories(tree, model.categories, -1, key_span + 1);
}

// 20 000 entries of category 0 but for three of category 1 (the first, one in the middle, the
// last) and none of category 2: a step from one of category 1 to the next crosses thousands of
// leaves that hold none, and so do rank and select.
template <class Tree>
void rare_category(unsigned seed) {
    constexpr int count = 20000;
    // Keys are even, so odd probes fall between them.
    constexpr int first = 0, middle = 2 * 9973, last = 2 * (count - 1);
    CategoryModel model;
    std::vector<int> order;
    for (int i = 0; i < count; ++i) {
        model[2 * i] = 0;
        order.push_back(2 * i);
    }
    model[first] = model[middle] = model[last] = 1;
    // Inserted in random order: the tree's shape is not the one an ascending load makes.
    std::mt19937 rng(seed);
    std::shuffle(order.begin(), order.end(), rng);
    Tree tree;
    for (int key : order) REQUIRE(tree.insert(tagged(key, model[key])));
    REQUIRE(tree.size(0) == count - 3);
    REQUIRE(tree.size(1) == 3);
    REQUIRE(tree.size(2) == 0);
    check_categories(tree, model, -1, last + 1);

    // Across the gaps step by step, both ways, from either end and from the middle one.
    auto it = tree.select(0, 1);
    REQUIRE(it->key == first);
    REQUIRE((++it)->key == middle);
    REQUIRE(it.rank() == 1);
    REQUIRE((++it)->key == last);
    REQUIRE(it.rank() == 2);
    REQUIRE(++it == tree.end(1));
    REQUIRE((--it)->key == last);
    REQUIRE((--it)->key == middle);
    REQUIRE((--it)->key == first);
    REQUIRE(it.rank() == 0);
    REQUIRE(it == tree.select(0, 1));
    it = tree.select(1, 1);
    REQUIRE((--it)->key == first);
    it = tree.select(1, 1);
    REQUIRE((++it)->key == last);
    REQUIRE(tree.rank_lower(middle, 1) == 1);
    REQUIRE(tree.rank_upper(middle, 1) == 2);
    REQUIRE(tree.rank_lower(middle, 0) == static_cast<std::size_t>(middle / 2 - 1));

    // The middle one leaves the category and its neighbour joins: the counts above both change,
    // the order does not. An absent (odd) key changes nothing.
    REQUIRE(tree.recategorize(middle, 0));
    REQUIRE(tree.recategorize(middle + 2, 1));
    REQUIRE_FALSE(tree.recategorize(middle + 1, 1));
    model[middle] = 0;
    model[middle + 2] = 1;
    REQUIRE(tree.size(0) == count - 3);
    REQUIRE(tree.size(1) == 3);
    check_categories(tree, model, -1, last + 1);

    // Category 1 emptied by an erase and two recategorizes; category 2 gets its only entry.
    REQUIRE(tree.erase(first));
    REQUIRE(tree.recategorize(middle + 2, 2));
    REQUIRE(tree.recategorize(last, 0));
    model.erase(first);
    model[middle + 2] = 2;
    model[last] = 0;
    REQUIRE(tree.size(1) == 0);
    REQUIRE(tree.select(0, 1) == tree.end(1));
    REQUIRE(tree.rank_upper(last + 1, 1) == 0);
    REQUIRE(tree.size(2) == 1);
    REQUIRE(tree.select(0, 2)->key == middle + 2);
    check_categories(tree, model, -1, last + 1);
}

// Ascending inserts take the append shortcut (the last leaf, the rightmost path's counts), which
// must count the new entry in its category at every level too.
template <class Tree>
void appends_then_erase_all(unsigned seed, int count, int check_every) {
    INFO("seed " << seed);
    constexpr unsigned categories = categories_of<Tree>;
    std::mt19937 rng(seed);
    std::uniform_int_distribution<unsigned> category(0, categories - 1);
    Tree tree;
    TalliedModel model(categories);
    const auto& counts = model.counts;
    for (int key = 0; key < count; ++key) {
        INFO("append " << key);
        const unsigned c = category(rng);
        REQUIRE(tree.insert(tagged(key, c)));
        model.insert(key, c);
        require_counts(tree, counts);
        // The new entry is the last of its category, however select and iteration reach it.
        const auto it = tree.select(counts[c] - 1, c);
        REQUIRE(it != tree.end(c));
        REQUIRE(it->key == key);
        auto back = tree.end(c);
        REQUIRE((--back)->key == key);
        REQUIRE(back.rank() == counts[c] - 1);
        REQUIRE(tree.rank_lower(key, c) == counts[c] - 1);
        REQUIRE(tree.rank_upper(key, c) == counts[c]);
        // Now and then an earlier entry changes category, so appends add to counts that
        // recategorize has changed along the rightmost path and elsewhere.
        if (key % 4 == 3) {
            const int earlier = std::uniform_int_distribution<int>(0, key)(rng);
            const unsigned to = category(rng);
            REQUIRE(tree.recategorize(earlier, to));
            model.recategorize(model.categories.find(earlier), to);
            require_counts(tree, counts);
        }
        if (key % check_every == 0) check_categories(tree, model.categories, -1, count);
    }
    check_categories(tree, model.categories, -1, count);

    std::vector<int> order;
    for (const auto& [k, c] : model.categories) order.push_back(k);
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i = 0; i < order.size(); ++i) {
        INFO("erase " << i << ": key " << order[i]);
        REQUIRE(tree.erase(order[i]));
        model.erase(order[i]);
        require_counts(tree, counts);
        if (i % static_cast<std::size_t>(check_every) == 0) check_categories(tree, model.categories, -1, count);
    }
    REQUIRE(tree.empty());
    for (unsigned c = 0; c < categories; ++c) {
        INFO("category " << c);
        REQUIRE(tree.size(c) == 0);
        REQUIRE(tree.select(0, c) == tree.end(c));
        REQUIRE(tree.rank_upper(count, c) == 0);
    }
}

}  // namespace

TEST_CASE("counted tree: categories agree with a model under random inserts, erases and recategorizes (tiny nodes, deep tree)", "[counted_tree]") {
    for (unsigned seed : {1u, 2u, 3u, 4u})
        random_categorized_operations<CountedTree<TaggedTraits<3>, 4, 4>>(seed, 600, 12000, 500);
}

TEST_CASE("counted tree: categories agree with a model under random inserts, erases and recategorizes (default nodes)", "[counted_tree]") {
    for (unsigned seed : {5u, 6u})
        random_categorized_operations<CountedTree<TaggedTraits<6>>>(seed, 20000, 40000, 4000);
}

TEST_CASE("counted tree: a category with three entries among 20 000", "[counted_tree]") {
    rare_category<CountedTree<TaggedTraits<3>, 4, 4>>(21);
    rare_category<CountedTree<TaggedTraits<3>>>(22);
}

TEST_CASE("counted tree: appends of mixed categories, then erasing everything", "[counted_tree]") {
    appends_then_erase_all<CountedTree<TaggedTraits<3>, 4, 4>>(31, 4000, 500);
    appends_then_erase_all<CountedTree<TaggedTraits<6>>>(32, 20000, 5000);
}

// Descents of three trees of different depths taken in turns, a level each, as the listing
// takes its orders' (WorkspaceIndex::move), then finished by an erase or a recategorize: each
// tree ends as its model, whatever the others did, and a descent stopped part way (or not
// started) is finished by the change that takes it.
TEST_CASE("counted tree: descents of several trees taken in turns, then finished by a change", "[counted_tree]") {
    using Tree = CountedTree<TaggedTraits<3>, 4, 4>;
    std::mt19937 rng(41);
    std::uniform_int_distribution<unsigned> category(0, 2);
    constexpr int spans[3] = {10, 400, 6000};  // one leaf, a few levels, many levels
    std::array<Tree, 3> trees;
    std::array<CategoryModel, 3> models;
    for (int t = 0; t < 3; ++t) {
        std::vector<int> keys(static_cast<std::size_t>(spans[t] / 2));
        for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = 2 * static_cast<int>(i);  // even: odd keys are absent
        std::shuffle(keys.begin(), keys.end(), rng);
        for (int key : keys) {
            const unsigned c = category(rng);
            REQUIRE(trees[t].insert(tagged(key, c)));
            models[t][key] = c;
        }
    }
    for (int round = 0; round < 3000; ++round) {
        INFO("round " << round);
        std::array<int, 3> keys{};
        std::vector<Tree::Descent<int>> descents;
        for (int t = 0; t < 3; ++t) {
            keys[t] = std::uniform_int_distribution<int>(-1, spans[t])(rng);
            descents.emplace_back(trees[t], keys[t]);
        }
        // In turns; in a third of the rounds the turns stop early, and the changes take the rest.
        const int turns = round % 3 == 0 ? std::uniform_int_distribution<int>(0, 2)(rng) : 1000;
        for (int turn = 0; turn < turns; ++turn) {
            bool deeper = false;
            for (auto& descent : descents) deeper = descent.step() || deeper;
            if (!deeper) break;
        }
        for (int t = 0; t < 3; ++t) {
            INFO("tree " << t << " key " << keys[t]);
            auto& model = models[t];
            const auto found = model.find(keys[t]);
            if (round % 2 == 0) {
                REQUIRE(trees[t].erase(descents[t]) == (found != model.end()));
                if (found != model.end()) model.erase(found);
            } else {
                const unsigned to = category(rng);
                REQUIRE(trees[t].recategorize(descents[t], to) == (found != model.end()));
                if (found != model.end()) found->second = to;
            }
            // A finished descent has nothing left to take.
            REQUIRE_FALSE(descents[t].step());
        }
        if (round % 500 == 0)
            for (int t = 0; t < 3; ++t) check_categories(trees[t], models[t], -1, spans[t] + 1);
    }
    for (int t = 0; t < 3; ++t) {
        INFO("tree " << t);
        check_categories(trees[t], models[t], -1, spans[t] + 1);
    }

    // An empty tree: nothing to take, nothing to change.
    Tree empty;
    Tree::Descent<int> descent(empty, 4);
    REQUIRE_FALSE(descent.step());
    REQUIRE_FALSE(empty.erase(descent));
}

TEST_CASE("counted tree: categories of an empty tree", "[counted_tree]") {
    CountedTree<TaggedTraits<3>, 4, 4> tree;
    auto require_empty = [&tree] {
        REQUIRE(tree.size() == 0);
        for (unsigned c = 0; c < 3; ++c) {
            INFO("category " << c);
            REQUIRE(tree.size(c) == 0);
            REQUIRE(tree.select(0, c) == tree.end(c));
            REQUIRE(tree.select(3, c) == tree.end(c));
            for (int probe : {-5, 0, 7}) {
                REQUIRE(tree.rank_lower(probe, c) == 0);
                REQUIRE(tree.rank_upper(probe, c) == 0);
            }
        }
        REQUIRE_FALSE(tree.recategorize(7, 1));
        REQUIRE(tree.size(1) == 0);
    };
    require_empty();  // never had a node
    // Emptied again after nodes were made, split and removed.
    for (int k = 0; k < 50; ++k) REQUIRE(tree.insert(tagged(k, static_cast<unsigned>(k % 3))));
    for (int k = 0; k < 50; ++k) REQUIRE(tree.erase(k));
    require_empty();
    REQUIRE(tree.insert(tagged(7, 2)));  // and usable after
    REQUIRE(tree.size(0) == 0);
    REQUIRE(tree.size(2) == 1);
    REQUIRE(tree.select(0, 2)->key == 7);
    REQUIRE(tree.select(1, 2) == tree.end(2));
}
