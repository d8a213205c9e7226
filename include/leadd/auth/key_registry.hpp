#pragma once
// KeyRegistry: workspaces and their API keys.
//
// A key is "sk-workspace_" + 51 characters of [A-Za-z0-9] from the CSPRNG. Only its SHA-256
// digest is kept; the plaintext is returned once, when the key is issued. Lookup goes through
// the digest's first 8 bytes, and the full digest is then compared in constant time.
// mu_ guards every member.

#include "leadd/auth/secrets.hpp"
#include "leadd/store/lead.hpp"

#include <cstdint>
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

    // The workspace of a valid, unrevoked key.
    std::optional<WorkspaceId> authenticate(std::string_view api_key) const;

    std::vector<Workspace> workspaces() const;  // in creation order
    bool empty() const;

private:
    struct KeyRecord {
        Digest digest;
        KeyId id;
        WorkspaceId workspace;
    };
    static std::uint64_t bucket_of(const Digest& d);

    mutable std::shared_mutex mu_;
    std::vector<Workspace> workspaces_;
    std::unordered_multimap<std::uint64_t, KeyRecord> keys_by_bucket_;
};

}  // namespace leadd::auth
