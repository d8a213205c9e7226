#pragma once
// Idempotency-Key on POST /api/v1/leads and POST /api/v1/leads/batch (API.md): the header's
// rules, what makes two requests "the same", and the claim around running the write. The
// storage and its durability belong to the store (store/idempotency.hpp).

#include "leadd/api/validation.hpp"
#include "leadd/http/message.hpp"
#include "leadd/store/lead_store.hpp"

#include <boost/json/object.hpp>

#include <functional>
#include <string>
#include <variant>

namespace leadd::api {

inline constexpr std::size_t max_idempotency_key_length = 255;

// The request's Idempotency-Key: monostate when absent; 1 to 255 visible ASCII characters
// (no spaces, no control bytes), else a FieldError naming the header.
std::variant<std::monostate, std::string, FieldError> idempotency_key(const http::Request& request);

// What makes a retry "the same request": its method, path, query and body as JSON (member
// order and whitespace do not matter), as a SHA-256 digest.
std::string request_fingerprint(const http::Request& request, const boost::json::object& body);

// Runs `write` at most once per (workspace, key) and fingerprint. `write` gets the
// IdempotentWrite to hand to the store (it sets `answer`). A retry of an answered request gets
// the stored answer (with `Idempotent-Replayed: true`); a different request with the key
// 409 IDEMPOTENCY_KEY_REUSED; the same request while the first still runs 409
// IDEMPOTENCY_KEY_IN_PROGRESS. A write that stores no answer (an error) frees the key.
http::Response run_once(const http::Request& request, store::LeadStore& store, store::WorkspaceId ws,
                        std::string key, std::string fingerprint,
                        const std::function<http::Response(store::LeadStore::IdempotentWrite&)>& write);

}  // namespace leadd::api
