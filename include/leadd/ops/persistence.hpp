#pragma once
// Persistence: what makes the store and the key registry durable. At start it recovers both
// from the data dir (newest snapshot + log tail) and opens the write-ahead log; while serving it
// writes a snapshot in the background each time the log has grown by snapshot_every_bytes; at a
// clean stop it writes a final snapshot and closes the log. The store and the registry append
// their own records; this class only routes records back to them and takes the cuts.

#include "leadd/auth/key_registry.hpp"
#include "leadd/store/lead_store.hpp"
#include "leadd/wal/file_system.hpp"
#include "leadd/wal/log.hpp"
#include "leadd/wal/recovery.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

namespace leadd::ops {

struct PersistenceOptions {
    wal::LogOptions log;  // dir, fsync policy, segment size, file system
    std::uint64_t snapshot_every_bytes = 256ull << 20;
    wal::CorruptionPolicy on_corruption = wal::CorruptionPolicy::Stop;
};

struct SnapshotStats {
    std::uint64_t written = 0;
    std::uint64_t last_bytes = 0;
    std::uint64_t last_micros = 0;
    std::uint64_t failures = 0;
};

class Persistence {
public:
    // Recovers `store` and `keys` and opens the log; on failure, the message to print.
    static std::variant<std::unique_ptr<Persistence>, std::string> open(PersistenceOptions options,
                                                                      store::LeadStore& store,
                                                                      auth::KeyRegistry& keys);
    ~Persistence();

    wal::Log& log() { return *log_; }
    const wal::RecoveryReport& recovery() const { return recovery_; }

    // Writes a snapshot of the current state (one at a time). No-op if nothing was logged since
    // the last one.
    std::error_code snapshot();
    SnapshotStats snapshot_stats() const;

    // Final snapshot, then the log is flushed and closed; the background thread stops.
    void close();

private:
    Persistence(PersistenceOptions options, store::LeadStore& store, auth::KeyRegistry& keys);
    void background_loop();

    PersistenceOptions options_;
    store::LeadStore& store_;
    auth::KeyRegistry& keys_;
    std::unique_ptr<wal::Log> log_;
    wal::RecoveryReport recovery_;

    mutable std::mutex snapshot_mu_;  // one snapshot at a time; guards the two members below
    wal::Seq last_snapshot_seq_ = 0;
    std::uint64_t bytes_at_last_snapshot_ = 0;
    // Not under snapshot_mu_: /metrics reads the stats on a request thread, and a snapshot holds
    // snapshot_mu_ for as long as writing it takes (seconds at a million leads), which stalled
    // every connection of that thread.
    mutable std::mutex stats_mu_;
    SnapshotStats stats_;

    std::mutex stop_mu_;  // guards stop_
    std::condition_variable stop_cv_;
    bool stop_ = false;
    std::thread background_;
};

}  // namespace leadd::ops
