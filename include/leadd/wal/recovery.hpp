#pragma once
// Recovery at start: the newest snapshot, then every log record after it, in seq order.
//
// What the reader may meet, and what it does:
//   - a torn or partial record at the end of the newest segment (a crash mid-write): the tail is
//     truncated and reported (file, offset, bytes), and start-up goes on;
//   - zeros from the last record to the end of a segment (a prepared segment the log had not
//     filled when the process died, see log.hpp): cut off and reported, start-up goes on; a
//     segment that is all zeros holds nothing;
//   - a damaged tail of an older segment whose records were all rewritten into the next one (the
//     log retries a failed batch into a fresh segment): truncated and reported the same way;
//   - a damaged record with valid records after it, a gap in seq, or a payload the state
//     machine rejects: start-up stops with the file and offset, unless the policy is Truncate,
//     which keeps what precedes the damage and sets the rest aside (renamed *.discarded).
//     Zeros between valid records are such damage too. A power cut (not a crash: the page cache
//     survives those) during the fdatasync of a batch written into a prepared segment can leave
//     one: a later page of the unsynced batch reached the disk, an earlier one did not. Then
//     everything from the hole on was never acknowledged (under --fsync always), and
//     --recover=truncate keeps exactly what was; start-up still stops first, because recovery
//     cannot tell that hole from zeros where synced records were.

#include "leadd/wal/file_system.hpp"
#include "leadd/wal/format.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <variant>
#include <vector>

namespace leadd::wal {

enum class CorruptionPolicy { Stop, Truncate };

struct RecoveryReport {
    Seq snapshot_seq = 0;          // 0: started without a snapshot
    std::uint64_t snapshot_records = 0;
    std::uint64_t records_replayed = 0;  // from segments, after the snapshot
    Seq next_seq = 1;
    std::vector<std::string> repairs;    // one line per truncation or discarded file
    std::chrono::microseconds took{0};
};

struct RecoveryFailure {
    std::string message;  // names the file and the offset
};

// `apply` gets every record to restore, snapshot records included (with the snapshot's header
// first); it returns false when a payload makes no sense, which is treated as damage.
using ApplyRecord = std::function<bool(const RecordView&)>;

std::variant<RecoveryReport, RecoveryFailure> recover(FileSystem& fs, const std::filesystem::path& dir,
                                                      CorruptionPolicy policy, const ApplyRecord& apply);

}  // namespace leadd::wal
