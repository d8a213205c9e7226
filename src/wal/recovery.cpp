#include "leadd/wal/recovery.hpp"

#include "leadd/wal/codec.hpp"
#include "leadd/wal/log.hpp"
#include "leadd/wal/snapshot.hpp"

#include <algorithm>

namespace leadd::wal {

namespace {

using Clock = std::chrono::steady_clock;

std::string where(const std::string& file, std::size_t offset) {
    return file + " at offset " + std::to_string(offset);
}

// True if some complete, checksummed record with a plausible seq starts after `from`: then the
// damage at `from` is not a torn tail but a hole in the middle of the log.
bool valid_record_after(std::string_view data, std::size_t from, Seq after_seq) {
    for (std::size_t off = from + 1; off + record_header_bytes <= data.size(); ++off) {
        // The header's seq first: a checksum over every candidate length at every offset would
        // make a long garbage tail cost quadratic time. RecordReader checks the rest.
        const auto header = read_record_header(data.data() + off);
        if (header.seq <= after_seq || header.seq - after_seq >= (1ull << 32)) continue;
        if (RecordReader(data.substr(off)).next()) return true;
    }
    return false;
}

bool all_zero(std::string_view data) {
    return std::all_of(data.begin(), data.end(), [](char c) { return c == 0; });
}

struct Segment {
    Seq first;
    std::string name;
};

// A crash between creating a segment and writing to it leaves an empty file, or a prepared one
// that is all zeros; it holds nothing, so it must not turn the torn tail before it into "damage
// in the middle". Only read on the (rare) damage path.
bool only_empty_segments_after(FileSystem& fs, const std::filesystem::path& dir,
                               const std::vector<Segment>& segments, std::size_t i) {
    for (std::size_t j = i + 1; j < segments.size(); ++j) {
        std::string data;
        if (fs.read_all(dir / segments[j].name, data) || !all_zero(data)) return false;
    }
    return true;
}

}  // namespace

std::variant<RecoveryReport, RecoveryFailure> recover(FileSystem& fs, const std::filesystem::path& dir,
                                                      CorruptionPolicy policy, const ApplyRecord& apply) {
    const auto started = Clock::now();
    RecoveryReport report;
    std::error_code ec;
    const auto names = fs.list(dir, ec);
    if (ec) return RecoveryFailure{"cannot list " + dir.string() + ": " + ec.message()};

    // 1. The newest snapshot, whole or not at all.
    Seq newest_snapshot = 0;
    for (const auto& name : names)
        if (auto covered = parse_snapshot_file_name(name)) newest_snapshot = std::max(newest_snapshot, *covered);
    if (newest_snapshot != 0) {
        const std::string name = snapshot_file_name(newest_snapshot);
        std::string data;
        if ((ec = fs.read_all(dir / name, data))) return RecoveryFailure{"cannot read " + name + ": " + ec.message()};
        RecordReader reader(data);
        auto header = reader.next();
        if (!header || header->type != RecordType::SnapshotHeader || header->seq != newest_snapshot ||
            !apply(*header))
            return RecoveryFailure{"snapshot " + where(name, 0) + " has no valid header"};
        bool ended = false;
        while (auto rec = reader.next()) {
            if (rec->type == RecordType::SnapshotEnd) {
                PayloadReader end(rec->payload);
                const auto count = end.u64();
                if (!end.done() || count != report.snapshot_records)
                    return RecoveryFailure{"snapshot " + where(name, reader.offset()) + " has a wrong record count"};
                ended = true;
                break;
            }
            if (!apply(*rec))
                return RecoveryFailure{"snapshot " + where(name, reader.offset()) + " holds a record that makes no sense"};
            ++report.snapshot_records;
        }
        if (!ended || reader.next() || reader.stop() != RecordReader::Stop::CleanEnd)
            return RecoveryFailure{"snapshot " + where(name, reader.offset()) + " is damaged: " +
                                   std::string(to_string(reader.stop()))};
        report.snapshot_seq = newest_snapshot;
    }

    // 2. Every segment, oldest first, skipping what the snapshot (or a rewrite) already holds.
    std::vector<Segment> segments;
    for (const auto& name : names)
        if (auto first = parse_segment_file_name(name)) segments.push_back({*first, name});
    std::sort(segments.begin(), segments.end(), [](auto& a, auto& b) { return a.first < b.first; });

    Seq applied = report.snapshot_seq;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const auto& seg = segments[i];
        const bool newest = i + 1 == segments.size();
        std::string data;
        if ((ec = fs.read_all(dir / seg.name, data))) return RecoveryFailure{"cannot read " + seg.name + ": " + ec.message()};
        RecordReader reader(data);
        std::optional<std::string> damage;
        std::size_t record_start = 0;
        while (auto rec = reader.next()) {
            if (rec->seq > applied) {
                if (rec->seq != applied + 1) {
                    damage = "records " + std::to_string(applied + 1) + " to " + std::to_string(rec->seq - 1) + " are missing";
                    break;
                }
                if (rec->type == RecordType::SnapshotHeader || rec->type == RecordType::SnapshotEnd || !apply(*rec)) {
                    damage = "a record that makes no sense";
                    break;
                }
                applied = rec->seq;
                ++report.records_replayed;
            }
            record_start = reader.offset();
        }
        if (!damage && reader.stop() == RecordReader::Stop::CleanEnd) continue;
        const std::size_t bad_at = damage ? record_start : reader.offset();
        const std::string why = damage ? *damage : std::string(to_string(reader.stop()));
        const std::uint64_t cut = data.size() - bad_at;

        // A torn tail: nothing valid after the damage, and nothing lost (this is the newest
        // segment, or the next one carries on right after the last good record). Zeros to the
        // end are the part of a prepared segment the log had not reached (no record has seq 0,
        // so no scan is needed to know nothing valid follows).
        const bool nothing_lost = newest || segments[i + 1].first <= applied + 1 ||
                                  only_empty_segments_after(fs, dir, segments, i);
        const bool unwritten = !damage && all_zero(std::string_view(data).substr(bad_at));
        if (!damage && nothing_lost && (unwritten || !valid_record_after(data, bad_at, applied))) {
            if ((ec = fs.truncate(dir / seg.name, bad_at)))
                return RecoveryFailure{"cannot truncate " + seg.name + ": " + ec.message()};
            report.repairs.push_back(
                unwritten ? "dropped the unwritten, zero-filled end of " + std::to_string(cut) + " bytes from " +
                                where(seg.name, bad_at)
                          : "truncated a torn tail of " + std::to_string(cut) + " bytes from " + where(seg.name, bad_at) +
                                " (" + why + ")");
            continue;
        }
        if (policy == CorruptionPolicy::Stop)
            return RecoveryFailure{"log damaged in the middle: " + where(seg.name, bad_at) + ": " + why +
                                   " (start with --recover=truncate to keep only what precedes it)"};
        if (bad_at == 0) {
            // Nothing of this segment is kept: set it aside whole, like the ones after it, so the
            // records it holds stay there for a human to look at.
            if ((ec = fs.rename(dir / seg.name, dir / (seg.name + ".discarded"))))
                return RecoveryFailure{"cannot rename " + seg.name + ": " + ec.message()};
            report.repairs.push_back("--recover=truncate: set aside " + seg.name + " as " + seg.name +
                                     ".discarded (" + why + ")");
        } else {
            if ((ec = fs.truncate(dir / seg.name, bad_at)))
                return RecoveryFailure{"cannot truncate " + seg.name + ": " + ec.message()};
            report.repairs.push_back("--recover=truncate: dropped " + std::to_string(cut) + " bytes from " +
                                     where(seg.name, bad_at) + " (" + why + ")");
        }
        for (std::size_t j = i + 1; j < segments.size(); ++j) {
            fs.rename(dir / segments[j].name, dir / (segments[j].name + ".discarded"));
            report.repairs.push_back("--recover=truncate: set aside " + segments[j].name + " as " +
                                     segments[j].name + ".discarded");
        }
        break;
    }
    report.next_seq = applied + 1;
    report.took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
    return report;
}

}  // namespace leadd::wal
