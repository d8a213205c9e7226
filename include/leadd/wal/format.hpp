#pragma once
// The log's on-disk format, shared by segments and snapshots.
//
// A file is a sequence of records, each:
//
//   +-----------+-----------+--------+-----------+-------------------+
//   | crc32c    | length    | type   | seq       | payload           |
//   | 4 bytes   | 4 bytes   | 1 byte | 8 bytes   | `length` bytes    |
//   +-----------+-----------+--------+-----------+-------------------+
//
// little-endian integers; crc32c (Castagnoli) covers length, type, seq and payload, so a torn
// or flipped length is caught like any other damage. `seq` numbers records 1, 2, 3... across
// all segments without gaps; segment files are named after the seq of their first record
// (wal-<16 hex>.log) and snapshots after the last seq they include (snapshot-<16 hex>.snap).
// There is no block structure: a record is read by its length, and the reader says exactly
// where and why it stopped (see RecordReader).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace leadd::wal {

using Seq = std::uint64_t;

inline constexpr std::size_t record_header_bytes = 4 + 4 + 1 + 8;
inline constexpr std::uint32_t max_record_payload = 64u << 20;  // a lead is < 1 MiB; be generous

enum class RecordType : std::uint8_t {
    LeadPut = 1,          // the whole lead after a create or an update
    LeadDelete = 2,       // lead id (and workspace)
    WorkspaceCreate = 3,  // workspace id, name, createdAt
    KeyIssue = 4,         // key id, workspace, SHA-256 digest, createdAt
    KeyRevoke = 5,        // key id
    SnapshotHeader = 6,   // first record of a snapshot: the owner's header (e.g. the id counter)
    SnapshotEnd = 7,      // last record of a snapshot: how many records came before it
    LeadBatch = 8,        // a batch: its LeadPut payloads, replayed all together or not at all
    Idempotent = 9,       // a write (its LeadPut or LeadBatch payload) with its Idempotency-Key answer
    IdempotencyEntry = 10,  // a snapshot's stored Idempotency-Key answer
    LastType = IdempotencyEntry,
};

std::uint32_t crc32c(std::string_view data);

// Appends one framed record to `out`.
void frame_record(std::string& out, RecordType type, Seq seq, std::string_view payload);

// The header fields of the record at `p` (record_header_bytes readable), taken as they are:
// nothing is checked, not even the type. RecordReader validates them; a scan for records can
// reject impossible candidates with them before paying for a checksum.
struct RecordHeader {
    std::uint32_t crc;
    std::uint32_t length;
    std::uint8_t type;
    Seq seq;
};
RecordHeader read_record_header(const char* p);

struct RecordView {
    RecordType type;
    Seq seq;
    std::string_view payload;  // points into the reader's buffer
};

// Reads records one by one from a whole file's bytes.
class RecordReader {
public:
    enum class Stop { None, CleanEnd, Truncated, BadChecksum, BadLength, BadType };

    explicit RecordReader(std::string_view data) : data_(data) {}

    // The next record, or nullopt with stop() saying why (CleanEnd at exactly the end).
    std::optional<RecordView> next();
    Stop stop() const { return stop_; }
    std::size_t offset() const { return offset_; }  // start of the record that failed / end
    std::size_t size() const { return data_.size(); }

private:
    std::string_view data_;
    std::size_t offset_ = 0;
    Stop stop_ = Stop::None;
};

std::string_view to_string(RecordReader::Stop stop);

}  // namespace leadd::wal
