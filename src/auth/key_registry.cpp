#include "leadd/auth/key_registry.hpp"

#include "leadd/store/clock.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace leadd::auth {

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
    keys_by_bucket_.emplace(bucket_of(digest), KeyRecord{digest, id, ws});
    return IssuedKey{std::move(plaintext), id, ws, store::now_millis()};
}

std::optional<Millis> KeyRegistry::revoke(KeyId key) {
    std::unique_lock lock(mu_);
    auto it = std::find_if(keys_by_bucket_.begin(), keys_by_bucket_.end(),
                           [&](const auto& entry) { return entry.second.id == key; });
    if (it == keys_by_bucket_.end()) return std::nullopt;
    keys_by_bucket_.erase(it);
    return store::now_millis();
}

std::optional<WorkspaceId> KeyRegistry::authenticate(std::string_view api_key) const {
    const Digest digest = sha256(api_key);
    std::shared_lock lock(mu_);
    auto [first, last] = keys_by_bucket_.equal_range(bucket_of(digest));
    for (auto it = first; it != last; ++it)
        if (constant_time_equal(it->second.digest, digest)) return it->second.workspace;
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
