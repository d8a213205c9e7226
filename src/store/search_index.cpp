#include "leadd/store/search_index.hpp"

#include "leadd/store/ascii_fold.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <limits>
#include <string>

namespace leadd::store {
namespace {

// Copies, then folds in place: a loop with no capacity check per byte, which the compiler
// vectorizes.
template <class Bytes>
void append_folded(std::string_view text, Bytes& out) {
    const std::size_t from = out.size();
    out.append(text.data(), text.size());
    for (char *c = out.data() + from, *end = out.data() + out.size(); c != end; ++c) *c = ascii_fold_char(*c);
}

bool folds_equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_fold_char(x) == ascii_fold_char(y);
           });
}

// The byte mask gives each byte that names and emails are made of a bit of its own, so that a
// 1-byte search for one of them needs no verification; the rarer bytes share the remaining bits
// and are verified against the strings.
constexpr unsigned first_shared_bit = 26 + 10 + 7;
constexpr std::array<unsigned char, 256> byte_bits = [] {
    std::array<unsigned char, 256> bits{};
    for (unsigned b = 0; b < 256; ++b) bits[b] = static_cast<unsigned char>(first_shared_bit + b % (64 - first_shared_bit));
    for (unsigned b = 'a'; b <= 'z'; ++b) bits[b] = static_cast<unsigned char>(b - 'a');
    for (unsigned b = 'A'; b <= 'Z'; ++b) bits[b] = static_cast<unsigned char>(b - 'A');
    for (unsigned b = '0'; b <= '9'; ++b) bits[b] = static_cast<unsigned char>(26 + b - '0');
    unsigned next = 36;
    for (unsigned char punctuation : {'.', '@', '-', '_', '+', ' ', '\''}) bits[punctuation] = static_cast<unsigned char>(next++);
    return bits;
}();
static_assert(byte_bits['\''] == first_shared_bit - 1);

std::uint64_t byte_mask(std::string_view text) {
    std::uint64_t mask = 0;
    for (char c : text) mask |= std::uint64_t{1} << byte_bits[static_cast<unsigned char>(c)];
    return mask;
}

// Calls visit(trigram) for each trigram of `text` as it folds (folding folded text changes
// nothing), in order, repeats included: a lead's name and email, or a needle.
template <class Visit>
void for_each_trigram(std::string_view text, Visit&& visit) {
    if (text.size() < 3) return;
    std::uint32_t window = std::uint32_t{ascii_fold(static_cast<unsigned char>(text[0]))} << 8 |
                           ascii_fold(static_cast<unsigned char>(text[1]));
    for (std::size_t at = 2; at < text.size(); ++at) {
        window = (window << 8 | ascii_fold(static_cast<unsigned char>(text[at]))) & 0xffffff;
        visit(window);
    }
}

// The first position at or after `from` whose slot is at least `target` (list.size() if none):
// doubling steps then a binary search, so skipping k entries costs O(log k), not O(k).
template <class List>
std::size_t gallop(const List& list, std::size_t from, typename List::value_type target) {
    std::size_t low = from, high = from, step = 1;
    while (high < list.size() && list[high] < target) {
        low = high + 1;
        high += step;
        step *= 2;
    }
    high = std::min(high, list.size());
    return static_cast<std::size_t>(std::lower_bound(list.begin() + static_cast<std::ptrdiff_t>(low),
                                                     list.begin() + static_cast<std::ptrdiff_t>(high), target) -
                                    list.begin());
}

// Verifying a candidate against its packed text costs about as much as galloping two dense
// lists, so beyond the three shortest lists another one rarely removes enough candidates to pay
// for itself (load/micro/search_index.cpp: "example.com" at 1M leads, 9 trigrams, runs twice as
// fast this way).
constexpr std::size_t max_lists_intersected = 3;

// How many candidates ahead their packed text is prefetched: a common needle's candidates are
// spread over the whole table, and without it each verification waits for memory.
constexpr std::size_t prefetch_distance = 16;

// A full std::vector doubles, which leaves it a quarter empty on average: at 1M leads that was
// ~70 bytes per lead, most of it in the posting lists and packed texts. Growing by a quarter keeps appends
// amortized O(1) for a fraction of the slack: a PodVector (every array here) grows a large array
// by remapping its pages, so only small ones are copied (about five times per element).
template <class Vector>
void reserve_for(Vector& vector, std::size_t more) {
    if (vector.size() + more > vector.capacity()) vector.reserve(vector.size() + more + vector.size() / 4 + 4);
}

// Tombstones below this many are left alone, so a small workspace does not compact on every
// other erase.
constexpr std::size_t min_tombstones_to_compact = 1024;

}  // namespace

void SearchIndex::put(const Lead& lead, const Lead* previous) {
    if (previous == nullptr) {
        lead.search_slot.set(add_slot(lead));
        return;
    }
    // `previous` is the lead's state this index holds (the store indexes every change in order).
    const Slot slot = previous->search_slot.get();
    assert(slot < slots_.size() && slots_[slot] == previous && previous->id == lead.id);
    if (folds_equal(previous->name, lead.name) && folds_equal(previous->email, lead.email)) {
        slots_[slot] = &lead;
        lead.search_slot.set(slot);
        return;
    }
    retire_slot(slot);
    lead.search_slot.set(add_slot(lead));
    compact_if_mostly_tombstones();
}

void SearchIndex::erase(const Lead& lead) {
    const Slot slot = lead.search_slot.get();
    if (slot >= slots_.size() || slots_[slot] != &lead) return;  // not held here
    retire_slot(slot);
    compact_if_mostly_tombstones();
}

SearchIndex::Slot SearchIndex::add_slot(const Lead& lead) {
    assert(slots_.size() < std::numeric_limits<Slot>::max());  // compaction keeps it under 2 x leads
    const auto slot = static_cast<Slot>(slots_.size());
    reserve_for(slots_, 1);
    reserve_for(byte_masks_, 1);
    reserve_for(text_starts_, 1);
    slots_.push_back(&lead);
    byte_masks_.push_back(byte_mask(lead.name) | byte_mask(lead.email));
    text_starts_.push_back(texts_.size());
    reserve_for(texts_, lead.name.size() + 1 + lead.email.size());
    append_folded(lead.name, texts_);
    texts_.push_back('\0');
    append_folded(lead.email, texts_);

    // The new slot is the highest, so it goes at the end of each list (which stays sorted), and a
    // trigram the lead repeats finds it there already: no sorting of the lead's trigrams first.
    const auto post = [this, slot](Trigram trigram) {
        PostingList& list = postings_[trigram];
        if (!list.empty() && list.back() == slot) return;
        reserve_for(list, 1);
        list.push_back(slot);
    };
    for_each_trigram(lead.name, post);
    for_each_trigram(lead.email, post);

    if (lead.name.size() == 2 || lead.email.size() == 2) two_byte_field_slots_.push_back(slot);
    return slot;
}

void SearchIndex::retire_slot(Slot slot) {
    slots_[slot] = nullptr;
    byte_masks_[slot] = 0;
    ++tombstones_;
}

void SearchIndex::compact_if_mostly_tombstones() {
    const std::size_t live = slots_.size() - tombstones_;
    if (tombstones_ < min_tombstones_to_compact || tombstones_ <= live) return;

    // Live slots keep their order, so every rewritten list stays sorted.
    constexpr Slot retired = std::numeric_limits<Slot>::max();
    std::vector<Slot> renumbered(slots_.size(), retired);
    std::size_t live_text_bytes = 0;
    for (std::size_t old = 0; old < slots_.size(); ++old)
        if (slots_[old]) live_text_bytes += text_of(static_cast<Slot>(old)).size();
    PodVector<char> live_texts;
    live_texts.reserve(live_text_bytes);
    Slot next = 0;
    for (std::size_t old = 0; old < slots_.size(); ++old) {
        if (!slots_[old]) continue;
        renumbered[old] = next;
        const std::string_view text = text_of(static_cast<Slot>(old));
        text_starts_[next] = live_texts.size();
        live_texts.append(text.data(), text.size());
        slots_[next] = slots_[old];
        slots_[next]->search_slot.set(next);
        byte_masks_[next] = byte_masks_[old];
        ++next;
    }
    slots_.resize(next);
    byte_masks_.resize(next);
    text_starts_.resize(next);
    texts_ = std::move(live_texts);

    const auto rewrite = [&renumbered](PostingList& list) {
        std::size_t kept = 0;
        for (Slot old : list)
            if (renumbered[old] != retired) list[kept++] = renumbered[old];
        list.resize(kept);
        if (list.capacity() > 2 * kept) list.shrink_to_fit();
    };
    for (auto& [trigram, list] : postings_) rewrite(list);
    boost::unordered::erase_if(postings_, [](const auto& entry) { return entry.second.empty(); });
    rewrite(two_byte_field_slots_);
    tombstones_ = 0;
}

std::string_view SearchIndex::text_of(Slot slot) const {
    const std::size_t end = slot + 1 < text_starts_.size() ? text_starts_[slot + 1] : texts_.size();
    return std::string_view(texts_.data() + text_starts_[slot], end - text_starts_[slot]);
}

// The packed text holds both fields, so no match there is no match at all. A match of a needle
// without '\0' cannot span the '\0' between name and email; a needle with one (a name may hold
// '\0' too) is checked against the lead's own fields.
bool SearchIndex::slot_contains(Slot slot, std::string_view folded_needle) const {
    if (text_of(slot).find(folded_needle) == std::string_view::npos) return false;
    return folded_needle.find('\0') == std::string_view::npos || lead_contains_folded(*slots_[slot], folded_needle);
}

void SearchIndex::for_each_match(std::string_view needle, const std::function<void(const Lead&)>& visit) const {
    if (needle.empty()) {
        for (const Lead* lead : slots_)
            if (lead) visit(*lead);
        return;
    }
    std::string folded;
    append_folded(needle, folded);
    if (folded.size() == 1) return for_each_byte_match(static_cast<unsigned char>(folded[0]), visit);
    if (folded.size() == 2) return for_each_pair_match(folded, visit);
    for_each_trigram_match(folded, visit);
}

// One byte: a scan of the byte masks, 8 contiguous bytes per lead, touching only the leads that
// match (or, for the rare bytes without a bit of their own, that may match).
void SearchIndex::for_each_byte_match(unsigned char folded, const std::function<void(const Lead&)>& visit) const {
    const unsigned bit = byte_bits[folded];
    const std::uint64_t wanted = std::uint64_t{1} << bit;
    const bool mask_is_exact = bit < first_shared_bit;
    const char needle[1] = {static_cast<char>(folded)};
    for (std::size_t slot = 0; slot < byte_masks_.size(); ++slot) {
        if ((byte_masks_[slot] & wanted) == 0) continue;
        if (mask_is_exact || slot_contains(static_cast<Slot>(slot), std::string_view(needle, 1))) visit(*slots_[slot]);
    }
}

// Two bytes "xy": a name or email of 3+ bytes contains them exactly when it has a trigram "xy?"
// or "?xy" (the last two bytes are the second case), so the union of those lists is exact without
// verification; a bitmap of slots removes the duplicates and visits in slot order.
void SearchIndex::for_each_pair_match(std::string_view folded, const std::function<void(const Lead&)>& visit) const {
    std::vector<std::uint64_t> matched((slots_.size() + 63) / 64);
    const auto mark = [&matched](Slot slot) { matched[slot / 64] |= std::uint64_t{1} << (slot % 64); };
    const std::uint32_t pair = std::uint32_t{static_cast<unsigned char>(folded[0])} << 8 |
                               static_cast<unsigned char>(folded[1]);
    for (std::uint32_t other = 0; other < 256; ++other) {
        for (const Trigram trigram : {pair << 8 | other, other << 16 | pair}) {
            const auto list = postings_.find(trigram);
            if (list == postings_.end()) continue;
            for (Slot slot : list->second) mark(slot);
        }
    }
    for (Slot slot : two_byte_field_slots_)
        if (slots_[slot] && slot_contains(slot, folded)) mark(slot);

    for (std::size_t word = 0; word < matched.size(); ++word) {
        for (std::uint64_t bits = matched[word]; bits != 0; bits &= bits - 1) {
            const Lead* lead = slots_[word * 64 + static_cast<std::size_t>(std::countr_zero(bits))];
            if (lead) visit(*lead);  // a posting of a tombstone
        }
    }
}

// Three bytes or more: a leapfrog intersection of the needle's (at most three) shortest trigram
// lists, driven by the shortest; each other list is galloped forward, and a list that overshoots moves the shortest
// forward past everything in between. A needle of exactly three bytes is one exact list; longer
// ones may have their trigrams scattered over name and email, or out of order, so the survivors
// are verified.
void SearchIndex::for_each_trigram_match(std::string_view folded,
                                          const std::function<void(const Lead&)>& visit) const {
    std::vector<Trigram> trigrams;
    trigrams.reserve(folded.size() - 2);
    for_each_trigram(folded, [&trigrams](Trigram trigram) { trigrams.push_back(trigram); });
    std::sort(trigrams.begin(), trigrams.end());
    trigrams.erase(std::unique(trigrams.begin(), trigrams.end()), trigrams.end());

    std::vector<const PostingList*> lists;
    lists.reserve(trigrams.size());
    for (Trigram trigram : trigrams) {
        const auto list = postings_.find(trigram);
        if (list == postings_.end()) return;  // no lead has this trigram
        lists.push_back(&list->second);
    }
    std::sort(lists.begin(), lists.end(), [](const PostingList* a, const PostingList* b) { return a->size() < b->size(); });
    lists.resize(std::min(lists.size(), max_lists_intersected));

    const bool verify = folded.size() > 3;
    const PostingList& shortest = *lists[0];
    std::vector<std::size_t> positions(lists.size(), 0);
    std::size_t at = 0;
    while (at < shortest.size()) {
        if (verify && at + prefetch_distance < shortest.size()) {
            __builtin_prefetch(texts_.data() + text_starts_[shortest[at + prefetch_distance]]);
            __builtin_prefetch(texts_.data() + text_starts_[shortest[at + prefetch_distance]] + 64);
            if (at + 2 * prefetch_distance < shortest.size())
                __builtin_prefetch(&text_starts_[shortest[at + 2 * prefetch_distance]]);
        }
        const Slot candidate = shortest[at];
        const Lead* lead = slots_[candidate];
        if (!lead) {
            ++at;
            continue;
        }
        bool in_all = true;
        for (std::size_t i = 1; i < lists.size(); ++i) {
            const PostingList& list = *lists[i];
            positions[i] = gallop(list, positions[i], candidate);
            if (positions[i] == list.size()) return;  // this list has nothing left at or above
            if (list[positions[i]] != candidate) {
                at = gallop(shortest, at + 1, list[positions[i]]);
                in_all = false;
                break;
            }
        }
        if (!in_all) continue;
        if (!verify || slot_contains(candidate, folded)) visit(*lead);
        ++at;
    }
}

std::size_t SearchIndex::memory_bytes() const {
    std::size_t bytes = sizeof(*this) + slots_.capacity() * sizeof(const Lead*) +
                        byte_masks_.capacity() * sizeof(std::uint64_t) + texts_.capacity() +
                        text_starts_.capacity() * sizeof(std::uint64_t) +
                        two_byte_field_slots_.capacity() * sizeof(Slot);
    // A flat table: one value and one metadata byte per bucket.
    bytes += postings_.bucket_count() * (sizeof(std::pair<const Trigram, PostingList>) + 1);
    for (const auto& [trigram, list] : postings_) bytes += list.capacity() * sizeof(Slot) + 16;  // + malloc header
    return bytes;
}

}  // namespace leadd::store
