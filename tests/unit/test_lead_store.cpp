// LeadStore through its public API, with an injected clock.

#include "leadd/store/lead_store.hpp"
#include "leadd/wal/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace json = boost::json;
using namespace leadd::store;

namespace {

constexpr WorkspaceId ws_a = 0xaaaa;
constexpr WorkspaceId ws_b = 0xbbbb;

// A clock the test moves by hand.
struct ManualClock {
    std::shared_ptr<std::atomic<Millis>> now = std::make_shared<std::atomic<Millis>>(1'700'000'000'000);
    void set(Millis t) const { now->store(t); }
    Millis get() const { return now->load(); }
    std::function<Millis()> fn() const {
        return [n = now] { return n->load(); };
    }
};

StoreOptions options_with(const ManualClock& clock) {
    StoreOptions o;
    o.clock = clock.fn();
    return o;
}

NewLead new_lead(std::string email, std::string name = "Ann Lee") {
    NewLead l;
    l.name = std::move(name);
    l.email = std::move(email);
    return l;
}

LeadPtr must_create(LeadStore& store, WorkspaceId ws, NewLead lead) {
    auto r = store.create(ws, std::move(lead));
    REQUIRE(r.ok());
    return r.value();
}

LeadPtr must_update(LeadStore& store, WorkspaceId ws, LeadId id, const LeadPatch& patch) {
    auto r = store.update(ws, id, patch);
    if (!r.ok()) FAIL("update refused with code " << static_cast<int>(r.error().code));
    return r.value();
}

LeadPatch metadata_patch(std::string_view merge) {
    LeadPatch p;
    p.metadata_merge = json::parse(merge).as_object();
    return p;
}

LeadPatch email_patch(std::string email) {
    LeadPatch p;
    p.email = std::move(email);
    return p;
}

std::vector<LeadId> ids_of(const ListPage& page) {
    std::vector<LeadId> out;
    for (const auto& l : page.leads) out.push_back(l->id);
    return out;
}

ListQuery query(std::size_t page = 1, std::size_t limit = 100) {
    ListQuery q;
    q.page = page;
    q.limit = limit;
    return q;
}

}  // namespace

TEST_CASE("a lead's rendering slot: the first read is noted, a later one keeps its text, the first text kept stays",
          "[store][render]") {
    const RenderCache cache;
    CHECK_FALSE(cache.peek());
    CHECK_FALSE(cache.read_before());  // the first read: noted, nothing kept
    CHECK_FALSE(cache.peek());
    CHECK(cache.read_before());        // every later read finds it noted
    CHECK(cache.read_before());
    const std::string text(1000, 'x');  // longer than any short-string buffer: the block holds it
    CHECK(cache.keep(text) == text);
    REQUIRE(cache.peek());
    CHECK(*cache.peek() == text);
    CHECK(cache.keep("another") == text);  // a read that lost the race gets the text kept first
    CHECK(*cache.peek() == text);
    CHECK_FALSE(cache.read_before());      // kept: not a read to note (the caller looked first)

    const RenderCache copy = cache;  // a copy is a new lead's slot: empty, never read
    CHECK_FALSE(copy.peek());
    CHECK_FALSE(copy.read_before());
    RenderCache assigned;
    CHECK(assigned.keep("{}") == "{}");
    assigned = cache;  // lets go of its own rendering, and takes none
    CHECK_FALSE(assigned.peek());
    CHECK(cache.peek());
}

TEST_CASE("create stores every field and stamps createdAt = updatedAt = now", "[store]") {
    ManualClock clock;
    clock.set(1705314600000);
    LeadStore store(options_with(clock));
    NewLead l = new_lead("John.Doe@Example.com", "John Smith");
    l.phone = "+1-555-456-7890";
    l.source = "webinar";
    l.status = Status::Qualified;
    l.metadata = json::parse(R"({"company":"New Tech Corp","gone":null})").as_object();
    const auto lead = must_create(store, ws_a, l);
    CHECK(lead->id != 0);
    CHECK(lead->workspace == ws_a);
    CHECK(lead->name == "John Smith");
    CHECK(lead->email == "John.Doe@Example.com");  // stored as given
    CHECK(lead->phone == std::optional<std::string>("+1-555-456-7890"));
    CHECK(lead->source == std::optional<std::string>("webinar"));
    CHECK(lead->status == Status::Qualified);
    CHECK(json::value(lead->metadata.object()) == json::parse(R"({"company":"New Tech Corp","gone":null})"));
    CHECK(lead->created_at == 1705314600000);
    CHECK(lead->updated_at == 1705314600000);
    CHECK(lead->version == 1);

    CHECK(store.get(ws_a, lead->id) == lead);  // the same snapshot
    CHECK(store.count(ws_a) == 1);
    CHECK(store.size() == 1);
}

TEST_CASE("leads are scoped to their workspace", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    const auto a = must_create(store, ws_a, new_lead("a@example.com"));
    CHECK(store.get(ws_b, a->id) == nullptr);
    CHECK(store.get(ws_a, a->id ^ 1) == nullptr);

    LeadPatch p;
    p.name = "Mallory";
    auto upd = store.update(ws_b, a->id, p);
    REQUIRE_FALSE(upd.ok());
    CHECK(upd.error().code == StoreErrc::LeadNotFound);
    auto del = store.remove(ws_b, a->id, std::nullopt);
    REQUIRE_FALSE(del.ok());
    CHECK(del.error().code == StoreErrc::LeadNotFound);

    // Untouched by the other workspace's attempts.
    CHECK(store.get(ws_a, a->id) == a);
    CHECK(store.list(ws_b, query()).total == 0);
    CHECK(store.count(ws_b) == 0);
    CHECK(ids_of(store.list(ws_a, query())) == std::vector<LeadId>{a->id});
}

TEST_CASE("email is unique per workspace, case-insensitively", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    const auto first = must_create(store, ws_a, new_lead("John.Doe@Example.com"));

    for (const char* variant : {"John.Doe@Example.com", "john.doe@example.com", "JOHN.DOE@EXAMPLE.COM",
                                "jOhN.dOe@eXaMpLe.CoM"}) {
        INFO(variant);
        auto r = store.create(ws_a, new_lead(variant));
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == StoreErrc::DuplicateEmail);
        CHECK(r.error().existing_lead == first->id);
    }
    CHECK(store.count(ws_a) == 1);
    CHECK(store.size() == 1);
    CHECK(store.list(ws_a, query()).total == 1);

    // Another workspace is free to use it, in any case.
    const auto other = must_create(store, ws_b, new_lead("john.doe@example.com"));
    CHECK(other->id != first->id);
    CHECK(store.size() == 2);
    // Similar but different addresses are different.
    must_create(store, ws_a, new_lead("john.doe@example.co"));
    must_create(store, ws_a, new_lead("john.doe2@example.com"));
    CHECK(store.count(ws_a) == 3);
}

TEST_CASE("a deleted lead's email is free; the id is gone and not reused", "[store]") {
    ManualClock clock;
    clock.set(5000);
    LeadStore store(options_with(clock));
    const auto lead = must_create(store, ws_a, new_lead("x@example.com"));
    clock.set(6000);
    const auto deleted = store.remove(ws_a, lead->id, std::nullopt);
    REQUIRE(deleted.ok());
    CHECK(deleted.value() == 6000);  // the deletion time
    CHECK(store.get(ws_a, lead->id) == nullptr);
    CHECK(store.count(ws_a) == 0);
    CHECK(store.size() == 0);
    CHECK(store.list(ws_a, query()).total == 0);

    auto again = store.remove(ws_a, lead->id, std::nullopt);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == StoreErrc::LeadNotFound);
    LeadPatch p;
    p.name = "Zombie";
    auto upd = store.update(ws_a, lead->id, p);
    REQUIRE_FALSE(upd.ok());
    CHECK(upd.error().code == StoreErrc::LeadNotFound);

    const auto reborn = must_create(store, ws_a, new_lead("X@EXAMPLE.COM"));
    CHECK(reborn->id != lead->id);
    CHECK(store.get(ws_a, lead->id) == nullptr);
}

TEST_CASE("ids are never reused across many creates and deletes", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    std::set<LeadId> ids;
    for (int i = 0; i < 2000; ++i) {
        const auto l = must_create(store, ws_a, new_lead("same@example.com"));
        CHECK(ids.insert(l->id).second);
        REQUIRE(store.remove(ws_a, l->id, std::nullopt).ok());
    }
    CHECK(ids.size() == 2000);
}

TEST_CASE("changing a lead's email frees the old one and takes the new one", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    const auto a = must_create(store, ws_a, new_lead("old@example.com"));
    const auto moved = must_update(store, ws_a, a->id, email_patch("New@Example.com"));
    CHECK(moved->email == "New@Example.com");

    auto dup = store.create(ws_a, new_lead("new@example.com"));
    REQUIRE_FALSE(dup.ok());
    CHECK(dup.error().code == StoreErrc::DuplicateEmail);
    CHECK(dup.error().existing_lead == a->id);

    const auto b = must_create(store, ws_a, new_lead("OLD@example.com"));
    CHECK(b->id != a->id);
}

TEST_CASE("a case-only change of a lead's own email is allowed and keeps it reserved", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    const auto a = must_create(store, ws_a, new_lead("ann@example.com"));
    const auto recased = must_update(store, ws_a, a->id, email_patch("Ann@Example.COM"));
    CHECK(recased->email == "Ann@Example.COM");  // stored as given
    CHECK(recased->version == 2);
    auto dup = store.create(ws_a, new_lead("ann@example.com"));
    REQUIRE_FALSE(dup.ok());
    CHECK(dup.error().existing_lead == a->id);
}

TEST_CASE("changing to another lead's email is refused and changes nothing", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    const auto a = must_create(store, ws_a, new_lead("a@example.com", "A"));
    const auto b = must_create(store, ws_a, new_lead("b@example.com", "B"));

    LeadPatch p = email_patch("B@EXAMPLE.com");
    p.name = "A renamed";
    p.status = Status::Lost;
    auto r = store.update(ws_a, a->id, p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StoreErrc::DuplicateEmail);
    CHECK(r.error().existing_lead == b->id);
    CHECK(store.get(ws_a, a->id) == a);  // not even the name changed

    // a's email is still a's, b's is still b's.
    auto dup_a = store.create(ws_a, new_lead("a@example.com"));
    REQUIRE_FALSE(dup_a.ok());
    CHECK(dup_a.error().existing_lead == a->id);
    auto dup_b = store.create(ws_a, new_lead("b@example.com"));
    REQUIRE_FALSE(dup_b.ok());
    CHECK(dup_b.error().existing_lead == b->id);

    // Another workspace's lead with that email does not block the change.
    must_create(store, ws_b, new_lead("c@example.com"));
    CHECK(must_update(store, ws_a, a->id, email_patch("c@example.com"))->email == "c@example.com");
}

TEST_CASE("updatedAt is strictly increasing even when the clock stands still or goes back", "[store]") {
    ManualClock clock;
    clock.set(10'000);
    LeadStore store(options_with(clock));
    const auto lead = must_create(store, ws_a, new_lead("t@example.com"));
    CHECK(lead->created_at == 10'000);
    CHECK(lead->updated_at == 10'000);

    Millis previous = lead->updated_at;
    std::uint64_t version = lead->version;
    int n = 0;
    auto step = [&](Millis clock_now) {
        clock.set(clock_now);
        LeadPatch p;
        p.name = "name " + std::to_string(++n);
        const auto updated = must_update(store, ws_a, lead->id, p);
        INFO("clock " << clock_now << " previous " << previous << " got " << updated->updated_at);
        CHECK(updated->updated_at > previous);
        CHECK(updated->updated_at >= clock_now);
        CHECK(updated->created_at == 10'000);
        CHECK(updated->version == version + 1);
        previous = updated->updated_at;
        version = updated->version;
        return updated->updated_at;
    };
    CHECK(step(10'000) == 10'001);  // clock stands still
    CHECK(step(10'000) == 10'002);
    CHECK(step(5'000) == 10'003);   // clock goes back
    CHECK(step(-1'000'000) == 10'004);
    CHECK(step(20'000) == 20'000);  // clock moves on: the clock's time is used
    CHECK(step(20'000) == 20'001);
    CHECK(step(19'999) == 20'002);
    CHECK(store.get(ws_a, lead->id)->updated_at == 20'002);
    CHECK(store.get(ws_a, lead->id)->created_at == 10'000);
}

TEST_CASE("a patch that changes nothing returns the lead as it is", "[store]") {
    ManualClock clock;
    clock.set(1000);
    LeadStore store(options_with(clock));
    NewLead l = new_lead("same@example.com", "Same");
    l.phone = "5551234567";
    l.status = Status::Contacted;
    l.metadata = json::parse(R"({"a":1,"o":{"x":[1,2]}})").as_object();
    const auto lead = must_create(store, ws_a, l);
    clock.set(2000);

    std::vector<LeadPatch> no_ops(9);
    // [0] {}
    no_ops[1].name = "Same";
    no_ops[2].email = "same@example.com";
    no_ops[3].phone = std::optional<std::string>("5551234567");
    no_ops[4].source = std::optional<std::string>();  // clear an already-absent source
    no_ops[5].status = Status::Contacted;
    no_ops[6].metadata_merge = json::parse(R"({"a":1,"o":{"x":[1,2]}})").as_object();
    no_ops[7].metadata_merge = json::parse(R"({"missing":null,"o":{"gone":null}})").as_object();
    no_ops[8].expect_created_at = 1000;  // echoing the current createdAt
    no_ops[8].name = "Same";
    no_ops[8].metadata_merge = json::object{};
    for (std::size_t i = 0; i < no_ops.size(); ++i) {
        INFO("no-op patch #" << i);
        const auto same = must_update(store, ws_a, lead->id, no_ops[i]);
        CHECK(same == lead);  // the same snapshot: nothing written
        CHECK(same->version == 1);
        CHECK(same->updated_at == 1000);
    }
    CHECK(store.get(ws_a, lead->id) == lead);

    // A no-op with a matching If-Match is fine too.
    LeadPatch with_etag;
    with_etag.if_match = 1;
    CHECK(must_update(store, ws_a, lead->id, with_etag) == lead);
}

TEST_CASE("every real change bumps the version by one", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    const auto lead = must_create(store, ws_a, new_lead("v@example.com"));
    std::vector<LeadPatch> changes(7);
    changes[0].name = "New Name";
    changes[1].email = "v2@example.com";
    changes[2].phone = std::optional<std::string>("5551234567");
    changes[3].phone = std::optional<std::string>();  // clear it again
    changes[4].source = std::optional<std::string>("referral");
    changes[5].status = Status::Converted;
    changes[6].metadata_merge = json::parse(R"({"k":"v"})").as_object();
    std::uint64_t expected = 1;
    for (std::size_t i = 0; i < changes.size(); ++i) {
        INFO("change #" << i);
        const auto updated = must_update(store, ws_a, lead->id, changes[i]);
        CHECK(updated->version == ++expected);
        CHECK(updated != lead);
    }
    const auto final = store.get(ws_a, lead->id);
    CHECK(final->name == "New Name");
    CHECK(final->email == "v2@example.com");
    CHECK_FALSE(final->phone.has_value());
    CHECK(final->source == std::optional<std::string>("referral"));
    CHECK(final->status == Status::Converted);
    CHECK(json::value(final->metadata.object()) == json::parse(R"({"k":"v"})"));
    CHECK(final->version == 8);
    // The old snapshot is untouched (readers hold immutable snapshots).
    CHECK(lead->version == 1);
    CHECK(lead->name == "Ann Lee");
}

TEST_CASE("update merges metadata per RFC 7396", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    NewLead l = new_lead("m@example.com");
    l.metadata = json::parse(R"({"utm_source":"google","o":{"x":1,"y":2},"arr":[1,2],"drop":true})").as_object();
    const auto lead = must_create(store, ws_a, l);
    const auto updated = must_update(store, ws_a, lead->id,
                                     metadata_patch(R"({"o":{"y":null,"z":3},"arr":[9],"drop":null,"new":"n"})"));
    CHECK(json::value(updated->metadata.object()) ==
          json::parse(R"({"utm_source":"google","o":{"x":1,"z":3},"arr":[9],"new":"n"})"));
}

TEST_CASE("If-Match guards update and remove", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    const auto lead = must_create(store, ws_a, new_lead("im@example.com"));

    LeadPatch p;
    p.name = "v2";
    p.if_match = 1;
    const auto v2 = must_update(store, ws_a, lead->id, p);
    CHECK(v2->version == 2);

    p.name = "stale";
    p.if_match = 1;  // stale now
    auto stale = store.update(ws_a, lead->id, p);
    REQUIRE_FALSE(stale.ok());
    CHECK(stale.error().code == StoreErrc::PreconditionFailed);
    CHECK(store.get(ws_a, lead->id) == v2);

    p.if_match = 0;  // what an unparseable ETag becomes
    stale = store.update(ws_a, lead->id, p);
    REQUIRE_FALSE(stale.ok());
    CHECK(stale.error().code == StoreErrc::PreconditionFailed);

    auto del = store.remove(ws_a, lead->id, 1);
    REQUIRE_FALSE(del.ok());
    CHECK(del.error().code == StoreErrc::PreconditionFailed);
    CHECK(store.get(ws_a, lead->id) == v2);
    CHECK(store.count(ws_a) == 1);

    // An If-Match on a missing lead is a 404, not a 412.
    auto missing = store.remove(ws_a, lead->id ^ 0xff, 2);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == StoreErrc::LeadNotFound);

    CHECK(store.remove(ws_a, lead->id, 2).ok());
    CHECK(store.get(ws_a, lead->id) == nullptr);
}

TEST_CASE("createdAt can only be echoed with its current value", "[store]") {
    ManualClock clock;
    clock.set(1705314600000);
    LeadStore store(options_with(clock));
    const auto lead = must_create(store, ws_a, new_lead("c@example.com"));

    LeadPatch p;
    p.name = "changed";
    p.expect_created_at = 1705314600001;
    auto r = store.update(ws_a, lead->id, p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StoreErrc::ImmutableField);
    CHECK(r.error().field == "createdAt");
    CHECK(store.get(ws_a, lead->id) == lead);

    LeadPatch unreadable;
    unreadable.name = "changed";
    unreadable.created_at_unreadable = true;
    r = store.update(ws_a, lead->id, unreadable);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StoreErrc::ImmutableField);
    CHECK(r.error().field == "createdAt");
    CHECK(store.get(ws_a, lead->id) == lead);

    p.expect_created_at = 1705314600000;
    CHECK(must_update(store, ws_a, lead->id, p)->name == "changed");
}

TEST_CASE("a merge that makes metadata too large is refused and changes nothing", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));  // default limit: 64 KiB
    NewLead l = new_lead("big@example.com");
    l.metadata = json::object{{"a", std::string(40'000, 'a')}};
    const auto lead = must_create(store, ws_a, l);

    LeadPatch p = metadata_patch("{}");
    p.metadata_merge->emplace("b", std::string(40'000, 'b'));
    p.name = "also changed";
    auto r = store.update(ws_a, lead->id, p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StoreErrc::MetadataTooLarge);
    CHECK(r.error().field == "metadata");
    CHECK(store.get(ws_a, lead->id) == lead);

    // Exactly at the limit is fine: {"a":"...","b":"..."} = 40000 + 2 + 4 + 3 + 4 + 2 + b.
    const std::size_t base = json::serialize(json::object{{"a", std::string(40'000, 'a')}, {"b", ""}}).size();
    LeadPatch fits = metadata_patch("{}");
    fits.metadata_merge->emplace("b", std::string(64 * 1024 - base, 'b'));
    const auto merged = must_update(store, ws_a, lead->id, fits);
    CHECK(merged->metadata.text().size() == 64 * 1024);

    // One byte more, through a change of an existing key.
    LeadPatch over = metadata_patch("{}");
    over.metadata_merge->emplace("b", std::string(64 * 1024 - base + 1, 'b'));
    r = store.update(ws_a, lead->id, over);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StoreErrc::MetadataTooLarge);
    CHECK(store.get(ws_a, lead->id) == merged);

    // Shrinking is always allowed.
    CHECK(must_update(store, ws_a, lead->id, metadata_patch(R"({"a":null})"))->metadata.object().size() == 1);
}

TEST_CASE("StoreOptions::max_metadata_bytes is the limit used", "[store]") {
    ManualClock clock;
    StoreOptions o = options_with(clock);
    o.max_metadata_bytes = 20;
    LeadStore store(o);
    const auto lead = must_create(store, ws_a, new_lead("s@example.com"));
    CHECK(must_update(store, ws_a, lead->id, metadata_patch(R"({"k":"0123456789ab"})"))->version == 2);  // 20 bytes
    auto r = store.update(ws_a, lead->id, metadata_patch(R"({"k":"0123456789abc"})"));                  // 21
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == StoreErrc::MetadataTooLarge);
}

TEST_CASE("list orders by createdAt desc, then id desc", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    std::vector<LeadPtr> created;
    // Three batches with equal createdAt inside each, created out of time order.
    const Millis times[] = {3000, 1000, 2000, 3000, 1000, 2000, 3000, 1000, 2000};
    for (int i = 0; i < 9 * 4; ++i) {
        clock.set(times[i % 9]);
        created.push_back(must_create(store, ws_a, new_lead("o" + std::to_string(i) + "@example.com")));
    }
    auto expected = created;
    std::sort(expected.begin(), expected.end(), [](const LeadPtr& x, const LeadPtr& y) {
        return x->created_at != y->created_at ? x->created_at > y->created_at : x->id > y->id;
    });
    const auto page = store.list(ws_a, query(1, 100));
    REQUIRE(page.leads.size() == created.size());
    CHECK(page.total == created.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        INFO("position " << i);
        CHECK(page.leads[i]->id == expected[i]->id);
    }
}

TEST_CASE("list with one createdAt for all orders by id desc", "[store]") {
    ManualClock clock;
    clock.set(42);
    LeadStore store(options_with(clock));
    std::vector<LeadId> ids;
    for (int i = 0; i < 50; ++i) ids.push_back(must_create(store, ws_a, new_lead("e" + std::to_string(i) + "@x.io"))->id);
    std::sort(ids.rbegin(), ids.rend());
    CHECK(ids_of(store.list(ws_a, query(1, 100))) == ids);
}

TEST_CASE("list shows current snapshots; updates keep the position", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    clock.set(100);
    const auto older = must_create(store, ws_a, new_lead("older@example.com", "Older"));
    clock.set(200);
    const auto newer = must_create(store, ws_a, new_lead("newer@example.com", "Newer"));
    clock.set(300);
    LeadPatch p;
    p.name = "Older, updated";
    must_update(store, ws_a, older->id, p);
    const auto page = store.list(ws_a, query());
    REQUIRE(page.leads.size() == 2);
    CHECK(page.leads[0]->id == newer->id);  // ordered by createdAt, not updatedAt
    CHECK(page.leads[1]->id == older->id);
    CHECK(page.leads[1]->name == "Older, updated");
    CHECK(page.leads[1]->version == 2);
    CHECK(page.leads[1] == store.get(ws_a, older->id));
}

TEST_CASE("list filters: status, exact source, case-insensitive search on name and email", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    auto add = [&](std::string name, std::string email, Status st, std::optional<std::string> source) {
        NewLead l = new_lead(std::move(email), std::move(name));
        l.status = st;
        l.source = std::move(source);
        return must_create(store, ws_a, std::move(l))->id;
    };
    const auto john = add("John Smith", "john@acme.com", Status::New, "webinar");
    const auto jane = add("Jane Doe", "jane.doe@JOHNSON.org", Status::Qualified, "Webinar");
    const auto bob = add("Bob", "bob@example.com", Status::Qualified, "referral");
    const auto alice = add("Alice JOHNS", "alice@example.com", Status::Lost, std::nullopt);
    must_create(store, ws_b, new_lead("john@acme.com", "John in B"));  // other workspace

    auto matching = [&](ListQuery q) {
        auto ids = ids_of(store.list(ws_a, q));
        std::sort(ids.begin(), ids.end());
        return ids;
    };
    auto sorted = [](std::vector<LeadId> v) {
        std::sort(v.begin(), v.end());
        return v;
    };

    ListQuery q = query();
    q.status = Status::Qualified;
    CHECK(matching(q) == sorted({jane, bob}));
    CHECK(store.list(ws_a, q).total == 2);

    q = query();
    q.source = "webinar";  // case-sensitive: "Webinar" does not match
    CHECK(matching(q) == sorted({john}));
    q.source = "Webinar";
    CHECK(matching(q) == sorted({jane}));
    q.source = "webin";  // exact, not a substring
    CHECK(matching(q).empty());

    q = query();
    q.search = "john";  // name "John Smith", email "john@", email "@JOHNSON", name "JOHNS"
    CHECK(matching(q) == sorted({john, jane, alice}));
    q.search = "JOHN";
    CHECK(matching(q) == sorted({john, jane, alice}));
    q.search = "ExAmPlE.CoM";
    CHECK(matching(q) == sorted({bob, alice}));
    q.search = "N s";  // spans a space in the name
    CHECK(matching(q) == sorted({john}));
    q.search = "nobody";
    CHECK(matching(q).empty());
    CHECK(store.list(ws_a, q).total == 0);

    q = query();
    q.status = Status::Qualified;
    q.search = "doe";
    CHECK(matching(q) == sorted({jane}));
    q.source = "referral";
    CHECK(matching(q).empty());
}

TEST_CASE("list pagination: totals, pages, past the end, huge page numbers", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    for (int i = 0; i < 25; ++i) {
        clock.set(1000 + i);
        must_create(store, ws_a, new_lead("p" + std::to_string(i) + "@example.com"));
    }
    const auto all = ids_of(store.list(ws_a, query(1, 100)));
    REQUIRE(all.size() == 25);

    std::vector<LeadId> concatenated;
    const std::size_t sizes[] = {10, 10, 5, 0};
    for (std::size_t page = 1; page <= 4; ++page) {
        const auto p = store.list(ws_a, query(page, 10));
        INFO("page " << page);
        CHECK(p.total == 25);
        CHECK(p.leads.size() == sizes[page - 1]);
        for (const auto& l : p.leads) concatenated.push_back(l->id);
    }
    CHECK(concatenated == all);

    // limit 1 walks every lead once.
    for (std::size_t page = 1; page <= 25; ++page) {
        const auto p = store.list(ws_a, query(page, 1));
        REQUIRE(p.leads.size() == 1);
        CHECK(p.leads[0]->id == all[page - 1]);
    }

    for (std::size_t huge : {std::size_t{1'000'000'000}, SIZE_MAX / 100 + 2, SIZE_MAX / 10, SIZE_MAX}) {
        INFO("page " << huge);
        const auto p = store.list(ws_a, query(huge, 100));
        CHECK(p.leads.empty());
        CHECK(p.total == 25);
    }

    // Filtered totals count over all pages.
    ListQuery q = query(2, 3);
    q.search = "p1";  // p1, p10..p19 = 11 leads
    const auto filtered = store.list(ws_a, q);
    CHECK(filtered.total == 11);
    CHECK(filtered.leads.size() == 3);
}

TEST_CASE("list and count of an unknown workspace are empty", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    must_create(store, ws_a, new_lead("a@example.com"));
    const auto p = store.list(0x1234, query());
    CHECK(p.leads.empty());
    CHECK(p.total == 0);
    CHECK(store.count(0x1234) == 0);
}

TEST_CASE("count and size follow creates and deletes in several workspaces", "[store]") {
    ManualClock clock;
    LeadStore store(options_with(clock));
    std::vector<LeadPtr> in_a, in_b;
    for (int i = 0; i < 30; ++i) in_a.push_back(must_create(store, ws_a, new_lead("a" + std::to_string(i) + "@x.io")));
    for (int i = 0; i < 12; ++i) in_b.push_back(must_create(store, ws_b, new_lead("b" + std::to_string(i) + "@x.io")));
    CHECK(store.count(ws_a) == 30);
    CHECK(store.count(ws_b) == 12);
    CHECK(store.size() == 42);
    for (int i = 0; i < 30; i += 3) REQUIRE(store.remove(ws_a, in_a[i]->id, std::nullopt).ok());
    CHECK(store.count(ws_a) == 20);
    CHECK(store.list(ws_a, query()).total == 20);
    CHECK(store.count(ws_b) == 12);
    CHECK(store.size() == 32);
}

TEST_CASE("shard and stripe counts are rounded up to powers of two and still work", "[store]") {
    ManualClock clock;
    for (std::size_t n : {0u, 1u, 3u, 5u, 100u}) {
        INFO("shards/stripes " << n);
        StoreOptions o = options_with(clock);
        o.shards = n;
        o.email_stripes = n;
        LeadStore store(o);
        std::vector<LeadPtr> leads;
        for (int i = 0; i < 100; ++i) leads.push_back(must_create(store, ws_a, new_lead("s" + std::to_string(i) + "@x.io")));
        for (const auto& l : leads) CHECK(store.get(ws_a, l->id) == l);
        auto dup = store.create(ws_a, new_lead("S42@X.IO"));
        REQUIRE_FALSE(dup.ok());
        CHECK(dup.error().existing_lead == leads[42]->id);
        CHECK(store.size() == 100);
    }
}

TEST_CASE("email_key folds ASCII case and separates workspaces", "[store]") {
    CHECK(email_key(1, "John@Example.COM") == email_key(1, "john@example.com"));
    CHECK(email_key(1, "john@example.com") != email_key(2, "john@example.com"));
    CHECK(email_key(1, "john@example.com") != email_key(1, "john@example.co"));
    // A workspace id's bytes cannot run into the email: different splits, different keys.
    CHECK(email_key(0x61, "b@c.de") != email_key(0x6162, "@c.de"));
}

TEST_CASE("list equals a brute-force scan after random creates, updates and deletes", "[store][property]") {
    // The status index must follow every status change, delete and recreate; page/limit, totals
    // and each filter combination are compared with a scan of all live leads.
    const auto seed = GENERATE(1u, 2u, 3u, 4u, 5u);
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    ManualClock clock;
    LeadStore store(options_with(clock));
    std::vector<LeadId> live;
    const std::vector<std::string> sources{"web", "ads", "referral"};
    const auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    const auto any_status = [&] { return static_cast<Status>(pick(status_count)); };
    int created = 0;
    for (int step = 0; step < 1500; ++step) {
        if (pick(3) == 0) clock.set(clock.get() + 1);  // many leads share a createdAt
        const auto op = pick(10);
        if (op < 5 || live.empty()) {
            NewLead l = new_lead("p" + std::to_string(created) + "@example.com", (pick(2) ? "Zed " : "Amy ") + std::to_string(created));
            ++created;
            l.status = any_status();
            if (pick(4)) l.source = sources[pick(sources.size())];
            live.push_back(must_create(store, pick(5) ? ws_a : ws_b, std::move(l))->id);
        } else if (op < 8) {
            const auto id = live[pick(live.size())];
            LeadPatch patch;
            patch.status = any_status();
            if (pick(3) == 0) patch.source = std::optional<std::string>(sources[pick(sources.size())]);
            for (auto ws : {ws_a, ws_b}) (void)store.update(ws, id, patch);
        } else {
            const auto i = pick(live.size());
            for (auto ws : {ws_a, ws_b}) (void)store.remove(ws, live[i], std::nullopt);
            live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }

    for (auto ws : {ws_a, ws_b}) {
        std::vector<LeadPtr> all;
        for (auto id : live)
            if (auto lead = store.get(ws, id)) all.push_back(lead);
        std::sort(all.begin(), all.end(), [](const LeadPtr& a, const LeadPtr& b) {
            return std::tie(a->created_at, a->id) > std::tie(b->created_at, b->id);
        });
        for (int variant = 0; variant < 60; ++variant) {
            ListQuery q;
            q.limit = 1 + pick(25);
            q.page = 1 + pick(8);
            if (pick(4)) q.status = any_status();
            if (pick(3) == 0) q.source = sources[pick(sources.size())];
            if (pick(4) == 0) q.search = pick(2) ? "zed" : "AMY 1";
            std::vector<LeadId> expected;
            std::size_t total = 0;
            for (const auto& lead : all) {
                if (q.status && lead->status != *q.status) continue;
                if (q.source && lead->source != *q.source) continue;
                if (q.search) {
                    std::string name = lead->name;
                    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
                    std::string needle = *q.search;
                    std::transform(needle.begin(), needle.end(), needle.begin(), ::tolower);
                    if (name.find(needle) == std::string::npos && lead->email.find(needle) == std::string::npos) continue;
                }
                if (total >= (q.page - 1) * q.limit && expected.size() < q.limit) expected.push_back(lead->id);
                ++total;
            }
            const auto page = store.list(ws, q);
            INFO("ws " << ws << " page " << q.page << " limit " << q.limit << " status "
                       << (q.status ? std::string(to_string(*q.status)) : "-") << " source " << q.source.value_or("-")
                       << " search " << q.search.value_or("-"));
            CHECK(page.total == total);
            CHECK(ids_of(page) == expected);
            for (const auto& lead : page.leads) CHECK(store.get(ws, lead->id) == lead);  // the current snapshot
        }
    }
}

TEST_CASE("a snapshot header's lead count is only a sizing hint: an absurd one restores", "[store][recovery]") {
    // Found by fuzzing the log reader: a header record whose count was damaged but whose
    // checksum matched made restore_header reserve without bound (length_error, or all memory).
    LeadStore store;
    leadd::wal::PayloadWriter header;
    header.u64(42);  // the id counter
    header.u64(std::numeric_limits<std::uint64_t>::max());
    REQUIRE(store.restore_header(header.bytes()));
    NewLead lead;
    lead.name = "After";
    lead.email = "after@example.com";
    CHECK(store.create(ws_a, std::move(lead)).ok());
    CHECK(store.size() == 1);
}

TEST_CASE("order_for_restore: oldest first within each workspace, ties by id, every lead once", "[store][recovery]") {
    std::mt19937 rng(7);
    std::vector<LeadPtr> owned;
    for (int i = 0; i < 3000; ++i) {
        auto lead = std::make_shared<Lead>();
        lead->id = rng();  // ids in no order
        lead->workspace = 1 + rng() % 4;
        lead->created_at = static_cast<Millis>(rng() % 50);  // createdAt ties are common
        owned.push_back(std::move(lead));
    }
    std::vector<const Lead*> leads;
    for (const auto& lead : owned) leads.push_back(lead.get());
    std::shuffle(leads.begin(), leads.end(), rng);
    const auto pointers = [](const std::vector<const Lead*>& of) { return std::multiset<const Lead*>(of.begin(), of.end()); };
    const auto before = pointers(leads);

    LeadStore::order_for_restore(leads);

    CHECK(pointers(leads) == before);
    CHECK(std::is_sorted(leads.begin(), leads.end(), [](const Lead* a, const Lead* b) {
        return std::tie(a->workspace, a->created_at, a->id) < std::tie(b->workspace, b->created_at, b->id);
    }));
}

TEST_CASE("order_for_restore pauses between pieces of every pass, the sort's too, and orders as without", "[store][recovery]") {
    constexpr std::size_t n = 20000;
    std::mt19937 rng(11);
    std::vector<LeadPtr> owned;
    for (std::size_t i = 0; i < n; ++i) {
        auto lead = std::make_shared<Lead>();
        lead->id = rng();
        lead->workspace = 1 + rng() % 3;
        lead->created_at = static_cast<Millis>(rng() % 1000);
        owned.push_back(std::move(lead));
    }
    std::vector<const Lead*> unpaused;
    for (const auto& lead : owned) unpaused.push_back(lead.get());
    std::vector<const Lead*> paused = unpaused;

    std::size_t pauses = 0;
    LeadStore::order_for_restore(paused, [&] { ++pauses; });
    LeadStore::order_for_restore(unpaused);

    CHECK(paused == unpaused);
    // The two passes over the leads pause every 1024 of them: 2 * 19 times. Any comparison sort
    // of n keys makes at least log2(n!) ~ 257 000 comparisons, so pausing every 16384 of them
    // adds at least 15: a sort that never paused would leave 38.
    CHECK(pauses >= 2 * (n / 1024) + 15);
}

TEST_CASE("a cut lists every lead as it was at the cut, and keeps those alive until it ends", "[store][snapshot]") {
    // A cut holds every shard lock at once, and ThreadSanitizer's deadlock detector tracks at
    // most 64 locks held by one thread: fewer shards than the default 64.
    StoreOptions options;
    options.shards = 8;
    LeadStore store(options);
    const LeadPtr a = must_create(store, ws_a, new_lead("a@example.com", "A"));
    const LeadId b = must_create(store, ws_a, new_lead("b@example.com", "B"))->id;
    const LeadId c = must_create(store, ws_b, new_lead("c@example.com", "C"))->id;
    const std::weak_ptr<const Lead> b_at_cut = store.get(ws_a, b);
    const std::weak_ptr<const Lead> c_at_cut = store.get(ws_b, c);
    const auto names = [](const LeadStore::Cut& cut) {
        std::multiset<std::string> out;
        for (const Lead* lead : cut.leads) out.insert(lead->name + "/" + std::to_string(lead->version));
        return out;
    };

    {
        const auto cut = store.cut([] {});
        // Changed after the cut: b renamed (twice: the state at the cut is what stays), c deleted,
        // d created. Written while the cut lives, as a snapshot's writer would be.
        LeadPatch rename;
        rename.name = "B2";
        must_update(store, ws_a, b, rename);
        rename.name = "B3";
        must_update(store, ws_a, b, rename);
        REQUIRE(store.remove(ws_b, c, std::nullopt).ok());
        must_create(store, ws_a, new_lead("d@example.com", "D"));

        CHECK(names(cut) == std::multiset<std::string>{"A/1", "B/1", "C/1"});
        // The states at the cut are held by the store for the cut, not by anything else.
        CHECK_FALSE(b_at_cut.expired());
        CHECK_FALSE(c_at_cut.expired());
        CHECK(std::count(cut.leads.begin(), cut.leads.end(), a.get()) == 1);
    }
    // The cut ended: what only it needed is let go, and the next cut sees the store as it is now.
    CHECK(b_at_cut.expired());
    CHECK(c_at_cut.expired());
    const auto next = store.cut([] {});
    CHECK(names(next) == std::multiset<std::string>{"A/1", "B3/3", "D/1"});
}

TEST_CASE("a cut pauses after each shard's copy, holding no shard, and while its end lets go of the kept states", "[store][snapshot]") {
    StoreOptions options;
    options.shards = 8;
    LeadStore store(options);
    std::vector<LeadId> ids;
    for (int i = 0; i < 64; ++i)  // ids are spread over the shards: every shard gets some
        ids.push_back(must_create(store, ws_a, new_lead("l" + std::to_string(i) + "@example.com", "L"))->id);
    const std::weak_ptr<const Lead> first_at_cut = store.get(ws_a, ids.front());

    // While the cut is taken, another thread renames every lead at each pause: had the cut kept
    // a shard locked, the writer would wait for the cut, which waits for it (so the writers
    // outlive the callback).
    std::vector<std::future<std::size_t>> writers;
    std::size_t in_time = 0;
    std::size_t pauses = 0;
    bool taken = false;
    {
        const auto cut = store.cut([] {}, [&] {
            ++pauses;
            if (taken) return;
            const std::string name = "L" + std::to_string(writers.size() + 1);
            writers.push_back(std::async(std::launch::async, [&store, &ids, name] {
                LeadPatch rename;
                rename.name = name;
                std::size_t done = 0;
                for (const LeadId id : ids) done += store.update(ws_a, id, rename).ok() ? 1 : 0;
                return done;
            }));
            if (writers.back().wait_for(std::chrono::seconds(2)) == std::future_status::ready) ++in_time;
        });
        taken = true;
        std::size_t writes_done = 0;
        for (auto& writer : writers) writes_done += writer.get();

        CHECK(writers.size() == 8);  // a pause after each shard's copy
        CHECK(in_time == writers.size());
        CHECK(writes_done == 8 * ids.size());
        REQUIRE(cut.leads.size() == ids.size());
        for (const Lead* lead : cut.leads) CHECK((lead->name == "L" && lead->version == 1));
        CHECK_FALSE(first_at_cut.expired());  // kept for the cut
    }
    CHECK(first_at_cut.expired());
    CHECK(pauses >= 8 + 8);  // and at least one per shard as the cut ends
}
