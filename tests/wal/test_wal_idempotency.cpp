// Idempotency-Key answers and the log: an answer is logged in the same record as the write it
// answers, so recovery (from the log after a crash, or from a snapshot) brings back both or
// neither; expired answers are not brought back.

#include "wal_test_support.hpp"

#include "leadd/ops/persistence.hpp"
#include "leadd/store/ids.hpp"

#include <catch2/catch.hpp>

using namespace leadd;
using namespace leadd::test;
using store::IdempotencyTable;
using Verdict = IdempotencyTable::Verdict;

namespace {

constexpr store::WorkspaceId ws = 0x5151;

std::unique_ptr<ops::Persistence> open_dir(const fs::path& dir, store::LeadStore& s, auth::KeyRegistry& k) {
    ops::PersistenceOptions o;
    o.log.dir = dir;
    o.log.fsync = wal::FsyncPolicy::Always;
    o.log.fs = wal::posix_file_system();
    o.snapshot_every_bytes = 1ull << 40;  // only the final snapshot of close()
    auto opened = ops::Persistence::open(std::move(o), s, k);
    if (auto* failure = std::get_if<std::string>(&opened)) FAIL("recovery failed: " << *failure);
    return std::move(std::get<std::unique_ptr<ops::Persistence>>(opened));
}

store::NewLead new_lead(std::string email) {
    store::NewLead l;
    l.name = "Idem " + email;
    l.email = std::move(email);
    return l;
}

// An answer naming what the write produced, so a restored answer can be told from another.
store::LeadStore::IdempotentWrite write_for(std::string key) {
    return {key, "fp-" + key, [](const store::LeadStore::BatchOutcome& outcome) {
                std::string body;
                for (const auto& lead : outcome.leads) body += lead ? store::format_hex_id("lead_", lead->id) + ";" : "-;";
                return store::StoredAnswer{201, body, "/where", "\"1\""};
            }};
}

store::StoreOptions options_with_clock(const store::Millis* now) {
    auto o = test_store_options();
    o.clock = [now] { return *now; };
    return o;
}

}  // namespace

TEST_CASE("an answer comes back with its write: from the log after a crash, and from a snapshot", "[wal][idempotency]") {
    TempDir dir, crashed;
    std::string single_body, batch_body;
    store::LeadId single_id = 0;
    {
        store::LeadStore s(test_store_options());
        auth::KeyRegistry k;
        auto p = open_dir(dir.path(), s, k);
        REQUIRE(s.idempotency().claim(ws, "one", "fp-one", s.now()).verdict == Verdict::Run);
        auto w1 = write_for("one");
        auto created = s.create(ws, new_lead("a@idem.test"), &w1);
        REQUIRE(created);
        single_id = created.value()->id;
        REQUIRE(s.idempotency().claim(ws, "many", "fp-many", s.now()).verdict == Verdict::Run);
        auto w2 = write_for("many");
        std::vector<store::NewLead> batch{new_lead("b@idem.test"), new_lead("A@idem.test"), new_lead("c@idem.test")};
        const auto outcome = s.create_all(ws, std::move(batch), store::LeadStore::BatchMode::EachOnItsOwn, &w2);
        REQUIRE(outcome.failures.size() == 1);  // the second item's address is taken
        single_body = s.idempotency().claim(ws, "one", "fp-one", s.now()).entry->answer.body;
        batch_body = s.idempotency().claim(ws, "many", "fp-many", s.now()).entry->answer.body;
        CHECK(single_body == store::format_hex_id("lead_", single_id) + ";");
        CHECK(batch_body.find("-;") != std::string::npos);
        REQUIRE(p->log().wait_durable(p->log().last_seq()));
        copy_dir(dir.path(), crashed.path());  // what kill -9 leaves: the log, no final snapshot
        p->close();
    }
    for (const fs::path& from : {crashed.path(), dir.path()}) {
        INFO("recovering from " << (from == dir.path() ? "the final snapshot" : "the log"));
        store::LeadStore s(test_store_options());
        auth::KeyRegistry k;
        auto p = open_dir(from, s, k);
        CHECK(s.count(ws) == 3);
        CHECK(s.get(ws, single_id) != nullptr);
        const auto one = s.idempotency().claim(ws, "one", "fp-one", s.now());
        REQUIRE(one.verdict == Verdict::Replay);
        CHECK(one.entry->answer.body == single_body);
        CHECK(one.entry->answer.location == "/where");
        CHECK(one.entry->answer.etag == "\"1\"");
        const auto many = s.idempotency().claim(ws, "many", "fp-many", s.now());
        REQUIRE(many.verdict == Verdict::Replay);
        CHECK(many.entry->answer.body == batch_body);
        CHECK(s.idempotency().claim(ws, "one", "another request", s.now()).verdict == Verdict::Reused);
        p->close();
    }
}

TEST_CASE("a write that fails stores no answer, before or after a restart", "[wal][idempotency]") {
    TempDir dir;
    {
        store::LeadStore s(test_store_options());
        auth::KeyRegistry k;
        auto p = open_dir(dir.path(), s, k);
        REQUIRE(s.create(ws, new_lead("taken@idem.test")));
        REQUIRE(s.idempotency().claim(ws, "dup", "fp-dup", s.now()).verdict == Verdict::Run);
        auto w = write_for("dup");
        CHECK_FALSE(s.create(ws, new_lead("TAKEN@idem.test"), &w));
        // An atomic batch that fails logs nothing either.
        REQUIRE(s.idempotency().claim(ws, "atomic", "fp-atomic", s.now()).verdict == Verdict::Run);
        auto wa = write_for("atomic");
        std::vector<store::NewLead> batch{new_lead("fresh@idem.test"), new_lead("taken@idem.test")};
        CHECK_FALSE(s.create_all(ws, std::move(batch), store::LeadStore::BatchMode::AllOrNothing, &wa).applied());
        CHECK(s.idempotency().size() == 0);
        p->close();
    }
    store::LeadStore s(test_store_options());
    auth::KeyRegistry k;
    auto p = open_dir(dir.path(), s, k);
    CHECK(s.count(ws) == 1);
    CHECK(s.idempotency().size() == 0);
    p->close();
}

TEST_CASE("answers older than 24 hours are not restored, their writes are", "[wal][idempotency]") {
    TempDir dir, crashed;
    store::Millis now = 1'700'000'000'000;
    {
        store::LeadStore s(options_with_clock(&now));
        auth::KeyRegistry k;
        auto p = open_dir(dir.path(), s, k);
        REQUIRE(s.idempotency().claim(ws, "early", "fp-early", now).verdict == Verdict::Run);
        auto w1 = write_for("early");
        REQUIRE(s.create(ws, new_lead("early@idem.test"), &w1));
        now += 60 * 60 * 1000;  // an hour later
        REQUIRE(s.idempotency().claim(ws, "late", "fp-late", now).verdict == Verdict::Run);
        auto w2 = write_for("late");
        REQUIRE(s.create(ws, new_lead("late@idem.test"), &w2));
        REQUIRE(p->log().wait_durable(p->log().last_seq()));
        copy_dir(dir.path(), crashed.path());
        p->close();
    }
    now += IdempotencyTable::retention - 30 * 60 * 1000;  // "early" is 24.5 h old, "late" 23.5 h
    for (const fs::path& from : {crashed.path(), dir.path()}) {
        store::LeadStore s(options_with_clock(&now));
        auth::KeyRegistry k;
        auto p = open_dir(from, s, k);
        CHECK(s.count(ws) == 2);
        CHECK(s.idempotency().claim(ws, "late", "fp-late", now).verdict == Verdict::Replay);
        CHECK(s.idempotency().claim(ws, "early", "fp-early", now).verdict == Verdict::Run);
        s.idempotency().release(ws, "early");
        p->close();
    }
}
