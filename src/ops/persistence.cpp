#include "leadd/ops/persistence.hpp"

#include "leadd/ops/logging.hpp"
#include "leadd/ops/thread_priority.hpp"
#include "leadd/store/lead_codec.hpp"
#include "leadd/wal/snapshot.hpp"

#include <chrono>
#include <thread>

namespace leadd::ops {

using Clock = std::chrono::steady_clock;

Persistence::Persistence(PersistenceOptions options, store::LeadStore& store, auth::KeyRegistry& keys)
    : options_(std::move(options)), store_(store), keys_(keys) {}

std::variant<std::unique_ptr<Persistence>, std::string> Persistence::open(PersistenceOptions options,
                                                                       store::LeadStore& store,
                                                                       auth::KeyRegistry& keys) {
    std::unique_ptr<Persistence> p(new Persistence(std::move(options), store, keys));
    auto& fs = *p->options_.log.fs;
    // A snapshot's leads are gathered and restored in bulk (see restore_snapshot_leads); the
    // log records after it are applied one by one, in order.
    std::vector<store::LeadPtr> snapshot_leads;
    std::optional<wal::Seq> snapshot_seq;
    auto restore_gathered = [&] {
        if (!snapshot_leads.empty()) store.restore_snapshot_leads(std::move(snapshot_leads));
        snapshot_leads.clear();
    };
    auto outcome = wal::recover(fs, p->options_.log.dir, p->options_.on_corruption, [&](const wal::RecordView& rec) {
        if (rec.type == wal::RecordType::SnapshotHeader) snapshot_seq = rec.seq;
        const bool from_snapshot = snapshot_seq && rec.seq == *snapshot_seq;
        if (!from_snapshot) restore_gathered();
        switch (rec.type) {
        case wal::RecordType::LeadPut:
            if (from_snapshot) {
                auto lead = store::decode_lead(rec.payload);
                if (!lead) return false;
                snapshot_leads.push_back(std::make_shared<const store::Lead>(std::move(*lead)));
                return true;
            }
            return store.restore_lead(rec.payload);
        case wal::RecordType::LeadDelete: return store.restore_deletion(rec.payload);
        case wal::RecordType::LeadBatch: return store.restore_batch(rec.payload);
        case wal::RecordType::Idempotent: return store.restore_idempotent(rec.payload);
        case wal::RecordType::IdempotencyEntry: return store.restore_idempotency_entry(rec.payload);
        case wal::RecordType::SnapshotHeader: return store.restore_header(rec.payload);
        default: return keys.restore(rec.type, rec.payload);
        }
    });
    restore_gathered();
    if (auto* failure = std::get_if<wal::RecoveryFailure>(&outcome)) return failure->message;
    store.retire_unlogged_ids();
    p->recovery_ = std::get<wal::RecoveryReport>(outcome);
    p->last_snapshot_seq_ = p->recovery_.snapshot_seq;
    try {
        p->log_ = std::make_unique<wal::Log>(p->options_.log, p->recovery_.next_seq);
    } catch (const std::system_error& e) {
        return std::string(e.what());
    }
    store.attach_log(p->log_.get());
    keys.attach_log(p->log_.get());
    p->background_ = std::thread([raw = p.get()] { raw->background_loop(); });
    return p;
}

Persistence::~Persistence() { close(); }

std::error_code Persistence::snapshot() {
    std::lock_guard one_at_a_time(snapshot_mu_);
    const auto started = Clock::now();
    wal::Seq covered = 0;
    std::uint64_t bytes_mark = 0;
    std::vector<std::pair<wal::RecordType, std::string>> key_records;
    // Lock order: every shard (for the instant of the cut), then the registry, then (inside
    // rotate) the log. The leads are copied after that instant, shard by shard (see cut()), and
    // the states writers kept for the cut are let go at its end; both in short turns, as the
    // rest of the snapshot below. Copying a million leads' pointers takes ~7 ms
    // (BM_SnapshotCut), and letting go of the states a PUT load changed meanwhile (a few cold
    // blocks each, for hundreds of thousands of leads) a while too: at normal priority, both
    // came as tick-long stalls of a worker that shares the core.
    BackgroundPacer cut_pacer;  // outlives the cut, which pauses with it until its end
    auto cut = store_.cut(
        [&] {
            key_records = keys_.snapshot_records([&] {
                covered = log_->rotate();
                bytes_mark = log_->bytes_appended();
            });
        },
        [&] { cut_pacer.pause_point(); });
    if (covered == last_snapshot_seq_) return {};

    // Everything after the cut (sorting, encoding and writing every lead) runs on a thread of
    // low CPU priority: on a saturated machine the snapshot takes mostly what the request
    // workers leave instead of taking it from them, and in short turns (thread_priority.hpp),
    // so a worker that shares its core waits a fraction of a millisecond for it, not a tick.
    // The cut itself stays at normal priority: it holds every shard lock, and a starved lock
    // holder would stall every request.
    std::error_code ec;
    std::uint64_t bytes = 0;
    std::thread([&] {
        lower_this_threads_priority();
        BackgroundPacer pacer;
        store::LeadStore::order_for_restore(cut.leads, [&] { pacer.pause_point(); });
        wal::SnapshotWriter writer(options_.log.fs, options_.log.dir, covered, cut.header);
        for (const auto& [type, payload] : key_records) writer.add(type, payload);
        for (const auto& answer : cut.answers)
            writer.add(wal::RecordType::IdempotencyEntry, store::encode_idempotency_entry(*answer));
        std::size_t encoded = 0;
        store::encode_each(cut.leads, [&](std::string_view lead) {
            writer.add(wal::RecordType::LeadPut, lead);
            if (++encoded % 64 == 0) pacer.pause_point();  // 64 leads: 10-15 µs (BM_SnapshotEncode)
        });
        ec = writer.commit();
        bytes = writer.bytes();
    }).join();
    if (ec) {
        {
            std::lock_guard stats(stats_mu_);
            ++stats_.failures;
        }
        ops::log(spdlog::level::err, "snapshot at seq " + std::to_string(covered) + " failed: " + ec.message());
        return ec;
    }
    last_snapshot_seq_ = covered;
    bytes_at_last_snapshot_ = bytes_mark;
    log_->drop_segments_covered_by(covered);
    wal::drop_snapshots_before(*options_.log.fs, options_.log.dir, covered);
    const auto micros = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count());
    {
        std::lock_guard stats(stats_mu_);
        ++stats_.written;
        stats_.last_bytes = bytes;
        stats_.last_micros = micros;
    }
    ops::log(spdlog::level::info, "snapshot at seq " + std::to_string(covered) + ": " + std::to_string(cut.leads.size()) +
                                 " leads, " + std::to_string(bytes) + " bytes in " + std::to_string(micros / 1000) +
                                 " ms");
    return {};
}

SnapshotStats Persistence::snapshot_stats() const {
    std::lock_guard lock(stats_mu_);
    return stats_;
}

void Persistence::background_loop() {
    std::unique_lock lock(stop_mu_);
    while (!stop_) {
        stop_cv_.wait_for(lock, std::chrono::milliseconds(100));
        if (stop_) break;
        std::uint64_t since;
        {
            std::lock_guard snap(snapshot_mu_);
            since = log_->bytes_appended() - bytes_at_last_snapshot_;
        }
        if (since < options_.snapshot_every_bytes) continue;
        lock.unlock();
        snapshot();
        lock.lock();
    }
}

void Persistence::close() {
    {
        std::lock_guard lock(stop_mu_);
        if (stop_) return;
        stop_ = true;
    }
    stop_cv_.notify_all();
    if (background_.joinable()) background_.join();
    if (log_) {
        snapshot();
        log_->close();
    }
}

}  // namespace leadd::ops
