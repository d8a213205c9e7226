#include "leadd/wal/file_system.hpp"

#include "leadd/ops/thread_priority.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace leadd::wal {

namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

// Disk blocks are reserved ahead of the end of the file, reserve_ahead at a time (fallocate with
// FALLOC_FL_KEEP_SIZE: the file's size, all that recovery reads, stays the bytes written). An
// append into blocks already allocated leaves fdatasync only the new size to journal, not the
// allocation too: an 8 KiB append + fdatasync took ~170 us without and ~140 us with it on this
// project's ext4 test machine. Best effort: where fallocate fails (a filesystem without it, a
// full disk) appends go on as before and the next reservation is tried reserve_ahead later.
// Closing the file gives back what was reserved and not written.
//
// Writes go to size_ with pwrite, not to an O_APPEND end: a prepared file (open_prepared) is
// written from its first byte over its zeros, and its blocks up to its end count as reserved.
class PosixAppendFile final : public AppendFile {
public:
    static constexpr std::uint64_t reserve_ahead = 8 << 20;

    PosixAppendFile(int fd, std::uint64_t size, std::uint64_t reserved_to)
        : fd_(fd), size_(size), reserved_to_(reserved_to) {}
    ~PosixAppendFile() override {
        // Only while the file is still as this handle left it: after a failed write the log
        // reopens the same name and truncates it through another handle, and a truncate here
        // would then put the abandoned bytes' length back, as zeros.
        struct stat st {};
        if (reserved_to_ > size_ && ::fstat(fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) == size_)
            (void)::ftruncate(fd_, static_cast<off_t>(size_));
        ::close(fd_);
    }

    std::error_code append(std::string_view data) override {
        if (size_ + data.size() > reserved_to_) {
            const std::uint64_t to = size_ + data.size() + reserve_ahead;
            (void)::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(size_), static_cast<off_t>(to - size_));
            reserved_to_ = to;
        }
        while (!data.empty()) {
            const ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(size_));
            if (n < 0) {
                if (errno == EINTR) continue;
                return last_error();
            }
            size_ += static_cast<std::uint64_t>(n);
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return {};
    }
    std::error_code sync() override { return ::fdatasync(fd_) == 0 ? std::error_code{} : last_error(); }
    std::error_code truncate(std::uint64_t size) override {
        if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return last_error();
        size_ = size;
        reserved_to_ = size;  // the truncate gave back the reservation
        return {};
    }
    std::uint64_t size() const override { return size_; }

private:
    int fd_;
    std::uint64_t size_;
    std::uint64_t reserved_to_;  // blocks are reserved up to here (or were asked for)
};

// Writes go after what the file holds, or (from_start: a prepared file) over it from its first
// byte, its blocks counting as reserved.
std::unique_ptr<AppendFile> open_for_writing(const std::filesystem::path& path, int flags, bool from_start,
                                             std::error_code& ec) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | flags, 0600);
    if (fd < 0) {
        ec = last_error();
        return nullptr;
    }
    struct stat st {};
    ::fstat(fd, &st);
    ec.clear();
    const auto size = static_cast<std::uint64_t>(st.st_size);
    return std::make_unique<PosixAppendFile>(fd, from_start ? 0 : size, size);
}

class PosixFileSystem final : public FileSystem {
public:
    std::unique_ptr<AppendFile> open_append(const std::filesystem::path& path,
                                            std::error_code& ec) override {
        return open_for_writing(path, O_CREAT, false, ec);
    }

    std::error_code prepare_zeroed(const std::filesystem::path& path, std::uint64_t bytes) override {
        // The log's own appends come first: no preparing on a disk without room for the file
        // twice over, and the blocks are taken in one fallocate before any zero is written.
        struct statvfs fs {};
        if (::statvfs(path.parent_path().c_str(), &fs) != 0) return last_error();
        if (static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize < 2 * bytes) return {ENOSPC, std::generic_category()};
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) return last_error();
        // Synced a MiB at a time: one fdatasync of the whole file queues tens of MiB on the disk
        // ahead of the log's own fdatasyncs (creates at one connection, --fsync always, 5 s from
        // a fresh start: p99 0.85-1.13 ms that way, 0.44-0.47 ms this way).
        //
        // Written in pieces with pause points between (ops::BackgroundPacer): the caller runs at
        // nice 10, but on a core shared with a request worker the kernel still gave it turns of
        // up to 2.7 ms (a sched_switch trace of a PUT load under --fsync always), each one held
        // every request in flight.
        constexpr std::size_t piece = 128 << 10, sync_every = 1 << 20;
        static const std::string zeros(piece, '\0');
        ops::BackgroundPacer pacer;
        std::error_code ec;
        if (::fallocate(fd, 0, 0, static_cast<off_t>(bytes)) != 0 && errno != EOPNOTSUPP) ec = last_error();
        std::uint64_t unsynced = 0;
        for (std::uint64_t done = 0; done < bytes && !ec;) {
            const auto n = ::pwrite(fd, zeros.data(), std::min<std::uint64_t>(zeros.size(), bytes - done),
                                    static_cast<off_t>(done));
            if (n < 0 && errno != EINTR) ec = last_error();
            if (n > 0) {
                done += static_cast<std::uint64_t>(n);
                unsynced += static_cast<std::uint64_t>(n);
                if (unsynced >= sync_every || done == bytes) {
                    if (::fdatasync(fd) != 0) ec = last_error();
                    unsynced = 0;
                }
            }
            pacer.pause_point();
        }
        ::close(fd);
        return ec;
    }

    std::unique_ptr<AppendFile> open_prepared(const std::filesystem::path& path, std::error_code& ec) override {
        return open_for_writing(path, 0, true, ec);
    }

    std::error_code read_all(const std::filesystem::path& path, std::string& out) override {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return last_error();
        struct stat st {};
        ::fstat(fd, &st);
        out.resize(static_cast<std::size_t>(st.st_size));
        std::size_t done = 0;
        while (done < out.size()) {
            const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            done += static_cast<std::size_t>(n);
        }
        out.resize(done);
        ::close(fd);
        return {};
    }

    std::vector<std::string> list(const std::filesystem::path& dir, std::error_code& ec) override {
        std::vector<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
            names.push_back(entry.path().filename().string());
        return names;
    }

    std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
        return ::rename(from.c_str(), to.c_str()) == 0 ? std::error_code{} : last_error();
    }
    std::error_code remove(const std::filesystem::path& path) override {
        return ::unlink(path.c_str()) == 0 ? std::error_code{} : last_error();
    }
    std::error_code truncate(const std::filesystem::path& path, std::uint64_t size) override {
        return ::truncate(path.c_str(), static_cast<off_t>(size)) == 0 ? std::error_code{} : last_error();
    }
    std::error_code sync_dir(const std::filesystem::path& dir) override {
        const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return last_error();
        const int rc = ::fsync(fd);
        std::error_code ec = rc == 0 ? std::error_code{} : last_error();
        ::close(fd);
        return ec;
    }
};

}  // namespace

std::shared_ptr<FileSystem> posix_file_system() { return std::make_shared<PosixFileSystem>(); }

}  // namespace leadd::wal
