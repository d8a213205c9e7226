#include "leadd/auth/key_registry.hpp"

#include "leadd/store/clock.hpp"
#include "leadd/wal/codec.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace leadd::auth {

namespace {

std::string encode_workspace(const Workspace& ws) {
    wal::PayloadWriter w;
    w.u64(ws.id);
    w.i64(ws.created_at);
    w.str(ws.name);
    return std::move(w.bytes());
}

std::string encode_key(KeyId id, WorkspaceId ws, Millis created_at, const Digest& digest) {
    wal::PayloadWriter w;
    w.u64(id);
    w.u64(ws);
    w.i64(created_at);
    w.str(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
    return std::move(w.bytes());
}

std::string encode_revoke(KeyId id) {
    wal::PayloadWriter w;
    w.u64(id);
    return std::move(w.bytes());
}

}  // namespace

std::uint64_t KeyRegistry::bucket_of(const Digest& d) {
    std::uint64_t b;
    std::memcpy(&b, d.data(), sizeof b);
    return b;
}

Workspace KeyRegistry::create_workspace(std::string name) {
    std::unique_lock lock(mu_);
    WorkspaceId id;
    do {
        id = random_u64();
    } while (std::any_of(workspaces_.begin(), workspaces_.end(),
                         [&](const Workspace& w) { return w.id == id; }));
    workspaces_.push_back(Workspace{id, std::move(name), store::now_millis()});
    if (log_) log_->append(wal::RecordType::WorkspaceCreate, encode_workspace(workspaces_.back()));
    return workspaces_.back();
}

std::optional<IssuedKey> KeyRegistry::issue_key(WorkspaceId ws) {
    std::string plaintext = std::string(api_key_prefix) + random_alphanumeric(api_key_random_chars);
    const Digest digest = sha256(plaintext);
    std::unique_lock lock(mu_);
    if (std::none_of(workspaces_.begin(), workspaces_.end(),
                     [&](const Workspace& w) { return w.id == ws; }))
        return std::nullopt;
    KeyId id;
    bool taken;
    do {
        id = random_u64();
        taken = std::any_of(keys_by_bucket_.begin(), keys_by_bucket_.end(),
                            [&](const auto& entry) { return entry.second.id == id; });
    } while (taken);
    const Millis created_at = store::now_millis();
    keys_by_bucket_.emplace(bucket_of(digest), KeyRecord{digest, id, ws, created_at});
    if (log_) log_->append(wal::RecordType::KeyIssue, encode_key(id, ws, created_at, digest));
    return IssuedKey{std::move(plaintext), id, ws, created_at};
}

std::optional<Millis> KeyRegistry::revoke(KeyId key) {
    std::unique_lock lock(mu_);
    auto it = std::find_if(keys_by_bucket_.begin(), keys_by_bucket_.end(),
                           [&](const auto& entry) { return entry.second.id == key; });
    if (it == keys_by_bucket_.end()) return std::nullopt;
    keys_by_bucket_.erase(it);
    if (log_) log_->append(wal::RecordType::KeyRevoke, encode_revoke(key));
    return store::now_millis();
}

bool KeyRegistry::restore(wal::RecordType type, std::string_view payload) {
    wal::PayloadReader r(payload);
    std::unique_lock lock(mu_);
    switch (type) {
    case wal::RecordType::WorkspaceCreate: {
        Workspace ws;
        ws.id = r.u64();
        ws.created_at = r.i64();
        ws.name = r.str();
        if (!r.done()) return false;
        if (std::none_of(workspaces_.begin(), workspaces_.end(), [&](auto& w) { return w.id == ws.id; }))
            workspaces_.push_back(std::move(ws));
        return true;
    }
    case wal::RecordType::KeyIssue: {
        KeyRecord key;
        key.id = r.u64();
        key.workspace = r.u64();
        key.created_at = r.i64();
        const auto digest = r.str();
        if (!r.done() || digest.size() != key.digest.size()) return false;
        std::copy(digest.begin(), digest.end(), key.digest.begin());
        const bool known = std::any_of(keys_by_bucket_.begin(), keys_by_bucket_.end(),
                                       [&](const auto& e) { return e.second.id == key.id; });
        if (!known) keys_by_bucket_.emplace(bucket_of(key.digest), key);
        return true;
    }
    case wal::RecordType::KeyRevoke: {
        const KeyId id = r.u64();
        if (!r.done()) return false;
        auto it = std::find_if(keys_by_bucket_.begin(), keys_by_bucket_.end(),
                               [&](const auto& e) { return e.second.id == id; });
        if (it != keys_by_bucket_.end()) keys_by_bucket_.erase(it);
        return true;
    }
    default:
        return false;
    }
}

std::vector<std::pair<wal::RecordType, std::string>> KeyRegistry::snapshot_records(
    const std::function<void()>& while_frozen) const {
    std::unique_lock lock(mu_);
    while_frozen();
    std::vector<std::pair<wal::RecordType, std::string>> records;
    for (const auto& ws : workspaces_) records.emplace_back(wal::RecordType::WorkspaceCreate, encode_workspace(ws));
    for (const auto& [bucket, key] : keys_by_bucket_)
        records.emplace_back(wal::RecordType::KeyIssue, encode_key(key.id, key.workspace, key.created_at, key.digest));
    return records;
}

namespace {

// A connection sends the same key with every request, and so do a client's connections: each
// worker thread remembers the last key it hashed and its digest, and a request bringing that key
// skips SHA-256 (~1% of a request's CPU in perf profiles here; a sixth of a GET's instructions
// under callgrind, whose CPU lacks the SHA extensions). Only the digest is remembered, never
// whether the key is valid: the registry is asked every time, so a revoked key stops working at
// once. The remembered key stays in this thread's memory until another replaces it, as it stays
// in the connection's buffer anyway.
Digest sha256_of_key(std::string_view api_key) {
    thread_local std::string last_key;
    thread_local Digest last_digest{};
    if (!last_key.empty() && api_key.size() == last_key.size() && constant_time_equal(api_key, last_key))
        return last_digest;
    last_digest = sha256(api_key);
    last_key.assign(api_key);
    return last_digest;
}

}  // namespace

std::optional<Caller> KeyRegistry::authenticate(std::string_view api_key) const {
    const Digest digest = sha256_of_key(api_key);
    std::shared_lock lock(mu_);
    auto [first, last] = keys_by_bucket_.equal_range(bucket_of(digest));
    for (auto it = first; it != last; ++it)
        if (constant_time_equal(it->second.digest, digest)) return Caller{it->second.workspace, it->second.id};
    return std::nullopt;
}

std::vector<Workspace> KeyRegistry::workspaces() const {
    std::shared_lock lock(mu_);
    return workspaces_;
}

bool KeyRegistry::empty() const {
    std::shared_lock lock(mu_);
    return workspaces_.empty();
}

}  // namespace leadd::auth
