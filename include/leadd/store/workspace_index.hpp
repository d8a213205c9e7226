#pragma once
// WorkspaceIndex: every lead of one workspace in the orders a listing reads, counted, so that a
// page, its exact total and a cursor step cost O(log n + limit) whatever the offset.
//
// Orders (each a CountedTree, ascending; a descending listing walks it backwards):
//   createdAt, updatedAt, name: all leads
//   (source, createdAt): the leads that have a source
// Sort keys end with the id, so every order is total and a cursor position is exact. Sources
// are interned into small numbers; the source order is one tree ordered by (source, createdAt,
// id), a source's leads one contiguous range of it, so a workspace with many distinct sources
// costs no tree per source.
//
// Each entry carries its lead's status as the tree's category: every order counts its entries
// per status in each inner node, so one status's leads rank and select in O(log n) as if they
// had an order of their own (a status filter costs no tree per status), and a status change
// moves a count on one path per order instead of an erase and an insert in a per-status tree
// (each a descent into a cold leaf at a million leads).
//
// Every entry points at its lead's cell (ListedLead: one per lead, which owns the lead's current
// LeadPtr), not at the lead: an update repoints the cell once and leaves alone every order whose
// key it did not change. Repointing an entry in every order cost a descent into a cold leaf per
// order at a million leads.
//
// A query reads the tree whose order is the query's sort and whose facet covers its status and
// source filters; createdAfter/createdBefore (on createdAt order) and updatedAfter (on updatedAt
// order) become a rank range. Exact: O(log n + limit). Filters that tree cannot express are
// verified lead by lead over its range (a scan of that range, O(range)):
//   - sort=createdAt with updatedAfter
//   - sort=updatedAt with source, createdAfter or createdBefore
//   - sort=name with source or any time bound
// where a source filter is present and its createdAt range is under a quarter of the sorted
// range, its leads are gathered and sorted instead (O(m log m) in the source's leads).
// A search reads the SearchIndex's matches, keeps those passing the other filters and orders
// them: O(m) in the matches (plus O(limit log limit), or O(m log m) for a whole list). A search
// that is the only filter of a paged query (no cursor) counts its matches in the search index
// alone, without touching a lead, and finds the page by walking the sort order and testing each
// lead: ~(offset + limit) x n/m leads for matches spread evenly, capped at m/4 before it falls
// back to ordering the matches, so a common needle's first pages cost O(limit x n/m), not O(m).
//
// Not thread-safe: the owner (LeadStore's per-workspace listing lock) serializes writers against
// readers. Leads are immutable; the index keeps each lead's LeadPtr once, in its cell, and the
// search index keeps plain pointers to the leads the cells own.
//
// Memory at 1 000 000 leads (test_list_index "[.memory]", node bytes counted): ~155 bytes
// per lead for the orders (entries of 24-40 bytes in leaves ~80-95% full, and the 16-byte cell;
// ~287 with an order per status besides), plus the search index.

#include "leadd/store/counted_tree.hpp"
#include "leadd/store/lead.hpp"
#include "leadd/store/list_query.hpp"
#include "leadd/store/search_index.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace leadd::store {

// A listed lead's cell: its current state. Allocated when the lead enters the index, repointed
// by each update, freed when the lead leaves; the lead's ListingSlot points back at it.
struct ListedLead {
    LeadPtr current;
};

namespace listing_order {

// An entry's cell and its lead's status in one word: a cell is 8-byte aligned, so the status
// rides in the pointer's three low bits and an entry stays 24-40 bytes.
class CellRef {
public:
    CellRef() = default;
    CellRef(const ListedLead* cell, Status status)
        : bits_(reinterpret_cast<std::uintptr_t>(cell) | static_cast<std::uintptr_t>(status)) {}
    const ListedLead* cell() const { return reinterpret_cast<const ListedLead*>(bits_ & ~status_bits); }
    const ListedLead* operator->() const { return cell(); }
    unsigned status() const { return static_cast<unsigned>(bits_ & status_bits); }
    void set_status(unsigned status) { bits_ = (bits_ & ~status_bits) | status; }

private:
    static constexpr std::uintptr_t status_bits = 7;
    static_assert(alignof(ListedLead) > status_bits && status_count <= status_bits + 1);
    std::uintptr_t bits_ = 0;
};

// Every order's category: the status in the entry's CellRef.
struct StatusCategory {
    static constexpr std::size_t categories = status_count;
    template <class Entry>
    static unsigned category_of(const Entry& e) { return e.listed.status(); }
    template <class Entry>
    static void set_category(Entry& e, unsigned status) { e.listed.set_status(status); }
};

// A createdAt or updatedAt position: the time, then the id.
struct TimeBound {
    Millis time = 0;
    LeadId id = 0;
};

// (time, id) order. The entry carries the id: createdAt and updatedAt tie by the dozen (an
// import stamps a thousand leads in one millisecond), and a tie read through the pointer is a
// cache miss into a lead on every step of a descent among them.
struct ByTime : StatusCategory {
    struct Entry {
        Millis time = 0;
        LeadId id = 0;
        CellRef listed;
    };
    using Bound = TimeBound;
    static Bound bound_of(const Entry& e) { return {e.time, e.id}; }
    template <class A, class B>
    static bool less(const A& a, const B& b) { return a.time != b.time ? a.time < b.time : a.id < b.id; }
};

// (source number, createdAt, id) order: one source's leads are one range. The entry carries
// the id for the reason ByTime's does.
struct BySourceThenTime : StatusCategory {
    struct Entry {
        std::uint32_t source = 0;
        Millis time = 0;
        LeadId id = 0;
        CellRef listed;
    };
    struct Bound {
        std::uint64_t source = 0;  // 64 bits: a range's end is "the next source" even after the last
        Millis time = 0;
        LeadId id = 0;
    };
    static Bound bound_of(const Entry& e) { return {e.source, e.time, e.id}; }
    template <class A, class B>
    static bool less(const A& a, const B& b) {
        if (a.source != b.source) return a.source < b.source;
        if (a.time != b.time) return a.time < b.time;
        return a.id < b.id;
    }
};

// (ASCII-lower-cased name, id) order. An entry carries a Key: the first 23 lower-cased bytes
// and the length (capped at 24), and the id, so comparing two names of up to 23 bytes (nearly
// all names), equal ones included (common names repeat thousands of times), never reads a lead
// (a cache miss per comparison, paid on every step of a descent among names that share their
// first bytes by the hundred, as "Load Test 1234567" does). Separators own a copy of the name.
struct ByName : StatusCategory {
    struct Key {
        std::uint64_t high = 0;  // bytes 0..7, big-endian
        std::uint64_t mid = 0;   // bytes 8..15, big-endian
        std::uint64_t low = 0;   // bytes 16..22, big-endian, then min(length, 24)
        auto operator<=>(const Key&) const = default;
        bool complete() const { return (low & 0xff) <= 23; }  // the whole name is in the key
    };
    struct Entry {
        Key key;
        LeadId id = 0;
        CellRef listed;  // its state's name is the entry's while it is listed
    };
    struct Bound {
        Key key;
        std::string name;  // lower-cased
        LeadId id = 0;
    };
    static Key key_of(std::string_view name);
    // <0, 0, >0 as `a` lower-cased sorts before, with, after `b` lower-cased (unsigned bytes).
    static int compare_folded(std::string_view a, std::string_view b);
    static Bound bound_of(const Entry& e);
    template <class A, class B>
    static bool less(const A& a, const B& b) {
        // Keys order as the names do: equal 23-byte prefixes, then the shorter name first; only
        // two names that both run past 23 bytes need the names themselves.
        if (a.key != b.key) return a.key < b.key;
        if (!a.key.complete())
            if (const int c = compare_folded(name_of(a), name_of(b)); c != 0) return c < 0;
        return id_of(a) < id_of(b);
    }

private:
    static std::string_view name_of(const Entry& e) { return e.listed->current->name; }
    static std::string_view name_of(const Bound& b) { return b.name; }
    template <class T>
    static LeadId id_of(const T& t) { return t.id; }
};

}  // namespace listing_order

class WorkspaceIndex {
public:
    WorkspaceIndex() = default;
    WorkspaceIndex(const WorkspaceIndex&) = delete;
    WorkspaceIndex& operator=(const WorkspaceIndex&) = delete;
    ~WorkspaceIndex();

    // A create (previous null) or an update: `previous` is the state the index holds for the
    // lead (the object put last, not a copy), which `lead` replaces; an update keeps createdAt.
    // Puts in ascending createdAt order (a create is the newest; recovery restores oldest first)
    // append to every createdAt order, the cheap path.
    void put(const LeadPtr& lead, const Lead* previous);
    void erase(const Lead& lead);

    ListPage page(const ListQuery& query) const;
    // Every lead matching the query's filters, in its order (page, limit and cursor ignored).
    std::vector<LeadPtr> all(const ListQuery& filters) const;

    std::size_t size() const { return created_.size(); }
    // The trees' nodes, the interned sources and the search index: what the listing costs.
    std::size_t memory_bytes() const;

private:
    using TimeOrder = CountedTree<listing_order::ByTime>;
    using SourceOrder = CountedTree<listing_order::BySourceThenTime>;
    using NameOrder = CountedTree<listing_order::ByName>;
    struct SourceNumber {
        std::uint32_t number;
        std::uint32_t leads;  // the number goes with the last lead of the source
    };

    void add(const ListedLead& cell);           // into every order but created_
    void remove(const Lead& lead, const ListedLead& cell);  // from every order but created_
    // An update: the cell, which holds `previous`, gets `lead`; orders whose key changed move it,
    // the others only recount it when its status changed.
    void move(ListedLead& cell, const LeadPtr& lead, const Lead& previous);
    std::uint32_t intern_source(const std::string& source);
    void release_source(const std::string& source);
    const SourceNumber* find_source(const std::string& source) const;
    ListPage read(const ListQuery& query, std::size_t skip, std::size_t limit) const;
    // A search that is the query's only filter, by page: walks the sort order from its start; null
    // when ordering every match is expected to cost less (see the definition).
    std::optional<ListPage> read_search_by_walking(const ListQuery& query, std::size_t skip, std::size_t limit) const;
    ListPage read_matches(std::vector<const Lead*> matches, const ListQuery& query, std::size_t skip,
                          std::size_t limit) const;

    TimeOrder created_;
    TimeOrder updated_;
    NameOrder by_name_;
    SourceOrder created_by_source_;
    std::unordered_map<std::string, SourceNumber> sources_;
    std::uint32_t next_source_number_ = 0;
    SearchIndex search_;
};

}  // namespace leadd::store
