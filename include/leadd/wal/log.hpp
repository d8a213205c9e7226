#pragma once
// Log: the write-ahead log's writer, with group commit.
//
// Writers call append() while they hold the store's locks for the change, so the order of
// records is the order changes took effect. append() only frames the record into a shared
// in-memory batch (one short mutex hold) and returns its seq; it never touches the disk. One
// flusher thread takes the whole batch, writes it with one write() and, under --fsync always,
// one fdatasync(), then completes every waiter whose seq is now durable. Many writers, one
// fdatasync: that is the group commit.
//
// Policies (--fsync). Under every one a waiter completes only once its record has been written
// to the file, so an acknowledged write always survives the process being killed (kill -9, a
// crash); the policy decides what survives the machine going down:
//   always  ...and fdatasync'ed: nothing acknowledged is lost, even on power loss.
//   batch   the flusher fdatasyncs at least every fsync_interval: power loss may lose the last
//           interval of acknowledged writes.
//   none    the OS decides when written data reaches the disk.
//
// Failures: a write, fdatasync or open error puts the log in read-only mode (writable() is
// false, so the store refuses new changes with 503) and keeps every unwritten record in memory.
// The flusher retries every retry_interval, each time into a fresh segment named after the first
// unwritten seq (after an fsync error the old file's pages cannot be trusted), and leaves
// read-only mode by itself when a retry succeeds. Waiters still pending after give_up_after are
// completed with false (their outcome is unknown to the client; the record stays queued and is
// written when the disk comes back).
//
// Writing on the waiter's thread (--fsync none): there is no fdatasync to wait for, so handing
// the batch to the flusher only adds a wake-up and two context switches per event-loop round
// (on PUT with one core: 0.25 futex calls and 0.17 context switches per request). Under none,
// when_durable writes the pending batch itself, on the calling thread, when it can do so at
// once and cheaply: nobody else is writing (write_mu_ is free), the log is writable, and the
// batch needs no new segment (a rotation's dir sync stays on the flusher). Otherwise, and for
// every failure and retry, the flusher does it as below. The cost: the event loop waits for a
// page-cache write(), which the round's writes waited for anyway, but so do its reads when the
// kernel throttles writers (too much dirty data).
//
// Waking the flusher: append() does not wake it (on a busy core every wake-up is a context
// switch that preempts the worker, and batches shrink to one record). A waiter does
// (when_durable; the server registers one waiter per event-loop round); so does a batch past
// eager_flush_bytes; and it wakes by itself every flush_backstop, so a record nobody waits for
// is still written promptly. The hot paths (append, when_durable) notify after releasing mu_:
// woken under it, the flusher (on a busy core, at once) would only block on mu_ and switch back,
// two context switches for nothing.
//
// Commit window (--fsync always): every fdatasync costs the server's core a fixed price, not only
// wall time (on the project's VM ~80 us of CPU for the write and fdatasync, most of it stalled in
// the virtual disk's notification, and ~40 us of a block-layer kworker, whatever the batch size),
// so the fewer fdatasyncs, the more requests the core serves. While the threads that append (the
// server's workers) are busy, the records of the requests they are serving are about to arrive: the
// flusher, woken for a batch, waits for them until commit_window has passed since its previous
// write began. It stops waiting at once when no appending thread is busy (writer_idle: nothing more
// is coming, and holding the batch would only idle the core), when the batch reaches
// eager_flush_bytes, or on close. So one connection's write never waits for the window, and under
// load each fdatasync takes more records. Writers that never say writer_busy() (tools, tests) are
// never waited for. On PUT --fsync always at 64 connections, one core (window 1.5 ms against none,
// three alternating pairs of runs): writes per fdatasync 17 -> 35-37, fdatasyncs per second halved,
// req/s +6 to +20 %; at one connection still one write per fdatasync, with no wait added.
//
// Segments: wal-<first seq, 16 hex>.log; a new one when the current passes segment_bytes or
// rotate() asks. A segment can be deleted once a snapshot covers every record in it, i.e. once
// the next segment's first seq is <= snapshot seq + 1 (drop_segments_covered_by).
//
// Prepared segments (prepare_segments): an fdatasync after appending to a file must journal
// the file's new size (and, for blocks fallocate reserved, their conversion to written), a
// journal commit that a busy core turns into several context switches; after overwriting blocks
// that already hold zeros inside the file's size it has only the data to flush. So a preparer
// thread (low CPU priority) keeps one file of segment_bytes zeros ready (wal-prepared.zeros,
// written and synced), and the flusher moves into it, by rename, as its next segment: at a
// rotation, and also as soon as it is ready when the current segment is an ordinary appended
// one (the first after start, or one opened while no prepared file was ready). Leaving a
// prepared segment (rotation, close) cuts its unwritten zeros off; after a crash they are still
// there, and recovery drops a zero-filled end (see recovery.hpp). On PUT --fsync always at 64
// connections (one core): mean fdatasync 342-396 -> 126-127 us (/metrics, 5 s of load, two
// runs each), req/s +5 to +22 % (six alternating pairs of runs).
//
// Locks: write_mu_ is held by whoever writes (the flusher, or a waiter writing on its own
// thread) and guards the members from file_ to failing_since_; it is taken before mu_, which
// guards the members from pending_ to stop_. Waiters' callbacks run with neither held.

#include "leadd/ops/latency_histogram.hpp"
#include "leadd/wal/file_system.hpp"
#include "leadd/wal/format.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace leadd::wal {

enum class FsyncPolicy { Always, Batch, None };
std::optional<FsyncPolicy> parse_fsync_policy(std::string_view s);

struct LogOptions {
    std::filesystem::path dir;
    FsyncPolicy fsync = FsyncPolicy::Always;
    std::chrono::milliseconds fsync_interval{10};
    std::uint64_t segment_bytes = 64ull << 20;
    std::chrono::milliseconds retry_interval{200};
    std::chrono::milliseconds give_up_after{5000};
    std::chrono::milliseconds flush_backstop{20};  // see "Waking the flusher"
    std::chrono::microseconds commit_window{0};      // see "Commit window"; 0: none
    std::size_t eager_flush_bytes = 256 * 1024;
    // See "Prepared segments". The server turns it on under always and batch (with no
    // fdatasync to spare, the zeros would only double the writes); most tests leave it off so
    // segments split exactly at segment_bytes.
    bool prepare_segments = false;
    std::shared_ptr<FileSystem> fs;
};

inline constexpr std::string_view prepared_segment_file_name = "wal-prepared.zeros";

struct LogStats {
    std::uint64_t records_appended = 0;
    std::uint64_t bytes_written = 0;
    std::uint64_t fsyncs = 0;  // fdatasync calls, whatever the policy (a segment is synced when left)
    ops::LatencyHistogram::Counts fsync_latency;
    std::uint64_t write_errors = 0;
    bool writable = true;
};

std::string segment_file_name(Seq first_seq);
std::optional<Seq> parse_segment_file_name(std::string_view name);

class Log {
public:
    // Starts a fresh segment whose first record will be `next_seq` (recovery says which).
    // Throws std::system_error if the segment cannot be created.
    Log(LogOptions options, Seq next_seq);
    ~Log();
    Log(const Log&) = delete;
    Log& operator=(const Log&) = delete;

    // Queues one record and returns its seq. Always succeeds: a caller that has changed memory
    // must get its record logged. Check writable() before changing anything.
    Seq append(RecordType type, std::string_view payload);
    bool writable() const { return writable_.load(std::memory_order_acquire); }

    // `done(true)` once `seq` is durable under the policy, or `done(false)` on giving up (see
    // above); wakes the flusher if `seq` is not durable yet (or, under none, may write it
    // itself: see "Writing on the waiter's thread"). May run on the calling thread (before
    // when_durable returns) or on the flusher thread.
    void when_durable(Seq seq, std::function<void(bool)> done);
    bool wait_durable(Seq seq);  // blocking; for start-up and shutdown, never on a worker

    // An appending thread has work (writer_busy) or is about to wait for some (writer_idle): see
    // "Commit window". Calls pair up per thread; both are a few atomic operations.
    void writer_busy() { busy_writers_.fetch_add(1); }
    void writer_idle();

    // Asks for a new segment before the next write; returns the last seq appended so far.
    Seq rotate();
    // Deletes the segments whose every record has seq <= `covered` (never the current one).
    void drop_segments_covered_by(Seq covered);

    Seq last_seq() const;
    std::uint64_t bytes_appended() const { return bytes_appended_.load(std::memory_order_relaxed); }
    LogStats stats() const;

    // Writes and syncs everything queued, stops the flusher. Idempotent.
    void close();

private:
    // The callbacks of the waiters a write completed, run by whoever wrote once it holds no lock.
    struct Completions {
        std::vector<std::function<void(bool)>> callbacks;
        bool ok = true;
        void run();
    };

    void flusher_loop();
    bool write_inline(Seq seq, std::function<void(bool)>& done);
    bool write_pending(std::unique_lock<std::mutex>& lock, bool stopping, Completions& completions);
    void preparer_loop();
    bool take_prepared();  // true if a prepared file was ready: the caller renames it, then...
    void prepare_next();   // ...lets the preparer write the next one
    std::error_code write_batch(const std::string& batch, Seq first_seq, bool rotate, bool retrying);
    std::error_code open_segment(Seq first_seq, bool abandon_current);
    void take_waiters(Seq durable, bool ok, Completions& completions);
    std::error_code sync_file();  // file_->sync(), counted and timed

    const LogOptions options_;

    mutable std::mutex mu_;
    std::condition_variable wake_;
    std::string pending_;          // framed records no write has taken yet
    Seq pending_first_ = 0;        // seq of pending_'s first record (when non-empty)
    Seq last_appended_ = 0;
    Seq durable_ = 0;              // every record <= durable_ is written (and, under always, synced)
    std::multimap<Seq, std::function<void(bool)>> waiters_;
    // wal-prepared.zeros: Wanted (being written, or to be), Ready (complete), Taken (being
    // renamed into a segment: the preparer must not open the name again until it is gone).
    enum class Prepared { Wanted, Ready, Taken };
    Prepared prepared_ = Prepared::Wanted;
    std::condition_variable prepare_wake_;
    bool rotate_requested_ = false;
    bool flush_requested_ = false;
    bool stop_ = false;

    // Under write_mu_.
    std::mutex write_mu_;
    std::unique_ptr<AppendFile> file_;
    Seq file_first_seq_ = 0;
    bool file_prepared_ = false;  // file_ was a prepared file: zeros follow what was written
    std::string batch_;  // what a write takes; its buffer goes back and forth with pending_'s
    std::string retry_;  // a batch that failed; rewritten, ahead of newer records, into a fresh segment
    Seq retry_first_ = 0;
    std::chrono::steady_clock::time_point failing_since_{};

    std::atomic<bool> writable_{true};
    // See "Commit window": the appending threads with work, and whether the flusher is waiting
    // for them (seq_cst, both: each side must see the other's store; see writer_idle).
    std::atomic<int> busy_writers_{0};
    std::atomic<bool> window_open_{false};
    std::atomic<std::uint64_t> bytes_appended_{0};
    std::atomic<std::uint64_t> records_appended_{0};
    std::atomic<std::uint64_t> bytes_written_{0};
    std::atomic<std::uint64_t> fsyncs_{0};
    ops::LatencyHistogram fsync_latency_;  // written under write_mu_ only (sync_file)
    std::atomic<std::uint64_t> write_errors_{0};
    std::thread flusher_;
    std::thread preparer_;  // only with prepare_segments
};

}  // namespace leadd::wal
