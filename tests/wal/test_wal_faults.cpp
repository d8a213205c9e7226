// wal::Log over a FaultyFileSystem (--fsync always, and none where no fdatasync is involved:
// under none the waiter's own thread writes, and a failure there must hand over to the
// flusher's retries): ENOSPC with a short write, EIO on fdatasync, open failures during a retry. The log must go read-only, never acknowledge a record
// it has not made durable, give up on waiters after give_up_after, come back by itself when the
// fault clears, and leave a dir from which recovery returns every acknowledged record, no gaps.

#include "faulty_file_system.hpp"
#include "wal_test_support.hpp"

#include "leadd/wal/log.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>

using namespace leadd;
using namespace leadd::test;
using Op = FaultyFileSystem::Op;

namespace {

const std::shared_ptr<wal::FileSystem> posix = wal::posix_file_system();

wal::LogOptions fault_options(const fs::path& dir, std::shared_ptr<wal::FileSystem> fs,
                              std::chrono::milliseconds give_up_after = std::chrono::milliseconds(200),
                              wal::FsyncPolicy policy = wal::FsyncPolicy::Always) {
    wal::LogOptions o;
    o.dir = dir;
    o.fsync = policy;
    o.retry_interval = std::chrono::milliseconds(20);
    o.give_up_after = give_up_after;
    o.fs = std::move(fs);
    return o;
}

// A durability callback's outcome: how often it ran and with what.
struct Waiter {
    std::atomic<int> calls{0};
    std::atomic<int> result{-1};  // -1: not yet, 0: false, 1: true
    bool done() const { return calls.load() > 0; }
    bool acknowledged() const { return result.load() == 1; }
};

// Appends records through a Log and remembers each one's payload and waiter.
class Writer {
public:
    explicit Writer(wal::Log& log) : log_(log) {}

    wal::Seq put(const std::string& tag) {
        std::string payload = tag + ":" + std::string(40 + payloads_.size() % 30, 'p');
        const wal::Seq seq = log_.append(wal::RecordType::LeadPut, payload);
        auto w = std::make_shared<Waiter>();
        log_.when_durable(seq, [w](bool ok) {
            w->result = ok ? 1 : 0;
            ++w->calls;
        });
        payloads_[seq] = std::move(payload);
        waiters_[seq] = w;
        return seq;
    }
    // Puts one record and requires it acknowledged (the log is healthy).
    wal::Seq put_durable(const std::string& tag) {
        const auto seq = put(tag);
        REQUIRE(eventually([&] { return waiter(seq).done(); }));
        REQUIRE(waiter(seq).acknowledged());
        return seq;
    }
    Waiter& waiter(wal::Seq seq) { return *waiters_.at(seq); }
    const std::map<wal::Seq, std::string>& payloads() const { return payloads_; }
    std::set<wal::Seq> acknowledged() const {
        std::set<wal::Seq> out;
        for (const auto& [seq, w] : waiters_)
            if (w->acknowledged()) out.insert(seq);
        return out;
    }
    // No callback ran twice.
    void require_each_completed_at_most_once() const {
        for (const auto& [seq, w] : waiters_) {
            INFO("seq " << seq);
            CHECK(w->calls.load() <= 1);
        }
    }

private:
    wal::Log& log_;
    std::map<wal::Seq, std::string> payloads_;
    std::map<wal::Seq, std::shared_ptr<Waiter>> waiters_;
};

// Recovers `dir` with the real file system: seqs 1..n without gaps, every acknowledged record
// present with its payload, and (when `all_written`) every record appended at all.
Collected require_nothing_acknowledged_lost(const fs::path& dir, const Writer& w, bool all_written) {
    auto c = collect(*posix, dir);
    if (!c.ok()) FAIL("recovery failed: " << c.failure());
    INFO("repairs:\n" << join(c.report().repairs));
    std::map<wal::Seq, std::string> recovered;
    for (std::size_t i = 0; i < c.records.size(); ++i) {
        INFO("recovered record " << i);
        CHECK(c.records[i].seq == i + 1);  // no gap, no duplicate
        recovered[c.records[i].seq] = c.records[i].payload;
    }
    for (const auto seq : w.acknowledged()) {
        INFO("acknowledged seq " << seq);
        REQUIRE(recovered.count(seq) == 1);
        CHECK(recovered[seq] == w.payloads().at(seq));
    }
    if (all_written) {
        CHECK(recovered.size() == w.payloads().size());
        for (const auto& [seq, payload] : w.payloads()) {
            INFO("appended seq " << seq);
            REQUIRE(recovered.count(seq) == 1);
            CHECK(recovered[seq] == payload);
        }
    }
    return c;
}

}  // namespace

TEST_CASE("ENOSPC after a short write: read-only, no false acknowledgement, give up, heal, nothing lost",
          "[wal][faults]") {
    const auto policy = GENERATE(wal::FsyncPolicy::Always, wal::FsyncPolicy::None);
    INFO("policy " << static_cast<int>(policy));
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    wal::Log log(fault_options(dir.path(), faulty, std::chrono::milliseconds(200), policy), 1);
    Writer w(log);
    for (int i = 0; i < 5; ++i) w.put_durable("before");
    CHECK(log.writable());

    faulty->fail_always(Op::Append, enospc(), 7);  // each attempt writes 7 bytes, then ENOSPC
    const auto caught = w.put("caught");
    REQUIRE(eventually([&] { return !log.writable(); }));
    CHECK_FALSE(w.waiter(caught).acknowledged());
    CHECK_FALSE(log.stats().writable);
    CHECK(log.stats().write_errors >= 1);

    // The log still takes records (a caller that already changed memory must log it); they queue.
    const auto queued1 = w.put("queued");
    const auto queued2 = w.put("queued");
    REQUIRE(eventually([&] { return faulty->failures(Op::Append) >= 3; }));  // it keeps retrying
    CHECK_FALSE(log.writable());

    // give_up_after: every waiter is completed, with false, while the disk is still full.
    for (const auto seq : {caught, queued1, queued2}) {
        INFO("seq " << seq);
        REQUIRE(eventually([&] { return w.waiter(seq).done(); }));
        CHECK(w.waiter(seq).result.load() == 0);
    }
    CHECK_FALSE(log.writable());

    faulty->clear();
    REQUIRE(eventually([&] { return log.writable(); }));
    CHECK(log.stats().writable);
    for (int i = 0; i < 3; ++i) w.put_durable("after");
    w.require_each_completed_at_most_once();
    CHECK(w.waiter(caught).result.load() == 0);  // not completed a second time with true
    log.close();

    const auto c = require_nothing_acknowledged_lost(dir.path(), w, /*all_written=*/true);
    REQUIRE(c.report().repairs.size() == 1);  // the short write left a torn tail in wal-1
    CHECK_THAT(c.report().repairs.front(), Catch::Contains(wal::segment_file_name(1)));
    CHECK(fs::exists(dir.path() / wal::segment_file_name(caught)));  // the retry's fresh segment
}

TEST_CASE("EIO on fdatasync: the records written but not synced are never acknowledged, then rewritten",
          "[wal][faults]") {
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    wal::Log log(fault_options(dir.path(), faulty), 1);
    Writer w(log);
    for (int i = 0; i < 4; ++i) w.put_durable("before");

    faulty->fail_always(Op::Sync, eio());
    const auto caught = w.put("caught");
    REQUIRE(eventually([&] { return !log.writable(); }));
    CHECK_FALSE(w.waiter(caught).acknowledged());
    const auto queued = w.put("queued");
    REQUIRE(eventually([&] { return w.waiter(caught).done() && w.waiter(queued).done(); }));
    CHECK(w.waiter(caught).result.load() == 0);
    CHECK(w.waiter(queued).result.load() == 0);
    CHECK(faulty->failures(Op::Sync) >= 2);
    CHECK_FALSE(log.writable());

    faulty->clear();
    REQUIRE(eventually([&] { return log.writable(); }));
    for (int i = 0; i < 3; ++i) w.put_durable("after");
    w.require_each_completed_at_most_once();
    log.close();

    // wal-1 holds the unsynced records too (the write itself worked); the fresh segment repeats
    // them. Recovery must keep one copy of each, in order.
    const auto c = require_nothing_acknowledged_lost(dir.path(), w, /*all_written=*/true);
    CHECK(c.report().repairs.empty());
}

TEST_CASE("one failed append or fdatasync: the retry succeeds and the waiter gets true", "[wal][faults]") {
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    const auto policy = GENERATE(wal::FsyncPolicy::Always, wal::FsyncPolicy::None);
    INFO("policy " << static_cast<int>(policy));
    // A long give_up_after: the waiter must be completed by the successful retry, with true.
    wal::Log log(fault_options(dir.path(), faulty, std::chrono::hours(1), policy), 1);
    Writer w(log);
    w.put_durable("first");
    w.put_durable("second");

    SECTION("the 3rd append from now writes 10 bytes, then ENOSPC") {
        faulty->fail_nth(Op::Append, 3, enospc(), 10);
        w.put_durable("third");
        w.put_durable("fourth");
        const auto hit = w.put("fifth");  // this one's append fails; the retry rewrites it
        REQUIRE(eventually([&] { return w.waiter(hit).done(); }, std::chrono::seconds(30)));
        CHECK(w.waiter(hit).acknowledged());
        CHECK(faulty->failures(Op::Append) == 1);
        CHECK(log.stats().write_errors == 1);
        CHECK(log.writable());
        w.put_durable("sixth");
        log.close();
        const auto c = require_nothing_acknowledged_lost(dir.path(), w, true);
        REQUIRE(c.report().repairs.size() == 1);
        CHECK_THAT(c.report().repairs.front(), Catch::Contains(wal::segment_file_name(1)));
    }
    if (policy == wal::FsyncPolicy::Always) {  // under none, no fdatasync to fail
        SECTION("the next fdatasync fails with EIO") {
            faulty->fail_nth(Op::Sync, 1, eio());
            const auto hit = w.put("third");
            REQUIRE(eventually([&] { return w.waiter(hit).done(); }, std::chrono::seconds(30)));
            CHECK(w.waiter(hit).acknowledged());
            CHECK(faulty->failures(Op::Sync) == 1);
            CHECK(log.stats().write_errors == 1);
            w.put_durable("fourth");
            log.close();
            const auto c = require_nothing_acknowledged_lost(dir.path(), w, true);
            CHECK(c.report().repairs.empty());
        }
    }
}

TEST_CASE("the store refuses changes while the log is read-only, changes nothing, and reads go on",
          "[wal][faults][store]") {
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    wal::Log log(fault_options(dir.path(), faulty), 1);
    store::LeadStore live(test_store_options());
    auth::KeyRegistry live_keys;
    const auto ws = live_keys.create_workspace("shop").id;  // before the log: not in it
    live.attach_log(&log);
    live_keys.attach_log(&log);

    auto new_lead = [](std::string email) {
        store::NewLead l;
        l.name = "Name of " + email;
        l.email = std::move(email);
        l.source = "web";
        return l;
    };
    const auto a = live.create(ws, new_lead("a@example.com"));
    const auto b = live.create(ws, new_lead("b@example.com"));
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    REQUIRE(log.wait_durable(log.last_seq()));
    CHECK(live_keys.writable());

    const auto op = GENERATE(Op::Append, Op::Sync);
    INFO((op == Op::Append ? "ENOSPC on append (3 bytes written first)" : "EIO on fdatasync"));
    if (op == Op::Append) faulty->fail_always(Op::Append, enospc(), 3);
    else faulty->fail_always(Op::Sync, eio());

    // A change that passed the writable check before the failure is in memory and queued.
    const auto caught = live.create(ws, new_lead("caught@example.com"));
    REQUIRE(caught.ok());
    bool caught_durable = true;
    log.when_durable(log.last_seq(), [&caught_durable](bool ok) { caught_durable = ok; });
    REQUIRE(eventually([&] { return !log.writable(); }));
    CHECK_FALSE(live_keys.writable());

    const auto size_before = live.size();
    const auto count_before = live.count(ws);
    const auto listed_before = all_listed(live, ws);
    const auto a_before = live.get(ws, a.value()->id);
    const auto b_before = live.get(ws, b.value()->id);
    const auto appended_before = log.stats().records_appended;

    auto refused = live.create(ws, new_lead("refused@example.com"));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == store::StoreErrc::Unavailable);
    store::LeadPatch rename;
    rename.name = "Renamed";
    rename.email = "renamed@example.com";
    auto updated = live.update(ws, a.value()->id, rename);
    REQUIRE_FALSE(updated.ok());
    CHECK(updated.error().code == store::StoreErrc::Unavailable);
    auto removed = live.remove(ws, b.value()->id, std::nullopt);
    REQUIRE_FALSE(removed.ok());
    CHECK(removed.error().code == store::StoreErrc::Unavailable);

    // Nothing changed, nothing logged; reads work.
    CHECK(log.stats().records_appended == appended_before);
    CHECK(live.size() == size_before);
    CHECK(live.count(ws) == count_before);
    const auto listed_after = all_listed(live, ws);
    REQUIRE(listed_after.size() == listed_before.size());
    for (std::size_t i = 0; i < listed_after.size(); ++i) CHECK(listed_after[i] == listed_before[i]);
    CHECK(live.get(ws, a.value()->id) == a_before);
    CHECK(live.get(ws, a.value()->id)->name == "Name of a@example.com");
    CHECK(live.get(ws, a.value()->id)->version == 1);
    CHECK(live.get(ws, b.value()->id) == b_before);
    store::ListQuery by_source;
    by_source.source = "web";
    CHECK(live.list(ws, by_source).total == count_before);

    faulty->clear();
    REQUIRE(eventually([&] { return log.writable(); }));
    CHECK(live_keys.writable());
    // The refused changes can now be made: the refused create's email was not kept reserved,
    // and the rename's new email neither.
    const auto retried = live.create(ws, new_lead("refused@example.com"));
    REQUIRE(retried.ok());
    const auto renamed = live.update(ws, a.value()->id, rename);
    REQUIRE(renamed.ok());
    CHECK(renamed.value()->version == 2);
    REQUIRE(live.remove(ws, b.value()->id, std::nullopt).ok());
    REQUIRE(log.wait_durable(log.last_seq()));
    log.close();
    INFO("the caught create's waiter said " << caught_durable);

    // Replaying the log gives exactly the live state (the caught create included: it was queued
    // and written once the disk came back).
    store::LeadStore s(test_store_options());
    auth::KeyRegistry k;
    const auto outcome = wal::recover(*posix, dir.path(), wal::CorruptionPolicy::Stop, dispatch_to(s, k));
    if (auto* f = std::get_if<wal::RecoveryFailure>(&outcome)) FAIL(f->message);
    require_same_state(live, auth::KeyRegistry{}, s, k, {ws});
    CHECK(s.get(ws, caught.value()->id) != nullptr);
}

TEST_CASE("a retry whose open (or its truncate, or the dir sync) fails stays read-only, then heals", "[wal][faults]") {
    const auto failing = GENERATE(Op::OpenAppend, Op::FileTruncate, Op::SyncDir);
    const auto policy = GENERATE(wal::FsyncPolicy::Always, wal::FsyncPolicy::None);
    INFO("failing operation " << static_cast<int>(failing) << ", policy " << static_cast<int>(policy));
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    wal::Log log(fault_options(dir.path(), faulty, std::chrono::milliseconds(200), policy), 1);
    Writer w(log);
    for (int i = 0; i < 3; ++i) w.put_durable("before");

    faulty->fail_always(Op::Append, enospc(), 5);
    const auto caught = w.put("caught");
    REQUIRE(eventually([&] { return !log.writable(); }));
    // At least one retry has opened the fresh segment and left 5 bytes in it.
    REQUIRE(eventually([&] { return faulty->failures(Op::Append) >= 2; }));

    faulty->fail_always(failing, eio());
    faulty->clear(Op::Append);
    const auto failures_before = faulty->failures(failing);
    REQUIRE(eventually([&] { return faulty->failures(failing) >= failures_before + 2; }));
    CHECK_FALSE(log.writable());
    const auto queued = w.put("queued");
    REQUIRE(eventually([&] { return w.waiter(caught).done() && w.waiter(queued).done(); }));
    CHECK(w.waiter(caught).result.load() == 0);
    CHECK(w.waiter(queued).result.load() == 0);
    CHECK_FALSE(log.writable());

    faulty->clear();
    REQUIRE(eventually([&] { return log.writable(); }));
    w.put_durable("after");
    w.require_each_completed_at_most_once();
    log.close();
    require_nothing_acknowledged_lost(dir.path(), w, /*all_written=*/true);
}

TEST_CASE("a Log whose first segment cannot be opened throws", "[wal][faults]") {
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    faulty->fail_nth(Op::OpenAppend, 1, eio());
    CHECK_THROWS_AS(wal::Log(fault_options(dir.path(), faulty), 1), std::system_error);
    CHECK(faulty->calls(Op::OpenAppend) == 1);
    // The next attempt works.
    wal::Log log(fault_options(dir.path(), faulty), 1);
    CHECK(log.writable());
    log.close();
}

TEST_CASE("close() while the disk is still full returns and fails the pending waiters", "[wal][faults]") {
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    {
        wal::Log log(fault_options(dir.path(), faulty, std::chrono::hours(1)), 1);
        Writer w(log);
        for (int i = 0; i < 3; ++i) w.put_durable("before");
        faulty->fail_always(Op::Append, enospc(), 11);
        const auto caught = w.put("caught");
        REQUIRE(eventually([&] { return !log.writable(); }));
        CHECK_FALSE(w.waiter(caught).done());  // give_up_after is an hour away
        log.close();
        CHECK(w.waiter(caught).done());
        CHECK(w.waiter(caught).result.load() == 0);
        faulty->clear();
        require_nothing_acknowledged_lost(dir.path(), w, /*all_written=*/false);
        const auto c = collect(*posix, dir.path());
        REQUIRE(c.ok());
        CHECK(c.records.size() == 3);  // the caught record never reached the disk whole
    }
}

TEST_CASE("a scripted storm of faults never loses an acknowledged record", "[wal][faults]") {
    const auto policy = GENERATE(wal::FsyncPolicy::Always, wal::FsyncPolicy::None);
    INFO("policy " << static_cast<int>(policy));
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    wal::Log log(fault_options(dir.path(), faulty, std::chrono::milliseconds(60), policy), 1);
    Writer w(log);

    struct Step {
        Op op;
        std::error_code ec;
        std::size_t written_first;
    };
    const Step steps[] = {
        {Op::Append, enospc(), 0},  {Op::Append, enospc(), 1},    {Op::Sync, eio(), 0},
        {Op::Append, enospc(), 16}, {Op::Append, enospc(), 17},   {Op::Sync, eio(), 0},
        {Op::Append, enospc(), 100}, {Op::OpenAppend, eio(), 0},  {Op::Append, enospc(), 45},
    };
    int tag = 0;
    std::size_t steps_taken = 0;
    for (const auto& step : steps) {
        if (step.op == Op::Sync && policy == wal::FsyncPolicy::None) continue;  // no fdatasync to fail
        ++steps_taken;
        INFO("step with op " << static_cast<int>(step.op) << ", " << step.written_first << " bytes first");
        for (int i = 0; i < 5; ++i) w.put("ok" + std::to_string(tag++));
        REQUIRE(eventually([&] { return w.waiter(w.payloads().rbegin()->first).done(); }));
        if (step.op == Op::OpenAppend) {
            // An open only happens on a retry: get one going with a failing append first.
            faulty->fail_always(Op::Append, enospc(), 9);
            w.put("trigger" + std::to_string(tag++));
            REQUIRE(eventually([&] { return !log.writable(); }));
            faulty->fail_always(Op::OpenAppend, step.ec);
            faulty->clear(Op::Append);
        } else {
            faulty->fail_always(step.op, step.ec, step.written_first);
        }
        for (int i = 0; i < 4; ++i) w.put("hit" + std::to_string(tag++));
        REQUIRE(eventually([&] { return !log.writable(); }));
        REQUIRE(eventually([&] { return w.waiter(w.payloads().rbegin()->first).done(); }));
        faulty->clear();
        REQUIRE(eventually([&] { return log.writable(); }));
    }
    w.put_durable("last");
    w.require_each_completed_at_most_once();
    CHECK(w.acknowledged().size() >= 5 * steps_taken);
    log.close();
    require_nothing_acknowledged_lost(dir.path(), w, /*all_written=*/true);
}
