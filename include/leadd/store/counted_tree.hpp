#pragma once
// CountedTree: an ordered set that also answers "how many are less than x" (rank) and "which is
// the k-th" (select) in O(log n) — the order-statistic structure that lets a listing jump to
// page N or count a filtered range without walking it.
//
// A B+tree: entries live in leaves of up to LeafCapacity, linked both ways so an iterator walks
// forward and backward; an inner node keeps, per child, the child's subtree size (what rank and
// select add up) and between children a separator Bound (every entry of child i+1 is >= bound i,
// every entry of child i below it). Separators are Bounds, not entries, because an entry may
// point into a lead that is erased while its separator stays: a Bound owns what it compares.
//
// Traits supplies:
//   Entry, Bound             what leaves hold, what separators and probes are
//   Bound bound_of(Entry)    the separator made from an entry
//   bool less(a, b)          for every pair of Entry and Bound: a total order, the same on both
// Entries are unique (the order is total: sort keys end with an id).
//
// Categories (optional): a Traits that also supplies
//   static constexpr std::size_t categories      N, small
//   unsigned category_of(Entry)                  0..N-1, not part of the order
//   void set_category(Entry&, unsigned)
// gets, in every inner node, each child's entries counted per category as well, so one
// category's entries rank, select and iterate in O(log n) as if they were a tree of their own,
// and an entry changes category in place (recategorize: one descent, no erase and insert). A
// listing keeps one order per sort with each lead's status as its category instead of an order
// per sort and status, so a status change is a count moved on one path per order.
//
// Memory: a full leaf first passes entries to a neighbour with room, and splits only when both
// neighbours are (nearly) full; a split by an entry near the leaf's end is made at that entry.
// So runs of (nearly) ascending inserts (recovery, the createdAt/updatedAt orders, each source's
// newest leads) fill leaves to 3/4 or more, and random inserts leave them ~80% full. An erase that leaves a leaf under a
// quarter full merges it into a neighbour when they fit together; inner nodes are only removed
// once empty (their count is ~1/LeafCapacity of the leaves', so their slack is negligible).

#include <algorithm>
#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <utility>

namespace leadd::store {

namespace counted_tree_detail {
template <class Traits>
constexpr std::size_t categories_of() {
    if constexpr (requires { Traits::categories; }) return Traits::categories;
    else return 0;
}
}  // namespace counted_tree_detail

template <class Traits, std::size_t LeafCapacity = 64, std::size_t InnerCapacity = 64>
class CountedTree {
public:
    using Entry = typename Traits::Entry;
    using Bound = typename Traits::Bound;
    static constexpr std::size_t categories = counted_tree_detail::categories_of<Traits>();

private:
    static unsigned category(const Entry& e) {
        if constexpr (categories > 0) return Traits::category_of(e);
        else return 0;
    }
    // A subtree's (or a run of entries') entries, in all and per category. Per category in 32
    // bits: an order holds far fewer than 4 billion entries of any one category.
    struct Counts {
        std::size_t all = 0;
        [[no_unique_address]] std::array<std::uint32_t, categories> by{};
        void add(const Entry& e) {
            ++all;
            if constexpr (categories > 0) ++by[category(e)];
        }
        Counts& operator+=(const Counts& o) {
            all += o.all;
            for (std::size_t c = 0; c < categories; ++c) by[c] += o.by[c];
            return *this;
        }
        Counts& operator-=(const Counts& o) {
            all -= o.all;
            for (std::size_t c = 0; c < categories; ++c) by[c] -= o.by[c];
            return *this;
        }
    };

    struct Node {
        bool is_leaf;
        std::uint16_t count = 0;  // entries (leaf) or children (inner)
        explicit Node(bool leaf) : is_leaf(leaf) {}
    };
    struct Leaf : Node {
        Leaf() : Node(true) {}
        Leaf* prev = nullptr;
        Leaf* next = nullptr;
        std::array<Entry, LeafCapacity> entries;
    };
    struct Inner : Node {
        Inner() : Node(false) {}
        // Its children are leaves (every leaf is equally deep): a descent then knows what kind of
        // node a child is, and so which of its lines to ask for, before the child's header is in.
        // In the header's padding: no bytes of its own.
        bool leaf_children = false;
        std::array<std::size_t, InnerCapacity> sizes;
        // [category][child]: one category's counts are contiguous, what a select in it scans.
        [[no_unique_address]] std::array<std::array<std::uint32_t, InnerCapacity>, categories> category_sizes;
        std::array<Node*, InnerCapacity> children;
        std::array<Bound, InnerCapacity - 1> separators;
    };
    static_assert(LeafCapacity >= 4 && InnerCapacity >= 4, "a split must leave both halves non-empty");

    // The tree only grows a level when the root is full, so at a million entries it is 4 levels
    // deep; the path has room for far more than any reachable depth.
    static constexpr std::size_t max_depth = 48;
    struct Step {
        Inner* inner;
        unsigned child;
    };
    struct Path {
        // Left uninitialized (only [0, depth) is read): an array of std::pair would be zeroed,
        // 768 bytes, on every insert and erase.
        std::array<Step, max_depth> steps;
        std::size_t depth = 0;
    };

    // What both iterators are: a place in a leaf (null leaf: the end) of a tree.
    class Position {
    public:
        using iterator_category = std::bidirectional_iterator_tag;
        using value_type = Entry;
        using difference_type = std::ptrdiff_t;
        using pointer = const Entry*;
        using reference = const Entry&;

        const Entry& operator*() const { return leaf_->entries[pos_]; }
        const Entry* operator->() const { return &leaf_->entries[pos_]; }

    protected:
        Position() = default;
        Position(const CountedTree* tree, const Leaf* leaf, unsigned pos) : tree_(tree), leaf_(leaf), pos_(pos) {}
        bool same_place(const Position& other) const { return leaf_ == other.leaf_ && pos_ == other.pos_; }
        const CountedTree* tree_ = nullptr;
        const Leaf* leaf_ = nullptr;
        unsigned pos_ = 0;
    };

public:
    class iterator : public Position {
        using Position::leaf_, Position::pos_, Position::tree_;

    public:
        iterator() = default;
        iterator& operator++() {
            if (++pos_ == leaf_->count) {
                leaf_ = leaf_->next;
                pos_ = 0;
            }
            return *this;
        }
        iterator& operator--() {
            if (leaf_ == nullptr) {
                leaf_ = tree_->last_;
                pos_ = leaf_->count - 1u;
            } else if (pos_ == 0) {
                leaf_ = leaf_->prev;
                pos_ = leaf_->count - 1u;
            } else {
                --pos_;
            }
            return *this;
        }
        bool operator==(const iterator& other) const { return this->same_place(other); }

    private:
        friend class CountedTree;
        iterator(const CountedTree* tree, const Leaf* leaf, unsigned pos) : Position(tree, leaf, pos) {}
    };

    // One category's entries in order. A step looks at the rest of the current leaf and then at
    // the next one (where a common category's next entry nearly always is) and otherwise selects
    // the next rank from the root, so a step costs O(leaf + log n) however far apart a rare
    // category's entries are.
    class category_iterator : public Position {
        using Position::leaf_, Position::pos_, Position::tree_;

    public:
        category_iterator() = default;
        // How many entries of the category come before this one.
        std::size_t rank() const { return rank_; }
        category_iterator& operator++() {
            if (++rank_ >= tree_->size(category_)) return *this = tree_->end(category_);
            if (find_forward(leaf_, pos_ + 1) || (leaf_->next != nullptr && find_forward(leaf_->next, 0)))
                return *this;
            return *this = tree_->select(rank_, category_);
        }
        category_iterator& operator--() {
            if (leaf_ == nullptr) return *this = tree_->select(tree_->size(category_) - 1, category_);
            --rank_;
            if (find_backward(leaf_, pos_) || (leaf_->prev != nullptr && find_backward(leaf_->prev, leaf_->prev->count)))
                return *this;
            return *this = tree_->select(rank_, category_);
        }
        bool operator==(const category_iterator& other) const { return this->same_place(other); }

    private:
        friend class CountedTree;
        // The first entry of the category in `leaf` at or after `from` / the last one before `to`.
        bool find_forward(const Leaf* leaf, unsigned from) {
            for (unsigned p = from; p < leaf->count; ++p)
                if (category(leaf->entries[p]) == category_) {
                    leaf_ = leaf;
                    pos_ = p;
                    return true;
                }
            return false;
        }
        bool find_backward(const Leaf* leaf, unsigned to) {
            for (unsigned p = to; p-- > 0;)
                if (category(leaf->entries[p]) == category_) {
                    leaf_ = leaf;
                    pos_ = p;
                    return true;
                }
            return false;
        }
        category_iterator(const CountedTree* tree, const Leaf* leaf, unsigned pos, unsigned category,
                          std::size_t rank)
            : Position(tree, leaf, pos), category_(category), rank_(rank) {}
        unsigned category_ = 0;
        std::size_t rank_ = 0;
    };

    CountedTree() = default;
    CountedTree(const CountedTree&) = delete;
    CountedTree& operator=(const CountedTree&) = delete;
    CountedTree(CountedTree&& other) noexcept { swap(other); }
    CountedTree& operator=(CountedTree&& other) noexcept {
        CountedTree(std::move(other)).swap(*this);
        return *this;
    }
    ~CountedTree() { destroy(root_); }

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    iterator begin() const { return iterator(this, first_, 0); }
    iterator end() const { return iterator(this, nullptr, 0); }

    // Bytes of every node (entries, sizes, separators; not what a separator itself allocates).
    std::size_t memory_bytes() const { return leaves_ * sizeof(Leaf) + inners_ * sizeof(Inner); }

    // False (and nothing changes) when an equal entry is already there.
    bool insert(const Entry& entry) {
        if (root_ == nullptr) {
            auto* leaf = new Leaf;
            ++leaves_;
            root_ = first_ = last_ = leaf;
        }
        // An entry after every other (a create in the createdAt and updatedAt orders) goes to the
        // end of the last leaf: the path there is the rightmost one, so it needs no comparisons
        // on the way down, only each level's last subtree size counted up.
        if (last_->count != 0 && last_->count < LeafCapacity &&
            Traits::less(last_->entries[last_->count - 1], entry)) {
            last_->entries[last_->count++] = entry;
            for (Node* node = root_; !node->is_leaf;) {
                auto* inner = static_cast<Inner*>(node);
                count_in(inner, inner->count - 1u, entry);
                node = inner->children[inner->count - 1u];
            }
            count_in_tree(entry);
            return true;
        }
        Path path;
        Leaf* leaf = descend(entry, path);
        const auto pos = static_cast<unsigned>(lower_in_leaf(leaf, entry) - leaf->entries.data());
        if (pos < leaf->count && !Traits::less(entry, leaf->entries[pos])) return false;

        // A full leaf first passes entries to a neighbour with room (which fixes their parent's
        // sizes itself); only when neither has room does it split.
        std::size_t levels_to_count = path.depth;
        Split split;
        if (leaf->count == LeafCapacity && path.depth > 0 &&
            spill(path.steps[path.depth - 1].inner, path.steps[path.depth - 1].child, leaf, pos, entry))
            --levels_to_count;
        else
            split = insert_in_leaf(leaf, pos, entry);
        for (std::size_t level = levels_to_count; level-- > 0;) {
            auto [inner, child] = path.steps[level];
            if (split.right == nullptr) {
                count_in(inner, child, entry);
                continue;
            }
            set_counts(inner, child, split.left_counts);
            split = insert_child(inner, child + 1, split);
        }
        if (split.right != nullptr) {
            auto* root = new Inner;
            ++inners_;
            root->count = 2;
            root->children[0] = root_;
            root->leaf_children = root_->is_leaf;
            root->children[1] = split.right;
            set_counts(root, 0, split.left_counts);
            set_counts(root, 1, split.right_counts);
            root->separators[0] = std::move(split.separator);
            root_ = root;
        }
        count_in_tree(entry);
        return true;
    }

    // The way down to the entry equal to `probe`, taken one level at a time (step), so that
    // several trees' descents can take turns: their cold nodes and leaves are then on their way
    // together instead of one tree's after another's (see prefetch_range; a store update at a
    // million leads descends four orders). erase and recategorize take a descent, finish it and
    // change the entry; the tree must not change between its first step and then, and the
    // descent is over after (step is false).
    template <class Probe>
    class Descent {
    public:
        Descent(CountedTree& tree, const Probe& probe) : tree_(&tree), probe_(probe), node_(tree.root_) {}
        // One level down; false once at the leaf (in an empty tree, after its change): nothing
        // left to take.
        bool step() {
            if (node_ == nullptr || node_->is_leaf) return false;
            node_ = descend_one(static_cast<Inner*>(node_), probe_, path_);
            return true;
        }

    private:
        friend class CountedTree;
        CountedTree* tree_;
        Probe probe_;
        Path path_;
        Node* node_;
    };

    // Removes the entry equal to `probe` (an Entry or a Bound); false when there is none.
    template <class Probe>
    bool erase(const Probe& probe) {
        Descent<Probe> descent(*this, probe);
        return erase(descent);
    }
    template <class Probe>
    bool erase(Descent<Probe>& descent) {
        unsigned pos = 0;
        Leaf* leaf = finish(descent, pos);
        if (leaf == nullptr) return false;
        const Path& path = descent.path_;
        const unsigned erased_category = category(leaf->entries[pos]);
        std::move(leaf->entries.data() + pos + 1, leaf->entries.data() + leaf->count, leaf->entries.data() + pos);
        leaf->entries[--leaf->count] = Entry{};  // release what the entry holds now, not at reuse
        for (std::size_t level = 0; level < path.depth; ++level) {
            auto [inner, child] = path.steps[level];
            count_out(inner, child, erased_category);
        }
        count_out_of_tree(erased_category);
        rebalance_after_erase(leaf, path);
        return true;
    }

    template <class Probe>
    iterator find(const Probe& probe) const {
        auto [it, rank] = locate(probe, /*upper=*/false);
        if (it == end() || Traits::less(probe, *it)) return end();
        return it;
    }

    // How many entries are less than `probe` / not greater than it.
    template <class Probe>
    std::size_t rank_lower(const Probe& probe) const { return locate(probe, false).second; }
    template <class Probe>
    std::size_t rank_upper(const Probe& probe) const { return locate(probe, true).second; }

    // The first entry not less than / greater than `probe`.
    template <class Probe>
    iterator lower_bound(const Probe& probe) const { return locate(probe, false).first; }
    template <class Probe>
    iterator upper_bound(const Probe& probe) const { return locate(probe, true).first; }

    // The entry with `k` entries before it (end() when k >= size()).
    iterator select(std::size_t k) const {
        if (k >= size_) return end();
        const Node* node = root_;
        while (!node->is_leaf) {
            const auto* inner = static_cast<const Inner*>(node);
            unsigned child = 0;
            while (k >= inner->sizes[child]) k -= inner->sizes[child++];
            node = inner->children[child];
        }
        return iterator(this, static_cast<const Leaf*>(node), static_cast<unsigned>(k));
    }

    // The same for one category (Traits with categories only): its entries, how many of them
    // are less than / not greater than `probe`, the one with `k` of them before it.
    std::size_t size(unsigned category) const { return category_sizes_[category]; }
    template <class Probe>
    std::size_t rank_lower(const Probe& probe, unsigned category) const { return rank_in(probe, false, category); }
    template <class Probe>
    std::size_t rank_upper(const Probe& probe, unsigned category) const { return rank_in(probe, true, category); }
    category_iterator end(unsigned category) const {
        return category_iterator(this, nullptr, 0, category, size(category));
    }
    category_iterator select(std::size_t k, unsigned c) const {
        if (k >= size(c)) return end(c);
        const std::size_t rank = k;
        std::size_t in_node = size(c);  // the category's entries under `node`
        const Node* node = root_;
        while (!node->is_leaf) {
            const auto* inner = static_cast<const Inner*>(node);
            const auto& sizes = inner->category_sizes[c];
            unsigned child = 0;
            while (k >= sizes[child]) k -= sizes[child++];
            in_node = sizes[child];
            node = inner->children[child];
        }
        // Counted from the nearer end of the leaf: the last page of a descending listing is the
        // last entries of the last leaf.
        const auto* leaf = static_cast<const Leaf*>(node);
        unsigned pos = 0;
        if (k < in_node / 2) {
            for (;; ++pos)
                if (category(leaf->entries[pos]) == c && k-- == 0) break;
        } else {
            std::size_t from_end = in_node - 1 - k;
            for (pos = leaf->count - 1u;; --pos)
                if (category(leaf->entries[pos]) == c && from_end-- == 0) break;
        }
        return category_iterator(this, leaf, pos, c, rank);
    }

    // The entry equal to `probe` is of `category` from now on; its place in the order stays.
    // False (nothing changes) when there is none.
    template <class Probe>
    bool recategorize(const Probe& probe, unsigned c) {
        Descent<Probe> descent(*this, probe);
        return recategorize(descent, c);
    }
    template <class Probe>
    bool recategorize(Descent<Probe>& descent, unsigned c) {
        unsigned pos = 0;
        Leaf* leaf = finish(descent, pos);
        if (leaf == nullptr) return false;
        const Path& path = descent.path_;
        const unsigned was = category(leaf->entries[pos]);
        if (was == c) return true;
        Traits::set_category(leaf->entries[pos], c);
        for (std::size_t level = 0; level < path.depth; ++level) {
            auto [inner, child] = path.steps[level];
            --inner->category_sizes[was][child];
            ++inner->category_sizes[c][child];
        }
        --category_sizes_[was];
        ++category_sizes_[c];
        return true;
    }

    void swap(CountedTree& other) noexcept {
        std::swap(root_, other.root_);
        std::swap(first_, other.first_);
        std::swap(last_, other.last_);
        std::swap(size_, other.size_);
        std::swap(leaves_, other.leaves_);
        std::swap(inners_, other.inners_);
        std::swap(category_sizes_, other.category_sizes_);
    }

private:
    struct Split {
        Node* right = nullptr;  // the new right sibling, or null: no split
        Bound separator{};
        Counts left_counts, right_counts;
    };

    // Child `child` of `inner` gained `entry` / lost an entry of `category`; the same for the tree.
    static void count_in(Inner* inner, unsigned child, const Entry& entry) {
        ++inner->sizes[child];
        if constexpr (categories > 0) ++inner->category_sizes[category(entry)][child];
    }
    static void count_out(Inner* inner, unsigned child, unsigned category) {
        --inner->sizes[child];
        if constexpr (categories > 0) --inner->category_sizes[category][child];
    }
    void count_in_tree(const Entry& entry) {
        ++size_;
        if constexpr (categories > 0) ++category_sizes_[category(entry)];
    }
    void count_out_of_tree(unsigned category) {
        --size_;
        if constexpr (categories > 0) --category_sizes_[category];
    }
    static Counts counts_of(const Inner* inner, unsigned child) {
        Counts counts;
        counts.all = inner->sizes[child];
        for (std::size_t c = 0; c < categories; ++c) counts.by[c] = inner->category_sizes[c][child];
        return counts;
    }
    static void set_counts(Inner* inner, unsigned child, const Counts& counts) {
        inner->sizes[child] = counts.all;
        for (std::size_t c = 0; c < categories; ++c) inner->category_sizes[c][child] = counts.by[c];
    }
    static void add_counts(Inner* inner, unsigned child, const Counts& counts) {
        Counts sum = counts_of(inner, child);
        set_counts(inner, child, sum += counts);
    }
    static void subtract_counts(Inner* inner, unsigned child, const Counts& counts) {
        Counts rest = counts_of(inner, child);
        set_counts(inner, child, rest -= counts);
    }
    static Counts counts_of(const Entry* first, const Entry* last) {
        Counts counts;
        if constexpr (categories > 0) {
            for (const Entry* e = first; e != last; ++e) counts.add(*e);
        } else {
            counts.all = static_cast<std::size_t>(last - first);
        }
        return counts;
    }
    static Counts counts_of(const Leaf* leaf) { return counts_of(leaf->entries.data(), leaf->entries.data() + leaf->count); }
    static Counts counts_of(const Inner* inner) {
        Counts counts;
        for (unsigned i = 0; i < inner->count; ++i) counts += counts_of(inner, i);
        return counts;
    }
    // Moves the counts of `inner`'s children [first, last) to start at `to` in `into` (which may
    // be `inner`, either way of overlap), as std::move / std::move_backward move the children.
    static void move_counts(Inner* inner, unsigned first, unsigned last, Inner* into, unsigned to) {
        const auto move_array = [&](auto& from_array, auto& to_array) {
            if (to <= first || into != inner)
                std::move(from_array.data() + first, from_array.data() + last, to_array.data() + to);
            else
                std::move_backward(from_array.data() + first, from_array.data() + last,
                                   to_array.data() + to + (last - first));
        };
        move_array(inner->sizes, into->sizes);
        for (std::size_t c = 0; c < categories; ++c) move_array(inner->category_sizes[c], into->category_sizes[c]);
    }

    // A node's keys (an inner node's separators, a leaf's entries) are 1-4 KiB, and a binary
    // search among them touches five or six cache lines, each address known only once the line
    // before it has arrived. In a tree too large for the cache (a listing order of 1 000 000
    // leads) that is a chain of misses per level; asking for all of the node's lines first
    // overlaps them. PUT at 1 000 000 seeded leads (one core, wrk -c64, four runs of each
    // build alternating): 40 055-41 446 -> 45 979-48 301 req/s. At 10 000 leads, where the trees
    // mostly stay cached, it costs ~1 700 instructions a PUT (instructions_bench.py, +5.9 %) and
    // is not slower for it: 10.3-10.8 -> 10.2-10.6 us of CPU per request.
    //
    // That still left each cold level of a descent three waits in a row: the node's header (how
    // many keys), then its keys, then the pointer to the chosen child. Every descent now asks
    // for the children with the keys, and a mutation's descent (descend_one) asks for the child's
    // lines as soon as it has the pointer, so the three are on their way together. On the bench
    // machine a dependent access to a random line of 1 GiB costs ~200 ns, and eight independent
    // ones overlap almost fully (~24 ns each); a PUT at a million leads descends four orders.
    //
    // But one core only has so many lines on their way at once: asked for many at a time, random
    // lines of 1 GiB arrive at ~6 ns each (BM_ColdLines), and a store update at a million leads
    // (BM_StoreUpdate) had its trees ask for ~645 lines, so their number is much of what it costs.
    // descend_one asks for what the change reads: a leaf's header and entries (not its empty
    // rest), an inner node's header and subtree sizes (its keys and children come from child_for
    // once its header is in), and each category's count of the chosen child (what an insert,
    // erase or recategorize changes on the way back up), not a leaf's worth of bytes from the
    // node's start.
    static void prefetch_range(const void* from, const void* to) {
        for (const char* p = static_cast<const char*>(from); p < static_cast<const char*>(to); p += 64)
            __builtin_prefetch(p);
    }

    // Which child of `inner` holds the entries a probe looks for: the first child whose upper
    // separator is greater than the probe (equal entries sit right of an equal separator).
    template <class Probe>
    static unsigned child_for(const Inner* inner, const Probe& probe) {
        const Bound* first = inner->separators.data();
        const Bound* last = first + (inner->count - 1);
        prefetch_range(first, last);
        // The children too: the chosen child's pointer is then no wait of its own after the search.
        prefetch_range(inner->children.data(), inner->children.data() + inner->count);
        return static_cast<unsigned>(
            std::upper_bound(first, last, probe, [](const Probe& p, const Bound& b) { return Traits::less(p, b); }) -
            first);
    }
    // A leaf's search: its entries are already asked for, by the descent that reached it.
    template <class Probe>
    static const Entry* lower_in_leaf(const Leaf* leaf, const Probe& probe) {
        return std::lower_bound(leaf->entries.data(), leaf->entries.data() + leaf->count, probe,
                                [](const Entry& e, const Probe& p) { return Traits::less(e, p); });
    }
    template <class Probe>
    static const Entry* upper_in_leaf(const Leaf* leaf, const Probe& probe) {
        return std::upper_bound(leaf->entries.data(), leaf->entries.data() + leaf->count, probe,
                                [](const Probe& p, const Entry& e) { return Traits::less(p, e); });
    }

    // A mutation's way down (root_ not null): the leaf where `probe` belongs.
    template <class Probe>
    Leaf* descend(const Probe& probe, Path& path) const {
        Node* node = root_;
        while (!node->is_leaf) node = descend_one(static_cast<Inner*>(node), probe, path);
        return static_cast<Leaf*>(node);
    }
    // One level of it: from `inner` to the child on the way, added to `path`.
    template <class Probe>
    static Node* descend_one(Inner* inner, const Probe& probe, Path& path) {
        const unsigned child = child_for(inner, probe);
        path.steps[path.depth++] = {inner, child};
        for (std::size_t c = 0; c < categories; ++c) __builtin_prefetch(&inner->category_sizes[c][child]);
        Node* node = inner->children[child];
        // The child's lines before its header is read (see prefetch_range). A root that is a
        // leaf is not asked for: a tree of one leaf is a small, hot one.
        if (inner->leaf_children)
            prefetch_range(node, static_cast<const Leaf*>(node)->entries.data() +
                                     std::min<std::size_t>(inner->sizes[child], LeafCapacity));
        else
            prefetch_range(node, static_cast<const Inner*>(node)->sizes.data() + InnerCapacity);
        assert(node->is_leaf == inner->leaf_children);
        return node;
    }

    // Takes the rest of `descent` (of this tree): the leaf holding the entry equal to its probe
    // (its index in `pos`, the way down in the descent's path), or null when there is none. The
    // descent is over then: the change may free the nodes it went through, so it lets go of them.
    template <class Probe>
    Leaf* finish(Descent<Probe>& descent, unsigned& pos) const {
        assert(descent.tree_ == this);
        while (descent.step()) {}
        auto* leaf = static_cast<Leaf*>(std::exchange(descent.node_, nullptr));
        if (leaf == nullptr) return nullptr;
        pos = static_cast<unsigned>(lower_in_leaf(leaf, descent.probe_) - leaf->entries.data());
        if (pos == leaf->count || Traits::less(descent.probe_, leaf->entries[pos])) return nullptr;
        return leaf;
    }

    // The first entry >= probe (upper: > probe), and how many entries precede it.
    template <class Probe>
    std::pair<iterator, std::size_t> locate(const Probe& probe, bool upper) const {
        if (root_ == nullptr) return {end(), 0};
        std::size_t rank = 0;
        const auto [leaf, slot] =
            descend_counting(probe, upper, [](const Inner* inner) -> const auto& { return inner->sizes; }, rank);
        const auto pos = static_cast<unsigned>(slot - leaf->entries.data());
        rank += pos;
        if (pos == leaf->count) return {iterator(this, leaf->next, 0), rank};
        return {iterator(this, leaf, pos), rank};
    }

    // How many entries of category `c` are less than (upper: not greater than) the probe.
    template <class Probe>
    std::size_t rank_in(const Probe& probe, bool upper, unsigned c) const {
        if (root_ == nullptr) return 0;
        std::size_t rank = 0;
        const auto [leaf, slot] =
            descend_counting(probe, upper, [c](const Inner* inner) -> const auto& { return inner->category_sizes[c]; }, rank);
        for (const Entry* e = leaf->entries.data(); e != slot; ++e) rank += category(*e) == c;
        return rank;
    }

    // The way down to `probe` (root_ not null): the leaf and the first entry in it >= probe
    // (upper: > probe), adding to `rank` the counts, in `sizes_of(inner)`, of the children left of
    // the path.
    template <class Probe, class SizesOf>
    std::pair<const Leaf*, const Entry*> descend_counting(const Probe& probe, bool upper, SizesOf sizes_of,
                                                          std::size_t& rank) const {
        const Node* node = root_;
        while (!node->is_leaf) {
            const auto* inner = static_cast<const Inner*>(node);
            const unsigned child = child_for(inner, probe);
            const auto& sizes = sizes_of(inner);
            for (unsigned i = 0; i < child; ++i) rank += sizes[i];
            node = inner->children[child];
        }
        const auto* leaf = static_cast<const Leaf*>(node);
        prefetch_range(leaf->entries.data(), leaf->entries.data() + leaf->count);
        return {leaf, upper ? upper_in_leaf(leaf, probe) : lower_in_leaf(leaf, probe)};
    }

    Split insert_in_leaf(Leaf* leaf, unsigned pos, const Entry& entry) {
        if (leaf->count < LeafCapacity) {
            insert_at(leaf, pos, entry);
            return {};
        }
        auto* right = new Leaf;
        ++leaves_;
        // An entry near the end of a full leaf splits it right there, leaving the left part
        // (at least 3/4 full) to the older entries: runs of nearly ascending inserts (a load, new
        // leads whose createdAt ties with a few others, the newest leads of one source) then pack
        // leaves instead of leaving each half empty. Elsewhere the leaf is halved.
        const bool split_at_entry = pos >= LeafCapacity - LeafCapacity / 4;
        const unsigned keep = split_at_entry ? pos : LeafCapacity / 2;
        std::move(leaf->entries.data() + keep, leaf->entries.data() + LeafCapacity, right->entries.data());
        for (unsigned i = keep; i < LeafCapacity; ++i) leaf->entries[i] = Entry{};
        right->count = static_cast<std::uint16_t>(LeafCapacity - keep);
        leaf->count = static_cast<std::uint16_t>(keep);
        right->next = leaf->next;
        right->prev = leaf;
        if (leaf->next) leaf->next->prev = right;
        else last_ = right;
        leaf->next = right;
        if (split_at_entry || pos > keep) insert_at(right, pos - keep, entry);
        else insert_at(leaf, pos, entry);
        return {right, Traits::bound_of(right->entries[0]), counts_of(leaf), counts_of(right)};
    }

    static void insert_at(Leaf* leaf, unsigned pos, const Entry& entry) {
        std::move_backward(leaf->entries.data() + pos, leaf->entries.data() + leaf->count,
                           leaf->entries.data() + leaf->count + 1);
        leaf->entries[pos] = entry;
        ++leaf->count;
    }

    // Inserts into the full `leaf` (child `child` of `parent`) by first moving half of a
    // neighbour's free room worth of entries into that neighbour. False (nothing changed) when
    // neither neighbour under `parent` has room for two.
    static bool spill(Inner* parent, unsigned child, Leaf* leaf, unsigned pos, const Entry& entry) {
        if (child + 1u < parent->count) {
            auto* right = static_cast<Leaf*>(parent->children[child + 1]);
            if (const unsigned moved = (LeafCapacity - right->count) / 2; moved > 0) {
                const Counts passed = counts_of(leaf->entries.data() + (LeafCapacity - moved),
                                                leaf->entries.data() + LeafCapacity);
                std::move_backward(right->entries.data(), right->entries.data() + right->count,
                                   right->entries.data() + right->count + moved);
                std::move(leaf->entries.data() + (LeafCapacity - moved), leaf->entries.data() + LeafCapacity,
                          right->entries.data());
                for (unsigned i = LeafCapacity - moved; i < LeafCapacity; ++i) leaf->entries[i] = Entry{};
                leaf->count = static_cast<std::uint16_t>(LeafCapacity - moved);
                right->count = static_cast<std::uint16_t>(right->count + moved);
                subtract_counts(parent, child, passed);
                add_counts(parent, child + 1, passed);
                if (pos <= leaf->count) {
                    insert_at(leaf, pos, entry);
                    count_in(parent, child, entry);
                } else {
                    insert_at(right, pos - leaf->count, entry);
                    count_in(parent, child + 1, entry);
                }
                parent->separators[child] = Traits::bound_of(right->entries[0]);
                return true;
            }
        }
        if (child > 0) {
            auto* left = static_cast<Leaf*>(parent->children[child - 1]);
            if (const unsigned moved = (LeafCapacity - left->count) / 2; moved > 0) {
                const Counts passed = counts_of(leaf->entries.data(), leaf->entries.data() + moved);
                std::move(leaf->entries.data(), leaf->entries.data() + moved, left->entries.data() + left->count);
                std::move(leaf->entries.data() + moved, leaf->entries.data() + LeafCapacity, leaf->entries.data());
                for (unsigned i = LeafCapacity - moved; i < LeafCapacity; ++i) leaf->entries[i] = Entry{};
                left->count = static_cast<std::uint16_t>(left->count + moved);
                leaf->count = static_cast<std::uint16_t>(LeafCapacity - moved);
                add_counts(parent, child - 1, passed);
                subtract_counts(parent, child, passed);
                if (pos <= moved) {
                    insert_at(left, left->count - moved + pos, entry);
                    count_in(parent, child - 1, entry);
                } else {
                    insert_at(leaf, pos - moved, entry);
                    count_in(parent, child, entry);
                }
                parent->separators[child - 1] = Traits::bound_of(leaf->entries[0]);
                return true;
            }
        }
        return false;
    }

    // Puts `below.right` at child index `at` of `inner` (its separator before it); splits
    // `inner` when full and says how.
    Split insert_child(Inner* inner, unsigned at, Split& below) {
        if (inner->count < InnerCapacity) {
            place_child(inner, at, below);
            return {};
        }
        auto* right = new Inner;
        ++inners_;
        right->leaf_children = inner->leaf_children;
        // As for leaves: a child appended at the end keeps this node full.
        const unsigned keep = at == InnerCapacity ? InnerCapacity : InnerCapacity / 2;
        Split up;
        up.right = right;
        if (keep == InnerCapacity) {
            // Right gets only the new child; the separator before it goes up.
            right->count = 1;
            right->children[0] = below.right;
            set_counts(right, 0, below.right_counts);
            up.separator = std::move(below.separator);
        } else {
            const unsigned moved = InnerCapacity - keep;
            std::move(inner->children.data() + keep, inner->children.data() + InnerCapacity, right->children.data());
            move_counts(inner, keep, InnerCapacity, right, 0);
            std::move(inner->separators.data() + keep, inner->separators.data() + (InnerCapacity - 1),
                      right->separators.data());
            up.separator = std::move(inner->separators[keep - 1]);
            for (unsigned i = keep - 1; i < InnerCapacity - 1; ++i) inner->separators[i] = Bound{};
            right->count = static_cast<std::uint16_t>(moved);
            inner->count = static_cast<std::uint16_t>(keep);
            if (at <= keep) place_child(inner, at, below);
            else place_child(right, at - keep, below);
        }
        up.left_counts = counts_of(inner);
        up.right_counts = counts_of(right);
        return up;
    }

    static void place_child(Inner* inner, unsigned at, Split& below) {
        const unsigned n = inner->count;
        std::move_backward(inner->children.data() + at, inner->children.data() + n, inner->children.data() + n + 1);
        move_counts(inner, at, n, inner, at + 1);
        std::move_backward(inner->separators.data() + (at - 1), inner->separators.data() + (n - 1),
                           inner->separators.data() + n);
        inner->children[at] = below.right;
        set_counts(inner, at, below.right_counts);
        inner->separators[at - 1] = std::move(below.separator);
        ++inner->count;
    }

    // Removes child `at` of `inner` (already emptied or merged away) with the separator that
    // bounded it.
    static void remove_child(Inner* inner, unsigned at) {
        const unsigned n = inner->count;
        std::move(inner->children.data() + at + 1, inner->children.data() + n, inner->children.data() + at);
        move_counts(inner, at + 1, n, inner, at);
        if (n > 1) {
            const unsigned sep = at == 0 ? 0 : at - 1;
            std::move(inner->separators.data() + sep + 1, inner->separators.data() + (n - 1),
                      inner->separators.data() + sep);
            inner->separators[n - 2] = Bound{};
        }
        --inner->count;
    }

    void unlink(Leaf* leaf) {
        if (leaf->prev) leaf->prev->next = leaf->next;
        else first_ = leaf->next;
        if (leaf->next) leaf->next->prev = leaf->prev;
        else last_ = leaf->prev;
        delete leaf;
        --leaves_;
    }

    void rebalance_after_erase(Leaf* leaf, const Path& path) {
        if (path.depth == 0) {  // the root is this leaf
            if (leaf->count == 0) {
                unlink(leaf);
                root_ = nullptr;
            }
            return;
        }
        auto [parent, child] = path.steps[path.depth - 1];
        if (leaf->count == 0) {
            unlink(leaf);
            remove_child(parent, child);
            remove_empty_inners(path, path.depth - 1);
        } else if (leaf->count < LeafCapacity / 4) {
            // Merge with a neighbour under the same parent when both fit in one leaf.
            if (child + 1u < parent->count) {
                auto* right = static_cast<Leaf*>(parent->children[child + 1]);
                if (leaf->count + right->count <= LeafCapacity) {
                    std::move(right->entries.data(), right->entries.data() + right->count,
                              leaf->entries.data() + leaf->count);
                    leaf->count = static_cast<std::uint16_t>(leaf->count + right->count);
                    add_counts(parent, child, counts_of(parent, child + 1));
                    unlink(right);
                    remove_child(parent, child + 1);
                }
            } else if (child > 0) {
                auto* left = static_cast<Leaf*>(parent->children[child - 1]);
                if (leaf->count + left->count <= LeafCapacity) {
                    std::move(leaf->entries.data(), leaf->entries.data() + leaf->count,
                              left->entries.data() + left->count);
                    left->count = static_cast<std::uint16_t>(left->count + leaf->count);
                    add_counts(parent, child - 1, counts_of(parent, child));
                    unlink(leaf);
                    remove_child(parent, child);
                }
            }
        }
        collapse_root();
    }

    // Inner nodes left without children go, bottom up; `level` is the deepest one touched.
    void remove_empty_inners(const Path& path, std::size_t level) {
        while (path.steps[level].inner->count == 0) {
            Inner* empty = path.steps[level].inner;
            delete empty;
            --inners_;
            if (level == 0) {
                root_ = nullptr;
                return;
            }
            --level;
            remove_child(path.steps[level].inner, path.steps[level].child);
        }
    }

    void collapse_root() {
        while (root_ != nullptr && !root_->is_leaf && root_->count == 1) {
            auto* old = static_cast<Inner*>(root_);
            root_ = old->children[0];
            delete old;
            --inners_;
        }
    }

    void destroy(Node* node) {
        if (node == nullptr) return;
        if (node->is_leaf) {
            delete static_cast<Leaf*>(node);
            return;
        }
        auto* inner = static_cast<Inner*>(node);
        for (unsigned i = 0; i < inner->count; ++i) destroy(inner->children[i]);
        delete inner;
    }

    Node* root_ = nullptr;
    Leaf* first_ = nullptr;
    Leaf* last_ = nullptr;
    std::size_t size_ = 0;
    std::size_t leaves_ = 0;
    std::size_t inners_ = 0;
    [[no_unique_address]] std::array<std::size_t, categories> category_sizes_{};
};

}  // namespace leadd::store
