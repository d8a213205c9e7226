// LeadStore::create_all / update_all: atomic batches. All or nothing, checked in order against
// the store as the earlier items leave it, one LeadBatch payload that replays to the same state,
// and email uniqueness under concurrent batches and single creates.

#include "leadd/store/lead_codec.hpp"
#include "leadd/store/lead_store.hpp"
#include "leadd/wal/codec.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace leadd::store;

namespace {

constexpr WorkspaceId ws = 0x1111;
constexpr WorkspaceId other_ws = 0x2222;

NewLead new_lead(std::string email, Status status = Status::New) {
    NewLead l;
    l.name = "Lee " + email;
    l.email = std::move(email);
    l.status = status;
    return l;
}

std::vector<NewLead> leads_for(std::initializer_list<const char*> emails) {
    std::vector<NewLead> out;
    for (const char* e : emails) out.push_back(new_lead(e));
    return out;
}

LeadPatch email_patch(std::string email) {
    LeadPatch p;
    p.email = std::move(email);
    return p;
}

// Every lead of a workspace as (id, version, email, status), newest first.
std::vector<std::tuple<LeadId, std::uint64_t, std::string, Status>> state_of(const LeadStore& store, WorkspaceId w) {
    ListQuery q;
    q.limit = 100'000;
    std::vector<std::tuple<LeadId, std::uint64_t, std::string, Status>> out;
    for (const auto& l : store.list(w, q).leads) out.emplace_back(l->id, l->version, l->email, l->status);
    return out;
}

}  // namespace

TEST_CASE("create_all: every item created, listed and indexed", "[batch]") {
    LeadStore store;
    const auto out = store.create_all(ws, leads_for({"a@x.co", "b@x.co", "c@x.co"}));
    REQUIRE(out.applied());
    REQUIRE(out.leads.size() == 3);
    CHECK(out.leads[1]->email == "b@x.co");
    CHECK(out.ids == std::vector<LeadId>{out.leads[0]->id, out.leads[1]->id, out.leads[2]->id});
    CHECK(store.count(ws) == 3);
    for (const auto& lead : out.leads) CHECK(store.get(ws, lead->id) == lead);
    // The emails are taken now.
    const auto dup = store.create(ws, new_lead("B@X.CO"));
    REQUIRE_FALSE(dup);
    CHECK(dup.error().existing_lead == out.leads[1]->id);
}

TEST_CASE("create_all: a duplicate inside the batch or against the store changes nothing", "[batch]") {
    LeadStore store;
    REQUIRE(store.create(ws, new_lead("taken@x.co")));
    const auto before = state_of(store, ws);

    const auto inside = store.create_all(ws, leads_for({"a@x.co", "b@x.co", "A@x.co"}));
    CHECK_FALSE(inside.applied());
    REQUIRE(inside.failures.size() == 1);
    CHECK(inside.failures[0].first == 2);
    CHECK(inside.failures[0].second.code == StoreErrc::DuplicateEmail);
    CHECK(inside.failures[0].second.existing_lead == inside.ids[0]);  // names the batch's item 0

    const auto outside = store.create_all(ws, leads_for({"new@x.co", "TAKEN@x.co"}));
    CHECK_FALSE(outside.applied());
    REQUIRE(outside.failures.size() == 1);
    CHECK(outside.failures[0].first == 1);

    CHECK(state_of(store, ws) == before);
    // The failed batches' emails are free.
    CHECK(store.create(ws, new_lead("a@x.co")));
    CHECK(store.create(ws, new_lead("new@x.co")));
    // The same email in another workspace is no conflict.
    CHECK(store.create_all(other_ws, leads_for({"taken@x.co"})).applied());
}

TEST_CASE("update_all: one missing lead or stale version changes nothing", "[batch]") {
    LeadStore store;
    const auto made = store.create_all(ws, leads_for({"a@x.co", "b@x.co"}));
    REQUIRE(made.applied());
    const auto before = state_of(store, ws);
    LeadPatch qualified;
    qualified.status = Status::Qualified;
    LeadPatch stale = qualified;
    stale.if_match = 99;

    auto out = store.update_all(ws, {{made.ids[0], qualified}, {0x12345, qualified}});
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].first == 1);
    CHECK(out.failures[0].second.code == StoreErrc::LeadNotFound);
    out = store.update_all(ws, {{made.ids[0], qualified}, {made.ids[1], stale}});
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].second.code == StoreErrc::PreconditionFailed);
    // A lead of another workspace is not found either.
    out = store.update_all(other_ws, {{made.ids[0], qualified}});
    REQUIRE(out.failures.size() == 1);
    CHECK(out.failures[0].second.code == StoreErrc::LeadNotFound);
    CHECK(state_of(store, ws) == before);
}

TEST_CASE("update_all: items see the earlier items (email swap, two changes of one lead)", "[batch]") {
    LeadStore store;
    const auto made = store.create_all(ws, leads_for({"a@x.co", "b@x.co"}));
    REQUIRE(made.applied());
    const LeadId a = made.ids[0], b = made.ids[1];
    // a -> tmp, b -> a's old address, a -> b's old address: valid only in this order.
    const auto swap = store.update_all(ws, {{a, email_patch("tmp@x.co")}, {b, email_patch("a@x.co")}, {a, email_patch("b@x.co")}});
    REQUIRE(swap.applied());
    CHECK(store.get(ws, a)->email == "b@x.co");
    CHECK(store.get(ws, b)->email == "a@x.co");
    CHECK(store.get(ws, a)->version == 3);  // two changes, two versions
    CHECK(swap.leads[0]->updated_at < swap.leads[2]->updated_at);
    CHECK(store.create(ws, new_lead("tmp@x.co")));  // released again by the third item

    // The reverse order would make b take an address a still has: refused, nothing changes.
    const auto before = state_of(store, ws);
    const auto bad = store.update_all(ws, {{b, email_patch("b@x.co")}, {a, email_patch("a@x.co")}});
    // (And with item 0 refused, b keeps a@x.co, so item 1 is refused too.)
    REQUIRE(bad.failures.size() == 2);
    CHECK(bad.failures[0].first == 0);
    CHECK(bad.failures[0].second.existing_lead == a);
    CHECK(bad.failures[1].first == 1);
    CHECK(bad.failures[1].second.existing_lead == b);
    CHECK(state_of(store, ws) == before);
}

TEST_CASE("update_all: an item that changes nothing keeps its version", "[batch]") {
    LeadStore store;
    const auto made = store.create_all(ws, leads_for({"a@x.co"}));
    const auto same = store.update_all(ws, {{made.ids[0], email_patch("a@x.co")}});
    REQUIRE(same.applied());
    CHECK(same.leads[0] == made.leads[0]);
}

TEST_CASE("a status change in a batch moves the lead between status lists", "[batch]") {
    LeadStore store;
    const auto made = store.create_all(ws, leads_for({"a@x.co", "b@x.co"}));
    LeadPatch lost;
    lost.status = Status::Lost;
    REQUIRE(store.update_all(ws, {{made.ids[1], lost}}).applied());
    ListQuery q;
    q.status = Status::Lost;
    CHECK(store.list(ws, q).total == 1);
    q.status = Status::New;
    CHECK(store.list(ws, q).total == 1);
}

TEST_CASE("concurrent atomic batches and single creates never share an email", "[batch][concurrency]") {
    LeadStore store;
    std::atomic<int> batches_applied{0}, singles_created{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int round = 0; round < 200; ++round) {
                // Batches of 3 overlapping emails out of a pool of 20; singles from the same pool.
                if (t % 2 == 0) {
                    std::vector<NewLead> batch;
                    for (int k = 0; k < 3; ++k) batch.push_back(new_lead("p" + std::to_string((round * 7 + k * 3 + t) % 20) + "@x.co"));
                    if (store.create_all(ws, std::move(batch)).applied()) batches_applied.fetch_add(1);
                } else if (store.create(ws, new_lead("P" + std::to_string((round * 5 + t) % 20) + "@X.co"))) {
                    singles_created.fetch_add(1);
                }
            }
        });
    for (auto& t : threads) t.join();
    std::set<std::string> emails;
    for (const auto& [id, version, email, status] : state_of(store, ws)) {
        std::string folded = email;
        for (auto& c : folded) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        CHECK(emails.insert(folded).second);
    }
    CHECK(emails.size() == static_cast<std::size_t>(batches_applied * 3 + singles_created));
    CHECK(emails.size() <= 20);
}

TEST_CASE("a LeadBatch payload replays to the same leads, and a damaged one to none", "[batch]") {
    // The store logs through a wal::Log; here the payload is rebuilt the way apply_all builds it.
    LeadStore live;
    const auto made = live.create_all(ws, leads_for({"a@x.co", "b@x.co"}));
    REQUIRE(made.applied());
    leadd::wal::PayloadWriter record;
    record.u64(2);
    for (const auto& lead : made.leads) record.str(encode_lead(*lead));

    LeadStore replayed;
    REQUIRE(replayed.restore_batch(record.bytes()));
    CHECK(state_of(replayed, ws) == state_of(live, ws));

    LeadStore damaged;
    std::string cut = record.bytes();
    cut.resize(cut.size() - 5);
    CHECK_FALSE(damaged.restore_batch(cut));
    CHECK(damaged.size() == 0);
}

TEST_CASE("create_all EachOnItsOwn: the outcome of creating the items one by one, in one call", "[batch]") {
    // Random batches over a small address pool (duplicates against the store and inside the
    // batch, in other letter cases), against a second store fed the same items one by one.
    std::mt19937 rng(20261127);
    for (int round = 0; round < 200; ++round) {
        LeadStore batched, one_by_one;
        std::uniform_int_distribution<int> pick(0, 11), size(1, 12);
        for (int i = 0, n = size(rng) / 3; i < n; ++i) {
            const std::string email = "p" + std::to_string(pick(rng)) + "@pool.test";
            REQUIRE(batched.create(ws, new_lead(email)).ok() == one_by_one.create(ws, new_lead(email)).ok());
        }
        std::vector<NewLead> items;
        for (int i = 0, n = size(rng); i < n; ++i)
            items.push_back(new_lead((i % 2 ? "P" : "p") + std::to_string(pick(rng)) + "@pool.test"));
        std::vector<bool> expected_ok;
        for (const auto& item : items) expected_ok.push_back(one_by_one.create(ws, item).ok());

        const auto outcome = batched.create_all(ws, items, LeadStore::BatchMode::EachOnItsOwn);
        REQUIRE_FALSE(outcome.refused);
        REQUIRE(outcome.leads.size() == items.size());
        std::size_t next_failure = 0;
        for (std::size_t i = 0; i < items.size(); ++i) {
            INFO("round " << round << " item " << i);
            const bool failed = next_failure < outcome.failures.size() && outcome.failures[next_failure].first == i;
            if (failed) {
                CHECK(outcome.failures[next_failure].second.code == StoreErrc::DuplicateEmail);
                CHECK(outcome.leads[i] == nullptr);
                ++next_failure;
            } else {
                REQUIRE(outcome.leads[i] != nullptr);
                CHECK(batched.get(ws, outcome.leads[i]->id) == outcome.leads[i]);
            }
            CHECK(failed != expected_ok[i]);
        }
        CHECK(next_failure == outcome.failures.size());
        CHECK(batched.count(ws) == one_by_one.count(ws));
    }
}
