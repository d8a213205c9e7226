#pragma once
// LeadTable: one shard's map of lead id -> the lead's current state (LeadStore's shards).
//
// Why its own table: boost::unordered_flat_map, which it replaced, keeps a group's metadata (a
// byte per slot) apart from the elements, so a lookup reads the metadata's line, then the
// element's: two lines one after the other, and at a million leads the element's is always cold
// (every GET, PUT and DELETE by id starts with that lookup). Here a slot holds the id and the
// pointer together, at the place the id hashes to: a lookup waits for that one line (two when
// the slot or the probe runs over its end), and prefetch() can ask for it, and the next, before
// the caller has taken the shard's lock.
//
// Open addressing with linear probing, at most 3/4 full; an erase shifts the run after the slot
// back (no tombstones, so a lookup's probe ends at the first empty slot whatever was erased). An
// empty slot is one whose pointer is null: a stored lead never is. Not thread-safe: the shard's
// lock guards it, except prefetch(), which reads only an atomic copy of the table's place.

#include "leadd/store/lead.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace leadd::store {

class LeadTable {
public:
    LeadTable() = default;
    LeadTable(const LeadTable&) = delete;
    LeadTable& operator=(const LeadTable&) = delete;
    ~LeadTable();

    // The lead stored under `id`, or null.
    const LeadPtr* find(LeadId id) const;
    LeadPtr* find(LeadId id) { return const_cast<LeadPtr*>(std::as_const(*this).find(id)); }
    bool contains(LeadId id) const { return find(id) != nullptr; }

    // The entry for `id` and true when it was made now with `lead`; an existing entry is left as
    // it is (and false). `lead` must not be null.
    std::pair<LeadPtr*, bool> try_emplace(LeadId id, LeadPtr lead);
    void insert_or_assign(LeadId id, LeadPtr lead);
    // Whether there was an entry to erase.
    bool erase(LeadId id);

    std::size_t size() const { return size_; }
    // How many entries fit before the table grows (make_room_staggered reads it).
    std::size_t max_load() const { return capacity_ / 4 * 3; }
    // Room for `entries` without growing (a table only grows).
    void reserve(std::size_t entries);

    // Every entry, in no particular order: visit(id, const LeadPtr&).
    template <class Visit>
    void for_each(Visit&& visit) const {
        for (std::size_t i = 0; i < capacity_; ++i)
            if (slots_[i].lead) visit(slots_[i].id, slots_[i].lead);
    }

    // Appends every entry's lead to `out`, in no particular order: a cut's copy of a shard. Without
    // a branch per slot: half the slots are empty, in no pattern a branch predictor can learn, and
    // with one (as for_each has) a cut of a million leads spent three quarters of its time on
    // mispredicted branches (BM_SnapshotCut/1000000 ~7.2 ms with it, ~1.8 without).
    void append_leads(std::vector<const Lead*>& out) const;

    // Asks for the line a lookup of `id` starts at, without waiting and without the lock: it
    // reads the table's place from an atomic, and a table freed meanwhile only makes a prefetch
    // of memory no one reads (a prefetch never faults).
    void prefetch(LeadId id) const;

private:
    struct Slot {
        LeadId id = 0;
        LeadPtr lead;  // null: the slot is empty
    };
    // Fibonacci hashing: the product's high bits depend on every bit of the id, and the ids of
    // one shard share their low bits (they chose the shard).
    static std::size_t home(LeadId id, unsigned shift) {
        return static_cast<std::size_t>((id * 0x9e3779b97f4a7c15ull) >> shift);
    }
    std::size_t home(LeadId id) const { return home(id, shift_); }
    void rehash(std::size_t capacity);
    // The slot holding `id`, or the empty one where a probe for it ends (capacity_ > 0).
    Slot* probe(LeadId id) const;
    // `id`'s slot, and whether it was taken for `id` now (its pointer still null, for the caller
    // to set): found, or taken after growing the table if it was at its max load.
    std::pair<Slot*, bool> claim(LeadId id);

    Slot* slots_ = nullptr;  // capacity_ slots, aligned to a line
    std::size_t capacity_ = 0;  // 0 or a power of two
    unsigned shift_ = 64;       // 64 - log2(capacity_)
    std::size_t size_ = 0;
    // slots_ with shift_ in its low bits (slots_ is aligned to 64), for prefetch().
    std::atomic<std::uintptr_t> place_{0};
};

}  // namespace leadd::store
