#pragma once
// The lead endpoints of API.md (create, list, get, update, delete), scoped by the caller's API
// key. Handlers turn HTTP into typed store commands and typed results into JSON; every
// invariant (email uniqueness, stamping, versions) belongs to the store.

#include "leadd/auth/key_registry.hpp"
#include "leadd/auth/rate_limiter.hpp"
#include "leadd/http/router.hpp"
#include "leadd/store/lead_store.hpp"

#include <optional>
#include <string_view>

namespace leadd::api {

class LeadHandlers {
public:
    // `limiter`: the per-key rate limit (--rate-limit-per-hour); null or off means none.
    LeadHandlers(store::LeadStore& store, const auth::KeyRegistry& keys, auth::RateLimiter* limiter = nullptr)
        : store_(store), keys_(keys), limiter_(limiter) {}

    // Each route runs admit_caller (authentication, rate limit, body size) before its handler.
    void register_routes(http::Router& router);

    // For a caller already admitted into `ws`.
    http::Response create(const http::Request& request, store::WorkspaceId ws) const;
    http::Response list(const http::Request& request, store::WorkspaceId ws) const;
    // A route's {leadId}: as sent, and parsed once (nullopt: no lead id, so 404 once admitted).
    struct LeadRef {
        std::string_view text;
        std::optional<store::LeadId> id;
    };
    http::Response get(const http::Request& request, store::WorkspaceId ws, LeadRef lead) const;
    http::Response update(const http::Request& request, store::WorkspaceId ws, LeadRef lead) const;
    http::Response remove(const http::Request& request, store::WorkspaceId ws, LeadRef lead) const;
    // POST / PUT /api/v1/leads/batch (batch_handlers.cpp).
    static constexpr std::size_t max_batch_items = 1000;
    http::Response create_batch(const http::Request& request, store::WorkspaceId ws) const;
    http::Response update_batch(const http::Request& request, store::WorkspaceId ws) const;

private:
    // create's work once the body is parsed (and, with an Idempotency-Key, claimed).
    http::Response create_lead(const http::Request& request, store::WorkspaceId ws, const boost::json::object& body,
                               store::LeadStore::IdempotentWrite* idempotent) const;

    store::LeadStore& store_;
    const auth::KeyRegistry& keys_;
    auth::RateLimiter* limiter_;
};

}  // namespace leadd::api
