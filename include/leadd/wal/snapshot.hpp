#pragma once
// Snapshots: the whole state as of one seq, in the log's record format.
//
// snapshot-<covered seq, 16 hex>.snap holds SnapshotHeader, then the state's records (all with
// seq = covered), then SnapshotEnd with the count of records before it, so a damaged or cut
// snapshot is always detected. It is written as a temp file, fdatasync'ed, renamed into place,
// and the directory fsync'ed: a crash leaves either the old snapshot or the new one, never half.

#include "leadd/wal/file_system.hpp"
#include "leadd/wal/format.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace leadd::wal {

std::string snapshot_file_name(Seq covered);
std::optional<Seq> parse_snapshot_file_name(std::string_view name);

class SnapshotWriter {
public:
    SnapshotWriter(std::shared_ptr<FileSystem> fs, std::filesystem::path dir, Seq covered,
                   std::string_view header_payload);
    void add(RecordType type, std::string_view payload);
    // Finishes the file and puts it in place; returns the first error met since construction.
    std::error_code commit();
    std::uint64_t bytes() const { return bytes_; }

private:
    void flush_buffer();

    std::shared_ptr<FileSystem> fs_;
    std::filesystem::path dir_;
    Seq covered_;
    std::unique_ptr<AppendFile> file_;
    std::string buffer_;
    std::uint64_t records_ = 0;
    std::uint64_t bytes_ = 0;
    std::error_code error_;
};

// Deletes every snapshot older than `keep` and leftover temp files.
void drop_snapshots_before(FileSystem& fs, const std::filesystem::path& dir, Seq keep);

}  // namespace leadd::wal
