// LeadStore under real threads: email uniqueness, no lost updates, strictly increasing
// updatedAt, an email index that agrees with the leads, and consistent counts.
// Also built and run under ThreadSanitizer (LEADD_SANITIZE=thread), so sizes stay modest.

#include "leadd/store/clock.hpp"
#include "leadd/store/lead_store.hpp"

#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <cctype>
#include <latch>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace json = boost::json;
using namespace leadd::store;

namespace {

constexpr int thread_count = 8;

std::string fold(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Upper-cases the letters of `s` picked by the bits of `mask`.
std::string case_variant(std::string s, unsigned mask) {
    unsigned bit = 0;
    for (auto& c : s) {
        if (std::isalpha(static_cast<unsigned char>(c))) {
            if (mask & (1u << (bit % 32))) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            ++bit;
        }
    }
    return s;
}

NewLead new_lead(std::string email, std::string name = "Concurrent") {
    NewLead l;
    l.name = std::move(name);
    l.email = std::move(email);
    return l;
}

// Runs `body(thread_index)` on `n` threads released together.
template <class Body>
void run_threads(int n, Body body) {
    std::latch start(n);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int t = 0; t < n; ++t)
        threads.emplace_back([&, t] {
            start.arrive_and_wait();
            body(t);
        });
    for (auto& th : threads) th.join();
}

ListQuery all_of_page(std::size_t page = 1) {
    ListQuery q;
    q.page = page;
    q.limit = 100;
    return q;
}

// Every lead of the workspace, through list's pages.
std::vector<LeadPtr> list_everything(const LeadStore& store, WorkspaceId ws) {
    std::vector<LeadPtr> out;
    for (std::size_t page = 1;; ++page) {
        auto p = store.list(ws, all_of_page(page));
        if (p.leads.empty()) break;
        out.insert(out.end(), p.leads.begin(), p.leads.end());
    }
    return out;
}

}  // namespace

TEST_CASE("concurrent creates of one email: exactly one wins, the rest name the winner", "[concurrency]") {
    LeadStore store;
    constexpr int per_thread = 25;  // 200 creates per round
    constexpr int rounds = 10;
    for (int round = 0; round < rounds; ++round) {
        const WorkspaceId ws = 100 + static_cast<WorkspaceId>(round % 3);
        const std::string email = "race" + std::to_string(round) + "@example.com";
        struct Outcome {
            bool ok;
            LeadId id;  // the created lead, or the existing_lead of the refusal
            StoreErrc code;
        };
        std::vector<std::vector<Outcome>> outcomes(thread_count);
        run_threads(thread_count, [&](int t) {
            for (int i = 0; i < per_thread; ++i) {
                auto r = store.create(ws, new_lead(case_variant(email, static_cast<unsigned>(t * per_thread + i))));
                if (r.ok()) outcomes[t].push_back({true, r.value()->id, StoreErrc::LeadNotFound});
                else outcomes[t].push_back({false, r.error().existing_lead, r.error().code});
            }
        });

        std::vector<LeadId> winners;
        for (const auto& list : outcomes)
            for (const auto& o : list)
                if (o.ok) winners.push_back(o.id);
        INFO("round " << round);
        REQUIRE(winners.size() == 1);
        const LeadId winner = winners[0];
        std::size_t refusals = 0;
        for (const auto& list : outcomes)
            for (const auto& o : list) {
                if (o.ok) continue;
                ++refusals;
                CHECK(o.code == StoreErrc::DuplicateEmail);
                CHECK(o.id == winner);
            }
        CHECK(refusals == thread_count * per_thread - 1);
        const auto page = store.list(ws, all_of_page());
        std::size_t holders = 0;
        for (const auto& l : page.leads) holders += fold(l->email) == email;
        CHECK(holders == 1);
        CHECK(store.get(ws, winner) != nullptr);
    }
    CHECK(store.size() == rounds);
}

TEST_CASE("concurrent merges into one lead: no lost update, distinct increasing updatedAt", "[concurrency]") {
    // A frozen clock: distinct updatedAt values must come from the store's stamping alone.
    for (bool frozen : {true, false}) {
        INFO((frozen ? "frozen clock" : "real clock"));
        StoreOptions options;
        if (frozen) options.clock = [] { return Millis{1'700'000'000'000}; };
        LeadStore store(options);
        constexpr WorkspaceId ws = 7;
        auto created = store.create(ws, new_lead("merge@example.com"));
        REQUIRE(created.ok());
        const LeadPtr lead = created.value();

        constexpr int per_thread = 25;  // 200 updates
        std::vector<std::vector<LeadPtr>> returned(thread_count);
        std::atomic<int> failures{0};
        run_threads(thread_count, [&](int t) {
            for (int i = 0; i < per_thread; ++i) {
                const int k = t * per_thread + i;
                LeadPatch p;
                p.metadata_merge = json::object{{"k" + std::to_string(k), k}};
                auto r = store.update(ws, lead->id, p);
                if (r.ok()) returned[t].push_back(r.value());
                else failures.fetch_add(1);
            }
        });
        REQUIRE(failures.load() == 0);

        std::vector<LeadPtr> all;
        for (auto& v : returned) all.insert(all.end(), v.begin(), v.end());
        REQUIRE(all.size() == 200);

        std::set<Millis> stamps;
        std::set<std::uint64_t> versions;
        for (const auto& l : all) {
            stamps.insert(l->updated_at);
            versions.insert(l->version);
            CHECK(l->updated_at > lead->updated_at);
            CHECK(l->created_at == lead->created_at);
            // The snapshot a writer got back holds exactly the merges committed up to it.
            CHECK(l->metadata.object().size() == l->version - 1);
        }
        CHECK(stamps.size() == 200);
        CHECK(versions.size() == 200);
        CHECK(*versions.begin() == 2);
        CHECK(*versions.rbegin() == 201);

        // updatedAt follows commit (version) order.
        std::sort(all.begin(), all.end(), [](const LeadPtr& a, const LeadPtr& b) { return a->version < b->version; });
        for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1]->updated_at < all[i]->updated_at);

        const auto final = store.get(ws, lead->id);
        REQUIRE(final);
        CHECK(final->version == 201);
        CHECK(final->updated_at == *stamps.rbegin());
        const auto final_metadata = final->metadata.object();
        REQUIRE(final_metadata.size() == 200);
        for (int k = 0; k < 200; ++k) {
            const auto* v = final_metadata.if_contains("k" + std::to_string(k));
            REQUIRE(v);
            CHECK(v->to_number<int>() == k);
        }
        if (frozen) CHECK(final->updated_at == lead->updated_at + 200);
    }
}

TEST_CASE("concurrent email swaps keep emails unique and the index in agreement", "[concurrency]") {
    // The clock is called while an update is being applied; sleeping in it now and then hands
    // the CPU to the other threads in the middle of a change, while the changes that do not
    // sleep race past it: the adversarial schedule this test wants.
    StoreOptions options;
    options.clock = [] {
        thread_local unsigned calls = 0;
        if (++calls % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
        return now_millis();
    };
    LeadStore store(options);
    constexpr WorkspaceId ws = 42;
    constexpr int lead_count = 4;
    constexpr int pool_size = 6;  // more addresses than leads, so moves succeed
    std::vector<std::string> pool;
    for (int i = 0; i < pool_size; ++i) pool.push_back("user" + std::to_string(i) + "@swap.example.com");
    std::vector<LeadId> leads;
    for (int i = 0; i < lead_count; ++i) {
        auto r = store.create(ws, new_lead(pool[i], "Lead " + std::to_string(i)));
        REQUIRE(r.ok());
        leads.push_back(r.value()->id);
    }
    // Another workspace holding the same addresses must not interfere.
    for (int i = 0; i < pool_size; ++i) REQUIRE(store.create(ws + 1, new_lead(pool[i])).ok());

    constexpr int writers = 6;
    constexpr int iterations = 2000;
    std::atomic<bool> writing{true};
    std::atomic<int> successes{0};
    std::atomic<int> bad_refusals{0};
    std::atomic<int> snapshots{0};
    std::atomic<int> snapshot_violations{0};
    std::mutex report_mu;
    std::string first_violation;

    std::latch start(writers + 1);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w)
        threads.emplace_back([&, w] {
            std::mt19937 rng(static_cast<unsigned>(w) * 7919u + 1u);
            start.arrive_and_wait();
            for (int i = 0; i < iterations; ++i) {
                const int li = static_cast<int>(rng() % lead_count);
                std::string email;
                if (i % 3 == 0) {
                    // A swap attempt: take the current email of another lead, in another case.
                    const LeadPtr other = store.get(ws, leads[(li + 1 + rng() % (lead_count - 1)) % lead_count]);
                    email = case_variant(other->email, static_cast<unsigned>(rng()));
                } else {
                    email = case_variant(pool[rng() % pool_size], static_cast<unsigned>(rng()));
                }
                LeadPatch p;
                p.email = email;
                auto r = store.update(ws, leads[li], p);
                if (r.ok()) {
                    successes.fetch_add(1);
                    if (r.value()->email != email) bad_refusals.fetch_add(1);
                } else if (r.error().code != StoreErrc::DuplicateEmail || r.error().existing_lead == leads[li] ||
                           std::find(leads.begin(), leads.end(), r.error().existing_lead) == leads.end()) {
                    bad_refusals.fetch_add(1);
                }
            }
        });
    threads.emplace_back([&] {
        start.arrive_and_wait();
        while (writing.load()) {
            const auto page = store.list(ws, all_of_page());
            snapshots.fetch_add(1);
            std::set<std::string> folded;
            std::set<LeadId> ids;
            for (const auto& l : page.leads) {
                folded.insert(fold(l->email));
                ids.insert(l->id);
            }
            if (folded.size() != page.leads.size() || ids.size() != lead_count || page.total != lead_count) {
                snapshot_violations.fetch_add(1);
                std::lock_guard lock(report_mu);
                if (first_violation.empty())
                    for (const auto& l : page.leads)
                        first_violation += l->email + " (lead " + std::to_string(l->id) + ", v" +
                                           std::to_string(l->version) + ") ";
            }
        }
    });
    for (int w = 0; w < writers; ++w) threads[w].join();
    writing.store(false);
    threads.back().join();

    INFO("successful moves: " << successes.load() << ", list snapshots: " << snapshots.load());
    INFO("first inconsistent snapshot: " << first_violation);
    CHECK(successes.load() > 0);
    CHECK(bad_refusals.load() == 0);
    CHECK(snapshot_violations.load() == 0);

    // At the end: distinct folded emails, all from the pool...
    std::map<std::string, LeadId> holder;
    for (LeadId id : leads) {
        const auto l = store.get(ws, id);
        REQUIRE(l);
        CHECK(holder.emplace(fold(l->email), id).second);
        CHECK(std::find(pool.begin(), pool.end(), fold(l->email)) != pool.end());
    }
    CHECK(holder.size() == lead_count);
    // ...and the index agrees: each held address names exactly its holder, each free one is free.
    for (std::size_t i = 0; i < pool.size(); ++i) {
        const std::string probe = case_variant(pool[i], 0x5u + static_cast<unsigned>(i));
        auto r = store.create(ws, new_lead(probe));
        INFO(probe);
        if (auto it = holder.find(pool[i]); it != holder.end()) {
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().code == StoreErrc::DuplicateEmail);
            CHECK(r.error().existing_lead == it->second);
        } else {
            REQUIRE(r.ok());
            CHECK(store.remove(ws, r.value()->id, std::nullopt).ok());
        }
    }
    CHECK(store.count(ws) == lead_count);
    CHECK(store.count(ws + 1) == pool_size);
}

TEST_CASE("prefetches by id beside creates that grow the id tables: every lead created is found", "[concurrency]") {
    // The prefetches read a table's place without the shard's lock while creates grow the tables
    // from 16 slots through several doublings: under ThreadSanitizer a torn or unsynchronized
    // read of it is a failure of this case.
    LeadStore store;
    constexpr WorkspaceId ws = 7;
    constexpr std::size_t per_creator = 2000;
    constexpr int creators = thread_count / 2;
    std::vector<std::atomic<LeadId>> published(creators * per_creator);  // 0 until created
    std::atomic<int> missing{0};
    run_threads(thread_count, [&](int t) {
        if (t < creators) {
            for (std::size_t i = 0; i < per_creator; ++i) {
                auto r = store.create(ws, new_lead("p" + std::to_string(t) + "-" + std::to_string(i) + "@x.io"));
                if (!r.ok()) {
                    missing.fetch_add(1);
                    continue;
                }
                published[static_cast<std::size_t>(t) * per_creator + i].store(r.value()->id, std::memory_order_release);
            }
            return;
        }
        std::mt19937_64 rng(static_cast<std::uint64_t>(t));
        for (std::size_t i = 0; i < 2 * per_creator; ++i) {
            store.prefetch(rng());  // any id, mostly no lead's
            const LeadId seen = published[rng() % published.size()].load(std::memory_order_acquire);
            if (seen == 0) continue;
            store.prefetch(seen);
            if (!store.get(ws, seen)) missing.fetch_add(1);
        }
    });
    CHECK(missing.load() == 0);
    std::size_t found = 0;
    for (const auto& id : published) found += store.get(ws, id.load()) != nullptr;
    CHECK(found == published.size());
}

TEST_CASE("concurrent creates, deletes and lists in several workspaces keep counts consistent", "[concurrency]") {
    LeadStore store;
    constexpr int workspaces = 4;
    constexpr int iterations = 400;
    std::vector<std::vector<LeadId>> survivors(thread_count);
    std::atomic<int> list_violations{0};
    std::atomic<int> shared_wins{0};
    std::atomic<int> shared_snapshots{0};
    std::atomic<int> shared_duplicates{0};

    run_threads(thread_count, [&](int t) {
        const WorkspaceId ws = 1000 + static_cast<WorkspaceId>(t % workspaces);
        std::mt19937 rng(static_cast<unsigned>(t) + 99u);
        std::vector<LeadId> mine;
        for (int i = 0; i < iterations; ++i) {
            auto r = store.create(ws, new_lead("t" + std::to_string(t) + "-" + std::to_string(i) + "@x.io"));
            if (!r.ok()) {
                list_violations.fetch_add(1);  // unique addresses never collide
                continue;
            }
            mine.push_back(r.value()->id);
            if (i % 3 == 2) {
                const std::size_t victim = rng() % mine.size();
                if (!store.remove(ws, mine[victim], std::nullopt).ok()) list_violations.fetch_add(1);
                mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(victim));
            }
            // An address every thread of the workspace fights over, created and deleted again.
            auto shared = store.create(ws, new_lead(case_variant("shared@x.io", rng())));
            if (shared.ok()) {
                shared_wins.fetch_add(1);
                if (!store.remove(ws, shared.value()->id, std::nullopt).ok()) list_violations.fetch_add(1);
            } else if (shared.error().code != StoreErrc::DuplicateEmail) {
                list_violations.fetch_add(1);
            }
            {
                // At no point may a list show two holders of the contested address.
                ListQuery q = all_of_page();
                q.search = "shared@x.io";
                const auto holders = store.list(ws, q);
                shared_snapshots.fetch_add(1);
                if (holders.total > 1 || holders.leads.size() > 1) shared_duplicates.fetch_add(1);
            }
            if (i % 10 == 0) {
                ListQuery q = all_of_page(1 + rng() % 3);
                q.limit = 20;
                const auto page = store.list(ws, q);
                bool ok = page.leads.size() <= 20;
                for (std::size_t k = 0; k < page.leads.size(); ++k) {
                    ok = ok && page.leads[k]->workspace == ws;
                    if (k > 0) {
                        const auto& a = *page.leads[k - 1];
                        const auto& b = *page.leads[k];
                        ok = ok && (a.created_at > b.created_at || (a.created_at == b.created_at && a.id > b.id));
                    }
                }
                if (!ok) list_violations.fetch_add(1);
            }
        }
        survivors[t] = std::move(mine);
    });

    CHECK(list_violations.load() == 0);
    CHECK(shared_wins.load() > 0);
    INFO("lists of the contested address: " << shared_snapshots.load());
    CHECK(shared_duplicates.load() == 0);
    std::size_t total = 0;
    for (int w = 0; w < workspaces; ++w) {
        const WorkspaceId ws = 1000 + static_cast<WorkspaceId>(w);
        std::set<LeadId> expected;
        for (int t = w; t < thread_count; t += workspaces) expected.insert(survivors[t].begin(), survivors[t].end());
        INFO("workspace " << ws);
        CHECK(store.count(ws) == expected.size());
        CHECK(store.list(ws, all_of_page()).total == expected.size());
        std::set<LeadId> listed;
        for (const auto& l : list_everything(store, ws)) listed.insert(l->id);
        CHECK(listed == expected);
        for (LeadId id : expected) CHECK(store.get(ws, id) != nullptr);
        // The contested address ended free.
        auto probe = store.create(ws, new_lead("SHARED@x.io"));
        CHECK(probe.ok());
        if (probe.ok()) CHECK(store.remove(ws, probe.value()->id, std::nullopt).ok());
        total += expected.size();
    }
    CHECK(store.size() == total);
}
