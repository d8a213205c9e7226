// Recovery (recovery.hpp) over real files: torn tails, damage in the middle, gaps, damaged
// snapshots, retry-rewritten segments; and replaying the same dir twice (ops::Persistence).

#include "faulty_file_system.hpp"
#include "wal_test_support.hpp"

#include "leadd/ops/persistence.hpp"
#include "leadd/store/ids.hpp"
#include "leadd/store/lead_codec.hpp"
#include "leadd/wal/codec.hpp"
#include "leadd/wal/log.hpp"
#include "leadd/wal/snapshot.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <random>

using namespace leadd;
using namespace leadd::test;
namespace json = boost::json;

namespace {

const std::shared_ptr<wal::FileSystem> posix = wal::posix_file_system();

// Record i (1-based) of a test log: types cycle, payload sizes vary, every 5th is empty.
CollectedRecord test_record(wal::Seq seq) {
    static const wal::RecordType types[] = {wal::RecordType::LeadPut, wal::RecordType::LeadDelete,
                                            wal::RecordType::WorkspaceCreate, wal::RecordType::KeyIssue,
                                            wal::RecordType::KeyRevoke};
    std::string payload;
    if (seq % 5 != 0) {
        payload = "record-" + std::to_string(seq) + ":";
        payload += std::string(seq * 7 % 61, static_cast<char>('a' + seq % 26));
    }
    return {types[seq % 5], seq, payload};
}

std::vector<CollectedRecord> test_records(wal::Seq first, wal::Seq last) {
    std::vector<CollectedRecord> out;
    for (wal::Seq s = first; s <= last; ++s) out.push_back(test_record(s));
    return out;
}

wal::LogOptions log_options(const fs::path& dir, std::uint64_t segment_bytes = 64ull << 20,
                            std::shared_ptr<wal::FileSystem> fs = posix) {
    wal::LogOptions o;
    o.dir = dir;
    o.fsync = wal::FsyncPolicy::Always;
    o.segment_bytes = segment_bytes;
    o.fs = std::move(fs);
    return o;
}

// Writes records first..last through a real Log (--fsync always), one durable batch per record
// (so segment_bytes splits them deterministically), then closes it.
void write_log(const fs::path& dir, wal::Seq first, wal::Seq last, std::uint64_t segment_bytes = 64ull << 20) {
    wal::Log log(log_options(dir, segment_bytes), first);
    for (wal::Seq s = first; s <= last; ++s) {
        const auto r = test_record(s);
        REQUIRE(log.append(r.type, r.payload) == s);
        REQUIRE(log.wait_durable(s));
    }
    log.close();
}

std::vector<std::string> segment_names(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& n : dir_names(dir))
        if (wal::parse_segment_file_name(n)) out.push_back(n);
    return out;
}

std::string offset_text(std::size_t offset) { return "offset " + std::to_string(offset); }

// Every file of a dir, to put back after each damaged variant.
std::map<std::string, std::string> save_dir(const fs::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& n : dir_names(dir)) files[n] = read_file(dir / n);
    return files;
}
void restore_dir(const fs::path& dir, const std::map<std::string, std::string>& files) {
    for (const auto& n : dir_names(dir)) fs::remove(dir / n);
    for (const auto& [n, bytes] : files) write_file(dir / n, bytes);
}

// ---- a store + key registry workload, for the replay-twice tests ----------------------------

struct History {
    std::vector<store::WorkspaceId> workspaces;
    std::vector<std::pair<std::string, store::WorkspaceId>> keys;  // plaintext, workspace: valid
    std::vector<std::string> revoked_keys;
    std::set<store::LeadId> ids_seen;   // every id ever handed out (deleted leads included)
    std::vector<std::pair<std::string, store::WorkspaceId>> live_emails;     // held by a lead
    std::vector<std::pair<std::string, store::WorkspaceId>> deleted_emails;  // freed by a delete or a move
    store::LeadId last_created = 0;
};

// A clock that moves by 0..2 ms per call and sometimes steps back, so createdAt ties and
// updatedAt's "previous + 1 ms" rule both occur.
std::function<store::Millis()> jittery_clock() {
    auto state = std::make_shared<std::pair<std::mutex, std::pair<store::Millis, std::uint32_t>>>();
    state->second = {1'700'000'000'000, 1};
    return [state] {
        std::lock_guard lock(state->first);
        auto& [now, x] = state->second;
        x = x * 1103515245u + 12345u;
        const auto r = (x >> 16) % 10;
        if (r == 0) now -= 5;  // the wall clock steps back
        else now += static_cast<store::Millis>(r % 3);
        return now;
    };
}

store::LeadPtr must_create(store::LeadStore& s, History& h, store::WorkspaceId ws, store::NewLead lead) {
    auto r = s.create(ws, std::move(lead));
    if (!r.ok()) FAIL("create refused with code " << static_cast<int>(r.error().code));
    h.ids_seen.insert(r.value()->id);
    h.last_created = r.value()->id;
    h.live_emails.emplace_back(r.value()->email, ws);
    return r.value();
}

store::LeadPtr must_update(store::LeadStore& s, store::WorkspaceId ws, store::LeadId id, const store::LeadPatch& p) {
    auto r = s.update(ws, id, p);
    if (!r.ok()) FAIL("update refused with code " << static_cast<int>(r.error().code));
    return r.value();
}

void must_remove(store::LeadStore& s, History& h, store::WorkspaceId ws, store::LeadId id) {
    const auto lead = s.get(ws, id);
    REQUIRE(lead);
    auto r = s.remove(ws, id, std::nullopt);
    if (!r.ok()) FAIL("remove refused with code " << static_cast<int>(r.error().code));
    h.deleted_emails.emplace_back(lead->email, ws);
    std::erase(h.live_emails, std::pair{lead->email, ws});
}

// Creates workspaces and keys (first round), then leads with every kind of field, updates of
// every kind, deletions, and at last deletes the newest lead (the highest id counter).
void workload(store::LeadStore& s, auth::KeyRegistry& k, History& h, int round) {
    if (h.workspaces.empty()) {
        for (const char* name : {"alpha", "beta"}) {
            const auto ws = k.create_workspace(name);
            h.workspaces.push_back(ws.id);
            for (int i = 0; i < 2; ++i) {
                const auto key = k.issue_key(ws.id);
                REQUIRE(key);
                h.keys.emplace_back(key->api_key, ws.id);
            }
        }
        const auto doomed = k.issue_key(h.workspaces[0]);
        REQUIRE(doomed);
        REQUIRE(k.revoke(doomed->key_id));
        h.revoked_keys.push_back(doomed->api_key);
    }
    std::vector<std::pair<store::WorkspaceId, store::LeadId>> made;
    const store::Status statuses[] = {store::Status::New, store::Status::Contacted, store::Status::Qualified,
                                      store::Status::Converted, store::Status::Lost, store::Status::FollowUp};
    for (int i = 0; i < 30; ++i) {
        const auto ws = h.workspaces[static_cast<std::size_t>(i) % 2];
        store::NewLead l;
        l.name = "Lead " + std::to_string(round) + "-" + std::to_string(i) + " \xc3\xa9";
        l.email = "Person." + std::to_string(round) + "." + std::to_string(i) + "@Example.com";
        if (i % 3 != 0) l.phone = "+1-555-000-" + std::to_string(1000 + i);
        if (i % 4 != 0) l.source = i % 2 ? "webinar" : "referral";
        l.status = statuses[static_cast<std::size_t>(i) % 6];
        l.metadata = json::parse(R"({"i":)" + std::to_string(i) + R"(,"nested":{"a":[1,2,{"b":null}]},"nul":null})").as_object();
        made.emplace_back(ws, must_create(s, h, ws, std::move(l))->id);
    }
    {  // the email index works: same address in another case is refused
        store::NewLead dup;
        dup.name = "Dup";
        dup.email = "PERSON." + std::to_string(round) + ".0@example.COM";
        auto r = s.create(h.workspaces[0], std::move(dup));
        REQUIRE_FALSE(r.ok());
        REQUIRE(r.error().code == store::StoreErrc::DuplicateEmail);
    }
    for (std::size_t i = 0; i < made.size(); ++i) {
        const auto [ws, id] = made[i];
        if (i % 3 == 0) {
            store::LeadPatch p;
            p.name = "Renamed " + std::to_string(i);
            p.status = store::Status::Qualified;
            must_update(s, ws, id, p);
        }
        if (i % 4 == 1) {
            store::LeadPatch p;
            p.metadata_merge = json::parse(R"({"nested":{"c":true},"i":null,"added":"x"})").as_object();
            must_update(s, ws, id, p);
        }
        if (i % 5 == 2) {
            store::LeadPatch p;
            p.phone = std::optional<std::string>{};   // clear
            p.source = std::optional<std::string>{"ads"};
            must_update(s, ws, id, p);
        }
        if (i % 6 == 3) {
            const auto before = s.get(ws, id);
            store::LeadPatch p;
            p.email = "moved." + std::to_string(round) + "." + std::to_string(i) + "@example.org";
            must_update(s, ws, id, p);
            std::erase(h.live_emails, std::pair{before->email, ws});
            h.deleted_emails.emplace_back(before->email, ws);  // free again
            h.live_emails.emplace_back(*p.email, ws);
        }
        if (i == 10) {  // a no-op patch: same version, nothing logged
            const auto before = s.get(ws, id);
            store::LeadPatch p;
            p.name = before->name;
            CHECK(must_update(s, ws, id, p)->version == before->version);
        }
    }
    for (std::size_t i = 0; i < made.size(); ++i)
        if (i % 7 == 5) must_remove(s, h, made[i].first, made[i].second);
    // The newest lead last: its id has the highest counter.
    must_remove(s, h, made.back().first, made.back().second);
    REQUIRE(h.last_created == made.back().second);
}

void require_keys(const auth::KeyRegistry& k, const History& h) {
    for (const auto& [plaintext, ws] : h.keys) {
        const auto got = k.authenticate(plaintext);
        REQUIRE(got);
        CHECK(got->workspace == ws);
    }
    for (const auto& plaintext : h.revoked_keys) CHECK_FALSE(k.authenticate(plaintext));
    CHECK_FALSE(k.authenticate("sk-workspace_" + std::string(51, 'A')));
}

ops::PersistenceOptions persistence_options(const fs::path& dir) {
    ops::PersistenceOptions o;
    o.log = log_options(dir);
    o.snapshot_every_bytes = 1ull << 40;  // only the snapshots the test asks for
    return o;
}

std::unique_ptr<ops::Persistence> must_open(const fs::path& dir, store::LeadStore& s, auth::KeyRegistry& k) {
    auto opened = ops::Persistence::open(persistence_options(dir), s, k);
    if (auto* failure = std::get_if<std::string>(&opened)) FAIL("recovery failed: " << *failure);
    return std::move(std::get<std::unique_ptr<ops::Persistence>>(opened));
}

// Recovers `dir` into a fresh store + registry through ops::Persistence::open and requires the
// same state as `live`; the Persistence is closed at the end (which writes a final snapshot).
wal::RecoveryReport require_recovers_to(const fs::path& dir, const store::LeadStore& live,
                                        const auth::KeyRegistry& live_keys, const History& h) {
    store::LeadStore s(test_store_options());
    auth::KeyRegistry k;
    auto p = must_open(dir, s, k);
    INFO("recovering " << dir.string());
    require_same_state(live, live_keys, s, k);
    require_keys(k, h);
    const auto report = p->recovery();
    p->close();
    return report;
}

// On a copy of `dir`: a create after recovery gets an id never seen, the email index is back
// (a live email in another case is refused, a deleted lead's email is free), and the same holds
// after one more restart.
void require_fresh_ids_after_recovery(const fs::path& dir, const History& h) {
    TempDir copy;
    copy_dir(dir, copy.path());
    std::set<store::LeadId> seen = h.ids_seen;
    for (int restart = 0; restart < 2; ++restart) {
        INFO("restart " << restart);
        store::LeadStore s(test_store_options());
        auth::KeyRegistry k;
        auto p = must_open(copy.path(), s, k);
        store::NewLead l;
        l.name = "After restart";
        l.email = "fresh" + std::to_string(restart) + "@example.net";
        auto r = s.create(h.workspaces[1], std::move(l));
        REQUIRE(r.ok());
        INFO("new id " << store::format_hex_id("lead_", r.value()->id) << ", newest before the restart "
                       << store::format_hex_id("lead_", h.last_created));
        CHECK(seen.count(r.value()->id) == 0);
        seen.insert(r.value()->id);
        REQUIRE(p->log().wait_durable(p->log().last_seq()));

        if (restart == 0) {
            // A live email, in another case, in its own workspace: refused.
            REQUIRE_FALSE(h.live_emails.empty());
            for (const auto& [email, ws] : h.live_emails) {
                std::string shouted = email;
                for (auto& c : shouted) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                store::NewLead dup;
                dup.name = "Dup";
                dup.email = shouted;
                auto d = s.create(ws, std::move(dup));
                INFO("live email " << email);
                REQUIRE_FALSE(d.ok());
                CHECK(d.error().code == store::StoreErrc::DuplicateEmail);
            }
            // A deleted (or moved-away) lead's email, in its workspace: free.
            REQUIRE_FALSE(h.deleted_emails.empty());
            for (const auto& [email, ws] : h.deleted_emails) {
                store::NewLead again;
                again.name = "Again";
                again.email = email;
                auto a = s.create(ws, std::move(again));
                INFO("deleted or moved-away email " << email);
                REQUIRE(a.ok());
                CHECK(seen.count(a.value()->id) == 0);
                seen.insert(a.value()->id);
            }
            REQUIRE(p->log().wait_durable(p->log().last_seq()));
        }
        p->close();
    }
}

}  // namespace

// ---- (a) torn tails -------------------------------------------------------------------------

TEST_CASE("every truncation of the last record: N-1 records replayed, tail cut and reported once", "[wal][recovery]") {
    TempDir dir;
    constexpr wal::Seq n = 12;
    // 64 MiB: one segment; 200 bytes: the last record is in the newest of several segments.
    const std::uint64_t segment_bytes = GENERATE(as<std::uint64_t>{}, 64ull << 20, 200);
    write_log(dir.path(), 1, n, segment_bytes);

    const auto segments = segment_names(dir.path());
    REQUIRE(!segments.empty());
    if (segment_bytes == 200) REQUIRE(segments.size() >= 3);
    const std::string newest = segments.back();
    const auto original = save_dir(dir.path());
    const std::string& newest_bytes = original.at(newest);
    const auto spans = record_spans(newest_bytes);
    REQUIRE(!spans.empty());
    const auto last = spans.back();
    REQUIRE(last.seq == n);
    REQUIRE(last.end == newest_bytes.size());
    const auto expected = test_records(1, n - 1);

    {  // the untouched log replays all n
        const auto c = collect(*posix, dir.path());
        REQUIRE(c.ok());
        CHECK(c.records == test_records(1, n));
        CHECK(c.report().repairs.empty());
        CHECK(c.report().next_seq == n + 1);
    }

    for (std::size_t len = last.start; len < last.end; ++len) {
        INFO("newest segment " << newest << " cut to " << len << " bytes (last record spans " << last.start << ".."
                               << last.end << ")");
        restore_dir(dir.path(), original);
        write_file(dir.path() / newest, std::string_view(newest_bytes).substr(0, len));

        const auto c = collect(*posix, dir.path());
        REQUIRE(c.ok());
        CHECK(c.records == expected);
        CHECK(c.report().records_replayed == n - 1);
        CHECK(c.report().next_seq == n);
        if (len == last.start) {
            CHECK(c.report().repairs.empty());  // a clean end: nothing torn
        } else {
            REQUIRE(c.report().repairs.size() == 1);
            const auto& repair = c.report().repairs.front();
            INFO("repair: " << repair);
            CHECK_THAT(repair, Catch::Contains(newest));
            CHECK_THAT(repair, Catch::Contains(offset_text(last.start)));
            CHECK_THAT(repair, Catch::Contains(std::to_string(len - last.start) + " bytes"));
        }
        CHECK(fs::file_size(dir.path() / newest) == last.start);

        require_clean_recovery(*posix, dir.path(), &expected);
    }
}

TEST_CASE("a torn tail is repaired and the log goes on after it", "[wal][recovery]") {
    TempDir dir;
    write_log(dir.path(), 1, 6);
    const auto seg = segment_names(dir.path()).back();
    const auto bytes = read_file(dir.path() / seg);
    write_file(dir.path() / seg, std::string_view(bytes).substr(0, bytes.size() - 3));

    const auto c = collect(*posix, dir.path());
    REQUIRE(c.ok());
    REQUIRE(c.report().next_seq == 6);
    write_log(dir.path(), 6, 9);  // what a restart does: a new segment from next_seq

    const auto expected_again = test_records(1, 9);
    require_clean_recovery(*posix, dir.path(), &expected_again);
}

// ---- (b) damage in the middle ---------------------------------------------------------------

TEST_CASE("a flipped bit in a middle record stops recovery at that record's offset", "[wal][recovery]") {
    TempDir dir;
    constexpr wal::Seq n = 12;
    write_log(dir.path(), 1, n);
    const auto seg = segment_names(dir.path()).back();
    const auto original = read_file(dir.path() / seg);
    const auto spans = record_spans(original);
    REQUIRE(spans.size() == n);
    const auto mid = spans[5];  // seq 6; valid records follow it

    for (std::size_t byte = mid.start; byte < mid.end; ++byte)
        for (int bit = 0; bit < 8; ++bit) {
            INFO("byte " << byte << " bit " << bit << " of " << seg << " (record 6 spans " << mid.start << ".."
                         << mid.end << ")");
            std::string damaged = original;
            damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
            write_file(dir.path() / seg, damaged);

            const auto c = collect(*posix, dir.path());
            REQUIRE_FALSE(c.ok());
            INFO("failure: " << c.failure());
            CHECK_THAT(c.failure(), Catch::Contains(seg));
            CHECK_THAT(c.failure(), Catch::Contains(offset_text(mid.start)));
            CHECK(read_file(dir.path() / seg) == damaged);  // a refusal changes nothing on disk
        }

    SECTION("CorruptionPolicy::Truncate keeps the records before it and reports") {
        for (std::size_t byte = mid.start; byte < mid.end; ++byte) {
            INFO("byte " << byte);
            std::string damaged = original;
            damaged[byte] = static_cast<char>(damaged[byte] ^ 0x10);
            write_file(dir.path() / seg, damaged);

            const auto c = collect(*posix, dir.path(), wal::CorruptionPolicy::Truncate);
            REQUIRE(c.ok());
            CHECK(c.records == test_records(1, 5));
            CHECK(c.report().next_seq == 6);
            REQUIRE(c.report().repairs.size() == 1);
            INFO("repair: " << c.report().repairs.front());
            CHECK_THAT(c.report().repairs.front(), Catch::Contains(seg));
            CHECK_THAT(c.report().repairs.front(), Catch::Contains(offset_text(mid.start)));
            CHECK(fs::file_size(dir.path() / seg) == mid.start);

            const auto expected_again = test_records(1, 5);
            require_clean_recovery(*posix, dir.path(), &expected_again);
        }
    }
}

TEST_CASE("damage in an older segment: Stop names it, Truncate sets the later segments aside", "[wal][recovery]") {
    TempDir dir;
    write_log(dir.path(), 1, 15, 150);
    const auto segments = segment_names(dir.path());
    REQUIRE(segments.size() >= 3);
    const auto first_seg = segments.front();
    const auto original = read_file(dir.path() / first_seg);
    const auto spans = record_spans(original);
    REQUIRE(spans.size() >= 2);
    const auto damaged_record = spans[spans.size() - 2];  // not the segment's last
    std::string damaged = original;
    damaged[damaged_record.start + 12] ^= 0x01;  // inside the seq field
    write_file(dir.path() / first_seg, damaged);

    const auto stopped = collect(*posix, dir.path());
    REQUIRE_FALSE(stopped.ok());
    CHECK_THAT(stopped.failure(), Catch::Contains(first_seg));
    CHECK_THAT(stopped.failure(), Catch::Contains(offset_text(damaged_record.start)));

    const auto kept = collect(*posix, dir.path(), wal::CorruptionPolicy::Truncate);
    REQUIRE(kept.ok());
    CHECK(kept.records == test_records(1, damaged_record.seq - 1));
    CHECK(kept.report().next_seq == damaged_record.seq);
    const auto names = dir_names(dir.path());
    for (std::size_t i = 1; i < segments.size(); ++i) {
        INFO(segments[i]);
        CHECK(std::count(names.begin(), names.end(), segments[i]) == 0);
        CHECK(std::count(names.begin(), names.end(), segments[i] + ".discarded") == 1);
        CHECK_THAT(join(kept.report().repairs), Catch::Contains(segments[i]));
    }
    const auto again = collect(*posix, dir.path());
    REQUIRE(again.ok());
    CHECK(again.records == test_records(1, damaged_record.seq - 1));
}

TEST_CASE("a block of zeros between valid records is damage, not a torn tail", "[wal][recovery]") {
    TempDir dir;
    write_log(dir.path(), 1, 6);
    const auto seg = segment_names(dir.path()).back();
    const auto original = read_file(dir.path() / seg);
    const auto spans = record_spans(original);
    std::string holed = original.substr(0, spans[2].end) + std::string(4096, '\0') + original.substr(spans[2].end);
    write_file(dir.path() / seg, holed);
    const auto c = collect(*posix, dir.path());
    REQUIRE_FALSE(c.ok());
    CHECK_THAT(c.failure(), Catch::Contains(seg));
    CHECK_THAT(c.failure(), Catch::Contains(offset_text(spans[2].end)));
}

// ---- (c) the last record damaged -------------------------------------------------------------

TEST_CASE("a flipped bit in the last record is a torn tail: cut and reported", "[wal][recovery]") {
    TempDir dir;
    constexpr wal::Seq n = 9;
    write_log(dir.path(), 1, n);
    const auto seg = segment_names(dir.path()).back();
    const auto original = read_file(dir.path() / seg);
    const auto last = record_spans(original).back();
    REQUIRE(last.seq == n);

    for (std::size_t byte = last.start; byte < last.end; ++byte)
        for (int bit = 0; bit < 8; ++bit) {
            INFO("byte " << byte << " bit " << bit << " (last record spans " << last.start << ".." << last.end << ")");
            std::string damaged = original;
            damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
            write_file(dir.path() / seg, damaged);

            const auto c = collect(*posix, dir.path());
            REQUIRE(c.ok());
            CHECK(c.records == test_records(1, n - 1));
            CHECK(c.report().next_seq == n);
            REQUIRE(c.report().repairs.size() == 1);
            CHECK_THAT(c.report().repairs.front(), Catch::Contains(seg));
            CHECK_THAT(c.report().repairs.front(), Catch::Contains(offset_text(last.start)));
            CHECK(fs::file_size(dir.path() / seg) == last.start);
            const auto expected_again = test_records(1, n - 1);
            require_clean_recovery(*posix, dir.path(), &expected_again);
        }
}

// ---- (d) garbage after the last record -------------------------------------------------------

TEST_CASE("zero-filled (or 0xff) garbage after the last record is a torn tail", "[wal][recovery]") {
    TempDir dir;
    constexpr wal::Seq n = 7;
    write_log(dir.path(), 1, n);
    const auto seg = segment_names(dir.path()).back();
    const auto original = read_file(dir.path() / seg);
    for (char fill : {'\0', '\xff'})
        for (std::size_t extra : {1u, 4u, 16u, 17u, 18u, 100u, 4096u, 65536u}) {
            INFO(extra << " bytes of " << static_cast<int>(static_cast<unsigned char>(fill)));
            write_file(dir.path() / seg, original + std::string(extra, fill));
            const auto c = collect(*posix, dir.path());
            REQUIRE(c.ok());
            CHECK(c.records == test_records(1, n));
            CHECK(c.report().next_seq == n + 1);
            REQUIRE(c.report().repairs.size() == 1);
            CHECK_THAT(c.report().repairs.front(), Catch::Contains(seg));
            CHECK_THAT(c.report().repairs.front(), Catch::Contains(offset_text(original.size())));
            CHECK(read_file(dir.path() / seg) == original);
            require_clean_recovery(*posix, dir.path());
        }
}

// ---- (e) replaying twice gives the same state; ids are never reused ---------------------------

TEST_CASE("recovering the same dir twice gives the live state; ids are not reused", "[wal][recovery][replay]") {
    TempDir dir;
    store::StoreOptions live_options = test_store_options();
    live_options.clock = jittery_clock();
    store::LeadStore live(live_options);
    auth::KeyRegistry live_keys;
    History h;
    auto p = must_open(dir.path(), live, live_keys);
    // false: log only; true: a snapshot, then a tail holding the deletion of the newest lead.
    const bool snapshot_in_the_middle = GENERATE(false, true);
    INFO("snapshot in the middle: " << snapshot_in_the_middle);

    workload(live, live_keys, h, 1);
    if (snapshot_in_the_middle) {
        REQUIRE_FALSE(p->snapshot());
        REQUIRE(p->snapshot_stats().written == 1);
    }
    workload(live, live_keys, h, 2);
    REQUIRE(p->log().wait_durable(p->log().last_seq()));

    // A crash now: the dir as it is, without the final snapshot of a clean stop.
    TempDir crashed;
    copy_dir(dir.path(), crashed.path());
    TempDir crashed_raw;
    copy_dir(dir.path(), crashed_raw.path());

    SECTION("through ops::Persistence::open, twice (the second time from the snapshot the first close wrote)") {
        const auto first = require_recovers_to(crashed.path(), live, live_keys, h);
        CHECK(first.repairs.empty());
        CHECK(first.records_replayed > 0);
        CHECK((first.snapshot_seq != 0) == snapshot_in_the_middle);
        const auto second = require_recovers_to(crashed.path(), live, live_keys, h);
        CHECK(second.snapshot_seq == p->log().last_seq());
        CHECK(second.records_replayed == 0);
        const auto third = require_recovers_to(crashed.path(), live, live_keys, h);
        CHECK(third.snapshot_seq == second.snapshot_seq);
    }
    SECTION("through recover() with the same dispatch, twice") {
        for (int round = 0; round < 2; ++round) {
            INFO("round " << round);
            store::LeadStore s(test_store_options());
            auth::KeyRegistry k;
            const auto outcome = wal::recover(*posix, crashed_raw.path(), wal::CorruptionPolicy::Stop, dispatch_to(s, k));
            if (auto* f = std::get_if<wal::RecoveryFailure>(&outcome)) FAIL(f->message);
            const auto& report = std::get<wal::RecoveryReport>(outcome);
            CHECK(report.next_seq == p->log().last_seq() + 1);
            CHECK(report.repairs.empty());
            require_same_state(live, live_keys, s, k);
            require_keys(k, h);
        }
    }
    SECTION("a create after recovery gets a new id (the newest lead was deleted before the crash)") {
        require_fresh_ids_after_recovery(crashed.path(), h);
    }
    SECTION("after a clean stop (final snapshot): same state, new ids") {
        p->close();
        const auto names = dir_names(dir.path());
        CHECK(std::count_if(names.begin(), names.end(),
                            [](const std::string& n) { return wal::parse_snapshot_file_name(n).has_value(); }) == 1);
        const auto first = require_recovers_to(dir.path(), live, live_keys, h);
        CHECK(first.snapshot_seq == p->log().last_seq());
        CHECK(first.records_replayed == 0);
        require_recovers_to(dir.path(), live, live_keys, h);
        require_fresh_ids_after_recovery(dir.path(), h);
    }
    p->close();
}

TEST_CASE("a snapshot taken right after the newest lead was deleted still keeps its id retired", "[wal][recovery][replay]") {
    TempDir dir;
    store::LeadStore live(test_store_options());
    auth::KeyRegistry live_keys;
    History h;
    auto p = must_open(dir.path(), live, live_keys);
    workload(live, live_keys, h, 1);  // ends by deleting the newest lead
    REQUIRE_FALSE(p->snapshot());
    REQUIRE(p->log().wait_durable(p->log().last_seq()));
    p->close();  // nothing new since the snapshot: close writes no other one
    // The segment that held the newest lead's create is gone only after a later snapshot; force
    // that by deleting every segment the snapshot covers (what the next snapshot would do).
    const auto snapshot_seq = [&] {
        for (const auto& n : dir_names(dir.path()))
            if (auto s = wal::parse_snapshot_file_name(n)) return *s;
        return wal::Seq{0};
    }();
    REQUIRE(snapshot_seq == p->log().last_seq());
    for (const auto& n : segment_names(dir.path())) fs::remove(dir.path() / n);
    require_recovers_to(dir.path(), live, live_keys, h);
    require_fresh_ids_after_recovery(dir.path(), h);
}

TEST_CASE("an id a create took but the log never kept is not handed out again", "[wal][recovery][replay]") {
    // The crash: a create was applied (and visible to readers) but the process died before its
    // record reached the disk. A copy of the dir taken just before that create is the disk the
    // restart finds; the live store goes on to make the "lost" create.
    TempDir dir;
    store::LeadStore live(test_store_options());
    auth::KeyRegistry live_keys;
    History h;
    auto p = must_open(dir.path(), live, live_keys);
    workload(live, live_keys, h, 1);
    REQUIRE(p->log().wait_durable(p->log().last_seq()));
    TempDir crashed;
    copy_dir(dir.path(), crashed.path());
    const auto create_in = [&](store::LeadStore& s, const std::string& email) {
        store::NewLead l;
        l.name = "Created around the crash";
        l.email = email;
        auto r = s.create(h.workspaces[0], std::move(l));
        REQUIRE(r.ok());
        return r.value()->id;
    };
    const auto lost = create_in(live, "lost@example.net");
    p->close();

    store::LeadStore restarted(test_store_options());
    auth::KeyRegistry restarted_keys;
    auto q = must_open(crashed.path(), restarted, restarted_keys);
    // The live store may have burnt a few ids on refused creates before the lost one, so the
    // restart makes enough creates to walk past where the lost id sits in the counter.
    std::set<store::LeadId> after_restart;
    for (int i = 0; i < 1000; ++i)
        after_restart.insert(create_in(restarted, "other" + std::to_string(i) + "@example.net"));
    INFO("lost " << store::format_hex_id("lead_", lost));
    CHECK(after_restart.count(lost) == 0);
    q->close();
}

// ---- (f) gaps ----------------------------------------------------------------------------------

TEST_CASE("a gap in seq is refused with the file and offset", "[wal][recovery]") {
    TempDir dir;
    SECTION("across segments") {
        write_log(dir.path(), 1, 5);
        write_log(dir.path(), 8, 10);  // records 6 and 7 never reached the disk
        const auto c = collect(*posix, dir.path());
        REQUIRE_FALSE(c.ok());
        INFO(c.failure());
        CHECK_THAT(c.failure(), Catch::Contains(wal::segment_file_name(8)));
        CHECK_THAT(c.failure(), Catch::Contains(offset_text(0)));
        CHECK_THAT(c.failure(), Catch::Contains("6"));
        CHECK_THAT(c.failure(), Catch::Contains("missing"));

        const auto kept = collect(*posix, dir.path(), wal::CorruptionPolicy::Truncate);
        REQUIRE(kept.ok());
        CHECK(kept.records == test_records(1, 5));
        CHECK(kept.report().next_seq == 6);
        CHECK_FALSE(kept.report().repairs.empty());
    }
    SECTION("inside one segment") {
        std::string bytes;
        std::size_t gap_offset = 0;
        for (wal::Seq s : {1, 2, 3, 5, 6}) {
            if (s == 5) gap_offset = bytes.size();
            const auto r = test_record(s);
            wal::frame_record(bytes, r.type, s, r.payload);
        }
        write_file(dir.path() / wal::segment_file_name(1), bytes);
        const auto c = collect(*posix, dir.path());
        REQUIRE_FALSE(c.ok());
        INFO(c.failure());
        CHECK_THAT(c.failure(), Catch::Contains(wal::segment_file_name(1)));
        CHECK_THAT(c.failure(), Catch::Contains(offset_text(gap_offset)));
    }
    SECTION("the first segment does not start at 1") {
        write_log(dir.path(), 3, 6);
        const auto c = collect(*posix, dir.path());
        REQUIRE_FALSE(c.ok());
        CHECK_THAT(c.failure(), Catch::Contains(wal::segment_file_name(3)));
    }
    SECTION("between a snapshot and the first segment after it") {
        wal::PayloadWriter header;
        header.u64(1);
        header.u64(0);
        wal::SnapshotWriter snap(posix, dir.path(), 4, header.bytes());
        REQUIRE_FALSE(snap.commit());
        write_log(dir.path(), 7, 9);
        const auto c = collect(*posix, dir.path());
        REQUIRE_FALSE(c.ok());
        INFO(c.failure());
        CHECK_THAT(c.failure(), Catch::Contains(wal::segment_file_name(7)));
        CHECK_THAT(c.failure(), Catch::Contains("missing"));
    }
}

TEST_CASE("--recover=truncate over a gap sets the later records aside instead of destroying them", "[wal][recovery]") {
    // recovery.hpp: Truncate "keeps what precedes the damage and sets the rest aside (renamed
    // *.discarded)". Here the damage is the start of wal-8 (records 6 and 7 are missing), so the
    // rest is all of wal-8: records 8..10, each one intact.
    TempDir dir;
    write_log(dir.path(), 1, 5);
    write_log(dir.path(), 8, 10);
    const auto gapped = read_file(dir.path() / wal::segment_file_name(8));
    const auto kept = collect(*posix, dir.path(), wal::CorruptionPolicy::Truncate);
    REQUIRE(kept.ok());
    INFO("repairs:\n" << join(kept.report().repairs));
    INFO("dir after: " << join(dir_names(dir.path())));
    bool set_aside = false;
    for (const auto& n : dir_names(dir.path()))
        if (n.ends_with(".discarded") && read_file(dir.path() / n) == gapped) set_aside = true;
    CHECK(set_aside);
    CHECK_FALSE(fs::exists(dir.path() / wal::segment_file_name(8)));
}

TEST_CASE("after --recover=truncate over a gap, a later crash's torn tail is still just a torn tail", "[wal][recovery]") {
    TempDir dir;
    write_log(dir.path(), 1, 5);
    write_log(dir.path(), 8, 10);
    REQUIRE(collect(*posix, dir.path(), wal::CorruptionPolicy::Truncate).ok());
    // The restart goes on from seq 6, then crashes while writing record 7.
    write_log(dir.path(), 6, 7);
    const auto seg = wal::segment_file_name(6);
    const auto bytes = read_file(dir.path() / seg);
    write_file(dir.path() / seg, std::string_view(bytes).substr(0, bytes.size() - 4));

    const auto c = collect(*posix, dir.path());
    INFO("dir: " << join(dir_names(dir.path())));
    INFO("failure: " << c.failure());
    REQUIRE(c.ok());
    CHECK(c.records == test_records(1, 6));
    CHECK(c.report().repairs.size() == 1);
}

// ---- (g) damaged snapshots ----------------------------------------------------------------------

TEST_CASE("a damaged or cut snapshot is refused, naming it", "[wal][recovery][snapshot]") {
    TempDir dir;
    store::LeadStore live(test_store_options());
    auth::KeyRegistry live_keys;
    History h;
    {
        auto p = must_open(dir.path(), live, live_keys);
        workload(live, live_keys, h, 1);
        REQUIRE_FALSE(p->snapshot());
        workload(live, live_keys, h, 2);  // a tail; the next snapshot drops the first segment
        REQUIRE_FALSE(p->snapshot());
        workload(live, live_keys, h, 3);
        REQUIRE(p->log().wait_durable(p->log().last_seq()));
        TempDir keep;  // the crashed state, before close() writes its final snapshot
        copy_dir(dir.path(), keep.path());
        p->close();
        for (const auto& n : dir_names(dir.path())) fs::remove(dir.path() / n);
        copy_dir(keep.path(), dir.path());
    }
    std::string snap_name;
    for (const auto& n : dir_names(dir.path()))
        if (wal::parse_snapshot_file_name(n)) snap_name = n;
    REQUIRE_FALSE(snap_name.empty());
    const auto original = save_dir(dir.path());
    const std::string& snap = original.at(snap_name);
    {
        const auto c = collect(*posix, dir.path());
        REQUIRE(c.ok());  // undamaged: fine
        CHECK(c.report().snapshot_seq == *wal::parse_snapshot_file_name(snap_name));
        CHECK(c.report().snapshot_records > 0);
        CHECK(c.report().records_replayed > 0);
    }

    // Every byte of the first and last records (header, end), a sample of the ones between.
    const std::size_t stride = std::max<std::size_t>(1, snap.size() / 1500);
    auto next_position = [&](std::size_t at) {
        return at < 64 || at + 64 >= snap.size() ? at + 1 : at + stride;
    };
    SECTION("a flipped bit anywhere") {
        for (std::size_t byte = 0; byte < snap.size(); byte = next_position(byte)) {
            const int bit = static_cast<int>(byte % 8);
            INFO("byte " << byte << " bit " << bit << " of " << snap.size());
            std::string damaged = snap;
            damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
            write_file(dir.path() / snap_name, damaged);
            const auto c = collect(*posix, dir.path());
            REQUIRE_FALSE(c.ok());
            INFO(c.failure());
            CHECK_THAT(c.failure(), Catch::Contains(snap_name));
        }
    }
    SECTION("cut at (nearly) every length") {
        for (std::size_t len = 0; len < snap.size(); len = next_position(len)) {
            INFO("cut to " << len << " of " << snap.size());
            write_file(dir.path() / snap_name, std::string_view(snap).substr(0, len));
            const auto c = collect(*posix, dir.path());
            REQUIRE_FALSE(c.ok());
            INFO(c.failure());
            CHECK_THAT(c.failure(), Catch::Contains(snap_name));
        }
    }
    SECTION("a record after its end record") {
        std::string extended = snap;
        wal::frame_record(extended, wal::RecordType::KeyRevoke, 1, "x");
        write_file(dir.path() / snap_name, extended);
        const auto c = collect(*posix, dir.path());
        REQUIRE_FALSE(c.ok());
        CHECK_THAT(c.failure(), Catch::Contains(snap_name));
    }
    SECTION("a wrong record count in its end record") {
        const auto spans = record_spans(snap);
        std::string recounted = snap.substr(0, spans.back().start);
        wal::PayloadWriter end;
        end.u64(spans.size() - 1);  // one more than the records between header and end
        wal::frame_record(recounted, wal::RecordType::SnapshotEnd, spans.back().seq, end.bytes());
        write_file(dir.path() / snap_name, recounted);
        const auto c = collect(*posix, dir.path());
        REQUIRE_FALSE(c.ok());
        CHECK_THAT(c.failure(), Catch::Contains(snap_name));
    }
    SECTION("through ops::Persistence::open too") {
        std::string damaged = snap;
        damaged[snap.size() / 2] ^= 0x04;
        write_file(dir.path() / snap_name, damaged);
        store::LeadStore s(test_store_options());
        auth::KeyRegistry k;
        auto opened = ops::Persistence::open(persistence_options(dir.path()), s, k);
        REQUIRE(std::holds_alternative<std::string>(opened));
        CHECK_THAT(std::get<std::string>(opened), Catch::Contains(snap_name));
    }
    SECTION("a leftover temp snapshot is ignored") {
        restore_dir(dir.path(), original);
        write_file(dir.path() / (wal::snapshot_file_name(999999) + ".tmp"), "half a snapshot");
        store::LeadStore s(test_store_options());
        auth::KeyRegistry k;
        const auto outcome = wal::recover(*posix, dir.path(), wal::CorruptionPolicy::Stop, dispatch_to(s, k));
        REQUIRE(std::holds_alternative<wal::RecoveryReport>(outcome));
        require_same_state(live, live_keys, s, k);
    }
}

// ---- (h) a segment rewritten by a retry ---------------------------------------------------------

TEST_CASE("a segment rewritten by a retry: nothing lost, nothing twice", "[wal][recovery]") {
    TempDir dir;
    // Old segment: records 1..5, then what a failed write of the batch 6..9 left in it.
    std::string old_segment;
    std::string batch;
    for (wal::Seq s = 1; s <= 5; ++s) {
        const auto r = test_record(s);
        wal::frame_record(old_segment, r.type, s, r.payload);
    }
    const std::size_t good_end = old_segment.size();
    std::vector<std::size_t> batch_ends;
    for (wal::Seq s = 6; s <= 9; ++s) {
        const auto r = test_record(s);
        wal::frame_record(batch, r.type, s, r.payload);
        batch_ends.push_back(batch.size());
    }

    // Every prefix of the failed batch may have reached the old segment (a short write), or all
    // of it (the write worked, fdatasync failed); the retry rewrote the whole batch into wal-6.
    for (std::size_t written = 0; written <= batch.size(); ++written) {
        INFO(written << " bytes of the failed batch reached " << wal::segment_file_name(1));
        for (const auto& n : dir_names(dir.path())) fs::remove(dir.path() / n);
        write_file(dir.path() / wal::segment_file_name(1), old_segment + batch.substr(0, written));
        std::string retried = batch;
        const auto r10 = test_record(10);
        wal::frame_record(retried, r10.type, 10, r10.payload);
        write_file(dir.path() / wal::segment_file_name(6), retried);

        const auto c = collect(*posix, dir.path());
        REQUIRE(c.ok());
        CHECK(c.records == test_records(1, 10));
        CHECK(c.report().next_seq == 11);
        const bool torn = std::find(batch_ends.begin(), batch_ends.end(), written) == batch_ends.end() && written != 0;
        if (torn) {
            REQUIRE(c.report().repairs.size() == 1);
            CHECK_THAT(c.report().repairs.front(), Catch::Contains(wal::segment_file_name(1)));
            std::size_t complete = good_end;  // end of the last whole record written
            for (auto e : batch_ends)
                if (e <= written) complete = good_end + e;
            CHECK_THAT(c.report().repairs.front(), Catch::Contains(offset_text(complete)));
        } else {
            CHECK(c.report().repairs.empty());
        }
        const auto expected_again = test_records(1, 10);
        require_clean_recovery(*posix, dir.path(), &expected_again);
    }

    SECTION("but not when the next segment starts after the torn record: that is a loss") {
        for (const auto& n : dir_names(dir.path())) fs::remove(dir.path() / n);
        write_file(dir.path() / wal::segment_file_name(1), old_segment + batch.substr(0, 10));
        std::string later;
        for (wal::Seq s = 7; s <= 9; ++s) {
            const auto r = test_record(s);
            wal::frame_record(later, r.type, s, r.payload);
        }
        write_file(dir.path() / wal::segment_file_name(7), later);
        const auto c = collect(*posix, dir.path());
        REQUIRE_FALSE(c.ok());
        CHECK_THAT(c.failure(), Catch::Contains(wal::segment_file_name(1)));
        CHECK_THAT(c.failure(), Catch::Contains(offset_text(good_end)));
    }
}

TEST_CASE("a real Log's retry after a short write recovers every record", "[wal][recovery]") {
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    auto options = log_options(dir.path(), 64ull << 20, faulty);
    options.retry_interval = std::chrono::milliseconds(5);
    options.give_up_after = std::chrono::hours(1);  // every waiter must end up with true
    {
        wal::Log log(options, 1);
        for (wal::Seq s = 1; s <= 4; ++s) {
            const auto r = test_record(s);
            log.append(r.type, r.payload);
            REQUIRE(log.wait_durable(s));
        }
        faulty->fail_nth(FaultyFileSystem::Op::Append, 1, enospc(), 9);  // record 5 (17 bytes) torn in wal-1
        const auto r5 = test_record(5);
        REQUIRE(log.append(r5.type, r5.payload) == 5);
        CHECK(log.wait_durable(5));  // rewritten by the retry
        for (wal::Seq s = 6; s <= 8; ++s) {
            const auto r = test_record(s);
            log.append(r.type, r.payload);
        }
        CHECK(log.wait_durable(8));
        CHECK(log.stats().write_errors == 1);
        log.close();
    }
    CHECK(segment_names(dir.path()) == std::vector<std::string>{wal::segment_file_name(1), wal::segment_file_name(5)});
    const auto c = collect(*posix, dir.path());
    REQUIRE(c.ok());
    CHECK(c.records == test_records(1, 8));
    REQUIRE(c.report().repairs.size() == 1);
    CHECK_THAT(c.report().repairs.front(), Catch::Contains(wal::segment_file_name(1)));
}

TEST_CASE("records split over many segments by segment_bytes all come back", "[wal][recovery]") {
    TempDir dir;
    write_log(dir.path(), 1, 40, 256);
    const auto segments = segment_names(dir.path());
    CHECK(segments.size() >= 5);
    for (std::size_t i = 0; i < segments.size(); ++i) {  // each named after its first record
        const auto spans = record_spans(read_file(dir.path() / segments[i]));
        if (spans.empty()) continue;
        CHECK(*wal::parse_segment_file_name(segments[i]) == spans.front().seq);
    }
    const auto c = collect(*posix, dir.path());
    REQUIRE(c.ok());
    CHECK(c.records == test_records(1, 40));
    CHECK(c.report().repairs.empty());
    CHECK(c.report().next_seq == 41);
}

// ---- (h) prepared segments --------------------------------------------------------------------

namespace {

// A Log with prepared segments, written one durable record at a time.
struct PreparedLog {
    PreparedLog(const fs::path& dir, std::uint64_t segment_bytes, std::shared_ptr<wal::FileSystem> fs)
        : log(options(dir, segment_bytes, std::move(fs)), 1) {}
    void write_one() {
        const auto r = test_record(last + 1);
        REQUIRE(log.append(r.type, r.payload) == last + 1);
        REQUIRE(log.wait_durable(++last));
    }
    static wal::LogOptions options(const fs::path& dir, std::uint64_t segment_bytes,
                                   std::shared_ptr<wal::FileSystem> fs) {
        auto o = log_options(dir, segment_bytes, std::move(fs));
        o.prepare_segments = true;
        return o;
    }

    wal::Log log;
    wal::Seq last = 0;
};

}  // namespace

TEST_CASE("a log with prepared segments writes over their zeros; a crash leaves zeros, a close does not",
          "[wal][recovery][prepared]") {
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    PreparedLog prepared(dir.path(), 64 * 1024, faulty);
    // The first segment is an ordinary one; the log leaves it as soon as a prepared file is
    // ready, and moves on to the next prepared file when one is full (to an ordinary one if the
    // preparer is behind). Written until it is in a prepared segment after a full one: records,
    // then zeros to the end. (Nothing is written while the test looks: nothing rotates.)
    const auto in_prepared_segment = [&] {
        const auto data = read_file(dir.path() / faulty->opened().back());
        const auto spans = record_spans(data);
        return data.size() == 64 * 1024 && !spans.empty() &&
               data.find_first_not_of('\0', spans.back().end) == std::string::npos;
    };
    REQUIRE(eventually([&] {
        prepared.write_one();
        return faulty->opened().size() >= 3 && in_prepared_segment();
    }));
    CHECK(faulty->calls(FaultyFileSystem::Op::Prepare) >= 2);
    const auto current = faulty->opened().back();

    // A crash now: what the dir holds recovers every durable record, the zeros cut off.
    TempDir crashed;
    copy_dir(dir.path(), crashed.path());
    const auto after_crash = collect(*posix, crashed.path());
    REQUIRE(after_crash.ok());
    CHECK(after_crash.records == test_records(1, prepared.last));
    REQUIRE(after_crash.report().repairs.size() == 1);
    CHECK_THAT(after_crash.report().repairs.front(), Catch::Contains("unwritten, zero-filled end") &&
                                                         Catch::Contains(current));
    require_clean_recovery(*posix, crashed.path());

    // A close cuts the zeros and takes the prepared file away: nothing to repair.
    prepared.log.close();
    for (const auto& name : dir_names(dir.path())) {
        INFO(name);
        CHECK(wal::parse_segment_file_name(name));
        CHECK(record_spans(read_file(dir.path() / name)).back().end == fs::file_size(dir.path() / name));
    }
    const auto expected = test_records(1, prepared.last);
    require_clean_recovery(*posix, dir.path(), &expected);
}

TEST_CASE("an all-zero segment holds nothing: the torn tail before it is still a torn tail",
          "[wal][recovery][prepared]") {
    // A prepared file renamed into place, then a crash before its first write.
    TempDir dir;
    constexpr wal::Seq n = 5;
    write_log(dir.path(), 1, n);
    const auto seg = segment_names(dir.path()).back();
    const auto original = read_file(dir.path() / seg);
    const auto last = record_spans(original).back();
    write_file(dir.path() / seg, original.substr(0, last.end - 3));  // record n torn
    const auto zeros = wal::segment_file_name(n + 1);
    write_file(dir.path() / zeros, std::string(64 * 1024, '\0'));
    const auto c = collect(*posix, dir.path());
    REQUIRE(c.ok());
    CHECK(c.records == test_records(1, n - 1));
    CHECK(c.report().next_seq == n);
    CHECK_THAT(join(c.report().repairs), Catch::Contains("truncated a torn tail") && Catch::Contains(seg) &&
                                             Catch::Contains("unwritten, zero-filled end") && Catch::Contains(zeros));
    require_clean_recovery(*posix, dir.path());
}

TEST_CASE("the next prepared file is not begun while the last one is being renamed into a segment",
          "[wal][recovery][prepared]") {
    // Each rename (here only the prepared file's, into a segment) is held for a while before it
    // happens: the window in which a preparer that starts its next file too early would write its
    // zeros into the file about to become a segment (and then over its first records).
    TempDir dir;
    auto faulty = std::make_shared<FaultyFileSystem>();
    std::atomic<bool> renaming{false};
    std::atomic<int> prepared_during_rename{0};
    faulty->before(FaultyFileSystem::Op::Rename, [&] {
        renaming = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        renaming = false;
    });
    faulty->before(FaultyFileSystem::Op::Prepare, [&] {
        if (renaming) ++prepared_during_rename;
    });
    PreparedLog prepared(dir.path(), 16 * 1024, faulty);
    REQUIRE(eventually([&] {
        prepared.write_one();
        return faulty->calls(FaultyFileSystem::Op::Rename) >= 5;
    }));
    prepared.log.close();
    CHECK(prepared_during_rename == 0);
    const auto expected = test_records(1, prepared.last);
    require_clean_recovery(*posix, dir.path(), &expected);
}
