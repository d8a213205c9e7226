#include "leadd/wal/log.hpp"

#include "leadd/ops/logging.hpp"
#include "leadd/ops/thread_priority.hpp"
#include "leadd/store/ids.hpp"

#include <algorithm>
#include <system_error>
#include <vector>

namespace leadd::wal {

using Clock = std::chrono::steady_clock;

std::optional<FsyncPolicy> parse_fsync_policy(std::string_view s) {
    if (s == "always") return FsyncPolicy::Always;
    if (s == "batch") return FsyncPolicy::Batch;
    if (s == "none") return FsyncPolicy::None;
    return std::nullopt;
}

std::string segment_file_name(Seq first_seq) {
    return store::format_hex_id("wal-", first_seq) + ".log";
}

std::optional<Seq> parse_segment_file_name(std::string_view name) {
    if (!name.ends_with(".log")) return std::nullopt;
    return store::parse_hex_id("wal-", name.substr(0, name.size() - 4));
}

Log::Log(LogOptions options, Seq next_seq) : options_(std::move(options)) {
    last_appended_ = durable_ = next_seq - 1;
    if (auto ec = open_segment(next_seq, false))
        throw std::system_error(ec, "cannot create log segment in " + options_.dir.string());
    flusher_ = std::thread([this] { flusher_loop(); });
    if (options_.prepare_segments) preparer_ = std::thread([this] { preparer_loop(); });
}

Log::~Log() { close(); }

Seq Log::append(RecordType type, std::string_view payload) {
    std::unique_lock lock(mu_);
    const Seq seq = ++last_appended_;
    if (pending_.empty()) pending_first_ = seq;
    const std::size_t before = pending_.size();
    frame_record(pending_, type, seq, payload);
    bytes_appended_.fetch_add(pending_.size() - before, std::memory_order_relaxed);
    records_appended_.fetch_add(1, std::memory_order_relaxed);
    const bool eager = before < options_.eager_flush_bytes && pending_.size() >= options_.eager_flush_bytes;
    lock.unlock();
    if (eager) wake_.notify_one();  // after unlocking: see "Waking the flusher"
    return seq;
}

void Log::when_durable(Seq seq, std::function<void(bool)> done) {
    if (options_.fsync == FsyncPolicy::None && write_inline(seq, done)) return;
    {
        std::unique_lock lock(mu_);
        if (seq > durable_) {
            waiters_.emplace(seq, std::move(done));
            flush_requested_ = true;
            lock.unlock();
            // After unlocking: see "Waking the flusher". A flusher holding a commit window open
            // takes this record when it closes; woken now it would only wait again.
            if (!window_open_.load()) wake_.notify_one();
            return;
        }
    }
    done(true);
}

void Log::writer_idle() {
    // Dekker-style with the flusher's window_open_ store and its check of busy_writers_: one of
    // the two sees the other's write. Taking mu_ before notifying means the flusher is either
    // about to check busy_writers_ (and sees 0) or already waiting (and is woken).
    if (busy_writers_.fetch_sub(1) == 1 && window_open_.load()) {
        { std::lock_guard lock(mu_); }
        wake_.notify_one();
    }
}

bool Log::wait_durable(Seq seq) {
    std::mutex m;
    std::condition_variable cv;
    std::optional<bool> result;
    when_durable(seq, [&](bool ok) {
        std::lock_guard lock(m);
        result = ok;
        cv.notify_one();
    });
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return result.has_value(); });
    return *result;
}

Seq Log::rotate() {
    std::lock_guard lock(mu_);
    rotate_requested_ = true;
    wake_.notify_one();
    return last_appended_;
}

Seq Log::last_seq() const {
    std::lock_guard lock(mu_);
    return last_appended_;
}

void Log::drop_segments_covered_by(Seq covered) {
    std::error_code ec;
    std::vector<Seq> firsts;
    for (const auto& name : options_.fs->list(options_.dir, ec))
        if (auto first = parse_segment_file_name(name)) firsts.push_back(*first);
    std::sort(firsts.begin(), firsts.end());
    // Segment i holds seqs [firsts[i], firsts[i+1]); the last one is (or precedes) the current.
    for (std::size_t i = 0; i + 1 < firsts.size(); ++i)
        if (firsts[i + 1] <= covered + 1) options_.fs->remove(options_.dir / segment_file_name(firsts[i]));
}

LogStats Log::stats() const {
    LogStats s;
    s.records_appended = records_appended_.load(std::memory_order_relaxed);
    s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
    s.fsyncs = fsyncs_.load(std::memory_order_relaxed);
    s.fsync_latency = fsync_latency_.read();
    s.write_errors = write_errors_.load(std::memory_order_relaxed);
    s.writable = writable();
    return s;
}

void Log::close() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
        wake_.notify_one();
        prepare_wake_.notify_one();
    }
    if (flusher_.joinable()) flusher_.join();
    if (preparer_.joinable()) preparer_.join();
    std::lock_guard writing(write_mu_);
    if (file_ && file_prepared_) {
        // The flusher has written and synced everything: what is left past it is zeros.
        if (!file_->truncate(file_->size()) && options_.fsync != FsyncPolicy::None) (void)file_->sync();
        file_prepared_ = false;
    }
    if (options_.prepare_segments) (void)options_.fs->remove(options_.dir / prepared_segment_file_name);
}

void Log::preparer_loop() {
    ops::lower_this_threads_priority();
    const std::chrono::milliseconds longest_pause{30'000};
    auto pause = options_.retry_interval;
    bool failing = false;
    std::unique_lock lock(mu_);
    while (!stop_) {
        if (prepared_ != Prepared::Wanted) {
            prepare_wake_.wait(lock, [&] { return stop_ || prepared_ == Prepared::Wanted; });
            continue;
        }
        lock.unlock();
        const auto path = options_.dir / prepared_segment_file_name;
        const auto ec = options_.fs->prepare_zeroed(path, options_.segment_bytes);
        if (ec) (void)options_.fs->remove(path);  // on a full disk, the log needs that space more
        if (ec && !failing)
            ops::log(spdlog::level::warn, "cannot prepare the next log segment (" + ec.message() +
                                              "); the log appends to ordinary segments until it can");
        lock.lock();
        failing = static_cast<bool>(ec);
        if (!ec) {
            prepared_ = Prepared::Ready;
            pause = options_.retry_interval;
        } else {
            prepare_wake_.wait_for(lock, pause, [&] { return stop_; });
            pause = std::min(pause * 2, longest_pause);
        }
    }
}

bool Log::take_prepared() {
    std::lock_guard lock(mu_);
    if (prepared_ != Prepared::Ready) return false;
    prepared_ = Prepared::Taken;
    return true;
}

void Log::prepare_next() {
    std::lock_guard lock(mu_);
    prepared_ = Prepared::Wanted;
    prepare_wake_.notify_one();
}

std::error_code Log::open_segment(Seq first_seq, bool abandon_current) {
    // A prepared segment's unwritten zeros are cut off (best effort: recovery copes with them),
    // so that a later recovery finds its end where its records end.
    if (file_ && file_prepared_) (void)file_->truncate(file_->size());
    // The finished segment is synced before it is left, except after a failure: then its pages
    // cannot be trusted and everything not known durable is rewritten into the new one.
    if (file_ && !abandon_current && options_.fsync != FsyncPolicy::None) {
        if (auto ec = sync_file()) return ec;
    }
    std::error_code ec;
    const auto path = options_.dir / segment_file_name(first_seq);
    std::unique_ptr<AppendFile> file;
    // A rename replaces any file of this name, and a failed one leaves the ordinary way open.
    if (take_prepared()) {
        if (!(ec = options_.fs->rename(options_.dir / prepared_segment_file_name, path)))
            file = options_.fs->open_prepared(path, ec);
        prepare_next();  // only now: the next prepared file is written under the same name
    }
    const bool prepared = file != nullptr;
    if (!prepared) {
        file = options_.fs->open_append(path, ec);
        if (ec) return ec;
        // A file with this name can only hold records >= first_seq, none of them durable (they
        // are the ones about to be written), so it starts over.
        if (file->size() != 0) {
            if ((ec = file->truncate(0))) return ec;
        }
    }
    if ((ec = options_.fs->sync_dir(options_.dir))) return ec;
    file_ = std::move(file);
    file_first_seq_ = first_seq;
    file_prepared_ = prepared;
    return {};
}

std::error_code Log::write_batch(const std::string& batch, Seq first_seq, bool rotate, bool retrying) {
    std::error_code ec;
    if (rotate || retrying || !file_ || file_->size() >= options_.segment_bytes) {
        if ((ec = open_segment(first_seq, retrying))) return ec;
    }
    if ((ec = file_->append(batch))) return ec;
    bytes_written_.fetch_add(batch.size(), std::memory_order_relaxed);
    if (options_.fsync == FsyncPolicy::Always) {
        ec = sync_file();
    }
    return ec;
}

std::error_code Log::sync_file() {
    const auto started = Clock::now();
    const auto ec = file_->sync();
    fsyncs_.fetch_add(1, std::memory_order_relaxed);
    fsync_latency_.record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count()));
    return ec;
}

void Log::Completions::run() {
    for (auto& done : callbacks) done(ok);
}

void Log::take_waiters(Seq durable, bool ok, Completions& completions) {
    const auto end = waiters_.upper_bound(durable);
    for (auto it = waiters_.begin(); it != end; ++it) completions.callbacks.push_back(std::move(it->second));
    waiters_.erase(waiters_.begin(), end);
    completions.ok = ok;
}

// See "Writing on the waiter's thread". True if it took `done` (and then ran it, or left it
// to the flusher's retries); false if the caller must go the ordinary way, `done` untouched.
bool Log::write_inline(Seq seq, std::function<void(bool)>& done) {
    std::unique_lock writing(write_mu_, std::try_to_lock);
    if (!writing.owns_lock()) return false;  // a write is under way: its next round takes ours
    std::unique_lock lock(mu_);
    if (seq <= durable_ || stop_ || !writable() || rotate_requested_ || !file_ ||
        file_->size() >= options_.segment_bytes || (!file_prepared_ && prepared_ == Prepared::Ready))
        return false;
    waiters_.emplace(seq, std::move(done));
    Completions completions;
    // Holding write_mu_, our record is pending (no one else can have taken it); should it not
    // be written here, the flusher takes over: it retries, and completes our waiter.
    const bool hand_over = !write_pending(lock, false, completions) || !writable();
    if (hand_over) flush_requested_ = true;
    lock.unlock();
    writing.unlock();
    if (hand_over) wake_.notify_one();
    completions.run();
    return true;
}

// Takes everything pending (behind a batch that failed before, if any) and writes it: called
// with write_mu_ held and mu_ locked through `lock`, which it releases during the write. On
// success the waiters now durable move into `completions`; on failure the batch is kept for a
// retry, and the waiters are given up on once failing for give_up_after (or when stopping).
// False if there was nothing to write.
bool Log::write_pending(std::unique_lock<std::mutex>& lock, bool stopping, Completions& completions) {
    const bool retrying = !retry_.empty();
    const Seq first = retrying ? retry_first_ : pending_first_;
    // The batch takes pending_'s buffer and leaves it last round's (emptied): nothing is
    // copied or allocated while writers wait for mu_.
    batch_.clear();
    if (!retrying) {
        batch_.swap(pending_);
    } else {
        batch_.swap(retry_);
        batch_ += pending_;
        pending_.clear();
    }
    if (batch_.empty()) return false;
    const Seq last = last_appended_;
    const bool rotate = rotate_requested_;  // a rotation waits for a batch
    rotate_requested_ = false;
    // An ordinary segment is left for a prepared one as soon as one is ready.
    const bool to_prepared = !file_prepared_ && prepared_ == Prepared::Ready;

    lock.unlock();
    auto ec = write_batch(batch_, first, rotate || to_prepared, retrying);
    if (!ec && stopping && options_.fsync != FsyncPolicy::Always) ec = sync_file();
    if (ec)
        ops::log(spdlog::level::err, "log write failed (" + ec.message() + "): " +
                                         std::to_string(batch_.size()) + " bytes kept in memory, "
                                         "writes refused until a retry succeeds");
    else if (retrying)
        ops::log(spdlog::level::warn, "log writable again; accepting writes");
    lock.lock();

    if (!ec) {
        writable_.store(true, std::memory_order_release);
        failing_since_ = {};
        durable_ = last;
        take_waiters(last, true, completions);
    } else {
        write_errors_.fetch_add(1, std::memory_order_relaxed);
        writable_.store(false, std::memory_order_release);
        retry_.swap(batch_);
        retry_first_ = first;
        if (failing_since_ == Clock::time_point{}) failing_since_ = Clock::now();
        if (Clock::now() - failing_since_ >= options_.give_up_after || stopping) take_waiters(last, false, completions);
    }
    return true;
}

void Log::flusher_loop() {
    std::unique_lock lock(mu_);
    Clock::time_point last_sync = Clock::now();
    // See "Commit window"; the first batch has no previous write to count from.
    Clock::time_point last_write_began = Clock::now() - options_.commit_window;
    bool unsynced = false;  // --fsync batch: written since the last fdatasync
    // --fsync batch promises an fdatasync at least every interval, also while batches keep
    // arriving (a steady stream of writes must not postpone it forever). Called with both locks.
    const auto sync_if_due = [&](bool stopping) {
        if (!unsynced || !file_ || !(stopping || Clock::now() - last_sync >= options_.fsync_interval)) return;
        lock.unlock();
        const bool ok = !sync_file();
        lock.lock();
        unsynced = !ok;
        last_sync = Clock::now();
    };

    for (;;) {
        if (!writable()) {  // a batch waits for its retry
            wake_.wait_for(lock, options_.retry_interval, [&] { return stop_; });
        } else {
            // Every waiter wakes the flusher, so the nap is only a safety net for records nobody
            // waits for, and an idle server barely wakes; an unsynced batch keeps its interval.
            const auto nap = options_.fsync == FsyncPolicy::Batch && unsynced
                                 ? std::min(options_.flush_backstop, options_.fsync_interval)
                                 : options_.flush_backstop;
            wake_.wait_for(lock, nap, [&] {
                return stop_ || flush_requested_ || pending_.size() >= options_.eager_flush_bytes;
            });
        }
        flush_requested_ = false;
        const bool stopping = stop_;
        // Nothing to write, retry or sync: the flusher leaves write_mu_ to the waiters.
        if (!stopping && pending_.empty() && writable() && !unsynced) continue;
        const auto window_ends = last_write_began + options_.commit_window;
        if (!stopping && options_.fsync == FsyncPolicy::Always && writable() && Clock::now() < window_ends) {
            // See "Commit window". window_open_ is stored before busy_writers_ is read (in the
            // predicate): see writer_idle.
            window_open_.store(true);
            wake_.wait_until(lock, window_ends, [&] {
                return stop_ || busy_writers_.load() <= 0 || pending_.size() >= options_.eager_flush_bytes;
            });
            window_open_.store(false);
        }
        lock.unlock();  // write_mu_ comes first
        std::unique_lock writing(write_mu_);
        lock.lock();

        Completions completions;
        const auto write_begins = Clock::now();
        if (!write_pending(lock, stopping, completions)) {
            sync_if_due(stopping);
            if (stopping) break;
            continue;
        }
        last_write_began = write_begins;
        const bool ok = writable();
        if (ok && options_.fsync == FsyncPolicy::Batch) {
            unsynced = !stopping;  // a stopping flush has just synced
            sync_if_due(false);
        }
        writing.unlock();
        if (!completions.callbacks.empty()) {
            lock.unlock();
            completions.run();
            lock.lock();
        }
        if (stopping && !ok) break;  // after a good write, the next round finds nothing and stops
    }
    Completions left;  // anything left could not be written
    take_waiters(last_appended_, false, left);
    lock.unlock();
    left.run();
}

}  // namespace leadd::wal
