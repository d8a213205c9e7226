#pragma once
// The whole API in-process, as main wires it (register_service_routes over a real LeadStore,
// KeyRegistry, RateLimiter and AdminHandlers), with credentials and leads fixed in advance so
// that fuzzed requests can authenticate and name existing leads: the HTTP fuzz target builds one
// per input (a crash then reproduces from its one input), and write_seed_corpus writes requests
// that use the same key, token and ids.
//
// Everything that would differ between runs is pinned: the keys are restored from log payloads
// instead of drawn from the CSPRNG, the store's and the rate limiter's clocks are counters.

#include "leadd/api/admin_handlers.hpp"
#include "leadd/api/lead_handlers.hpp"
#include "leadd/api/routes.hpp"
#include "leadd/auth/key_registry.hpp"
#include "leadd/auth/rate_limiter.hpp"
#include "leadd/auth/secrets.hpp"
#include "leadd/http/router.hpp"
#include "leadd/ops/health.hpp"
#include "leadd/store/ids.hpp"
#include "leadd/store/lead_store.hpp"
#include "leadd/wal/codec.hpp"

#include <array>
#include <string>
#include <string_view>

namespace leadd::fuzz {

inline constexpr std::string_view admin_token = "fuzz-admin-token-0123456789abcdef";

// Two workspaces with one key each: A's key sees A's leads only.
inline constexpr store::WorkspaceId workspace_a = 0x1a1a1a1a1a1a1a1aULL;
inline constexpr store::WorkspaceId workspace_b = 0x2b2b2b2b2b2b2b2bULL;
inline constexpr auth::KeyId key_id_a = 0x3c3c3c3c3c3c3c3cULL;
inline constexpr auth::KeyId key_id_b = 0x4d4d4d4d4d4d4d4dULL;
inline constexpr std::string_view api_key_a = "sk-workspace_FuzzKeyOfWorkspaceA00000000000000000000000000000000";
inline constexpr std::string_view api_key_b = "sk-workspace_FuzzKeyOfWorkspaceB00000000000000000000000000000000";
static_assert(api_key_a.size() == auth::api_key_prefix.size() + auth::api_key_random_chars);
static_assert(api_key_b.size() == auth::api_key_prefix.size() + auth::api_key_random_chars);

// Leads made before each input: the first two in A, the third in B. A fresh store hands out
// ids in counter order, so these are their ids, and the next create gets counter 4.
inline constexpr std::size_t preset_leads = 3;
inline std::string preset_lead_id(std::size_t counter) {  // counter 1..
    return store::format_hex_id("lead_", store::IdGenerator::scramble(counter));
}

// Small enough that a multi-request input reaches 429, large enough not to stop most inputs.
inline constexpr std::uint64_t rate_limit_per_hour = 6;
inline constexpr store::Millis clock_start = 1'767'225'600'000;  // 2026-01-01T00:00:00.000Z

struct Service {
    store::LeadStore store{store_options()};
    auth::KeyRegistry keys;
    auth::RateLimiter limiter{rate_limit_per_hour, [] { return clock_start / 1000; }};
    ops::Health health;
    api::LeadHandlers leads{store, keys, &limiter};
    api::AdminHandlers admin{keys, store, auth::sha256(admin_token)};
    http::Router router;

    Service() {
        add_workspace(workspace_a, "Workspace A", key_id_a, api_key_a);
        add_workspace(workspace_b, "Workspace B", key_id_b, api_key_b);
        preset_lead(workspace_a, "Ada Lovelace", "ada@example.com", "webinar", store::Status::New);
        preset_lead(workspace_a, "Grace Hopper", "grace@example.com", std::nullopt, store::Status::Contacted);
        preset_lead(workspace_b, "Alan Turing", "alan@example.org", "referral", store::Status::Qualified);
        health.set_ready([] { return true; });
        api::register_service_routes(router, {health, leads, &admin});
    }
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

private:
    static store::StoreOptions store_options() {
        store::StoreOptions options;
        options.shards = 4;  // the logic does not depend on the count; building 64 costs per input
        options.email_stripes = 4;
        options.clock = [now = clock_start]() mutable { return now += 7; };
        return options;
    }
    // Through the recovery path, so the plaintext key is ours rather than the CSPRNG's.
    void add_workspace(store::WorkspaceId ws, std::string_view name, auth::KeyId key, std::string_view api_key) {
        wal::PayloadWriter w;
        w.u64(ws);
        w.i64(clock_start);
        w.str(name);
        keys.restore(wal::RecordType::WorkspaceCreate, w.bytes());
        wal::PayloadWriter k;
        const auth::Digest digest = auth::sha256(api_key);
        k.u64(key);
        k.u64(ws);
        k.i64(clock_start);
        k.str(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
        keys.restore(wal::RecordType::KeyIssue, k.bytes());
    }
    void preset_lead(store::WorkspaceId ws, std::string name, std::string email, std::optional<std::string> source,
                     store::Status status) {
        store::NewLead lead;
        lead.name = std::move(name);
        lead.email = std::move(email);
        lead.source = std::move(source);
        lead.status = status;
        lead.metadata = boost::json::object{{"notes", "Follow up scheduled for next week"}, {"score", 42}, {"tags", {"vip", "q1"}}};
        store.create(ws, std::move(lead));
    }
};

}  // namespace leadd::fuzz
