#include "leadd/wal/snapshot.hpp"

#include "leadd/store/ids.hpp"
#include "leadd/wal/codec.hpp"

namespace leadd::wal {

namespace {
constexpr std::size_t write_chunk = 1 << 20;
constexpr std::string_view temp_suffix = ".tmp";
}  // namespace

std::string snapshot_file_name(Seq covered) {
    return store::format_hex_id("snapshot-", covered) + ".snap";
}

std::optional<Seq> parse_snapshot_file_name(std::string_view name) {
    if (!name.ends_with(".snap")) return std::nullopt;
    return store::parse_hex_id("snapshot-", name.substr(0, name.size() - 5));
}

SnapshotWriter::SnapshotWriter(std::shared_ptr<FileSystem> fs, std::filesystem::path dir, Seq covered,
                               std::string_view header_payload)
    : fs_(std::move(fs)), dir_(std::move(dir)), covered_(covered) {
    const auto temp = dir_ / (snapshot_file_name(covered_) + std::string(temp_suffix));
    fs_->remove(temp);  // a leftover of a crashed attempt
    file_ = fs_->open_append(temp, error_);
    frame_record(buffer_, RecordType::SnapshotHeader, covered_, header_payload);
}

void SnapshotWriter::add(RecordType type, std::string_view payload) {
    frame_record(buffer_, type, covered_, payload);
    ++records_;
    if (buffer_.size() >= write_chunk) flush_buffer();
}

void SnapshotWriter::flush_buffer() {
    if (!error_ && file_) error_ = file_->append(buffer_);
    bytes_ += buffer_.size();
    buffer_.clear();
}

std::error_code SnapshotWriter::commit() {
    PayloadWriter end;
    end.u64(records_);
    frame_record(buffer_, RecordType::SnapshotEnd, covered_, end.bytes());
    flush_buffer();
    if (error_) return error_;
    if ((error_ = file_->sync())) return error_;
    file_.reset();
    const auto final_name = dir_ / snapshot_file_name(covered_);
    if ((error_ = fs_->rename(dir_ / (snapshot_file_name(covered_) + std::string(temp_suffix)), final_name)))
        return error_;
    return error_ = fs_->sync_dir(dir_);
}

void drop_snapshots_before(FileSystem& fs, const std::filesystem::path& dir, Seq keep) {
    std::error_code ec;
    for (const auto& name : fs.list(dir, ec)) {
        const auto covered = parse_snapshot_file_name(name);
        if ((covered && *covered < keep) || (name.starts_with("snapshot-") && name.ends_with(temp_suffix)))
            fs.remove(dir / name);
    }
}

}  // namespace leadd::wal
