#pragma once
// Helpers shared by the WAL tests: temp dirs, raw file access, collecting what recovery replays,
// and comparing two stores + key registries field by field.

#include "leadd/auth/key_registry.hpp"
#include "leadd/store/lead_store.hpp"
#include "leadd/wal/format.hpp"
#include "leadd/wal/recovery.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <unistd.h>

namespace leadd::test {

namespace fs = std::filesystem;

// The options of every store a test opens with Persistence. TSan's deadlock detector tracks at
// most 64 locks held by one thread, and a snapshot's cut (taken at least by Persistence::close)
// holds every shard lock plus a few: under TSan those stores have 32 shards.
inline store::StoreOptions test_store_options() {
    store::StoreOptions o;
#if defined(__SANITIZE_THREAD__)
    o.shards = 32;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    o.shards = 32;
#endif
#endif
    return o;
}

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
public:
    TempDir() {
        static std::atomic<unsigned> counter{0};
        std::random_device rd;
        path_ = fs::temp_directory_path() /
                ("leadd-wal-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
                 std::to_string(rd()));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline void write_file(const fs::path& p, std::string_view bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Sorted file names in `dir`.
inline std::vector<std::string> dir_names(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

inline void copy_dir(const fs::path& from, const fs::path& to) {
    fs::create_directories(to);
    for (const auto& e : fs::directory_iterator(from)) fs::copy_file(e.path(), to / e.path().filename());
}

// Bounded polling: true as soon as `cond` holds, false after `limit`.
template <class Cond>
bool eventually(Cond cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!cond()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

struct CollectedRecord {
    wal::RecordType type;
    wal::Seq seq;
    std::string payload;
    bool operator==(const CollectedRecord&) const = default;
};

// One complete, valid record's place in a file.
struct RecordSpan {
    std::size_t start;
    std::size_t end;
    wal::Seq seq;
};

inline std::vector<RecordSpan> record_spans(std::string_view data) {
    std::vector<RecordSpan> spans;
    wal::RecordReader reader(data);
    std::size_t start = 0;
    while (auto rec = reader.next()) {
        spans.push_back({start, reader.offset(), rec->seq});
        start = reader.offset();
    }
    return spans;
}

// Runs recover() with an apply that keeps every record (and accepts them all).
struct Collected {
    std::variant<wal::RecoveryReport, wal::RecoveryFailure> outcome;
    std::vector<CollectedRecord> records;

    bool ok() const { return std::holds_alternative<wal::RecoveryReport>(outcome); }
    const wal::RecoveryReport& report() const { return std::get<wal::RecoveryReport>(outcome); }
    std::string failure() const {
        if (auto* f = std::get_if<wal::RecoveryFailure>(&outcome)) return f->message;
        return {};
    }
};

inline Collected collect(wal::FileSystem& fs, const fs::path& dir,
                         wal::CorruptionPolicy policy = wal::CorruptionPolicy::Stop) {
    Collected c{wal::RecoveryReport{}, {}};
    c.outcome = wal::recover(fs, dir, policy, [&](const wal::RecordView& r) {
        c.records.push_back({r.type, r.seq, std::string(r.payload)});
        return true;
    });
    return c;
}

// Recovers `dir` again and requires a clean run: no failure, no repair, and (when given) exactly
// `expected` records. What a repaired dir must look like to the next start.
inline void require_clean_recovery(wal::FileSystem& fs, const fs::path& dir,
                                   const std::vector<CollectedRecord>* expected = nullptr) {
    const auto again = collect(fs, dir);
    REQUIRE(again.ok());
    if (expected) CHECK(again.records == *expected);
    CHECK(again.report().repairs.empty());
}

inline std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

// The same dispatch ops::Persistence::open uses, one record at a time.
inline wal::ApplyRecord dispatch_to(store::LeadStore& store, auth::KeyRegistry& keys) {
    return [&store, &keys](const wal::RecordView& rec) {
        switch (rec.type) {
        case wal::RecordType::LeadPut: return store.restore_lead(rec.payload);
        case wal::RecordType::LeadDelete: return store.restore_deletion(rec.payload);
        case wal::RecordType::LeadBatch: return store.restore_batch(rec.payload);
        case wal::RecordType::Idempotent: return store.restore_idempotent(rec.payload);
        case wal::RecordType::IdempotencyEntry: return store.restore_idempotency_entry(rec.payload);
        case wal::RecordType::SnapshotHeader: return store.restore_header(rec.payload);
        default: return keys.restore(rec.type, rec.payload);
        }
    };
}

inline std::string describe(const store::Lead& l) {
    std::ostringstream s;
    s << "lead " << store::format_hex_id("lead_", l.id) << " ws " << l.workspace << " v" << l.version << " '"
      << l.name << "' <" << l.email << "> created " << l.created_at << " updated " << l.updated_at;
    return s.str();
}

inline void require_same_lead(const store::Lead& a, const store::Lead& b) {
    INFO("expected " << describe(a));
    INFO("actual   " << describe(b));
    CHECK(a.id == b.id);
    CHECK(a.workspace == b.workspace);
    CHECK(a.name == b.name);
    CHECK(a.email == b.email);
    CHECK(a.phone == b.phone);
    CHECK(a.source == b.source);
    CHECK(a.status == b.status);
    CHECK(a.metadata == b.metadata);
    CHECK(a.created_at == b.created_at);
    CHECK(a.updated_at == b.updated_at);
    CHECK(a.version == b.version);
}

inline std::vector<store::LeadPtr> all_listed(const store::LeadStore& s, store::WorkspaceId ws) {
    store::ListQuery q;
    q.page = 1;
    q.limit = 1u << 30;
    return s.list(ws, q).leads;
}

// Every workspace of `expected_keys` (plus `extra_workspaces`): same leads, same fields, same
// listing order, same counts; same workspaces in the same order; store sizes equal.
inline void require_same_state(const store::LeadStore& expected, const auth::KeyRegistry& expected_keys,
                               const store::LeadStore& actual, const auth::KeyRegistry& actual_keys,
                               const std::vector<store::WorkspaceId>& extra_workspaces = {}) {
    const auto ews = expected_keys.workspaces();
    const auto aws = actual_keys.workspaces();
    REQUIRE(ews.size() == aws.size());
    for (std::size_t i = 0; i < ews.size(); ++i) {
        CHECK(ews[i].id == aws[i].id);
        CHECK(ews[i].name == aws[i].name);
        CHECK(ews[i].created_at == aws[i].created_at);
    }
    std::vector<store::WorkspaceId> workspaces = extra_workspaces;
    for (const auto& w : ews) workspaces.push_back(w.id);

    CHECK(expected.size() == actual.size());
    std::size_t listed = 0;
    for (const auto ws : workspaces) {
        INFO("workspace " << ws);
        CHECK(expected.count(ws) == actual.count(ws));
        const auto e = all_listed(expected, ws);
        const auto a = all_listed(actual, ws);
        REQUIRE(e.size() == a.size());
        listed += e.size();
        for (std::size_t i = 0; i < e.size(); ++i) {
            INFO("position " << i << " of the listing");
            require_same_lead(*e[i], *a[i]);
            const auto by_id = actual.get(ws, e[i]->id);
            REQUIRE(by_id != nullptr);
            require_same_lead(*e[i], *by_id);
        }
    }
    CHECK(listed == expected.size());
}

}  // namespace leadd::test
