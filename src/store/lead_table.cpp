#include "leadd/store/lead_table.hpp"

#include <bit>
#include <cassert>
#include <new>

namespace leadd::store {

namespace {

constexpr std::size_t line = 64;
constexpr std::size_t smallest_capacity = 16;
constexpr std::uintptr_t shift_bits = line - 1;  // a shift is at most 63: it fits a line's offset bits

}  // namespace

LeadTable::~LeadTable() {
    for (std::size_t i = 0; i < capacity_; ++i) slots_[i].~Slot();
    ::operator delete(slots_, std::align_val_t{line});
}

LeadTable::Slot* LeadTable::probe(LeadId id) const {
    const std::size_t mask = capacity_ - 1;
    for (std::size_t i = home(id);; i = (i + 1) & mask) {
        Slot& slot = slots_[i];
        if (!slot.lead || slot.id == id) return &slot;
    }
}

const LeadPtr* LeadTable::find(LeadId id) const {
    if (size_ == 0) return nullptr;
    const Slot* slot = probe(id);
    return slot->lead ? &slot->lead : nullptr;
}

std::pair<LeadTable::Slot*, bool> LeadTable::claim(LeadId id) {
    // A table at its max load still has empty slots, so the probe ends: an id already there is
    // found without growing the table (replaying a change of a lead must not double it).
    Slot* slot = capacity_ != 0 ? probe(id) : nullptr;
    if (slot && slot->lead) return {slot, false};
    if (!slot || size_ + 1 > max_load()) {
        rehash(capacity_ == 0 ? smallest_capacity : capacity_ * 2);
        slot = probe(id);
    }
    slot->id = id;
    ++size_;
    return {slot, true};
}

std::pair<LeadPtr*, bool> LeadTable::try_emplace(LeadId id, LeadPtr lead) {
    assert(lead != nullptr);
    auto [slot, made] = claim(id);
    if (made) slot->lead = std::move(lead);
    return {&slot->lead, made};
}

void LeadTable::insert_or_assign(LeadId id, LeadPtr lead) {
    assert(lead != nullptr);
    claim(id).first->lead = std::move(lead);
}

bool LeadTable::erase(LeadId id) {
    if (size_ == 0) return false;
    const std::size_t mask = capacity_ - 1;
    std::size_t hole = static_cast<std::size_t>(probe(id) - slots_);
    if (!slots_[hole].lead) return false;
    // Backward shift: each later entry of the run moves into the hole unless its home lies
    // cyclically after the hole (up to the entry's own slot), where a probe for it starts past
    // the hole and would not find it there.
    for (std::size_t next = (hole + 1) & mask; slots_[next].lead; next = (next + 1) & mask) {
        const std::size_t want = home(slots_[next].id);
        const bool home_after_hole = hole <= next ? (hole < want && want <= next) : (hole < want || want <= next);
        if (home_after_hole) continue;
        slots_[hole] = std::move(slots_[next]);
        hole = next;
    }
    slots_[hole].lead.reset();
    --size_;
    return true;
}

void LeadTable::reserve(std::size_t entries) {
    std::size_t capacity = capacity_ == 0 ? smallest_capacity : capacity_;
    while (capacity / 4 * 3 < entries) capacity *= 2;
    if (capacity != capacity_) rehash(capacity);
}

void LeadTable::rehash(std::size_t capacity) {
    assert(std::has_single_bit(capacity) && capacity / 4 * 3 >= size_);
    auto* fresh = static_cast<Slot*>(::operator new(capacity * sizeof(Slot), std::align_val_t{line}));
    for (std::size_t i = 0; i < capacity; ++i) new (&fresh[i]) Slot();
    Slot* old = std::exchange(slots_, fresh);
    const std::size_t old_capacity = std::exchange(capacity_, capacity);
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));
    for (std::size_t i = 0; i < old_capacity; ++i) {
        if (old[i].lead) *probe(old[i].id) = std::move(old[i]);
        old[i].~Slot();
    }
    ::operator delete(old, std::align_val_t{line});
    place_.store(reinterpret_cast<std::uintptr_t>(slots_) | shift_, std::memory_order_release);
}

void LeadTable::append_leads(std::vector<const Lead*>& out) const {
    std::size_t n = out.size();
    out.resize(n + size_ + 1);  // each slot's pointer is written at n, which moves on past a lead only
    const Lead** to = out.data();
    for (std::size_t i = 0; i < capacity_; ++i) {
        const Lead* lead = slots_[i].lead.get();
        to[n] = lead;
        n += lead != nullptr;
    }
    out.resize(n);
}

void LeadTable::prefetch(LeadId id) const {
    const std::uintptr_t place = place_.load(std::memory_order_relaxed);
    if (place == 0) return;
    const auto* slots = reinterpret_cast<const Slot*>(place & ~shift_bits);
    const Slot* slot = &slots[home(id, static_cast<unsigned>(place & shift_bits))];
    __builtin_prefetch(slot);
    __builtin_prefetch(reinterpret_cast<const char*>(slot) + sizeof(Slot));  // a slot may cross a line
}

}  // namespace leadd::store
