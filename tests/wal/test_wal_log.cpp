// wal::Log's fsync policies on a healthy disk: what each one promises about fdatasync cadence,
// who writes (the waiter's thread under none, the flusher otherwise), and the commit window.
// (Faults are test_wal_faults.cpp; recovery of what the log wrote is test_wal_recovery.cpp.)

#include "wal_test_support.hpp"

#include "leadd/wal/log.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <atomic>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

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

TEST_CASE("a prepared file of many pieces and a short last one is zeros to its exact size", "[wal][log]") {
    // prepare_zeroed writes in pieces (with pause points between) and syncs every MiB; a size
    // that is no multiple of either must still come out exact, not rounded up to a piece.
    TempDir dir;
    const auto path = dir.path() / "prepared";
    auto fs = wal::posix_file_system();
    constexpr std::uint64_t prepared = (3u << 20) + (200u << 10) + 123;
    REQUIRE_FALSE(fs->prepare_zeroed(path, prepared));
    CHECK(read_file(path) == std::string(prepared, '\0'));
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

TEST_CASE("--fsync none writes a waiter's batch on the waiter's thread; always leaves it to the flusher", "[wal][log]") {
    const auto policy = GENERATE(wal::FsyncPolicy::None, wal::FsyncPolicy::Always);
    TempDir dir;
    auto o = options(dir.path(), policy, std::chrono::milliseconds(10));
    o.flush_backstop = std::chrono::hours(1);  // the flusher runs only when someone wakes it
    wal::Log log(o, 1);
    const auto caller = std::this_thread::get_id();
    for (int i = 0; i < 3; ++i) {
        const auto seq = log.append(wal::RecordType::LeadPut, "record " + std::to_string(i));
        std::promise<std::pair<std::thread::id, bool>> ran;
        log.when_durable(seq, [&](bool ok) { ran.set_value({std::this_thread::get_id(), ok}); });
        auto outcome = ran.get_future();
        REQUIRE(outcome.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
        const auto [thread, ok] = outcome.get();
        CHECK(ok);
        // Under none the record is in the file before when_durable returns (no hand-off); under
        // always the fdatasync must not block the caller (an event loop), so the flusher does it.
        CHECK((thread == caller) == (policy == wal::FsyncPolicy::None));
    }
    log.close();
    const auto c = collect(*wal::posix_file_system(), dir.path());
    REQUIRE(c.ok());
    REQUIRE(c.records.size() == 3);
    CHECK(c.records[2].payload == "record 2");
}

TEST_CASE("--fsync none: threads writing their own batches keep the log in seq order, nothing lost", "[wal][log]") {
    TempDir dir;
    wal::Log log(options(dir.path(), wal::FsyncPolicy::None, std::chrono::milliseconds(10)), 1);
    constexpr int threads = 4, per_thread = 2000;
    std::atomic<int> acknowledged{0}, refused{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < threads; ++t)
        writers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const auto seq = log.append(wal::RecordType::LeadPut, std::to_string(t) + ":" + std::to_string(i));
                log.when_durable(seq, [&](bool ok) { ++(ok ? acknowledged : refused); });
            }
        });
    for (auto& w : writers) w.join();
    REQUIRE(eventually([&] { return acknowledged.load() + refused.load() == threads * per_thread; }));
    CHECK(refused.load() == 0);
    log.close();

    const auto c = collect(*wal::posix_file_system(), dir.path());
    REQUIRE(c.ok());
    REQUIRE(c.records.size() == threads * per_thread);
    std::vector<int> next(threads, 0);  // each thread's records in the order it appended them
    for (std::size_t i = 0; i < c.records.size(); ++i) {
        INFO("record " << i << ": " << c.records[i].payload);
        REQUIRE(c.records[i].seq == i + 1);
        const auto colon = c.records[i].payload.find(':');
        const int t = std::stoi(c.records[i].payload.substr(0, colon));
        CHECK(std::stoi(c.records[i].payload.substr(colon + 1)) == next[t]++);
    }
}

// The commit window (--fsync always): while a writer says it is busy, the flusher holds a batch
// open for more records; idleness, the window's end, a full batch or close() end it.
namespace {

wal::LogOptions windowed(const fs::path& dir, std::chrono::microseconds window) {
    auto o = options(dir, wal::FsyncPolicy::Always, std::chrono::milliseconds(10));
    o.commit_window = window;
    return o;
}

struct Acknowledgement {
    std::promise<bool> promise;
    std::future<bool> future = promise.get_future();
    std::function<void(bool)> callback() {
        return [this](bool ok) { promise.set_value(ok); };
    }
    bool arrives_within(std::chrono::milliseconds d) { return future.wait_for(d) == std::future_status::ready; }
};

}  // namespace

TEST_CASE("--fsync always: a busy writer's records wait in one batch until it is idle", "[wal][log][window]") {
    TempDir dir;
    wal::Log log(windowed(dir.path(), std::chrono::hours(1)), 1);  // only idleness ends it here
    // The window counts from the previous write (the first batch has none).
    REQUIRE(log.wait_durable(log.append(wal::RecordType::LeadPut, "before")));
    const auto fsyncs_before = log.stats().fsyncs;
    log.writer_busy();
    Acknowledgement first, second;
    log.when_durable(log.append(wal::RecordType::LeadPut, "first"), first.callback());
    // With no window the flusher would have synced it long before (well under a millisecond
    // here); a stalled machine can only make this pass wrongly, never fail rightly.
    CHECK_FALSE(first.arrives_within(std::chrono::milliseconds(200)));
    log.when_durable(log.append(wal::RecordType::LeadPut, "second"), second.callback());
    log.writer_idle();
    REQUIRE(first.arrives_within(std::chrono::seconds(10)));
    REQUIRE(second.arrives_within(std::chrono::seconds(10)));
    CHECK(first.future.get());
    CHECK(second.future.get());
    CHECK(log.stats().fsyncs - fsyncs_before == 1);  // one fdatasync for both
    log.close();
    const auto c = collect(*wal::posix_file_system(), dir.path());
    REQUIRE(c.ok());
    CHECK(c.records.size() == 3);
}

TEST_CASE("--fsync always: the commit window ends by itself while the writer stays busy", "[wal][log][window]") {
    TempDir dir;
    wal::Log log(windowed(dir.path(), std::chrono::milliseconds(20)), 1);
    REQUIRE(log.wait_durable(log.append(wal::RecordType::LeadPut, "before")));
    log.writer_busy();
    for (int i = 0; i < 3; ++i) {
        Acknowledgement ack;
        log.when_durable(log.append(wal::RecordType::LeadPut, "busy " + std::to_string(i)), ack.callback());
        REQUIRE(ack.arrives_within(std::chrono::seconds(10)));  // 20 ms, not forever
        CHECK(ack.future.get());
    }
    log.writer_idle();
    log.close();
}

TEST_CASE("--fsync always: no writer busy, no wait; a full batch or close() ends a window", "[wal][log][window]") {
    TempDir dir;
    auto o = windowed(dir.path(), std::chrono::hours(1));
    o.eager_flush_bytes = 4096;
    wal::Log log(o, 1);
    REQUIRE(log.wait_durable(log.append(wal::RecordType::LeadPut, "before")));
    SECTION("nobody said busy (tools, recovery), or every writer is idle again") {
        // A flusher that waited anyway would hold these for the hour: fail after 10 s instead.
        Acknowledgement no_one_busy, idle_again;
        log.when_durable(log.append(wal::RecordType::LeadPut, "no one busy"), no_one_busy.callback());
        REQUIRE(no_one_busy.arrives_within(std::chrono::seconds(10)));
        CHECK(no_one_busy.future.get());
        log.writer_busy();
        log.writer_idle();
        log.when_durable(log.append(wal::RecordType::LeadPut, "idle again"), idle_again.callback());
        REQUIRE(idle_again.arrives_within(std::chrono::seconds(10)));
        CHECK(idle_again.future.get());
    }
    SECTION("a batch past eager_flush_bytes") {
        log.writer_busy();
        Acknowledgement ack;
        log.when_durable(log.append(wal::RecordType::LeadPut, std::string(5000, 'x')), ack.callback());
        REQUIRE(ack.arrives_within(std::chrono::seconds(10)));
        CHECK(ack.future.get());
        log.writer_idle();
    }
    SECTION("close() writes and syncs what the window held, and tells its waiters") {
        log.writer_busy();
        Acknowledgement ack;
        log.when_durable(log.append(wal::RecordType::LeadPut, "held"), ack.callback());
        log.close();
        REQUIRE(ack.arrives_within(std::chrono::seconds(0)));
        CHECK(ack.future.get());
        const auto c = collect(*wal::posix_file_system(), dir.path());
        REQUIRE(c.ok());
        CHECK(c.records.size() == 2);
    }
    log.close();
}

TEST_CASE("--fsync always: a writer going idle as the flusher opens its window is never missed", "[wal][log][window]") {
    // writer_idle and the flusher's window race on two atomics and a mutex (see writer_idle);
    // a lost wake-up leaves a record waiting for the whole (hour-long) window.
    TempDir dir;
    wal::Log log(windowed(dir.path(), std::chrono::hours(1)), 1);
    REQUIRE(log.wait_durable(log.append(wal::RecordType::LeadPut, "before")));
    for (int i = 0; i < 2000; ++i) {
        log.writer_busy();
        Acknowledgement ack;
        log.when_durable(log.append(wal::RecordType::LeadPut, "round " + std::to_string(i)), ack.callback());
        log.writer_idle();
        REQUIRE(ack.arrives_within(std::chrono::seconds(10)));
        CHECK(ack.future.get());
    }
    log.close();
    const auto c = collect(*wal::posix_file_system(), dir.path());
    REQUIRE(c.ok());
    CHECK(c.records.size() == 2001);
}
