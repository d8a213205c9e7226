// SearchIndex at 1 000 000 realistic leads of one workspace ("Maria Gonzalez",
// "maria.gonzalez42@gmail.com"): rare and common needles of each length class, the index's bytes
// per lead, updates, and the pause of a compaction. By hand:
//   build/release/load/micro/leadd_micro --benchmark_filter=SearchIndex

#include "leadd/store/search_index.hpp"

#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace leadd;

constexpr std::size_t lead_count = 1'000'000;

constexpr std::array first_names = {"Maria", "James", "John", "Robert", "Michael", "William", "David", "Richard",
                                    "Joseph", "Thomas", "Linda", "Barbara", "Elizabeth", "Jennifer", "Susan",
                                    "Jessica", "Sarah", "Karen", "Nancy", "Lisa", "Wei", "Priya", "Ahmed",
                                    "Olga", "Kenji", "Fatima", "Carlos", "Sofia", "Lukas", "Chloe"};
constexpr std::array last_names = {"Gonzalez", "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia",
                                   "Miller", "Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson",
                                   "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez",
                                   "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis",
                                   "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen",
                                   "Patel", "Kowalski", "Schmidt", "Tanaka", "Ivanova", "Okafor", "Dubois"};
constexpr std::array domains = {"example.com", "gmail.com", "yahoo.com", "outlook.com", "acme-corp.io",
                                "newtech.co", "hotmail.com", "company.org"};

// One lead in 10 000 has this surname: the rare needle.
constexpr const char* rare_surname = "Zyskowski";

struct IndexedLeads {
    std::vector<store::LeadPtr> leads;
    store::SearchIndex index;
};

IndexedLeads& million_leads() {
    static IndexedLeads built = [] {
        IndexedLeads out;
        std::mt19937_64 rng(42);
        out.leads.reserve(lead_count);
        for (std::size_t i = 0; i < lead_count; ++i) {
            auto lead = std::make_shared<store::Lead>();
            lead->id = i + 1;
            const std::string first = first_names[rng() % first_names.size()];
            const std::string last = rng() % 10'000 == 0 ? rare_surname : last_names[rng() % last_names.size()];
            lead->name = first + " " + last;
            std::string local = first + "." + last + std::to_string(rng() % 1000);
            for (char& c : local) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            lead->email = local + "@" + domains[rng() % domains.size()];
            out.index.put(*lead, nullptr);
            out.leads.push_back(std::move(lead));
        }
        return out;
    }();
    return built;
}

void BM_SearchIndexMatch(benchmark::State& state, const char* needle) {
    const IndexedLeads& data = million_leads();
    std::size_t matches = 0;
    for (auto _ : state) {
        matches = 0;
        data.index.for_each_match(needle, [&matches](const store::Lead&) { ++matches; });
        benchmark::DoNotOptimize(matches);
    }
    state.counters["matches"] = static_cast<double>(matches);
    state.counters["index_bytes_per_lead"] = static_cast<double>(data.index.memory_bytes()) / lead_count;
}
BENCHMARK_CAPTURE(BM_SearchIndexMatch, rare_surname, "zyskowski")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SearchIndexMatch, rare_email, "maria.gonzalez417@")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SearchIndexMatch, absent, "qxj")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SearchIndexMatch, common_son, "son")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SearchIndexMatch, common_gmail, "gmail")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SearchIndexMatch, common_example, "Example.com")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SearchIndexMatch, two_bytes_common, "ar")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SearchIndexMatch, two_bytes_rare, "zy")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SearchIndexMatch, one_byte, "z")->Unit(benchmark::kMicrosecond);

// A status change (same name and email) and a rename, at 1M leads, each including the copy of
// the lead the store makes; runs after the searches, as it changes the leads they search.
void BM_SearchIndexUpdate(benchmark::State& state) {
    IndexedLeads& data = million_leads();
    const bool rename = state.range(0) != 0;
    std::size_t i = 0;
    for (auto _ : state) {
        const store::LeadPtr& old = data.leads[i++ % lead_count];
        auto next = std::make_shared<store::Lead>(*old);
        if (rename) next->name += "x";
        next->status = store::Status::Contacted;
        store::LeadPtr shared = std::move(next);
        data.index.put(*shared, old.get());
        data.leads[(i - 1) % lead_count] = std::move(shared);
    }
}
BENCHMARK(BM_SearchIndexUpdate)->ArgName("rename")->Arg(0)->Arg(1);

// The erase that finds tombstones outnumbering live slots and compacts a 1M-slot index: the pause
// a workspace of 1M leads sees once per ~1M erases or renames.
void BM_SearchIndexCompaction(benchmark::State& state) {
    const IndexedLeads& data = million_leads();
    const std::size_t half = lead_count / 2;
    for (auto _ : state) {
        state.PauseTiming();
        auto index = std::make_unique<store::SearchIndex>();
        for (const store::LeadPtr& lead : data.leads) index->put(*lead, nullptr);
        for (std::size_t i = 0; i < half; ++i) index->erase(*data.leads[i]);  // tombstones = live: no compaction yet
        state.ResumeTiming();
        index->erase(*data.leads[half]);
        state.PauseTiming();
        index.reset();
        state.ResumeTiming();
    }
}
BENCHMARK(BM_SearchIndexCompaction)->Iterations(2)->Unit(benchmark::kMillisecond);

}  // namespace
