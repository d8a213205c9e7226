// wal::Log's fsync policies on a healthy disk: what each one promises about fdatasync cadence.
// (Faults are test_wal_faults.cpp; recovery of what the log wrote is test_wal_recovery.cpp.)

#include "wal_test_support.hpp"

#include "leadd/wal/log.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <thread>

using namespace leadd;
using namespace leadd::test;

namespace {

wal::LogOptions options(const fs::path& dir, wal::FsyncPolicy policy, std::chrono::milliseconds interval) {
    wal::LogOptions o;
    o.dir = dir;
    o.fsync = policy;
    o.fsync_interval = interval;
    o.fs = wal::posix_file_system();
    return o;
}

// Appends a record every ~200 µs for `duration`: batches arrive far more often than the fsync
// interval, so the flusher never sees an empty queue for long.
void steady_stream(wal::Log& log, std::chrono::milliseconds duration) {
    const auto until = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < until) {
        log.append(wal::RecordType::LeadPut, "a steady stream of writes");
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

}  // namespace

TEST_CASE("--fsync batch syncs at least every interval while writes keep coming", "[wal][log]") {
    TempDir dir;
    wal::Log log(options(dir.path(), wal::FsyncPolicy::Batch, std::chrono::milliseconds(10)), 1);
    steady_stream(log, std::chrono::milliseconds(400));
    const auto stats = log.stats();
    INFO("records " << stats.records_appended << ", fsyncs " << stats.fsyncs);
    // 400 ms at one sync per 10 ms is ~40; a loaded machine may stretch the interval, but a
    // flusher that waits for a quiet moment syncs zero times here.
    CHECK(stats.fsyncs >= 10);
    // ...and it is still a batch policy: far fewer syncs than records.
    CHECK(stats.fsyncs * 4 < stats.records_appended);
    log.close();
}

TEST_CASE("--fsync none never calls fdatasync while serving", "[wal][log]") {
    TempDir dir;
    wal::Log log(options(dir.path(), wal::FsyncPolicy::None, std::chrono::milliseconds(10)), 1);
    steady_stream(log, std::chrono::milliseconds(100));
    REQUIRE(log.wait_durable(log.last_seq()));
    CHECK(log.stats().fsyncs == 0);
    log.close();
}

TEST_CASE("--fsync always acknowledges a record only after an fdatasync that covers it", "[wal][log]") {
    TempDir dir;
    wal::Log log(options(dir.path(), wal::FsyncPolicy::Always, std::chrono::milliseconds(10)), 1);
    for (int i = 0; i < 20; ++i) {
        const auto before = log.stats().fsyncs;
        const auto seq = log.append(wal::RecordType::LeadPut, "one at a time");
        REQUIRE(log.wait_durable(seq));
        CHECK(log.stats().fsyncs > before);
    }
    log.close();
}

TEST_CASE("a segment's size is the bytes written, whatever the disk reserves ahead of them", "[wal][log]") {
    // The posix file reserves blocks past the end (fallocate, keep size) so appends do not
    // allocate: recovery reads the file's size, which must stay exactly what was written, and
    // closing the file gives the unused reservation back.
    TempDir dir;
    const auto path = dir.path() / "segment.log";
    auto fs = wal::posix_file_system();
    std::error_code ec;
    auto file = fs->open_append(path, ec);
    REQUIRE(file);
    const std::string chunk(3000, 'r');
    std::uint64_t written = 0;
    for (int i = 0; i < 100; ++i) {
        REQUIRE_FALSE(file->append(chunk));
        written += chunk.size();
    }
    REQUIRE_FALSE(file->sync());
    CHECK(file->size() == written);
    CHECK(fs::file_size(path) == written);
    struct stat open_stat {};
    REQUIRE(::stat(path.c_str(), &open_stat) == 0);
    const std::uint64_t reserve_ahead = 8 << 20;
    // Where the filesystem reserves at all (fallocate works here), the blocks cover more than
    // the bytes: the reservation is in place while the file is open.
    const bool reserved = static_cast<std::uint64_t>(open_stat.st_blocks) * 512 >= written + reserve_ahead / 2;
    file.reset();
    CHECK(fs::file_size(path) == written);
    struct stat closed_stat {};
    REQUIRE(::stat(path.c_str(), &closed_stat) == 0);
    CHECK(static_cast<std::uint64_t>(closed_stat.st_blocks) * 512 < written + reserve_ahead / 2);
    if (!reserved) WARN("this filesystem reserved nothing ahead; only the sizes were checked");
    std::string read_back;
    REQUIRE_FALSE(fs->read_all(path, read_back));
    CHECK(read_back.size() == written);
}

TEST_CASE("a prepared file is written from its first byte over its zeros; size() is the bytes written", "[wal][log]") {
    TempDir dir;
    const auto path = dir.path() / "prepared";
    auto fs = wal::posix_file_system();
    constexpr std::uint64_t prepared = 64 * 1024;
    REQUIRE_FALSE(fs->prepare_zeroed(path, prepared));
    CHECK(read_file(path) == std::string(prepared, '\0'));

    std::error_code ec;
    auto file = fs->open_prepared(path, ec);
    REQUIRE(file);
    CHECK(file->size() == 0);
    const std::string first(1000, 'a');
    REQUIRE_FALSE(file->append(first));
    CHECK(file->size() == first.size());
    CHECK(read_file(path) == first + std::string(prepared - first.size(), '\0'));

    // Past the zeros the file grows like any other.
    const std::string second(prepared, 'b');
    REQUIRE_FALSE(file->append(second));
    REQUIRE_FALSE(file->sync());
    CHECK(file->size() == first.size() + second.size());
    CHECK(read_file(path) == first + second);

    // Cutting at size() drops what is past it (the log does this to a segment's unwritten zeros).
    REQUIRE_FALSE(fs->prepare_zeroed(path, prepared));
    file = fs->open_prepared(path, ec);
    REQUIRE(file);
    REQUIRE_FALSE(file->append(first));
    REQUIRE_FALSE(file->truncate(file->size()));
    file.reset();
    CHECK(read_file(path) == first);
}
