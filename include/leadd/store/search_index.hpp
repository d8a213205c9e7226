#pragma once
// SearchIndex: which leads of one workspace contain a string in their name or email, ASCII
// case-insensitively (A-Z fold to a-z, every other byte compares as is), without scanning them.
//
// Every lead lives in a slot (a 32-bit number into a table of lead pointers), whose number the lead
// itself carries (Lead::search_slot), so an update or erase needs no id -> slot table. For each
// trigram (three folded bytes) of a name or an email there is a posting list: the ascending slots
// whose name or email contains it. Trigrams never span name and email, so a trigram list is exact for a 3-byte
// needle, and the intersection of a longer needle's lists is a candidate set verified against the
// real strings. New slots are always the highest, so indexing a lead only appends.
//
// Changes never edit a posting list: erasing (or renaming) a lead empties its slot, a tombstone
// that readers skip, and a renamed lead takes a new slot. When tombstones outnumber live slots,
// one compaction renumbers the live slots and rewrites every list; its O(postings) cost is paid
// for by the at least as many erases/renames since the last one, where removing a slot from each
// of its ~30 lists one by one would cost O(list length) per list, per erase. The price is a pause
// under the workspace's lock, once per as many erases/renames as there are leads: ~60 ms of CPU
// at 1M leads (load/micro/search_index.cpp, BM_SearchIndexCompaction).
//
// Verification reads a copy of each slot's folded name and email, packed in slot order, rather
// than the leads themselves: a common needle verifies 100 000s of candidates, and walking the
// packed copy forward is a few times faster than following each lead pointer to its strings.
//
// Short needles: 1 byte is answered from a per-slot 64-bit mask of the bytes a lead contains
// (exact for letters, digits and the usual email punctuation; other bytes are verified); 2 bytes
// are the union of the trigram lists that start or end with them, plus the few leads with a
// 2-byte name or email.

#include "leadd/store/lead.hpp"
#include "leadd/store/pod_vector.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace leadd::store {

// One per workspace; not thread-safe: the workspace's lock guards it.
class SearchIndex {
public:
    // Create (previous null), or update (previous = the lead's old state, same id). An update
    // whose name and email fold to the same text only swaps the stored pointer. The index keeps
    // plain pointers: the caller keeps every lead it holds alive until it is replaced or erased
    // here (WorkspaceIndex's cells own them). Owning pointers in a std::vector made
    // each growth by a quarter copy every one into fresh memory in one request: a create at
    // 3.2M leads of one workspace took 143 ms.
    void put(const Lead& lead, const Lead* previous);
    // Asks for the line of `lead`'s slot (held here), to be written by an update's put().
    void prefetch_slot(const Lead& lead) const { __builtin_prefetch(slots_.data() + lead.search_slot.get(), 1); }
    void erase(const Lead& lead);

    // Every lead whose name or email contains `needle` (ASCII case-insensitive), each once, in no
    // particular order. The empty needle matches every lead.
    void for_each_match(std::string_view needle, const std::function<void(const Lead&)>& visit) const;

    std::size_t size() const { return slots_.size() - tombstones_; }
    std::size_t memory_bytes() const;  // approximate, for the memory report

private:
    using Slot = std::uint32_t;
    using Trigram = std::uint32_t;  // three folded bytes, the first in bits 16..23
    using PostingList = PodVector<Slot>;

    Slot add_slot(const Lead& lead);
    void retire_slot(Slot slot);
    void compact_if_mostly_tombstones();

    std::string_view text_of(Slot slot) const;
    bool slot_contains(Slot slot, std::string_view folded_needle) const;

    void for_each_byte_match(unsigned char folded, const std::function<void(const Lead&)>& visit) const;
    void for_each_pair_match(std::string_view folded, const std::function<void(const Lead&)>& visit) const;
    void for_each_trigram_match(std::string_view folded, const std::function<void(const Lead&)>& visit) const;

    PodVector<const Lead*> slots_;             // null = tombstone
    PodVector<std::uint64_t> byte_masks_;    // per slot: which bytes its name and email contain
    PodVector<char> texts_;                  // per slot: folded name, '\0', folded email
    PodVector<std::uint64_t> text_starts_;   // per slot: where its text begins in texts_
    std::size_t tombstones_ = 0;
    boost::unordered_flat_map<Trigram, PostingList> postings_;  // open addressing: ~40 lookups per lead added
    PostingList two_byte_field_slots_;         // slots whose name or email is exactly 2 bytes
};

}  // namespace leadd::store
