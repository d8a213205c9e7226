#pragma once
// The lead endpoints of API.md (create, list, get, update, delete), scoped by the caller's API
// key. Handlers turn HTTP into typed store commands and typed results into JSON; every
// invariant (email uniqueness, stamping, versions) belongs to the store.

#include "leadd/auth/key_registry.hpp"
#include "leadd/http/router.hpp"
#include "leadd/store/lead_store.hpp"

namespace leadd::api {

class LeadHandlers {
public:
    LeadHandlers(store::LeadStore& store, const auth::KeyRegistry& keys)
        : store_(store), keys_(keys) {}

    void register_routes(http::Router& router);

    http::Response create(const http::Request& request) const;
    http::Response list(const http::Request& request) const;
    http::Response get(const http::Request& request, std::string_view lead_id) const;
    http::Response update(const http::Request& request, std::string_view lead_id) const;
    http::Response remove(const http::Request& request, std::string_view lead_id) const;

private:
    store::LeadStore& store_;
    const auth::KeyRegistry& keys_;
};

}  // namespace leadd::api
