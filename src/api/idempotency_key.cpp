#include "leadd/api/idempotency_key.hpp"

#include "leadd/api/request_checks.hpp"
#include "leadd/auth/secrets.hpp"
#include "leadd/http/envelope.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace leadd::api {

namespace json = boost::json;

namespace {

// JSON text in which equal values are equal strings: members sorted by key, no whitespace.
void write_canonical(const json::value& v, std::string& out) {
    if (v.is_object()) {
        const auto& object = v.get_object();
        std::vector<const json::key_value_pair*> members;
        members.reserve(object.size());
        for (const auto& kv : object) members.push_back(&kv);
        std::sort(members.begin(), members.end(),
                  [](const auto* a, const auto* b) { return a->key() < b->key(); });
        out.push_back('{');
        for (std::size_t i = 0; i < members.size(); ++i) {
            if (i) out.push_back(',');
            out += json::serialize(json::string_view(members[i]->key()));
            out.push_back(':');
            write_canonical(members[i]->value(), out);
        }
        out.push_back('}');
    } else if (v.is_array()) {
        out.push_back('[');
        bool first = true;
        for (const auto& item : v.get_array()) {
            if (!first) out.push_back(',');
            first = false;
            write_canonical(item, out);
        }
        out.push_back(']');
    } else {
        out += json::serialize(v);
    }
}

http::Response replayed(const store::StoredAnswer& answer) {
    http::Response r;
    r.status = answer.status;
    r.body = answer.body;
    if (!answer.location.empty()) r.set_header("Location", answer.location);
    if (!answer.etag.empty()) r.set_header("ETag", answer.etag);
    r.set_header("Idempotent-Replayed", "true");
    return r;
}

}  // namespace

std::variant<std::monostate, std::string, FieldError> idempotency_key(const http::Request& request) {
    if (!request.has_header("Idempotency-Key")) return std::monostate{};
    const std::string_view key = request.header("Idempotency-Key");
    const bool visible_ascii = std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
    if (key.empty() || key.size() > max_idempotency_key_length || !visible_ascii)
        return FieldError{"Idempotency-Key", json::string(http::to_valid_utf8(key)),
                          "Idempotency-Key must be 1 to 255 visible ASCII characters"};
    return std::string(key);
}

std::string request_fingerprint(const http::Request& request, const json::object& body) {
    std::string text;
    text.reserve(request.body.size() + 64);
    text.append(request.method).append(" ").append(request.path).append("?").append(request.query).append("\n");
    write_canonical(body, text);
    const auto digest = auth::sha256(text);
    return std::string(digest.begin(), digest.end());
}

http::Response run_once(const http::Request& request, store::LeadStore& store, store::WorkspaceId ws,
                        std::string key, std::string fingerprint,
                        const std::function<http::Response(store::LeadStore::IdempotentWrite&)>& write) {
    auto& table = store.idempotency();
    const auto claim = table.claim(ws, key, fingerprint, store.now());
    switch (claim.verdict) {
    case store::IdempotencyTable::Verdict::Replay: return replayed(claim.entry->answer);
    case store::IdempotencyTable::Verdict::Reused:
        return http::error_response(409, "IDEMPOTENCY_KEY_REUSED",
                                    "This Idempotency-Key was already used for a different request", request);
    case store::IdempotencyTable::Verdict::InProgress: {
        auto r = http::error_response(409, "IDEMPOTENCY_KEY_IN_PROGRESS",
                                      "The first request with this Idempotency-Key is still running", request);
        r.set_header("Retry-After", "1");
        return r;
    }
    case store::IdempotencyTable::Verdict::Run: break;
    }
    store::LeadStore::IdempotentWrite idempotent{key, std::move(fingerprint), {}};
    // Frees the key unless the write stored its answer (release leaves an answered key alone),
    // also if `write` throws.
    struct Release {
        store::IdempotencyTable& table;
        store::WorkspaceId ws;
        const std::string& key;
        ~Release() { table.release(ws, key); }
    } release{table, ws, key};
    return write(idempotent);
}

}  // namespace leadd::api
