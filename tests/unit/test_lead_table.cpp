// LeadTable: a shard's id -> lead map, against std::unordered_map doing the same operations.

#include "leadd/store/lead_table.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <set>
#include <unordered_map>
#include <vector>

using leadd::store::Lead;
using leadd::store::LeadId;
using leadd::store::LeadPtr;
using leadd::store::LeadTable;

namespace {

LeadPtr lead_numbered(std::uint64_t n) {
    auto lead = std::make_shared<Lead>();
    lead->version = n;  // which lead an entry holds
    return lead;
}

// Every id of `pool` is found in `table` exactly when the model has it, holding the same lead,
// and iteration visits the model's entries, each once.
void require_same(const LeadTable& table, const std::unordered_map<LeadId, LeadPtr>& model,
                  const std::vector<LeadId>& pool) {
    REQUIRE(table.size() == model.size());
    for (const LeadId id : pool) {
        const LeadPtr* found = table.find(id);
        const auto expected = model.find(id);
        REQUIRE((found != nullptr) == (expected != model.end()));
        if (found) REQUIRE(found->get() == expected->second.get());
    }
    std::size_t visited = 0;
    table.for_each([&](LeadId id, const LeadPtr& lead) {
        ++visited;
        const auto expected = model.find(id);
        REQUIRE(expected != model.end());
        REQUIRE(lead.get() == expected->second.get());
    });
    REQUIRE(visited == model.size());
    // append_leads (a cut's copy) gives the same leads, after what `out` held.
    std::vector<const Lead*> appended{nullptr};
    table.append_leads(appended);
    REQUIRE(appended.size() == 1 + model.size());
    REQUIRE(appended.front() == nullptr);
    std::multiset<const Lead*> expected;
    for (const auto& [id, lead] : model) expected.insert(lead.get());
    REQUIRE(std::multiset<const Lead*>(appended.begin() + 1, appended.end()) == expected);
}

}  // namespace

TEST_CASE("a lead table answers as a map does through inserts, replacements, erases and growth", "[store][lead_table]") {
    // A small pool of ids, inserted and erased at random many times over: the table stays near
    // its 3/4 load, so runs of occupied slots are long, wrap past the last slot, and erases
    // inside them must shift the rest of the run back for later lookups to find it.
    const auto seed = GENERATE(1u, 2u, 3u, 4u);
    std::mt19937_64 random(seed);
    std::vector<LeadId> pool;
    for (std::size_t i = 0; i < 200; ++i) pool.push_back(i < 4 ? i : random());  // 0 is an id like any other
    LeadTable table;
    std::unordered_map<LeadId, LeadPtr> model;
    std::uint64_t made = 0;
    for (int step = 0; step < 20'000; ++step) {
        const LeadId id = pool[random() % pool.size()];
        switch (random() % 4) {
        case 0: {
            const LeadPtr lead = lead_numbered(++made);
            const auto [entry, fresh] = table.try_emplace(id, lead);
            const auto [expected, model_fresh] = model.try_emplace(id, lead);
            REQUIRE(fresh == model_fresh);
            REQUIRE(entry->get() == expected->second.get());  // an existing entry is kept
            break;
        }
        case 1: {
            const LeadPtr lead = lead_numbered(++made);
            table.insert_or_assign(id, lead);
            model.insert_or_assign(id, lead);
            break;
        }
        default:
            REQUIRE(table.erase(id) == (model.erase(id) == 1));
            break;
        }
        if (step % 97 == 0) require_same(table, model, pool);
    }
    require_same(table, model, pool);
    // Empty again, and usable.
    for (const LeadId id : pool) table.erase(id);
    model.clear();
    require_same(table, model, pool);
    REQUIRE(table.try_emplace(pool[7], lead_numbered(1)).second);
    REQUIRE(table.contains(pool[7]));
}

TEST_CASE("a lead table grows only past its max load, and reserve makes room ahead", "[store][lead_table]") {
    LeadTable table;
    REQUIRE(table.max_load() == 0);
    REQUIRE(table.find(42) == nullptr);  // empty: nothing allocated, nothing found
    REQUIRE_FALSE(table.erase(42));
    table.prefetch(42);                  // and no place to ask for
    std::vector<const Lead*> none;
    table.append_leads(none);
    REQUIRE(none.empty());

    table.reserve(1000);
    const std::size_t room = table.max_load();
    REQUIRE(room == 2048 / 4 * 3);  // the smallest power of two whose 3/4 holds 1000
    std::mt19937_64 random(7);
    std::vector<LeadId> ids;
    for (std::size_t i = 0; i < room; ++i) ids.push_back(random());
    for (const LeadId id : ids) table.try_emplace(id, lead_numbered(id));
    REQUIRE(table.max_load() == room);  // filled to its max load without growing
    const LeadPtr* first = table.find(ids.front());
    REQUIRE(first != nullptr);

    // make_room_staggered grows a table early with reserve(max_load + 1): one doubling.
    table.reserve(room + 1);
    REQUIRE(table.max_load() == room * 2);
    for (const LeadId id : ids) {
        REQUIRE(table.find(id) != nullptr);
        REQUIRE((*table.find(id))->version == id);
    }
    table.prefetch(ids.front());  // any id, present or not: changes nothing
    table.prefetch(~ids.front());
    REQUIRE(table.size() == room);
}

TEST_CASE("a full lead table grows for a new entry only, not for a replacement", "[store][lead_table]") {
    LeadTable table;
    table.reserve(12);  // 16 slots: 12 entries fit
    REQUIRE(table.max_load() == 12);
    for (LeadId id = 1; id <= 12; ++id) table.try_emplace(id, lead_numbered(id));
    table.insert_or_assign(5, lead_numbered(500));  // a replay of a change of lead 5
    REQUIRE(table.max_load() == 12);
    REQUIRE((*table.find(5))->version == 500);
    REQUIRE_FALSE(table.try_emplace(7, lead_numbered(700)).second);
    REQUIRE(table.max_load() == 12);
    REQUIRE(table.try_emplace(13, lead_numbered(13)).second);  // a new one: the table doubles
    REQUIRE(table.max_load() == 24);
    for (LeadId id = 1; id <= 13; ++id) REQUIRE(table.contains(id));
}
