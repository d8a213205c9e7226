#pragma once
// FaultyFileSystem: a wal::FileSystem in front of the real one (posix_file_system() by default)
// that fails chosen calls, deterministically, by script:
//
//   fs->fail_nth(Op::Append, 2, enospc(), 10);  // the 2nd append from now writes 10 bytes, then ENOSPC
//   fs->fail_nth(Op::Sync, 1, eio());           // the next fdatasync fails with EIO
//   fs->fail_always(Op::Append, enospc());      // every append fails (nothing written) until cleared
//   fs->fail_always(Op::OpenAppend, eio());     // every open_append fails until cleared
//   fs->clear(Op::Append); fs->clear();         // stop failing one operation / all of them
//   fs->before(Op::Rename, [] { ... });         // runs before every rename (e.g. to hold it open)
//
// Every call is counted (counters()), failures included, and the names of the files opened for
// appending (open_append or open_prepared) are remembered in order (opened()). Thread-safe: the log's flusher calls in while
// the test thread changes the script.

#include "leadd/wal/file_system.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace leadd::test {

inline std::error_code enospc() { return {ENOSPC, std::generic_category()}; }
inline std::error_code eio() { return {EIO, std::generic_category()}; }

class FaultyFileSystem final : public wal::FileSystem {
public:
    enum class Op : std::size_t {
        OpenAppend,    // FileSystem::open_append and open_prepared
        Prepare,       // FileSystem::prepare_zeroed
        Append,        // AppendFile::append
        Sync,          // AppendFile::sync
        FileTruncate,  // AppendFile::truncate
        ReadAll,
        List,
        Rename,
        Remove,
        Truncate,      // FileSystem::truncate
        SyncDir,
        Count_
    };
    static constexpr std::size_t op_count = static_cast<std::size_t>(Op::Count_);

    struct Counters {
        std::array<std::uint64_t, op_count> calls{};     // every call, failed or not
        std::array<std::uint64_t, op_count> failures{};  // calls this script made fail
        std::uint64_t bytes_appended = 0;                // bytes that reached the real file
        std::uint64_t of(Op op) const { return calls[static_cast<std::size_t>(op)]; }
        std::uint64_t failed(Op op) const { return failures[static_cast<std::size_t>(op)]; }
    };

    explicit FaultyFileSystem(std::shared_ptr<wal::FileSystem> inner = wal::posix_file_system())
        : state_(std::make_shared<State>()) {
        state_->inner = std::move(inner);
    }

    // The `n`th call of `op` from now (1 = the next one) fails with `ec`, once. For Append,
    // `written_first` bytes of the data (at most all of it) reach the file first: a short write.
    void fail_nth(Op op, std::uint64_t n, std::error_code ec, std::size_t written_first = 0) {
        std::lock_guard lock(state_->mu);
        auto& f = state_->faults[index(op)];
        f.one_shot_call = state_->counters.calls[index(op)] + std::max<std::uint64_t>(n, 1);
        f.one_shot_ec = ec;
        f.one_shot_written = written_first;
    }
    // Every call of `op` fails with `ec` until clear(op) or clear().
    void fail_always(Op op, std::error_code ec, std::size_t written_first = 0) {
        std::lock_guard lock(state_->mu);
        auto& f = state_->faults[index(op)];
        f.always = ec;
        f.always_written = written_first;
    }
    // `hook` runs before every call of `op` (before its inner call; outside the script's lock, so
    // a hook may sleep while other calls go on), until replaced.
    void before(Op op, std::function<void()> hook) {
        std::lock_guard lock(state_->mu);
        state_->hooks[index(op)] = std::move(hook);
    }
    void clear(Op op) {
        std::lock_guard lock(state_->mu);
        state_->faults[index(op)] = Fault{};
    }
    void clear() {
        std::lock_guard lock(state_->mu);
        for (auto& f : state_->faults) f = Fault{};
    }

    Counters counters() const {
        std::lock_guard lock(state_->mu);
        return state_->counters;
    }
    std::uint64_t calls(Op op) const { return counters().of(op); }
    std::uint64_t failures(Op op) const { return counters().failed(op); }
    // File names (not paths) passed to open_append, in call order, failed calls included.
    std::vector<std::string> opened() const {
        std::lock_guard lock(state_->mu);
        return state_->opened;
    }

    // wal::FileSystem
    std::unique_ptr<wal::AppendFile> open_append(const std::filesystem::path& path,
                                                 std::error_code& ec) override {
        return open(path, ec, &wal::FileSystem::open_append);
    }
    std::error_code prepare_zeroed(const std::filesystem::path& path, std::uint64_t bytes) override {
        if (auto fault = state_->check(Op::Prepare)) return fault->ec;
        return state_->inner->prepare_zeroed(path, bytes);
    }
    std::unique_ptr<wal::AppendFile> open_prepared(const std::filesystem::path& path,
                                                   std::error_code& ec) override {
        return open(path, ec, &wal::FileSystem::open_prepared);
    }
    std::error_code read_all(const std::filesystem::path& path, std::string& out) override {
        if (auto fault = state_->check(Op::ReadAll)) return fault->ec;
        return state_->inner->read_all(path, out);
    }
    std::vector<std::string> list(const std::filesystem::path& dir, std::error_code& ec) override {
        if (auto fault = state_->check(Op::List)) {
            ec = fault->ec;
            return {};
        }
        return state_->inner->list(dir, ec);
    }
    std::error_code rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
        if (auto fault = state_->check(Op::Rename)) return fault->ec;
        return state_->inner->rename(from, to);
    }
    std::error_code remove(const std::filesystem::path& path) override {
        if (auto fault = state_->check(Op::Remove)) return fault->ec;
        return state_->inner->remove(path);
    }
    std::error_code truncate(const std::filesystem::path& path, std::uint64_t size) override {
        if (auto fault = state_->check(Op::Truncate)) return fault->ec;
        return state_->inner->truncate(path, size);
    }
    std::error_code sync_dir(const std::filesystem::path& dir) override {
        if (auto fault = state_->check(Op::SyncDir)) return fault->ec;
        return state_->inner->sync_dir(dir);
    }

private:
    static constexpr std::size_t index(Op op) { return static_cast<std::size_t>(op); }

    using Opener = std::unique_ptr<wal::AppendFile> (wal::FileSystem::*)(const std::filesystem::path&,
                                                                         std::error_code&);
    std::unique_ptr<wal::AppendFile> open(const std::filesystem::path& path, std::error_code& ec, Opener opener) {
        {
            std::lock_guard lock(state_->mu);
            state_->opened.push_back(path.filename().string());
        }
        if (auto fault = state_->check(Op::OpenAppend)) {
            ec = fault->ec;
            return nullptr;
        }
        auto inner = ((*state_->inner).*opener)(path, ec);
        if (!inner) return nullptr;
        return std::make_unique<File>(state_, std::move(inner));
    }

    struct Fault {
        std::uint64_t one_shot_call = 0;  // absolute call number that fails; 0: none
        std::error_code one_shot_ec;
        std::size_t one_shot_written = 0;
        std::error_code always;  // set: every call fails
        std::size_t always_written = 0;
    };
    struct Fired {
        std::error_code ec;
        std::size_t written_first;
    };
    struct State {
        mutable std::mutex mu;
        std::shared_ptr<wal::FileSystem> inner;
        std::array<Fault, op_count> faults{};
        std::array<std::function<void()>, op_count> hooks{};
        Counters counters;
        std::vector<std::string> opened;

        // Counts the call, runs its hook and says whether (and how) it fails.
        std::optional<Fired> check(Op op) {
            std::function<void()> hook;
            std::optional<Fired> fired;
            {
                std::lock_guard lock(mu);
                const std::size_t i = index(op);
                const std::uint64_t call = ++counters.calls[i];
                auto& f = faults[i];
                if (f.one_shot_call != 0 && call == f.one_shot_call) {
                    fired = Fired{f.one_shot_ec, f.one_shot_written};
                    f.one_shot_call = 0;
                } else if (f.always) {
                    fired = Fired{f.always, f.always_written};
                }
                if (fired) ++counters.failures[i];
                hook = hooks[i];
            }
            if (hook) hook();
            return fired;
        }
        void count_bytes(std::size_t n) {
            std::lock_guard lock(mu);
            counters.bytes_appended += n;
        }
    };

    class File final : public wal::AppendFile {
    public:
        File(std::shared_ptr<State> state, std::unique_ptr<wal::AppendFile> inner)
            : state_(std::move(state)), inner_(std::move(inner)) {}

        std::error_code append(std::string_view data) override {
            if (auto fault = state_->check(Op::Append)) {
                const auto part = data.substr(0, std::min(fault->written_first, data.size()));
                if (!part.empty()) {
                    if (auto ec = inner_->append(part)) return ec;
                    state_->count_bytes(part.size());
                }
                return fault->ec;
            }
            auto ec = inner_->append(data);
            if (!ec) state_->count_bytes(data.size());
            return ec;
        }
        std::error_code sync() override {
            if (auto fault = state_->check(Op::Sync)) return fault->ec;
            return inner_->sync();
        }
        std::error_code truncate(std::uint64_t size) override {
            if (auto fault = state_->check(Op::FileTruncate)) return fault->ec;
            return inner_->truncate(size);
        }
        std::uint64_t size() const override { return inner_->size(); }

    private:
        std::shared_ptr<State> state_;
        std::unique_ptr<wal::AppendFile> inner_;
    };

    std::shared_ptr<State> state_;
};

}  // namespace leadd::test
