#pragma once
// KeyRegistry: workspaces and their API keys.
//
// A key is "sk-workspace_" + 51 characters of [A-Za-z0-9] from the CSPRNG. Only its SHA-256
// digest is kept; the plaintext is returned once, when the key is issued. Lookup goes through
// the digest's first 8 bytes, and the full digest is then compared in constant time.
// mu_ guards every member. With a log attached, each change appends its record (workspace
// created, key issued with its digest, key revoked) while mu_ is held, so log order is the order
// of the changes; plaintext keys never reach the log.

#include "leadd/auth/secrets.hpp"
#include "leadd/store/lead.hpp"
#include "leadd/wal/log.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace leadd::auth {

using store::Millis;
using store::WorkspaceId;
using KeyId = std::uint64_t;  // shown as "key_" + 16 hex

inline constexpr std::string_view api_key_prefix = "sk-workspace_";
inline constexpr std::size_t api_key_random_chars = 51;

struct Workspace {
    WorkspaceId id;
    std::string name;
    Millis created_at;
};

// Who an API key says the caller is.
struct Caller {
    WorkspaceId workspace;
    KeyId key;
    bool operator==(const Caller&) const = default;
};

struct IssuedKey {
    std::string api_key;  // plaintext, shown once
    KeyId key_id;
    WorkspaceId workspace;
    Millis created_at;
};

class KeyRegistry {
public:
    Workspace create_workspace(std::string name);
    // nullopt if the workspace does not exist.
    std::optional<IssuedKey> issue_key(WorkspaceId ws);
    // The revocation time, or nullopt if no such key (or already revoked).
    std::optional<Millis> revoke(KeyId key);

    // The workspace and id of a valid, unrevoked key.
    std::optional<Caller> authenticate(std::string_view api_key) const;

    std::vector<Workspace> workspaces() const;  // in creation order
    bool empty() const;

    void attach_log(wal::Log* log) { log_ = log; }
    // False while the log cannot be written: admin changes are refused before they are made.
    bool writable() const { return log_ == nullptr || log_->writable(); }

    // Recovery: applies a WorkspaceCreate, KeyIssue or KeyRevoke payload; false if malformed.
    bool restore(wal::RecordType type, std::string_view payload);

    // For a snapshot: with mu_ held (no workspace or key can change), runs `while_frozen` and
    // returns every live workspace and key as the records that recreate them.
    std::vector<std::pair<wal::RecordType, std::string>> snapshot_records(
        const std::function<void()>& while_frozen) const;

private:
    struct KeyRecord {
        Digest digest;
        KeyId id;
        WorkspaceId workspace;
        Millis created_at;
    };
    static std::uint64_t bucket_of(const Digest& d);

    mutable std::shared_mutex mu_;
    std::vector<Workspace> workspaces_;
    std::unordered_multimap<std::uint64_t, KeyRecord> keys_by_bucket_;
    wal::Log* log_ = nullptr;
};

}  // namespace leadd::auth
