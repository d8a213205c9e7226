#pragma once
// Idempotency-Key: the first successful answer to a POST, kept per (workspace, key) for 24 hours
// so that a client's retry gets that answer again instead of creating a second time.
//
// Only answers of writes that succeeded are stored: an error (validation, duplicate email, 503)
// changed nothing, so a retry simply runs again. A stored answer reaches the log in the SAME
// record as the change it answers (LeadStore::create / create_all with an IdempotentWrite), so
// after a crash the log holds both or neither: a retry never finds the lead without the answer
// (which would turn it into a 409 DUPLICATE_EMAIL) nor the answer without the lead.
//
// Entries live in memory, in snapshots and in the log; they expire `retention` after the first
// answer (expired entries are dropped as new ones arrive and are not restored or snapshotted).

#include "leadd/store/lead.hpp"

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace leadd::store {

// What a retry gets back: the first answer's status, body and the headers that describe the
// created resource (empty when the answer had none).
struct StoredAnswer {
    int status = 0;
    std::string body;
    std::string location;
    std::string etag;
};

// One key's entry as logged and snapshotted.
struct IdempotencyEntry {
    WorkspaceId workspace = 0;
    std::string key;          // the client's Idempotency-Key, as sent
    std::string fingerprint;  // what the request was: a digest of its method, path and JSON body
    Millis answered_at = 0;
    StoredAnswer answer;
};
std::string encode_idempotency_entry(const IdempotencyEntry& entry);
std::optional<IdempotencyEntry> decode_idempotency_entry(std::string_view payload);

class IdempotencyTable {
public:
    static constexpr Millis retention = 24ll * 60 * 60 * 1000;

    enum class Verdict {
        Run,         // no entry: the caller now holds the key and must finish() or release() it
        Replay,      // answered before, same request: `answer` is the first answer
        Reused,      // answered before, or running, for a different request
        InProgress,  // the same request is running right now
    };
    struct Claim {
        Verdict verdict;
        std::shared_ptr<const IdempotencyEntry> entry;  // Replay: the stored entry
    };
    Claim claim(WorkspaceId ws, std::string_view key, std::string_view fingerprint, Millis now);
    // The claimed request succeeded: its answer is stored (called under the change's locks,
    // right after its record is appended).
    void finish(IdempotencyEntry entry);
    // The claimed request ended without a stored answer: the key is free again.
    void release(WorkspaceId ws, std::string_view key);

    // Recovery: an entry from the log or a snapshot (a later one for the same key wins).
    void restore(IdempotencyEntry entry, Millis now);
    // Every answered entry not yet expired at `now`, for a snapshot.
    std::vector<std::shared_ptr<const IdempotencyEntry>> entries(Millis now) const;
    std::size_t size() const;

private:
    struct Slot {
        std::string fingerprint;                        // of the running or answered request
        std::shared_ptr<const IdempotencyEntry> entry;  // null while running
    };
    static std::string slot_key(WorkspaceId ws, std::string_view key);
    void expire(Millis now);  // caller holds mu_

    mutable std::mutex mu_;
    std::unordered_map<std::string, Slot> slots_;
    // Answered entries oldest first (answers are stamped with a clock that may step back, so
    // this is nearly, not strictly, ordered; an entry expires at the latest when the ones
    // before it do).
    std::deque<std::pair<Millis, std::string>> by_age_;
};

}  // namespace leadd::store
