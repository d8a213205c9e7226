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

class AppendFile {
public:
    virtual ~AppendFile() = default;
    // Writes all of `data` at the end, retrying short writes; an error may leave part written.
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
