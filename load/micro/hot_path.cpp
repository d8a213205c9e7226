// Micro-benchmarks of what one request costs inside leadd, below HTTP: parsing and validating a
// create body, rendering a lead, merging metadata, the store at 10k and 1M leads, the email
// uniqueness check, and appending to the write-ahead log. Run by load/bench.py; by hand:
//   build/release/load/micro/leadd_micro --benchmark_filter=Store
// Timings live here and in load/, never in pass/fail tests.

#include "leadd/api/json_lead.hpp"
#include "leadd/api/validation.hpp"
#include "leadd/http/envelope.hpp"
#include "leadd/ops/thread_priority.hpp"
#include "leadd/store/lead_codec.hpp"
#include "leadd/store/lead_store.hpp"
#include "leadd/store/merge_patch.hpp"
#include "leadd/wal/file_system.hpp"
#include "leadd/wal/format.hpp"
#include "leadd/wal/log.hpp"

#include <benchmark/benchmark.h>
#include <boost/json/parse.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unistd.h>
#include <variant>
#include <vector>

namespace {

namespace json = boost::json;
using namespace leadd;

constexpr store::WorkspaceId workspace = 0x0123456789abcdefULL;

// The body load/create.lua sends.
const std::string create_body =
    R"({"name":"Load Test 42","email":"lt-1700000000-0-12345-42@example.com",)"
    R"("phone":"+1-555-456-7890","source":"wrk","metadata":{"company":"New Tech Corp","seq":42}})";

store::NewLead new_lead(std::size_t i) {
    store::NewLead lead;
    lead.name = "Seed Lead " + std::to_string(i);
    lead.email = "seed-" + std::to_string(i) + "@example.com";
    lead.phone = "+1-555-456-7890";
    lead.source = "webinar";
    lead.status = static_cast<store::Status>(i % 6);
    lead.metadata = json::parse(R"({"company":"New Tech Corp","employees":250,"tags":["b2b","q3"]})").as_object();
    return lead;
}

// load/update.lua's patch: a status and a metadata merge (same keys every time, so a lead's
// metadata does not grow however often it is patched).
store::LeadPatch update_patch(std::uint64_t n) {
    store::LeadPatch patch;
    patch.status = static_cast<store::Status>(n % 6);
    json::object merge;
    merge["notes"] = "Follow up scheduled for next week";
    merge["touches"] = n;
    patch.metadata_merge = std::move(merge);
    return patch;
}

// One store per size, filled once and shared by every benchmark that asks for that size.
struct FilledStore {
    std::unique_ptr<store::LeadStore> store = std::make_unique<store::LeadStore>();
    std::vector<store::LeadId> ids;
    std::vector<std::string> emails;
};

FilledStore& filled_store(std::size_t leads) {
    static std::map<std::size_t, FilledStore> stores;
    auto [it, fresh] = stores.try_emplace(leads);
    if (fresh) {
        it->second.ids.reserve(leads);
        for (std::size_t i = 0; i < leads; ++i) {
            auto created = it->second.store->create(workspace, new_lead(i));
            if (!created) std::abort();
            it->second.ids.push_back(created.value()->id);
            it->second.emails.push_back(created.value()->email);
        }
    }
    return it->second;
}

// Random indexes drawn up front, so the benchmark loop measures the store, not the generator.
std::vector<std::uint32_t> random_indexes(std::size_t bound, std::size_t count = 1 << 16) {
    std::mt19937_64 rng(42);
    std::vector<std::uint32_t> out(count);
    for (auto& i : out) i = static_cast<std::uint32_t>(rng() % bound);
    return out;
}

void BM_ParseValidateCreate(benchmark::State& state) {
    for (auto _ : state) {
        json::value parsed = json::parse(create_body);
        auto command = api::validate_create(parsed.as_object());
        if (!std::holds_alternative<store::NewLead>(command)) state.SkipWithError("body refused");
        benchmark::DoNotOptimize(command);
    }
    state.SetBytesProcessed(state.iterations() * create_body.size());
}
BENCHMARK(BM_ParseValidateCreate);

// What a GET costs the first time a lead version is read (later GETs hit the render cache).
void BM_RenderLead(benchmark::State& state) {
    auto& filled = filled_store(10'000);
    const store::LeadPtr lead = filled.store->get(workspace, filled.ids[0]);
    std::size_t bytes = 0;
    for (auto _ : state) {
        std::string text = api::render_lead_json(*lead);
        bytes += text.size();
        benchmark::DoNotOptimize(text);
    }
    state.SetBytesProcessed(bytes);
}
BENCHMARK(BM_RenderLead);

void BM_RenderLeadCached(benchmark::State& state) {
    auto& filled = filled_store(10'000);
    const store::LeadPtr lead = filled.store->get(workspace, filled.ids[0]);
    std::string out;
    api::append_read_lead_json(out, *lead);  // twice: the second read keeps the rendering
    api::append_read_lead_json(out, *lead);
    for (auto _ : state) {
        out.clear();
        api::append_read_lead_json(out, *lead);
        benchmark::DoNotOptimize(out.data());
    }
}
BENCHMARK(BM_RenderLeadCached);

void BM_MergePatch(benchmark::State& state) {
    json::object target = new_lead(0).metadata.object();
    const json::object patch = update_patch(7).metadata_merge.value();
    for (auto _ : state) {
        store::apply_merge_patch(target, patch);  // same keys each time: the target stays the same size
        benchmark::DoNotOptimize(target);
    }
}
BENCHMARK(BM_MergePatch);

void BM_StoreGet(benchmark::State& state) {
    auto& filled = filled_store(static_cast<std::size_t>(state.range(0)));
    const auto picks = random_indexes(filled.ids.size());
    std::size_t n = 0;
    for (auto _ : state) {
        auto lead = filled.store->get(workspace, filled.ids[picks[n++ & 0xffff]]);
        benchmark::DoNotOptimize(lead);
    }
}
BENCHMARK(BM_StoreGet)->Arg(10'000)->Arg(1'000'000);

// A GET by id on a fresh random pick each time (at 1M leads nearly every lead cold, as in a wrk
// run of load/get.lua over a million seeded leads): `read` gets the lead the store returns.
// Always store_gets picks, so two builds read the same leads.
constexpr std::size_t store_gets = 1 << 18;

template <class Read>
void get_fresh_picks(benchmark::State& state, Read read) {
    auto& filled = filled_store(static_cast<std::size_t>(state.range(0)));
    const auto picks = random_indexes(filled.ids.size(), store_gets);
    std::size_t n = 0;
    for (auto _ : state) read(filled.store->get(workspace, filled.ids[picks[n++]]));
}

// A GET's reads of the store: the lead, then its version (the ETag) and its rendering's slot,
// both in its last line.
void BM_StoreGetFresh(benchmark::State& state) {
    get_fresh_picks(state, [](const store::LeadPtr& lead) {
        benchmark::DoNotOptimize(lead->version);
        benchmark::DoNotOptimize(lead->json.peek());
    });
}
BENCHMARK(BM_StoreGetFresh)->Arg(10'000)->Arg(1'000'000)->Iterations(store_gets);

// A GET's whole answer: the store's reads, then the body (the envelope around the lead's JSON),
// as the handler makes it. At 1M leads nearly every pick is the lead's first read (its first
// rendering, and whatever keeping it costs); about one pick in eight repeats an earlier one.
// One pass per process: a second finds every lead read before.
void BM_ReadAnswerFresh(benchmark::State& state) {
    get_fresh_picks(state, [](const store::LeadPtr& lead) {
        std::string body = http::success_envelope_head(api::lead_json_room(*lead));
        api::append_read_lead_json(body, *lead);
        http::Response answer = http::success_response_built(200, std::move(body));
        benchmark::DoNotOptimize(answer.body.data());
    });
}
BENCHMARK(BM_ReadAnswerFresh)->Arg(10'000)->Arg(1'000'000)->Iterations(store_gets);

// A fixed number of updates, each of a fresh random pick: at 1M leads nearly every one is the
// lead's first (as in a wrk run of load/update.lua over a million seeded leads), and two builds
// do the same work. Letting the iterations follow the speed, over 65 536 picks reused, made the
// faster build update each lead more often and so hit warmer memory (a 4x "gain" of nothing).
constexpr std::size_t store_updates = 1 << 18;

void BM_StoreUpdate(benchmark::State& state) {
    auto& filled = filled_store(static_cast<std::size_t>(state.range(0)));
    const auto picks = random_indexes(filled.ids.size(), store_updates);
    std::vector<store::LeadPatch> patches;
    for (std::uint64_t i = 0; i < 64; ++i) patches.push_back(update_patch(i));
    std::uint64_t n = 0;
    for (auto _ : state) {
        auto updated = filled.store->update(workspace, filled.ids[picks[n]], patches[n & 63]);
        if (!updated) state.SkipWithError("update refused");
        ++n;
    }
}
BENCHMARK(BM_StoreUpdate)->Arg(10'000)->Arg(1'000'000)->Iterations(store_updates);

// The list scenario of load/list.lua: first page of 10 under a status filter (a sixth match).
void BM_StoreListByStatus(benchmark::State& state) {
    auto& filled = filled_store(static_cast<std::size_t>(state.range(0)));
    store::ListQuery query;
    query.status = store::Status::New;
    for (auto _ : state) {
        auto page = filled.store->list(workspace, query);
        benchmark::DoNotOptimize(page);
    }
}
BENCHMARK(BM_StoreListByStatus)->Arg(10'000)->Arg(1'000'000);

// A create whose email another lead has (in another case): the uniqueness check, then 409.
void BM_CreateDuplicateEmail(benchmark::State& state) {
    auto& filled = filled_store(static_cast<std::size_t>(state.range(0)));
    const auto picks = random_indexes(filled.ids.size());
    std::size_t n = 0;
    store::NewLead lead = new_lead(0);
    for (auto _ : state) {
        lead.email = filled.emails[picks[n++ & 0xffff]];
        lead.email[0] = 'S';  // "seed-..." -> "Seed-...": emails compare case-insensitively
        auto refused = filled.store->create(workspace, lead);
        if (refused || refused.error().code != store::StoreErrc::DuplicateEmail)
            state.SkipWithError("expected DuplicateEmail");
    }
}
BENCHMARK(BM_CreateDuplicateEmail)->Arg(10'000)->Arg(1'000'000);

// One 1000-lead POST /api/v1/leads/batch below HTTP: create_all into a store that keeps growing
// (to 500 000 leads over the run, as an import does), leads shaped like load/batch_create.lua's.
// What it costs per lead: the id and email maps, the listing and search indexes, the memory
// they take from the kernel. No log attached (BM_LogAppend measures that part).
void BM_StoreCreateBatch(benchmark::State& state) {
    constexpr std::size_t batch = 1000;
    store::LeadStore growing;
    std::size_t created = 0;
    for (auto _ : state) {
        state.PauseTiming();
        std::vector<store::NewLead> leads;
        leads.reserve(batch);
        for (std::size_t i = 0; i < batch; ++i, ++created) {
            store::NewLead lead;
            lead.name = "Load Test " + std::to_string(created);
            lead.email = "lt-1700000000-0-" + std::to_string(created) + "@example.com";
            lead.phone = "+1-555-456-7890";
            lead.source = "wrk";
            json::object metadata;
            metadata["company"] = "New Tech Corp";
            metadata["seq"] = created;
            lead.metadata = std::move(metadata);
            leads.push_back(std::move(lead));
        }
        state.ResumeTiming();
        auto outcome = growing.create_all(workspace, std::move(leads), store::LeadStore::BatchMode::EachOnItsOwn);
        if (!outcome.applied()) state.SkipWithError("batch refused");
        benchmark::DoNotOptimize(outcome);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(created));
}
BENCHMARK(BM_StoreCreateBatch)->Iterations(500)->Unit(benchmark::kMicrosecond);

// A snapshot's cut (LeadStore::cut): every shard's leads copied out, each shard under its lock
// while its copy lasts, so a writer of that shard (and the request thread it runs on) waits up to
// one shard's copy: this time / the shard count (64).
void BM_SnapshotCut(benchmark::State& state) {
    auto& filled = filled_store(static_cast<std::size_t>(state.range(0)));
    for (auto _ : state) {
        auto cut = filled.store->cut([] {});
        benchmark::DoNotOptimize(cut.leads.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SnapshotCut)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// A snapshot's ordering of the cut (LeadStore::order_for_restore), the step between taking the
// cut and writing it: leads arrive in hash order and leave oldest first per workspace. Paced as
// the snapshot paces it (on a core of its own, every yield returns at once).
void BM_SnapshotOrder(benchmark::State& state) {
    auto& filled = filled_store(static_cast<std::size_t>(state.range(0)));
    const auto cut = filled.store->cut([] {});
    ops::BackgroundPacer pacer;
    for (auto _ : state) {
        state.PauseTiming();
        std::vector<const store::Lead*> leads = cut.leads;
        state.ResumeTiming();
        store::LeadStore::order_for_restore(leads, [&] { pacer.pause_point(); });
        benchmark::DoNotOptimize(leads.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SnapshotOrder)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// A snapshot's pass over the ordered cut: every lead encoded and framed as a record (the file
// write itself left out).
void BM_SnapshotEncode(benchmark::State& state) {
    auto& filled = filled_store(static_cast<std::size_t>(state.range(0)));
    auto cut = filled.store->cut([] {});
    store::LeadStore::order_for_restore(cut.leads);
    std::string records;
    for (auto _ : state) {
        store::encode_each(cut.leads, [&](std::string_view lead) {
            if (records.size() > (1u << 20)) records.clear();
            wal::frame_record(records, wal::RecordType::LeadPut, 1, lead);
        });
        benchmark::DoNotOptimize(records.data());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_SnapshotEncode)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

// Log::append under --fsync none: framing one lead record into the group-commit batch (the
// flusher thread writes batches to a temp dir meanwhile).
void BM_LogAppend(benchmark::State& state) {
    char dir_template[] = "/tmp/leadd-micro-XXXXXX";
    if (!mkdtemp(dir_template)) {
        state.SkipWithError("mkdtemp failed");
        return;
    }
    const std::filesystem::path dir = dir_template;
    const std::string payload = store::encode_lead(*filled_store(10'000).store->get(workspace, filled_store(10'000).ids[0]));
    {
        wal::LogOptions options;
        options.dir = dir;
        options.fsync = wal::FsyncPolicy::None;
        options.fs = wal::posix_file_system();
        wal::Log log(std::move(options), 1);
        for (auto _ : state) benchmark::DoNotOptimize(log.append(wal::RecordType::LeadPut, payload));
        state.SetBytesProcessed(state.iterations() * (payload.size() + wal::record_header_bytes));
        log.close();
    }
    std::filesystem::remove_all(dir);
}
BENCHMARK(BM_LogAppend);

}  // namespace

BENCHMARK_MAIN();
