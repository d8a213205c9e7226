#pragma once
// The admin API of API.md: workspaces, their keys, revocation. Registered only when an admin
// token is configured, so without one every /api/v1/admin/* path is a plain 404 from the router.
// Only the token's SHA-256 is kept, and it is compared in constant time.

#include "leadd/auth/key_registry.hpp"
#include "leadd/http/router.hpp"
#include "leadd/store/lead_store.hpp"

namespace leadd::api {

class AdminHandlers {
public:
    AdminHandlers(auth::KeyRegistry& keys, const store::LeadStore& store, auth::Digest admin_token)
        : keys_(keys), store_(store), admin_token_(admin_token) {}

    void register_routes(http::Router& router);

    http::Response create_workspace(const http::Request& request) const;
    http::Response list_workspaces(const http::Request& request) const;
    http::Response create_key(const http::Request& request, std::string_view workspace_id) const;
    http::Response revoke_key(const http::Request& request, std::string_view key_id) const;

private:
    std::optional<http::Response> check_admin(const http::Request& request) const;

    auth::KeyRegistry& keys_;
    const store::LeadStore& store_;
    auth::Digest admin_token_;
};

}  // namespace leadd::api
