#include "leadd/store/lead_store.hpp"

#include "leadd/store/ascii_fold.hpp"
#include "leadd/store/clock.hpp"
#include "leadd/store/lead_codec.hpp"
#include "leadd/store/staggered_growth.hpp"
#include "leadd/wal/codec.hpp"

#include <algorithm>
#include <iterator>
#include <utility>
#include <thread>
#include <tuple>
#include <bit>
#include <cstring>

namespace leadd::store {

namespace {

std::size_t power_of_two_at_least(std::size_t n) { return std::bit_ceil(std::max<std::size_t>(n, 1)); }

// A background loop's pause (cut(), order_for_restore()), if it has one, once every `piece` items:
// after item `done` (counted from 0) when it ends a piece.
void pause_after(const std::function<void()>& pause, std::size_t done, std::size_t piece) {
    if (pause && done % piece == piece - 1) pause();
}

// The distinct values of `indexes` (each below `count`), ascending: the order a batch takes its
// shard or stripe locks in. A pass over a flag per lock instead of sorting the batch's
// thousand indexes (count is a few dozen).
std::vector<std::size_t> distinct_ascending(const std::vector<std::size_t>& indexes, std::size_t count) {
    std::vector<char> touched(count, 0);
    for (std::size_t i : indexes) touched[i] = 1;
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < count; ++i)
        if (touched[i]) out.push_back(i);
    return out;
}

// Locks one or two email stripes in ascending index order (the documented lock order).
class StripeLocks {
public:
    StripeLocks(std::mutex& first, std::size_t first_index, std::mutex* second,
                std::size_t second_index) {
        if (second == nullptr || first_index == second_index) {
            a_ = std::unique_lock(first);
        } else if (first_index < second_index) {
            a_ = std::unique_lock(first);
            b_ = std::unique_lock(*second);
        } else {
            a_ = std::unique_lock(*second);
            b_ = std::unique_lock(first);
        }
    }

private:
    std::unique_lock<std::mutex> a_, b_;
};

}  // namespace

std::string email_key(WorkspaceId ws, std::string_view email) {
    std::string key(sizeof ws + email.size(), '\0');
    std::memcpy(key.data(), &ws, sizeof ws);
    std::transform(email.begin(), email.end(), key.begin() + sizeof ws, ascii_fold_char);
    return key;
}

EmailKey::EmailKey(WorkspaceId ws, std::string_view email)
    : bytes(email_key(ws, email)), hash(std::hash<std::string>{}(bytes)) {}

LeadStore::LeadStore(StoreOptions options)
    : options_(std::move(options)),
      shard_count_(power_of_two_at_least(options_.shards)),
      stripe_count_(power_of_two_at_least(options_.email_stripes)),
      shards_(std::make_unique<Shard[]>(shard_count_)),
      email_stripes_(std::make_unique<EmailStripe[]>(stripe_count_)) {
    if (!options_.clock) options_.clock = now_millis;
}

Millis LeadStore::stamp_after(Millis previous) const {
    return std::max(options_.clock(), previous + 1);
}

LeadStore::WorkspaceLeads& LeadStore::workspace_leads(WorkspaceId ws) {
    {
        std::shared_lock lock(directory_mu_);
        if (auto it = workspaces_.find(ws); it != workspaces_.end()) return *it->second;
    }
    std::unique_lock lock(directory_mu_);
    auto& slot = workspaces_[ws];
    if (!slot) slot = std::make_unique<WorkspaceLeads>();
    return *slot;
}

const LeadStore::WorkspaceLeads* LeadStore::find_workspace_leads(WorkspaceId ws) const {
    std::shared_lock lock(directory_mu_);
    auto it = workspaces_.find(ws);
    return it == workspaces_.end() ? nullptr : it->second.get();
}

void LeadStore::forget_email(const Lead& lead) {
    const EmailKey key(lead.workspace, lead.email);
    const std::size_t stripe = stripe_index(key);
    StripeLocks lock(email_stripes_[stripe].mu, stripe, nullptr, 0);
    email_stripes_[stripe].owners.erase(key);
}

void LeadStore::index_for_listing(const LeadPtr& lead, const Lead* previous) {
    auto& wl = workspace_leads(lead->workspace);
    std::unique_lock lock(wl.mu);
    wl.index.put(lead, previous);
}

void LeadStore::unindex_from_listing(const Lead& lead) {
    auto& wl = workspace_leads(lead.workspace);
    std::unique_lock lock(wl.mu);
    wl.index.erase(lead);
}

Result<LeadPtr> LeadStore::create(WorkspaceId ws, NewLead fields, const IdempotentWrite* idempotent) {
    if (refuse_writes()) return StoreError{StoreErrc::Unavailable, 0, {}};
    const LeadId id = ids_.next();
    auto lead = std::make_shared<Lead>();
    lead->id = id;
    lead->workspace = ws;
    lead->name = std::move(fields.name);
    lead->email = std::move(fields.email);
    lead->phone = std::move(fields.phone);
    lead->source = std::move(fields.source);
    lead->status = fields.status;
    lead->metadata = std::move(fields.metadata);

    EmailKey key(ws, lead->email);
    const std::size_t stripe = stripe_index(key);

    Shard& shard = shard_of(id);
    std::unique_lock shard_lock(shard.mu);
    StripeLocks stripe_lock(email_stripes_[stripe].mu, stripe, nullptr, 0);
    // One hash and one probe claim the address or find its owner.
    make_room_staggered(email_stripes_[stripe].owners, stripe, stripe_count_);
    auto [owner, claimed] = email_stripes_[stripe].owners.try_emplace(std::move(key), id);
    if (!claimed) return StoreError{StoreErrc::DuplicateEmail, owner->second, "email"};
    lead->created_at = lead->updated_at = options_.clock();
    LeadPtr stored = std::move(lead);
    keep_for_cut(shard, id, nullptr);
    make_room_staggered(shard.leads, shard_index(id), shard_count_);
    shard.leads.try_emplace(id, stored);
    if (idempotent) {
        BatchOutcome outcome;
        outcome.leads.push_back(stored);
        outcome.ids.push_back(id);
        log_write(wal::RecordType::LeadPut, encode_lead(*stored), ws, idempotent, outcome);
    } else if (log_) {
        log_->append(wal::RecordType::LeadPut, encode_lead(*stored));
    }
    index_for_listing(stored);
    return stored;
}

LeadPtr LeadStore::get(WorkspaceId ws, LeadId id) const {
    const Shard& shard = shard_of(id);
    std::shared_lock lock(shard.mu);
    const LeadPtr* lead = shard.leads.find(id);
    if (!lead || (*lead)->workspace != ws) return nullptr;
    return *lead;
}

std::variant<Lead, StoreError> LeadStore::apply_patch(const Lead& current, const LeadPatch& patch) const {
    if (patch.if_match && *patch.if_match != current.version)
        return StoreError{StoreErrc::PreconditionFailed, 0, {}};
    if (patch.created_at_unreadable ||
        (patch.expect_created_at && *patch.expect_created_at != current.created_at))
        return StoreError{StoreErrc::ImmutableField, 0, "createdAt"};
    Lead next = current;
    if (patch.name) next.name = *patch.name;
    if (patch.email) next.email = *patch.email;
    if (patch.phone) next.phone = *patch.phone;
    if (patch.source) next.source = *patch.source;
    if (patch.status) next.status = *patch.status;
    if (patch.metadata_merge) {
        next.metadata = current.metadata.merged(*patch.metadata_merge);
        if (next.metadata != current.metadata && next.metadata.text().size() > options_.max_metadata_bytes)
            return StoreError{StoreErrc::MetadataTooLarge, 0, "metadata"};
    }
    return next;
}

bool LeadStore::same_fields(const Lead& a, const Lead& b) {
    return a.name == b.name && a.email == b.email && a.phone == b.phone && a.source == b.source &&
           a.status == b.status && a.metadata == b.metadata;
}

Result<LeadPtr> LeadStore::update(WorkspaceId ws, LeadId id, const LeadPatch& patch) {
    if (refuse_writes()) return StoreError{StoreErrc::Unavailable, 0, {}};
    Shard& shard = shard_of(id);
    std::unique_lock shard_lock(shard.mu);
    LeadPtr* entry = shard.leads.find(id);
    if (!entry || (*entry)->workspace != ws) return StoreError{StoreErrc::LeadNotFound, 0, {}};
    const Lead& current = **entry;
    // What the update reads of the previous version, each its own heap block and, at a million
    // leads, a cold line: asked for together now, they arrive while the patch is applied instead
    // of one after another (the strings as they are copied and compared, the listing cell when
    // the listing moves the lead).
    prefetch_text(current);
    __builtin_prefetch(current.listing.get());
    auto patched = apply_patch(current, patch);
    if (auto* refused = std::get_if<StoreError>(&patched)) return std::move(*refused);
    auto& next = std::get<Lead>(patched);
    if (same_fields(next, current)) return *entry;  // no new version, no new updatedAt

    // An email change holds both stripes until the change is logged and listed: released any
    // earlier, another lead could take the old address and be logged (and listed) before this
    // lead is seen without it.
    std::optional<StripeLocks> stripe_locks;
    // Most updates keep the email byte for byte and need no keys (an allocation and a fold each);
    // a change of case only makes two equal ones.
    const bool email_changed = next.email != current.email;
    const EmailKey old_key = email_changed ? EmailKey(ws, current.email) : EmailKey();
    const EmailKey new_key = email_changed ? EmailKey(ws, next.email) : EmailKey();
    if (old_key != new_key) {
        const std::size_t old_stripe = stripe_index(old_key);
        const std::size_t new_stripe = stripe_index(new_key);
        stripe_locks.emplace(email_stripes_[new_stripe].mu, new_stripe,
                             &email_stripes_[old_stripe].mu, old_stripe);
        auto& new_owners = email_stripes_[new_stripe].owners;
        if (auto owner = new_owners.find(new_key); owner != new_owners.end())
            return StoreError{StoreErrc::DuplicateEmail, owner->second, "email"};
        email_stripes_[old_stripe].owners.erase(old_key);
        make_room_staggered(new_owners, new_stripe, stripe_count_);
        new_owners.emplace(new_key, id);
    }

    next.updated_at = stamp_after(current.updated_at);
    next.version = current.version + 1;
    LeadPtr stored = std::make_shared<const Lead>(std::move(next));
    keep_for_cut(shard, id, *entry);
    const LeadPtr previous = std::exchange(*entry, stored);
    if (log_) log_->append(wal::RecordType::LeadPut, encode_lead(*stored));
    index_for_listing(stored, previous.get());
    return stored;
}

Result<Millis> LeadStore::remove(WorkspaceId ws, LeadId id, std::optional<std::uint64_t> if_match) {
    if (refuse_writes()) return StoreError{StoreErrc::Unavailable, 0, {}};
    Shard& shard = shard_of(id);
    std::unique_lock shard_lock(shard.mu);
    const LeadPtr* entry = shard.leads.find(id);
    if (!entry || (*entry)->workspace != ws) return StoreError{StoreErrc::LeadNotFound, 0, {}};
    const LeadPtr lead = *entry;
    if (if_match && *if_match != lead->version) return StoreError{StoreErrc::PreconditionFailed, 0, {}};

    // The stripe stays locked until the deletion is logged and unlisted (see update()).
    const EmailKey key(ws, lead->email);
    const std::size_t stripe = stripe_index(key);
    StripeLocks stripe_lock(email_stripes_[stripe].mu, stripe, nullptr, 0);
    email_stripes_[stripe].owners.erase(key);
    keep_for_cut(shard, id, lead);
    shard.leads.erase(id);
    if (log_) log_->append(wal::RecordType::LeadDelete, encode_lead_deletion({ws, id}));
    unindex_from_listing(*lead);
    return options_.clock();
}

void LeadStore::log_write(wal::RecordType type, std::string payload, WorkspaceId ws, const IdempotentWrite* idempotent,
                          const BatchOutcome& outcome) {
    if (!idempotent) {
        if (log_) log_->append(type, payload);
        return;
    }
    IdempotencyEntry entry{ws, idempotent->key, idempotent->fingerprint, options_.clock(), idempotent->answer(outcome)};
    if (log_) {
        wal::PayloadWriter record;
        record.str(encode_idempotency_entry(entry));
        record.byte(static_cast<std::uint8_t>(type));
        record.str(payload);
        log_->append(wal::RecordType::Idempotent, record.bytes());
    }
    idempotency_.finish(std::move(entry));
}

LeadStore::BatchOutcome LeadStore::create_all(WorkspaceId ws, std::vector<NewLead> leads, BatchMode mode,
                                              const IdempotentWrite* idempotent) {
    std::vector<BatchItem> items;
    items.reserve(leads.size());
    for (auto& lead : leads) items.push_back({ids_.next(), &lead, nullptr});
    return apply_all(ws, items, mode, idempotent);
}

LeadStore::BatchOutcome LeadStore::update_all(WorkspaceId ws,
                                              const std::vector<std::pair<LeadId, LeadPatch>>& updates) {
    std::vector<BatchItem> items;
    items.reserve(updates.size());
    for (const auto& [id, patch] : updates) items.push_back({id, nullptr, &patch});
    return apply_all(ws, items, BatchMode::AllOrNothing, nullptr);
}

// EachOnItsOwn is offered for creates only: a failed create leaves nothing a later item of the
// batch could see, whereas a failed update's staged state would be what a later update of the
// same lead was checked against.
LeadStore::BatchOutcome LeadStore::apply_all(WorkspaceId ws, const std::vector<BatchItem>& items, BatchMode mode,
                                             const IdempotentWrite* idempotent) {
    BatchOutcome out;
    for (const auto& item : items) out.ids.push_back(item.id);
    if (refuse_writes()) {
        out.refused = StoreError{StoreErrc::Unavailable, 0, {}};
        return out;
    }
    // Every shard the batch touches, in ascending order (the order cut() takes them too).
    std::vector<std::size_t> shard_indexes;
    shard_indexes.reserve(items.size());
    for (const auto& item : items) shard_indexes.push_back(item.id & (shard_count_ - 1));
    std::vector<std::unique_lock<std::shared_mutex>> shard_locks;
    shard_locks.reserve(shard_count_);
    for (auto i : distinct_ascending(shard_indexes, shard_count_)) shard_locks.emplace_back(shards_[i].mu);

    // Each item's lead before and after it, against the store as the earlier items leave it.
    // `after` is still unstamped and unversioned; equal to `before` when the item changes nothing.
    boost::unordered_flat_map<LeadId, std::shared_ptr<Lead>> staged;
    staged.reserve(items.size());
    auto state_of = [&](LeadId id) -> std::shared_ptr<const Lead> {
        if (auto it = staged.find(id); it != staged.end()) return it->second;
        const Shard& shard = shard_of(id);
        const LeadPtr* lead = shard.leads.find(id);
        return lead ? *lead : nullptr;
    };
    struct Step {
        std::shared_ptr<const Lead> before;
        std::shared_ptr<Lead> after;
        bool failed = false;
    };
    std::vector<Step> steps(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        const BatchItem& item = items[i];
        Step& step = steps[i];
        if (item.create) {
            auto lead = std::make_shared<Lead>();
            lead->id = item.id;
            lead->workspace = ws;
            lead->name = std::move(item.create->name);
            lead->email = std::move(item.create->email);
            lead->phone = std::move(item.create->phone);
            lead->source = std::move(item.create->source);
            lead->status = item.create->status;
            lead->metadata = std::move(item.create->metadata);
            step.after = std::move(lead);
        } else {
            step.before = state_of(item.id);
            if (!step.before || step.before->workspace != ws) {
                out.failures.emplace_back(i, StoreError{StoreErrc::LeadNotFound, 0, {}});
                step.failed = true;
                continue;
            }
            auto patched = apply_patch(*step.before, *item.patch);
            if (auto* refused = std::get_if<StoreError>(&patched)) {
                out.failures.emplace_back(i, std::move(*refused));
                step.failed = true;
                continue;
            }
            if (same_fields(std::get<Lead>(patched), *step.before)) {
                step.after = std::const_pointer_cast<Lead>(step.before);  // never written to: unchanged
                continue;
            }
            step.after = std::make_shared<Lead>(std::move(std::get<Lead>(patched)));
        }
        // Only an update can be seen by a later item (an update of the same lead); a create's id is new.
        if (item.patch) staged[item.id] = step.after;
    }

    // Every email stripe the batch touches, ascending; then each item's email, in order, against
    // the owners as the earlier items leave them (0: nobody).
    std::vector<std::pair<EmailKey, EmailKey>> keys(items.size());  // (old, new) per item
    std::vector<std::size_t> stripe_indexes;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const Step& step = steps[i];
        if (step.failed || step.after == step.before) continue;
        keys[i].second = EmailKey(ws, step.after->email);
        stripe_indexes.push_back(stripe_index(keys[i].second));
        if (step.before) {
            keys[i].first = EmailKey(ws, step.before->email);
            stripe_indexes.push_back(stripe_index(keys[i].first));
        }
    }
    std::vector<std::unique_lock<std::mutex>> stripe_locks;
    stripe_locks.reserve(stripe_count_);
    for (auto i : distinct_ascending(stripe_indexes, stripe_count_)) stripe_locks.emplace_back(email_stripes_[i].mu);

    // Keyed by the addresses of keys' entries (hashed and compared as the keys they point to),
    // so no key is copied; the stripes' tables take them over at the end.
    struct SameKey {
        bool operator()(const EmailKey* a, const EmailKey* b) const { return *a == *b; }
    };
    struct KeyHash {
        std::size_t operator()(const EmailKey* key) const { return key->hash; }
    };
    boost::unordered_flat_map<EmailKey*, LeadId, KeyHash, SameKey> owners_after;
    owners_after.reserve(2 * items.size());  // an email change names two addresses
    // Who the stripes say owns each item's new address, looked up in a loop of their own: the
    // lookups are independent cache misses in tables of millions, and a short loop has several
    // in flight. The stripes do not change until every item is checked.
    const auto changes_address = [&](std::size_t i) {
        return !steps[i].failed && !keys[i].second.empty() && !(keys[i].first == keys[i].second);
    };
    std::vector<LeadId> stored_owner(items.size(), 0);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!changes_address(i)) continue;
        const auto& owners = email_stripes_[stripe_index(keys[i].second)].owners;
        if (auto it = owners.find(keys[i].second); it != owners.end()) stored_owner[i] = it->second;
    }
    // ... and as the earlier items of the batch leave them.
    auto owner_of = [&](std::size_t i) -> LeadId {
        if (auto it = owners_after.find(&keys[i].second); it != owners_after.end()) return it->second;
        return stored_owner[i];
    };
    for (std::size_t i = 0; i < items.size(); ++i) {
        auto& [old_key, new_key] = keys[i];
        if (!changes_address(i)) continue;
        if (const LeadId owner = owner_of(i); owner != 0 && owner != items[i].id) {
            out.failures.emplace_back(i, StoreError{StoreErrc::DuplicateEmail, owner, "email"});
            steps[i].failed = true;
            continue;
        }
        if (!old_key.empty()) owners_after[&old_key] = 0;
        owners_after[&new_key] = items[i].id;
    }
    if (!out.failures.empty()) {
        std::sort(out.failures.begin(), out.failures.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
        // The failed items were left out of every later item's checks, so the rest still hold.
        if (mode == BatchMode::AllOrNothing) return out;  // nothing was changed; the creates' ids stay unused
    }

    // All checks passed: stamp, install, list and log, all under the locks taken above.
    for (const auto& [key, id] : owners_after) {
        const std::size_t stripe = stripe_index(*key);
        auto& owners = email_stripes_[stripe].owners;
        if (id == 0) {
            owners.erase(*key);
        } else {
            make_room_staggered(owners, stripe, stripe_count_);
            owners.insert_or_assign(std::move(*key), id);  // keys is not read after this
        }
    }
    const Millis now = options_.clock();
    const auto changed = static_cast<std::uint64_t>(std::count_if(
        steps.begin(), steps.end(), [](const Step& s) { return !s.failed && s.after != s.before; }));
    wal::PayloadWriter record;
    record.u64(changed);
    wal::PayloadWriter encoded;  // one lead's payload; its buffer serves every lead of the batch
    std::vector<LeadPtr> created;  // listed after the loop, in listing order (see list_created)
    // Stamped and installed in a loop of their own: each install is a cache miss in a table of
    // millions, and in a short loop the processor has several of them in flight at once.
    for (std::size_t i = 0; i < items.size(); ++i) {
        Step& step = steps[i];
        if (step.failed || step.after == step.before) continue;
        if (step.before) {
            step.after->updated_at = stamp_after(step.before->updated_at);
            step.after->version = step.before->version + 1;
        } else {
            step.after->created_at = step.after->updated_at = now;
        }
        // Constructed in place when new: operator[] would default-construct the entry and the
        // assignment then read its empty pointer back, another miss.
        Shard& shard = shard_of(items[i].id);
        if (!step.before) make_room_staggered(shard.leads, shard_index(items[i].id), shard_count_);
        auto [entry, fresh] = shard.leads.try_emplace(items[i].id, step.after);
        if (fresh) {
            keep_for_cut(shard, items[i].id, nullptr);
        } else {
            keep_for_cut(shard, items[i].id, *entry);  // the first change of the lead in this batch wins
            *entry = step.after;
        }
    }
    out.leads.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        Step& step = steps[i];
        if (step.failed) {
            out.leads.push_back(nullptr);
            continue;
        }
        if (step.after != step.before) {
            if (step.before) index_for_listing(step.after, step.before.get());
            else created.push_back(step.after);
            encoded.bytes().clear();
            encode_lead(*step.after, encoded);
            record.str(encoded.bytes());
        }
        out.leads.push_back(step.after);
    }
    list_created(ws, std::move(created));
    if (changed || idempotent) log_write(wal::RecordType::LeadBatch, std::move(record.bytes()), ws, idempotent, out);
    return out;
}

void LeadStore::list_created(WorkspaceId ws, std::vector<LeadPtr> created) {
    if (created.empty()) return;
    // A batch's creates share one createdAt, and the listing orders ties by id: in id order each
    // one lands after the others, the createdAt and updatedAt orders' cheap path (an append).
    std::sort(created.begin(), created.end(), [](const LeadPtr& a, const LeadPtr& b) { return a->id < b->id; });
    // The listing lock is taken per run of leads, not per lead, yet released often enough that a
    // list waits for one run at most, not for the whole batch.
    constexpr std::size_t leads_per_hold = 64;
    auto& wl = workspace_leads(ws);
    for (std::size_t first = 0; first < created.size(); first += leads_per_hold) {
        std::unique_lock lock(wl.mu);
        for (std::size_t i = first; i < std::min(first + leads_per_hold, created.size()); ++i)
            wl.index.put(created[i], nullptr);
    }
}

void LeadStore::install(LeadPtr lead) {
    Shard& shard = shard_of(lead->id);
    std::unique_lock shard_lock(shard.mu);
    const LeadPtr* stored = shard.leads.find(lead->id);
    // Replaying an update: the listing moves the lead from its previous state (cheaper than
    // erasing and inserting it). That takes an update as the store makes them, in the same
    // workspace with the same createdAt; a damaged or crafted log may change either, and then
    // the lead leaves the listing and enters it anew.
    LeadPtr previous = stored ? *stored : nullptr;
    if (previous) {
        forget_email(*previous);
        if (previous->workspace != lead->workspace || previous->created_at != lead->created_at) {
            unindex_from_listing(*previous);
            previous.reset();
        }
    }
    const EmailKey key(lead->workspace, lead->email);
    const std::size_t stripe = stripe_index(key);
    {
        StripeLocks lock(email_stripes_[stripe].mu, stripe, nullptr, 0);
        email_stripes_[stripe].owners[key] = lead->id;
    }
    ids_.observe(lead->id);
    shard.leads.insert_or_assign(lead->id, lead);
    index_for_listing(lead, previous.get());
}

bool LeadStore::restore_lead(std::string_view payload) {
    auto lead = decode_lead(payload);
    if (!lead) return false;
    install(std::make_shared<const Lead>(std::move(*lead)));
    return true;
}

void LeadStore::restore_snapshot_leads(std::vector<LeadPtr> leads) {
    std::thread by_id([&] {
        for (const auto& lead : leads) {
            Shard& shard = shard_of(lead->id);
            std::unique_lock lock(shard.mu);
            shard.leads.insert_or_assign(lead->id, lead);
            ids_.observe(lead->id);
        }
    });
    for (const auto& lead : leads) {
        EmailKey key(lead->workspace, lead->email);
        const std::size_t stripe = stripe_index(key);
        StripeLocks lock(email_stripes_[stripe].mu, stripe, nullptr, 0);
        email_stripes_[stripe].owners.insert_or_assign(std::move(key), lead->id);
    }
    // Leads come grouped by workspace: its listing lock is taken once per group, not per lead.
    // (A pass of its own: the lock order puts email stripes before listings.)
    WorkspaceLeads* wl = nullptr;
    WorkspaceId wl_of_lock = 0;
    std::unique_lock<std::shared_mutex> listing_lock;
    for (const auto& lead : leads) {
        if (!listing_lock || wl_of_lock != lead->workspace) {
            if (listing_lock) listing_lock.unlock();
            wl = &workspace_leads(lead->workspace);
            wl_of_lock = lead->workspace;
            listing_lock = std::unique_lock(wl->mu);
        }
        wl->index.put(lead, nullptr);  // oldest first: appends to every createdAt order
    }
    if (listing_lock) listing_lock.unlock();
    by_id.join();
}

bool LeadStore::restore_deletion(std::string_view payload) {
    const auto deletion = decode_lead_deletion(payload);
    if (!deletion) return false;
    ids_.observe(deletion->id);
    Shard& shard = shard_of(deletion->id);
    std::unique_lock shard_lock(shard.mu);
    const LeadPtr* entry = shard.leads.find(deletion->id);
    if (!entry) return true;  // already gone: replay is idempotent
    const LeadPtr lead = *entry;
    forget_email(*lead);
    shard.leads.erase(deletion->id);
    unindex_from_listing(*lead);
    return true;
}

bool LeadStore::restore_batch(std::string_view payload) {
    // Decoded in full before anything is applied: a batch is replayed whole or not at all.
    wal::PayloadReader in(payload);
    const std::uint64_t count = in.u64();
    std::vector<Lead> leads;
    for (std::uint64_t i = 0; i < count && in.ok(); ++i) {
        auto lead = decode_lead(in.str());
        if (!lead) return false;
        leads.push_back(std::move(*lead));
    }
    if (!in.done()) return false;
    for (auto& lead : leads) install(std::make_shared<const Lead>(std::move(lead)));
    return true;
}

bool LeadStore::restore_idempotent(std::string_view payload) {
    wal::PayloadReader in(payload);
    auto entry = decode_idempotency_entry(in.str());
    const auto type = static_cast<wal::RecordType>(in.byte());
    const std::string_view write = in.str();
    if (!entry || !in.done()) return false;
    const bool restored = type == wal::RecordType::LeadPut     ? restore_lead(write)
                          : type == wal::RecordType::LeadBatch ? restore_batch(write)
                                                               : false;
    if (!restored) return false;
    idempotency_.restore(std::move(*entry), options_.clock());
    return true;
}

bool LeadStore::restore_idempotency_entry(std::string_view payload) {
    auto entry = decode_idempotency_entry(payload);
    if (!entry) return false;
    idempotency_.restore(std::move(*entry), options_.clock());
    return true;
}

bool LeadStore::restore_header(std::string_view payload) {
    wal::PayloadReader r(payload);
    const auto next_counter = r.u64();
    const auto leads = r.u64();
    if (!r.done()) return false;
    ids_.restore_counter(next_counter);
    // The snapshot says how many leads follow: size the maps once instead of rehashing ~20
    // times on the way to a million. Only a hint, so it is capped: a damaged count that still
    // passed the checksum must not make recovery allocate without bound (found by fuzzing).
    constexpr std::uint64_t max_presized_leads = 1ull << 24;
    const std::uint64_t presize = std::min(leads, max_presized_leads);
    for (std::size_t i = 0; i < shard_count_; ++i) shards_[i].leads.reserve(presize / shard_count_ + 1);
    for (std::size_t i = 0; i < stripe_count_; ++i)
        email_stripes_[i].owners.reserve(presize / stripe_count_ + 1);
    return true;
}

LeadStore::Cut LeadStore::cut(const std::function<void()>& at_the_cut, std::function<void()> pause) const {
    Cut cut(*this, std::unique_lock(cut_mu_), pause);
    std::size_t total = 0;
    {
        // The instant of the cut: no change is in flight. Only flags are set while every shard
        // is held, so the pause is a few microseconds whatever the store's size.
        std::vector<std::unique_lock<std::shared_mutex>> locks;
        locks.reserve(shard_count_);
        for (std::size_t i = 0; i < shard_count_; ++i) locks.emplace_back(shards_[i].mu);
        cut.answers = idempotency_.entries(options_.clock());
        at_the_cut();
        for (std::size_t i = 0; i < shard_count_; ++i) {
            shards_[i].cut_pending = true;
            total += shards_[i].leads.size();
        }
        wal::PayloadWriter header;
        header.u64(ids_.next_counter());
        header.u64(total);
        cut.header = std::move(header.bytes());
    }
    cut.leads.reserve(total + 1);  // + 1: LeadTable::append_leads writes one past what it appends
    for (std::size_t i = 0; i < shard_count_; ++i) {
        // Shared: readers go on; writers of this shard wait for its copy only.
        const Shard& shard = shards_[i];
        std::shared_lock lock(shard.mu);
        if (shard.at_cut.empty()) {
            // No lead of the shard changed since the cut (the usual case: a shard's copy comes
            // within milliseconds of the cut): no lookup per lead.
            shard.leads.append_leads(cut.leads);
        } else {
            shard.leads.for_each([&](LeadId id, const LeadPtr& lead) {
                auto kept = shard.at_cut.find(id);
                if (kept == shard.at_cut.end()) cut.leads.push_back(lead.get());  // unchanged since the cut
                else if (kept->second) cut.leads.push_back(kept->second.get());  // changed: as it was
            });
        }
        for (const auto& [id, before] : shard.at_cut)
            if (before && !shard.leads.contains(id)) cut.leads.push_back(before.get());  // deleted since
        lock.unlock();
        if (pause) pause();
    }
    return cut;
}

void LeadStore::end_cut(const std::function<void()>& pause) const {
    for (std::size_t i = 0; i < shard_count_; ++i) {
        decltype(Shard::at_cut) kept;
        {
            std::unique_lock lock(shards_[i].mu);
            shards_[i].cut_pending = false;
            kept.swap(shards_[i].at_cut);
        }
        // The states kept (leads changed or deleted while the snapshot was written) are freed
        // here, outside the shard's lock: after a PUT load, thousands per shard, a few cold
        // blocks each, so a few hundred at a time between pauses.
        std::size_t freed = 0;
        for (auto& [id, before] : kept) {
            before.reset();
            pause_after(pause, freed++, 256);
        }
        if (pause) pause();
    }
}

void LeadStore::order_for_restore(std::vector<const Lead*>& leads, const std::function<void()>& pause) {
    // Oldest first within each workspace: restoring in this order appends every lead to its
    // workspace's createdAt orders, which packs their nodes full.
    // The sort keys are copied out first: comparing through the pointers makes each of the
    // ~n log n comparisons two cache misses (the leads lie all over the heap); this way only the
    // copying pass misses (load/micro BM_SnapshotOrder: ~230 -> ~140 ms at 1M leads).
    // `pause` runs between pieces of a few tens of microseconds: every 1024 leads of a pass and
    // every 16384 comparisons of the sort, which thus pauses in its middle (its state is on this
    // thread's stack).
    struct SortKey {
        WorkspaceId workspace;
        Millis created_at;
        LeadId id;
        std::size_t at;  // in `leads`
    };
    std::vector<SortKey> keys;
    keys.reserve(leads.size());
    // Each lead is a cold line or two, asked for some leads ahead so that their misses overlap.
    constexpr std::size_t ahead = 16;
    for (std::size_t i = 0; i < leads.size(); ++i) {
        if (i + ahead < leads.size()) {
            __builtin_prefetch(&leads[i + ahead]->workspace);
            __builtin_prefetch(&leads[i + ahead]->created_at);  // 192 bytes on: another line
        }
        keys.push_back({leads[i]->workspace, leads[i]->created_at, leads[i]->id, i});
        pause_after(pause, i, 1024);
    }
    std::size_t comparisons = 0;  // by reference: std::sort copies its comparator
    std::sort(keys.begin(), keys.end(), [&](const SortKey& a, const SortKey& b) {
        pause_after(pause, comparisons++, 16384);
        return std::tie(a.workspace, a.created_at, a.id) < std::tie(b.workspace, b.created_at, b.id);
    });
    std::vector<const Lead*> ordered;
    ordered.reserve(leads.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
        ordered.push_back(leads[keys[i].at]);
        pause_after(pause, i, 1024);
    }
    leads = std::move(ordered);
}

ListPage LeadStore::list(WorkspaceId ws, const ListQuery& query) const {
    const WorkspaceLeads* wl = find_workspace_leads(ws);
    if (wl == nullptr) return {};
    std::shared_lock lock(wl->mu);
    return wl->index.page(query);
}

std::vector<LeadPtr> LeadStore::list_all(WorkspaceId ws, const ListQuery& filters) const {
    const WorkspaceLeads* wl = find_workspace_leads(ws);
    if (wl == nullptr) return {};
    std::shared_lock lock(wl->mu);
    return wl->index.all(filters);
}

std::size_t LeadStore::count(WorkspaceId ws) const {
    const WorkspaceLeads* wl = find_workspace_leads(ws);
    if (wl == nullptr) return 0;
    std::shared_lock lock(wl->mu);
    return wl->index.size();
}

std::size_t LeadStore::size() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
        std::shared_lock lock(shards_[i].mu);
        n += shards_[i].leads.size();
    }
    return n;
}

}  // namespace leadd::store
