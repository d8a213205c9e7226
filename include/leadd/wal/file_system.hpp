#pragma once
// The only door to the disk. Everything the log does to files goes through FileSystem, so tests
// can put a FaultyFileSystem in front of the real one and inject short writes, EIO and ENOSPC
// at exact points.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace leadd::wal {

// A file written front to back. size() is the bytes written so far: for a file opened with
// open_append, the whole file; for one opened with open_prepared, the start of it (the rest is
// the zeros prepare_zeroed wrote, overwritten as appends reach them).
class AppendFile {
public:
    virtual ~AppendFile() = default;
    // Writes all of `data` at size(), retrying short writes; an error may leave part written.
    virtual std::error_code append(std::string_view data) = 0;
    virtual std::error_code sync() = 0;  // fdatasync
    virtual std::error_code truncate(std::uint64_t size) = 0;
    virtual std::uint64_t size() const = 0;
};

class FileSystem {
public:
    virtual ~FileSystem() = default;
    // Opens (creating if needed) for appending at the current end.
    virtual std::unique_ptr<AppendFile> open_append(const std::filesystem::path& path,
                                                    std::error_code& ec) = 0;
    // Creates (or replaces) `path` as `bytes` zeros, written and fdatasync'ed: blocks that an
    // fdatasync after an overwrite finds allocated and inside the file's size, so it has only the
    // data to flush and no metadata to journal (see Log's "Prepared segments"). Fails with
    // ENOSPC, writing nothing, while the disk has less than twice `bytes` free.
    virtual std::error_code prepare_zeroed(const std::filesystem::path& path, std::uint64_t bytes) = 0;
    // Opens a prepared file for writing from its first byte (size() starts at 0).
    virtual std::unique_ptr<AppendFile> open_prepared(const std::filesystem::path& path,
                                                      std::error_code& ec) = 0;
    virtual std::error_code read_all(const std::filesystem::path& path, std::string& out) = 0;
    virtual std::vector<std::string> list(const std::filesystem::path& dir, std::error_code& ec) = 0;
    virtual std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
    virtual std::error_code remove(const std::filesystem::path& path) = 0;
    virtual std::error_code truncate(const std::filesystem::path& path, std::uint64_t size) = 0;
    virtual std::error_code sync_dir(const std::filesystem::path& dir) = 0;
};

// The real thing: POSIX open/write/fdatasync/rename.
std::shared_ptr<FileSystem> posix_file_system();

}  // namespace leadd::wal
