#pragma once
// LeadStore: every lead of every workspace, and every invariant about them.
//
// Layout
//   - shards_: leadId -> current Lead snapshot, split into N shards (N a power of two) by the
//     low bits of the (scrambled, so uniform) id. Each shard's mutex guards its map.
//   - email_stripes_: (workspace, case-folded email) -> leadId, split into stripes by hash. Each
//     stripe's mutex guards its map. This is what makes an email unique per workspace.
//   - workspaces_: per workspace, the listing index (workspace_index.hpp: the leads in every
//     order a list reads, counted, and the search index). directory_mu_ guards the map of
//     workspaces (entries are never removed, so a pointer to one stays valid); each
//     WorkspaceLeads::mu guards its index.
//
// Lock order (always acquired in this order, never the reverse):
//   shard  ->  email stripes (ascending stripe index)  ->  directory_mu_  ->  WorkspaceLeads::mu
// and the log's own mutex innermost (append() holds it only to frame a record); the idempotency
// table's mutex is taken under a write's shard and stripes (never with a listing's, never while
// taking another lock). cut() takes cut_mu_ (held until the Cut ends), then every shard in
// ascending index order for a moment, then the idempotency table's mutex, then whatever its
// callback takes (the key registry's mutex, then the log's); after that it takes one shard at a
// time, and so does the Cut's end.
// A writer holds the lead's shard for the whole change, so two changes of one lead are
// serialized, and holds the email stripes it touches from the uniqueness check until the change
// is logged and listed, so the check-then-insert is atomic and two changes that pass one email
// between leads reach the log and the listing in the order they took effect. Readers take one shared lock and copy a shared_ptr out.
//
// Durability: with a log attached, every successful mutation appends its record (the whole lead,
// or the deletion) inside the shard's critical section, after all its checks passed and before
// the lock is released, so log order is the order in which changes took effect and replaying
// the log rebuilds exactly the states clients saw. A mutation first checks that the log is
// writable and otherwise refuses (Unavailable) before changing anything. Waiting for the record
// to be durable is the caller's business (the log's group commit), outside every lock.
//
// Time: createdAt = updatedAt = now on create; every change stamps
// updatedAt = max(now, previous updatedAt + 1 ms), so it is strictly increasing per lead and
// never before createdAt even if the wall clock steps back.

#include "leadd/store/idempotency.hpp"
#include "leadd/store/ids.hpp"
#include "leadd/store/lead.hpp"
#include "leadd/store/lead_table.hpp"
#include "leadd/store/list_query.hpp"
#include "leadd/store/result.hpp"
#include "leadd/store/workspace_index.hpp"
#include "leadd/wal/log.hpp"

#include <boost/unordered/unordered_flat_map.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace leadd::store {

struct StoreOptions {
    std::size_t shards = 64;         // rounded up to a power of two
    std::size_t email_stripes = 64;  // rounded up to a power of two
    std::size_t max_metadata_bytes = 64 * 1024;
    std::function<Millis()> clock;   // defaults to now_millis; tests inject their own
};

// An email index key (email_key()) with its hash, computed once: it picks the stripe and the
// slot in the stripe's table, and a table that grows rehashes without reading the key again.
struct EmailKey {
    std::string bytes;
    std::size_t hash = 0;

    EmailKey() = default;
    EmailKey(WorkspaceId ws, std::string_view email);
    bool empty() const { return bytes.empty(); }
    friend bool operator==(const EmailKey& a, const EmailKey& b) { return a.hash == b.hash && a.bytes == b.bytes; }
    struct Hash {
        std::size_t operator()(const EmailKey& key) const noexcept { return key.hash; }
    };
};

class LeadStore {
public:
    explicit LeadStore(StoreOptions options = {});
    LeadStore(const LeadStore&) = delete;
    LeadStore& operator=(const LeadStore&) = delete;

    struct BatchOutcome;
    // A write under an Idempotency-Key (idempotency.hpp), already claimed in idempotency():
    // `answer` renders the answer to store from the write's outcome. It runs under the write's
    // locks, and the entry is logged in the write's own record and then kept for retries. A
    // write that fails stores nothing; the caller releases the key.
    struct IdempotentWrite {
        std::string key;
        std::string fingerprint;
        std::function<StoredAnswer(const BatchOutcome&)> answer;
    };

    // DuplicateEmail if another lead of the workspace has the email (case-insensitively).
    Result<LeadPtr> create(WorkspaceId ws, NewLead lead, const IdempotentWrite* idempotent = nullptr);

    // nullptr when there is no such lead in this workspace.
    LeadPtr get(WorkspaceId ws, LeadId id) const;

    // Asks for the line where get/update/remove of `id` will find the lead's entry, without
    // waiting and without a lock: a request by id calls it as soon as it knows the id, and the
    // line (a cold one at a million leads) arrives while the request is authenticated and its
    // body parsed. Changes nothing and may be called with any id.
    void prefetch(LeadId id) const { shard_of(id).leads.prefetch(id); }

    // Applies the patch atomically. Returns the lead unchanged (same version, same updatedAt)
    // when the patch changes nothing. LeadNotFound, PreconditionFailed, ImmutableField,
    // DuplicateEmail, MetadataTooLarge.
    Result<LeadPtr> update(WorkspaceId ws, LeadId id, const LeadPatch& patch);

    // Returns the deletion time. LeadNotFound, PreconditionFailed.
    Result<Millis> remove(WorkspaceId ws, LeadId id, std::optional<std::uint64_t> if_match);

    // One page, its total and where it lies, read from the workspace's listing index
    // (workspace_index.hpp says which filter and sort combinations cost O(log n + limit)).
    ListPage list(WorkspaceId ws, const ListQuery& query) const;

    // Every lead of the workspace that passes the query's filters (status, source, search, time
    // bounds, as list() applies them; page, limit and cursor are ignored), in the query's order
    // (newest first by default), as they all were at one instant: read under the workspace's
    // listing lock. Leads are immutable, so the pointers keep showing that instant whatever is
    // updated or deleted afterwards (what an export streams). Costs 16 bytes per matching lead,
    // and holds the listing lock (shared) for one pass over the range it reads (and the sort of
    // the matches where workspace_index.hpp says a query sorts them).
    std::vector<LeadPtr> list_all(WorkspaceId ws, const ListQuery& filters) const;

    // Batches. AllOrNothing (?atomic=true): every item applied, or none. The items' shards are locked (ascending),
    // then every email stripe the batch touches (ascending); each item is checked in order
    // against the store as the earlier items leave it (two items of one batch may not take one
    // email; an item may update a lead an earlier item changed); then all are applied and logged
    // as ONE LeadBatch record, so after a crash the log holds all of them or none. A concurrent
    // list may see some of the batch before the rest (each lead itself is always whole).
    // EachOnItsOwn: the same checks, but an item that fails is skipped and the others applied
    // (still one record): the outcome is what creating the items one by one in order would give.
    enum class BatchMode { AllOrNothing, EachOnItsOwn };
    struct BatchOutcome {
        // Each item's resulting lead, in order: all of them once applied; EachOnItsOwn leaves a
        // failed item's null.
        std::vector<LeadPtr> leads;
        std::vector<LeadId> ids;     // each item's lead id (a failed create's was never used)
        std::vector<std::pair<std::size_t, StoreError>> failures;  // not applied: which item, why
        std::optional<StoreError> refused;  // Unavailable: nothing checked, nothing applied
        bool applied() const { return !refused && failures.empty(); }
    };
    BatchOutcome create_all(WorkspaceId ws, std::vector<NewLead> leads, BatchMode mode = BatchMode::AllOrNothing,
                            const IdempotentWrite* idempotent = nullptr);
    BatchOutcome update_all(WorkspaceId ws, const std::vector<std::pair<LeadId, LeadPatch>>& updates);

    // Idempotency-Key answers: requests claim keys here before they write (see IdempotentWrite).
    IdempotencyTable& idempotency() { return idempotency_; }
    Millis now() const { return options_.clock(); }

    std::size_t count(WorkspaceId ws) const;
    std::size_t size() const;

    // Mutations append their records to `log` from now on. Set once, before serving.
    void attach_log(wal::Log* log) { log_ = log; }

    // Recovery: applies one record's payload (LeadPut, LeadDelete, or a snapshot's header).
    // Returns false for a payload that does not decode. Not for use while serving.
    bool restore_lead(std::string_view payload);
    bool restore_deletion(std::string_view payload);
    bool restore_batch(std::string_view payload);  // all of it, or (undecodable) none
    bool restore_idempotent(std::string_view payload);  // the change and its stored answer
    bool restore_idempotency_entry(std::string_view payload);  // a snapshot's stored answer
    bool restore_header(std::string_view payload);
    // Recovery of a snapshot's leads (distinct ids and emails, in order_for_restore's order): the
    // id map and the email + listing indexes are filled by two threads at once.
    void restore_snapshot_leads(std::vector<LeadPtr> leads);
    // Recovery's last step: a create that was visible (to a concurrent list or GET) but not yet
    // logged when the process died took an id the log never heard of. Jumping the counter past
    // every id that can have been handed out that way keeps ids never reused.
    void retire_unlogged_ids() { ids_.skip(unlogged_id_allowance); }
    // More creates than can be waiting for one log flush: 2^32 per restart still leaves room
    // for 2^32 restarts in the 64-bit counter.
    static constexpr std::uint64_t unlogged_id_allowance = 1ull << 32;

    // A consistent cut for a snapshot: every lead as it was at one instant. For a moment every
    // shard is locked (no change in flight) while `at_the_cut` notes the log position and
    // freezes the other state the snapshot needs, and each shard is marked "cut pending"; then
    // the shards' lead pointers are copied one at a time. Until the Cut is destroyed, a writer
    // keeps the state a lead had at the cut (its pointer, or "did not exist") before changing
    // it; the copy uses those, so every shard is copied as it was at the cut, and they keep
    // every lead the cut lists alive, as it was, however long writing the snapshot takes. Leads
    // are immutable, so plain pointers are enough: the copy under each shard's lock touches no
    // lead (copying shared pointers, an atomic increment on a cold line per lead, held each
    // shard ~0.8 ms at a million leads, and a writer of that shard with it). No request
    // waits for more than one shard's copy (holding every shard for the whole copy stalled all
    // requests ~180 ns per lead). One cut at a time: another cut() waits for this one's end.
    class Cut {
    public:
        std::string header;  // restore_header's payload: the id counter and the lead count
        std::vector<const Lead*> leads;  // every lead, in no particular order; valid while the Cut lives
        std::vector<std::shared_ptr<const IdempotencyEntry>> answers;  // stored answers, unexpired

    private:
        friend class LeadStore;
        Cut(const LeadStore& store, std::unique_lock<std::mutex> one_at_a_time, std::function<void()> pause)
            : one_at_a_time_(std::move(one_at_a_time)), store_(&store, End{std::move(pause)}) {}
        struct End {  // a moved Cut hands over the duty to end the cut
            std::function<void()> pause;
            void operator()(const LeadStore* store) const { store->end_cut(pause); }
        };
        // Destroyed in reverse: the cut ends, then the next cut may begin.
        std::unique_lock<std::mutex> one_at_a_time_;
        std::unique_ptr<const LeadStore, End> store_;
    };
    // `pause`, if given, is called between pieces of the copy and of the cut's end (when it
    // holds no shard; each piece a shard's copy, or a few hundred kept states let go): a
    // background thread gives its core back there (ops::BackgroundPacer). It is kept, and
    // called, until the Cut is destroyed.
    Cut cut(const std::function<void()>& at_the_cut, std::function<void()> pause = {}) const;
    // Sorts a cut's leads into the order restore_snapshot_leads expects: oldest first within
    // each workspace (the order that restores fastest). Outside every lock, hence separate.
    // `pause`, if given, is called between pieces of the work of a few tens of microseconds each
    // (a background thread gives its core back there: ops::BackgroundPacer).
    static void order_for_restore(std::vector<const Lead*>& leads, const std::function<void()>& pause = {});

private:
    struct alignas(64) Shard {
        mutable std::shared_mutex mu;
        // Open addressing: an insert allocates nothing (std::unordered_map's node per lead and
        // bucket chains were ~14 % of a batch import), and a lookup waits for one line
        // (lead_table.hpp).
        LeadTable leads;
        // A cut in progress (see cut()), and the state at the cut of each lead changed since
        // (null: created since). Under mu.
        mutable bool cut_pending = false;
        mutable boost::unordered_flat_map<LeadId, LeadPtr> at_cut;
    };
    struct alignas(64) EmailStripe {
        std::mutex mu;
        boost::unordered_flat_map<EmailKey, LeadId, EmailKey::Hash> owners;
    };
    struct WorkspaceLeads {
        mutable std::shared_mutex mu;
        WorkspaceIndex index;  // under mu
    };

    std::size_t shard_index(LeadId id) const { return id & (shard_count_ - 1); }
    Shard& shard_of(LeadId id) const { return shards_[shard_index(id)]; }
    // A Cut's end: writers stop keeping states for it, and the states kept are let go.
    void end_cut(const std::function<void()>& pause) const;
    // Before a writer (holding the shard) changes lead `id`, whose current state is `before`
    // (null: it does not exist yet): keeps that state for a cut in progress.
    static void keep_for_cut(Shard& shard, LeadId id, const LeadPtr& before) {
        if (shard.cut_pending) shard.at_cut.try_emplace(id, before);
    }
    std::size_t stripe_index(const EmailKey& key) const { return key.hash & (stripe_count_ - 1); }
    WorkspaceLeads& workspace_leads(WorkspaceId ws);
    const WorkspaceLeads* find_workspace_leads(WorkspaceId ws) const;
    void install(LeadPtr lead);  // recovery: insert or replace, with its email and ordering
    bool refuse_writes() const { return log_ != nullptr && !log_->writable(); }
    void forget_email(const Lead& lead);  // caller holds the lead's shard
    // `previous`: the lead's state before an update (its entry under its old status goes).
    void index_for_listing(const LeadPtr& lead, const Lead* previous = nullptr);
    void unindex_from_listing(const Lead& lead);
    void list_created(WorkspaceId ws, std::vector<LeadPtr> created);  // a batch's new leads
    Millis stamp_after(Millis previous) const;
    // The lead `patch` makes of `current` (not yet stamped or versioned), or why it may not.
    std::variant<Lead, StoreError> apply_patch(const Lead& current, const LeadPatch& patch) const;
    static bool same_fields(const Lead& a, const Lead& b);  // every field a client can change
    struct BatchItem {
        LeadId id;
        NewLead* create = nullptr;          // a create, or
        const LeadPatch* patch = nullptr;   // an update
    };
    BatchOutcome apply_all(WorkspaceId ws, const std::vector<BatchItem>& items, BatchMode mode,
                           const IdempotentWrite* idempotent);
    // Appends a write's record: as it is, or with the write's stored answer (the answer is then
    // kept in idempotency_). Caller holds the write's locks.
    void log_write(wal::RecordType type, std::string payload, WorkspaceId ws, const IdempotentWrite* idempotent,
                   const BatchOutcome& outcome);

    StoreOptions options_;
    mutable std::mutex cut_mu_;  // one cut at a time
    std::size_t shard_count_;
    std::size_t stripe_count_;
    std::unique_ptr<Shard[]> shards_;
    std::unique_ptr<EmailStripe[]> email_stripes_;
    mutable std::shared_mutex directory_mu_;
    std::unordered_map<WorkspaceId, std::unique_ptr<WorkspaceLeads>> workspaces_;
    IdGenerator ids_;
    IdempotencyTable idempotency_;
    wal::Log* log_ = nullptr;
};

// The email index key: the workspace id's bytes followed by the ASCII-lower-cased email.
std::string email_key(WorkspaceId ws, std::string_view email);

}  // namespace leadd::store
