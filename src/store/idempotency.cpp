#include "leadd/store/idempotency.hpp"

#include "leadd/wal/codec.hpp"

#include <cstring>

namespace leadd::store {

namespace {
constexpr std::uint8_t entry_format = 1;
}

std::string encode_idempotency_entry(const IdempotencyEntry& e) {
    wal::PayloadWriter out;
    out.byte(entry_format);
    out.u64(e.workspace);
    out.str(e.key);
    out.str(e.fingerprint);
    out.i64(e.answered_at);
    out.u64(static_cast<std::uint64_t>(e.answer.status));
    out.str(e.answer.body);
    out.str(e.answer.location);
    out.str(e.answer.etag);
    return std::move(out.bytes());
}

std::optional<IdempotencyEntry> decode_idempotency_entry(std::string_view payload) {
    wal::PayloadReader in(payload);
    if (in.byte() != entry_format) return std::nullopt;
    IdempotencyEntry e;
    e.workspace = in.u64();
    e.key = in.str();
    e.fingerprint = in.str();
    e.answered_at = in.i64();
    const std::uint64_t status = in.u64();
    e.answer.body = in.str();
    e.answer.location = in.str();
    e.answer.etag = in.str();
    if (!in.done() || status < 100 || status > 599 || e.key.empty()) return std::nullopt;
    e.answer.status = static_cast<int>(status);
    return e;
}

std::string IdempotencyTable::slot_key(WorkspaceId ws, std::string_view key) {
    std::string k(sizeof ws, '\0');
    std::memcpy(k.data(), &ws, sizeof ws);
    k.append(key);
    return k;
}

IdempotencyTable::Claim IdempotencyTable::claim(WorkspaceId ws, std::string_view key, std::string_view fingerprint,
                                                Millis now) {
    std::lock_guard lock(mu_);
    expire(now);
    auto [it, fresh] = slots_.try_emplace(slot_key(ws, key));
    Slot& slot = it->second;
    if (fresh) {
        slot.fingerprint = fingerprint;
        return {Verdict::Run, nullptr};
    }
    if (slot.fingerprint != fingerprint) return {Verdict::Reused, nullptr};
    if (!slot.entry) return {Verdict::InProgress, nullptr};
    return {Verdict::Replay, slot.entry};
}

void IdempotencyTable::finish(IdempotencyEntry entry) {
    std::string k = slot_key(entry.workspace, entry.key);
    const Millis at = entry.answered_at;
    std::lock_guard lock(mu_);
    Slot& slot = slots_[k];
    slot.fingerprint = entry.fingerprint;
    slot.entry = std::make_shared<const IdempotencyEntry>(std::move(entry));
    by_age_.emplace_back(at, std::move(k));
}

void IdempotencyTable::release(WorkspaceId ws, std::string_view key) {
    std::lock_guard lock(mu_);
    auto it = slots_.find(slot_key(ws, key));
    if (it != slots_.end() && !it->second.entry) slots_.erase(it);
}

void IdempotencyTable::restore(IdempotencyEntry entry, Millis now) {
    if (entry.answered_at + retention <= now) return;
    finish(std::move(entry));
}

std::vector<std::shared_ptr<const IdempotencyEntry>> IdempotencyTable::entries(Millis now) const {
    std::vector<std::shared_ptr<const IdempotencyEntry>> out;
    std::lock_guard lock(mu_);
    out.reserve(slots_.size());
    for (const auto& [k, slot] : slots_)
        if (slot.entry && slot.entry->answered_at + retention > now) out.push_back(slot.entry);
    return out;
}

std::size_t IdempotencyTable::size() const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& [k, slot] : slots_) n += slot.entry != nullptr;
    return n;
}

void IdempotencyTable::expire(Millis now) {
    while (!by_age_.empty() && by_age_.front().first + retention <= now) {
        auto it = slots_.find(by_age_.front().second);
        // The slot may hold a newer entry for the same key (restored later): that one stays.
        if (it != slots_.end() && it->second.entry && it->second.entry->answered_at + retention <= now)
            slots_.erase(it);
        by_age_.pop_front();
    }
}

}  // namespace leadd::store
