// Snapshots taken by ops::Persistence while writers keep changing the store: the cut is
// consistent, snapshot + tail recovers the live state, covered segments and older snapshots go
// away, and a snapshot with nothing new writes nothing. Also built for ThreadSanitizer.

#include "faulty_file_system.hpp"
#include "wal_test_support.hpp"

#include "leadd/ops/persistence.hpp"
#include "leadd/wal/log.hpp"
#include "leadd/wal/snapshot.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#if defined(__SANITIZE_THREAD__)
#define LEADD_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LEADD_TEST_TSAN 1
#endif
#endif
#if defined(LEADD_TEST_TSAN) || defined(__SANITIZE_ADDRESS__)
#define LEADD_TEST_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LEADD_TEST_SANITIZER 1
#endif
#endif

using namespace leadd;
using namespace leadd::test;
namespace json = boost::json;

namespace {

// TSan's deadlock detector tracks at most 64 locks held by one thread, and a snapshot's cut
// holds every shard lock plus a few: the TSan build runs its stores with 32 shards.
store::StoreOptions store_options() {
    store::StoreOptions o;
#ifdef LEADD_TEST_TSAN
    o.shards = 32;
#endif
    return o;
}

// Sized down under a sanitizer: the writers run on for as long as the snapshots take, and a
// snapshot (at nice 10, slowed by the sanitizer too) takes long enough there that the store
// they keep growing makes each next one slower still.
// And each writer stops after max_ops_per_writer even while snapshots are still being taken,
// so the store stops growing: under TSan on two cores a starved snapshot thread otherwise
// chased an ever larger store past the test's 300 s timeout.
#ifdef LEADD_TEST_SANITIZER
constexpr int writer_threads = 2;
constexpr int min_ops_per_writer = 1500;
constexpr int max_ops_per_writer = 6000;
constexpr int snapshots_to_take = 8;
#else
constexpr int writer_threads = 3;
constexpr int min_ops_per_writer = 3000;
constexpr int max_ops_per_writer = 40000;
constexpr int snapshots_to_take = 10;
#endif

ops::PersistenceOptions options_for(const fs::path& dir, std::shared_ptr<wal::FileSystem> fs = wal::posix_file_system(),
                                    std::uint64_t snapshot_every_bytes = 1ull << 40) {
    ops::PersistenceOptions o;
    o.log.dir = dir;
    o.log.fsync = wal::FsyncPolicy::Always;
    o.log.fs = std::move(fs);
    o.snapshot_every_bytes = snapshot_every_bytes;
    return o;
}

std::unique_ptr<ops::Persistence> must_open(ops::PersistenceOptions options, store::LeadStore& s, auth::KeyRegistry& k) {
    auto opened = ops::Persistence::open(std::move(options), s, k);
    if (auto* failure = std::get_if<std::string>(&opened)) FAIL("recovery failed: " << *failure);
    return std::move(std::get<std::unique_ptr<ops::Persistence>>(opened));
}

struct Keys {
    std::mutex mu;
    std::vector<std::pair<std::string, store::WorkspaceId>> valid;
    std::vector<std::string> revoked;
};

void require_keys(const auth::KeyRegistry& k, Keys& keys) {
    std::lock_guard lock(keys.mu);
    for (const auto& [plaintext, ws] : keys.valid) {
        const auto got = k.authenticate(plaintext);
        REQUIRE(got);
        CHECK(got->workspace == ws);
    }
    for (const auto& plaintext : keys.revoked) CHECK_FALSE(k.authenticate(plaintext));
}

// One writer: creates, updates (every kind of field, email moves, shared addresses that collide
// with other writers) and deletes its own leads, in both workspaces.
void writer(store::LeadStore& s, const std::vector<store::WorkspaceId>& workspaces, int t,
            const std::atomic<bool>& keep_going, std::atomic<int>& done_ops) {
    std::mt19937 rng(static_cast<unsigned>(1000 + t));
    std::vector<std::pair<store::WorkspaceId, store::LeadId>> mine;
    const store::Status statuses[] = {store::Status::New, store::Status::Contacted, store::Status::Qualified,
                                      store::Status::Converted, store::Status::Lost, store::Status::FollowUp};
    for (int i = 0; i < min_ops_per_writer || (keep_going.load() && i < max_ops_per_writer); ++i) {
        const unsigned r = rng() % 100;
        if (r < 45 || mine.empty()) {
            const auto ws = workspaces[rng() % workspaces.size()];
            store::NewLead l;
            l.name = "W" + std::to_string(t) + " lead " + std::to_string(i);
            l.email = rng() % 20 == 0 ? "shared" + std::to_string(rng() % 8) + "@example.com"
                                      : "w" + std::to_string(t) + "-" + std::to_string(i) + "@Example.com";
            if (rng() % 2) l.phone = "+44 20 7946 " + std::to_string(1000 + rng() % 9000);
            if (rng() % 3) l.source = rng() % 2 ? "web" : "fair";
            l.status = statuses[rng() % 6];
            l.metadata = json::object{{"t", t}, {"i", i}};
            auto c = s.create(ws, std::move(l));
            if (c.ok()) mine.emplace_back(ws, c.value()->id);
        } else if (r < 85) {
            const auto [ws, id] = mine[rng() % mine.size()];
            store::LeadPatch p;
            switch (rng() % 5) {
            case 0: p.name = "W" + std::to_string(t) + " renamed " + std::to_string(i); break;
            case 1: p.status = statuses[rng() % 6]; break;
            case 2: p.metadata_merge = json::object{{"u", i}, {"t", nullptr}, {"deep", json::object{{"k", i % 3}}}}; break;
            case 3:
                p.email = rng() % 4 == 0 ? "shared" + std::to_string(rng() % 8) + "@EXAMPLE.com"
                                         : "w" + std::to_string(t) + "-moved" + std::to_string(i) + "@example.com";
                break;
            default:
                p.phone = rng() % 2 ? std::optional<std::string>{} : std::optional<std::string>{"+1 212 555 0199"};
                p.source = std::optional<std::string>{"src" + std::to_string(i % 5)};
                break;
            }
            (void)s.update(ws, id, p);
        } else {
            const auto at = rng() % mine.size();
            const auto [ws, id] = mine[at];
            (void)s.remove(ws, id, std::nullopt);
            mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(at));
        }
        done_ops.fetch_add(1, std::memory_order_relaxed);
    }
}

// Issues and revokes keys now and then while the writers run.
// (No Catch assertions off the main thread: failures are counted and checked after join.)
void key_churner(auth::KeyRegistry& k, const std::vector<store::WorkspaceId>& workspaces, Keys& keys,
                 const std::atomic<bool>& keep_going, std::atomic<int>& failures) {
    std::mt19937 rng(99);
    std::vector<std::pair<auth::KeyId, std::string>> issued;
    while (keep_going.load()) {
        const auto key = k.issue_key(workspaces[rng() % workspaces.size()]);
        if (!key) {
            ++failures;
            break;
        }
        {
            std::lock_guard lock(keys.mu);
            keys.valid.emplace_back(key->api_key, key->workspace);
        }
        issued.emplace_back(key->key_id, key->api_key);
        if (issued.size() > 3 && rng() % 2) {
            const auto [id, plaintext] = issued.front();
            issued.erase(issued.begin());
            if (!k.revoke(id)) ++failures;
            std::lock_guard lock(keys.mu);
            std::erase_if(keys.valid, [&](const auto& v) { return v.first == plaintext; });
            keys.revoked.push_back(plaintext);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

void reader(const store::LeadStore& s, const std::vector<store::WorkspaceId>& workspaces,
            const std::atomic<bool>& keep_going) {
    while (keep_going.load()) {
        for (const auto ws : workspaces) {
            store::ListQuery q;
            q.limit = 50;
            const auto page = s.list(ws, q);
            for (const auto& lead : page.leads) (void)s.get(ws, lead->id);
        }
    }
}

// Runs the writers, a key churner and a reader while `snapshots_to_take` snapshots are taken.
// Returns how many snapshots succeeded.
int run_concurrently(ops::Persistence& p, store::LeadStore& s, auth::KeyRegistry& k,
                     const std::vector<store::WorkspaceId>& workspaces, Keys& keys) {
    std::atomic<bool> snapshotting{true};
    std::atomic<int> done_ops{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < writer_threads; ++t)
        threads.emplace_back([&, t] { writer(s, workspaces, t, snapshotting, done_ops); });
    std::atomic<int> key_failures{0};
    std::thread keys_thread([&] { key_churner(k, workspaces, keys, snapshotting, key_failures); });
    std::thread reader_thread([&] { reader(s, workspaces, snapshotting); });

    int ok = 0;
    for (int i = 0; i < snapshots_to_take; ++i) {
        // Let the writers get ahead a little between snapshots (bounded wait, no timing claim).
        const int target = std::min(done_ops.load() + 200, writer_threads * max_ops_per_writer);
        eventually([&] { return done_ops.load() >= target; }, std::chrono::seconds(5));
        if (!p.snapshot()) ++ok;
    }
    snapshotting = false;
    for (auto& t : threads) t.join();
    keys_thread.join();
    reader_thread.join();
    CHECK(key_failures.load() == 0);
    return ok;
}

std::vector<store::WorkspaceId> make_workspaces(auth::KeyRegistry& k, Keys& keys) {
    std::vector<store::WorkspaceId> out;
    for (const char* name : {"north", "south"}) {
        const auto ws = k.create_workspace(name);
        out.push_back(ws.id);
        const auto key = k.issue_key(ws.id);
        REQUIRE(key);
        keys.valid.emplace_back(key->api_key, ws.id);
    }
    return out;
}

std::vector<std::string> names_where(const fs::path& dir, bool (*pred)(const std::string&)) {
    std::vector<std::string> out;
    for (const auto& n : dir_names(dir))
        if (pred(n)) out.push_back(n);
    return out;
}
std::vector<std::string> sorted(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    return names;
}
bool is_segment(const std::string& n) { return wal::parse_segment_file_name(n).has_value(); }
bool is_snapshot(const std::string& n) { return wal::parse_snapshot_file_name(n).has_value(); }
bool is_temp(const std::string& n) { return n.ends_with(".tmp"); }

}  // namespace

TEST_CASE("snapshots under concurrent writes: snapshot + tail recovers the live state", "[wal][snapshot][concurrency]") {
    TempDir dir;
    store::LeadStore live(store_options());
    auth::KeyRegistry live_keys;
    Keys keys;
    // The background thread also snapshots (every 64 KiB of log), alongside the explicit calls.
    auto p = must_open(options_for(dir.path(), wal::posix_file_system(), 64 << 10), live, live_keys);
    const auto workspaces = make_workspaces(live_keys, keys);

    const int ok = run_concurrently(*p, live, live_keys, workspaces, keys);
    CHECK(ok == snapshots_to_take);
    CHECK(p->snapshot_stats().failures == 0);
    CHECK(p->snapshot_stats().written >= 1);

    // Everything so far in one snapshot, taken after any the background thread is writing (one
    // at a time): the tail below is far under the 64 KiB that starts another, so no snapshot is
    // being written when the directory is copied (a copy taken then holds its .tmp file).
    REQUIRE_FALSE(p->snapshot());
    // A tail after the last snapshot, then everything durable.
    for (int i = 0; i < 20; ++i) {
        store::NewLead l;
        l.name = "Tail " + std::to_string(i);
        l.email = "tail" + std::to_string(i) + "@example.com";
        REQUIRE(live.create(workspaces[i % 2], std::move(l)).ok());
    }
    REQUIRE(p->log().wait_durable(p->log().last_seq()));

    SECTION("the dir as a crash would leave it recovers to the live state") {
        TempDir crashed;
        copy_dir(dir.path(), crashed.path());
        CHECK(names_where(crashed.path(), is_snapshot).size() == 1);
        CHECK(names_where(crashed.path(), is_temp).empty());
        store::LeadStore s(store_options());
        auth::KeyRegistry k;
        auto q = must_open(options_for(crashed.path()), s, k);
        CHECK(q->recovery().snapshot_seq > 0);
        CHECK(q->recovery().records_replayed >= 20);
        CHECK(q->recovery().repairs.empty());
        require_same_state(live, live_keys, s, k);
        require_keys(k, keys);
        q->close();
    }
    SECTION("a quiescent snapshot leaves one snapshot and one segment; a second one writes nothing") {
        const auto covered = p->log().last_seq();
        REQUIRE_FALSE(p->snapshot());
        const auto snapshots = names_where(dir.path(), is_snapshot);
        REQUIRE(snapshots.size() == 1);
        CHECK(snapshots.front() == wal::snapshot_file_name(covered));
        CHECK(names_where(dir.path(), is_segment).size() == 1);
        CHECK(names_where(dir.path(), is_temp).empty());

        const auto written = p->snapshot_stats().written;
        std::map<std::string, std::string> before;
        for (const auto& n : dir_names(dir.path())) before[n] = read_file(dir.path() / n);
        REQUIRE_FALSE(p->snapshot());
        CHECK(p->snapshot_stats().written == written);
        std::map<std::string, std::string> after;
        for (const auto& n : dir_names(dir.path())) after[n] = read_file(dir.path() / n);
        CHECK(before == after);

        TempDir copy;
        copy_dir(dir.path(), copy.path());
        store::LeadStore s(store_options());
        auth::KeyRegistry k;
        auto q = must_open(options_for(copy.path()), s, k);
        CHECK(q->recovery().snapshot_seq == covered);
        CHECK(q->recovery().records_replayed == 0);
        require_same_state(live, live_keys, s, k);
        require_keys(k, keys);
        q->close();
    }
    p->close();
}

TEST_CASE("every snapshot cut under concurrent writes equals the log replayed up to its seq", "[wal][snapshot][concurrency]") {
    // Removal is disabled so every segment and every snapshot stays: each snapshot can then be
    // compared with a replay of the whole log up to the seq it claims to cover.
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    faulty->fail_always(FaultyFileSystem::Op::Remove, std::error_code(EPERM, std::generic_category()));
    store::LeadStore live(store_options());
    auth::KeyRegistry live_keys;
    Keys keys;
    auto p = must_open(options_for(dir.path(), faulty), live, live_keys);
    const auto workspaces = make_workspaces(live_keys, keys);
    const int ok = run_concurrently(*p, live, live_keys, workspaces, keys);
    CHECK(ok == snapshots_to_take);
    REQUIRE(p->log().wait_durable(p->log().last_seq()));

    const auto snapshots = names_where(dir.path(), is_snapshot);
    CHECK(snapshots.size() == static_cast<std::size_t>(snapshots_to_take));
    const auto segments = names_where(dir.path(), is_segment);
    for (const auto& snap : snapshots) {
        const wal::Seq covered = *wal::parse_snapshot_file_name(snap);
        INFO(snap);
        // The snapshot alone.
        TempDir only_snapshot;
        fs::copy_file(dir.path() / snap, only_snapshot.path() / snap);
        store::LeadStore from_snapshot(store_options());
        auth::KeyRegistry from_snapshot_keys;
        auto a = wal::recover(*wal::posix_file_system(), only_snapshot.path(), wal::CorruptionPolicy::Stop,
                              dispatch_to(from_snapshot, from_snapshot_keys));
        REQUIRE(std::holds_alternative<wal::RecoveryReport>(a));
        // The log alone, up to `covered`.
        TempDir only_log;
        for (const auto& seg : segments) fs::copy_file(dir.path() / seg, only_log.path() / seg);
        store::LeadStore from_log(store_options());
        auth::KeyRegistry from_log_keys;
        const auto apply = dispatch_to(from_log, from_log_keys);
        auto b = wal::recover(*wal::posix_file_system(), only_log.path(), wal::CorruptionPolicy::Stop,
                              [&](const wal::RecordView& r) { return r.seq > covered || apply(r); });
        REQUIRE(std::holds_alternative<wal::RecoveryReport>(b));
        CHECK(std::get<wal::RecoveryReport>(b).next_seq == p->log().last_seq() + 1);
        require_same_state(from_log, from_log_keys, from_snapshot, from_snapshot_keys);
    }
    p->close();
}

TEST_CASE("covered segments and older snapshots are deleted; nothing new, nothing written", "[wal][snapshot]") {
    TempDir dir;
    store::LeadStore live(store_options());
    auth::KeyRegistry live_keys;
    Keys keys;
    auto p = must_open(options_for(dir.path()), live, live_keys);
    auto snapshot_of_dir = [&] {
        std::map<std::string, std::string> files;
        for (const auto& n : dir_names(dir.path())) files[n] = read_file(dir.path() / n);
        return files;
    };
    auto some_writes = [&](int from, int count) {
        for (int i = from; i < from + count; ++i) {
            store::NewLead l;
            l.name = "Lead " + std::to_string(i);
            l.email = "lead" + std::to_string(i) + "@example.com";
            auto c = live.create(live_keys.workspaces().front().id, std::move(l));
            REQUIRE(c.ok());
            if (i % 3 == 0) REQUIRE(live.remove(c.value()->workspace, c.value()->id, std::nullopt).ok());
        }
        REQUIRE(p->log().wait_durable(p->log().last_seq()));
    };

    // Nothing at all yet: no snapshot.
    REQUIRE(dir_names(dir.path()) == sorted({wal::segment_file_name(1)}));
    REQUIRE_FALSE(p->snapshot());
    CHECK(dir_names(dir.path()) == sorted({wal::segment_file_name(1)}));
    CHECK(p->snapshot_stats().written == 0);

    make_workspaces(live_keys, keys);
    some_writes(0, 10);
    const auto s1 = p->log().last_seq();
    REQUIRE_FALSE(p->snapshot());
    CHECK(dir_names(dir.path()) == sorted({wal::segment_file_name(1), wal::snapshot_file_name(s1)}));

    {  // nothing new: nothing written, nothing changed
        const auto before = snapshot_of_dir();
        REQUIRE_FALSE(p->snapshot());
        CHECK(p->snapshot_stats().written == 1);
        CHECK(snapshot_of_dir() == before);
    }

    some_writes(10, 6);  // into a new segment: the snapshot asked for a rotation
    CHECK(dir_names(dir.path()) == sorted({wal::segment_file_name(1), wal::segment_file_name(s1 + 1),
                                                            wal::snapshot_file_name(s1)}));
    const auto s2 = p->log().last_seq();
    write_file(dir.path() / (wal::snapshot_file_name(s2 + 1000) + ".tmp"), "a crashed attempt");
    REQUIRE_FALSE(p->snapshot());
    CHECK(dir_names(dir.path()) == sorted({wal::segment_file_name(s1 + 1), wal::snapshot_file_name(s2)}));

    some_writes(16, 5);
    const auto s3 = p->log().last_seq();
    REQUIRE_FALSE(p->snapshot());
    CHECK(dir_names(dir.path()) == sorted({wal::segment_file_name(s2 + 1), wal::snapshot_file_name(s3)}));
    CHECK(p->snapshot_stats().written == 3);

    {  // the dir recovers to the live state from the snapshot alone
        TempDir copy;
        copy_dir(dir.path(), copy.path());
        store::LeadStore s(store_options());
        auth::KeyRegistry k;
        auto q = must_open(options_for(copy.path()), s, k);
        CHECK(q->recovery().snapshot_seq == s3);
        CHECK(q->recovery().records_replayed == 0);
        require_same_state(live, live_keys, s, k);
        require_keys(k, keys);
        q->close();
    }

    // A clean stop with nothing new writes no other snapshot...
    const auto before_close = snapshot_of_dir();
    p->close();
    CHECK(snapshot_of_dir() == before_close);
    CHECK(p->snapshot_stats().written == 3);

    // ...and neither does a snapshot right after a restart.
    store::LeadStore s(store_options());
    auth::KeyRegistry k;
    auto q = must_open(options_for(dir.path()), s, k);
    require_same_state(live, live_keys, s, k);
    const auto after_restart = snapshot_of_dir();
    REQUIRE_FALSE(q->snapshot());
    CHECK(q->snapshot_stats().written == 0);
    CHECK(snapshot_of_dir() == after_restart);
    q->close();
    CHECK(snapshot_of_dir() == after_restart);
}

TEST_CASE("the snapshot stats can be read while a snapshot is being written", "[wal][snapshot]") {
    // /metrics reads them on a request thread: waiting there for the snapshot to finish stalls
    // every connection of that thread for as long as writing a snapshot takes.
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    store::LeadStore live(store_options());
    auth::KeyRegistry live_keys;
    Keys keys;
    auto p = must_open(options_for(dir.path(), faulty), live, live_keys);
    const auto workspaces = make_workspaces(live_keys, keys);
    store::NewLead lead;
    lead.name = "Held";
    lead.email = "held@example.com";
    REQUIRE(live.create(workspaces.front(), std::move(lead)).ok());

    // The snapshot is held just before its temporary file takes its final name (the log's own
    // renames, of its prepared segment, pass).
    std::promise<void> entered, release;
    std::shared_future<void> released = release.get_future().share();
    std::atomic<bool> held{false};
    faulty->before(FaultyFileSystem::Op::Rename, [&] {
        bool snapshot_pending = false;
        for (const auto& entry : fs::directory_iterator(dir.path()))
            snapshot_pending |= entry.path().extension() == ".tmp";
        if (!snapshot_pending || held.exchange(true)) return;
        entered.set_value();
        released.wait();
    });
    std::error_code snapshot_result;
    std::thread snapshotting([&] { snapshot_result = p->snapshot(); });
    entered.get_future().wait();

    // A hang guard, not a timing: the read needs no more than a free mutex.
    auto read = std::async(std::launch::async, [&] { return p->snapshot_stats(); });
    const bool read_while_held = read.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
    release.set_value();
    snapshotting.join();
    REQUIRE(read_while_held);
    CHECK(read.get().written == 0);  // read while the snapshot was not yet written
    CHECK_FALSE(snapshot_result);
    CHECK(p->snapshot_stats().written == 1);
    p->close();
}
