// POST and PUT /api/v1/leads/batch: up to max_batch_items creates or updates in one request.
//
// Each item is validated and applied on its own, in order, and answered with its own status
// inside one 200 (207-style); with ?atomic=true all are applied or none (LeadStore::create_all /
// update_all: one lock set, one log record), and when one fails the others answer 424
// BATCH_ABORTED. Either way the request waits once for the log (the server's durability gate),
// so a batch costs one group commit, not one per item. A POST batch may carry an
// Idempotency-Key (idempotency_key.hpp); its answer is logged in the batch's own record.

#include "leadd/api/idempotency_key.hpp"
#include "leadd/api/json_lead.hpp"
#include "leadd/api/lead_handlers.hpp"
#include "leadd/api/query.hpp"
#include "leadd/api/request_checks.hpp"
#include "leadd/http/envelope.hpp"
#include "leadd/store/ids.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <unordered_map>

namespace leadd::api {

namespace json = boost::json;

namespace {

// The batch's answer, written item by item straight into the response body (an answer of 1000
// leads is ~450 KB, not worth copying into an envelope after). Each item's answer is
// {"index":i,"status":s,"data":lead} or {"index":i,"status":s,"error":...,"code":...,"details":...}
// (the error envelope's fields).
struct ItemResults {
    std::string text = http::success_envelope_head() + R"({"results":[)";
    std::size_t succeeded = 0, failed = 0;

    void success(std::size_t index, int status, const store::Lead& lead) {
        open(index, status);
        text += R"(,"data":)";
        append_lead_json(text, lead);  // a write's answer: not cached (json_lead.hpp)
        text += '}';
        ++succeeded;
    }
    // `answer`: the error response a single request would have got; its envelope minus
    // success and requestId (the batch has one) becomes the item's.
    // `drop_detail`: a key of the answer's details that does not hold for the item.
    void failure(std::size_t index, const http::Response& answer, json::object extra_details = {},
                 std::string_view drop_detail = {}) {
        json::object envelope = json::parse(answer.body).as_object();
        open(index, answer.status);
        for (std::string_view key : {"error", "code"}) {
            text += ",\"";
            text += key;
            text += "\":";
            text += json::serialize(envelope.at(key));
        }
        json::value* details = envelope.if_contains("details");
        if (details && !drop_detail.empty()) details->as_object().erase(drop_detail);
        if (!extra_details.empty()) {
            if (!details) {
                envelope["details"].emplace_object();
                details = envelope.if_contains("details");
            }
            for (auto& kv : extra_details) details->as_object()[kv.key()] = std::move(kv.value());
        }
        if (details) text += R"(,"details":)" + json::serialize(*details);
        text += '}';
        ++failed;
    }
    http::Response respond() {
        text += R"(],"succeeded":)";
        text += std::to_string(succeeded);
        text += R"(,"failed":)";
        text += std::to_string(failed);
        text += '}';
        return http::success_response_built(200, std::move(text));
    }

private:
    void open(std::size_t index, int status) {
        if (succeeded + failed > 0) text += ',';
        text += R"({"index":)";
        text += std::to_string(index);
        text += R"(,"status":)";
        text += std::to_string(status);
    }
};

http::Response aborted(const http::Request& request, std::size_t failed_index) {
    return http::error_response(424, "BATCH_ABORTED", "Not applied: the batch is atomic and another item failed",
                                request, {{"failedIndex", failed_index}});
}

// ?atomic=true|false (default false).
std::variant<bool, FieldError> parse_atomic(std::string_view query) {
    for (const auto& [name, raw] : split_query(query)) {
        if (name != "atomic") continue;
        const auto value = percent_decode(raw);
        if (value == "true" || value == "1") return true;
        if (value == "false" || value == "0") return false;
        return FieldError{"atomic", json::string(http::to_valid_utf8(value.value_or(std::string(raw)))),
                          "atomic must be true or false"};
    }
    return false;
}

// The body's one array field ("leads" or "updates"), with 1..max_batch_items items. Not const:
// validate_patch moves each update's metadata out of its item.
std::variant<json::array*, FieldError> batch_items(json::object& body, std::string_view field) {
    for (const auto& kv : body)
        if (kv.key() != field)
            return FieldError{std::string(kv.key()), kv.value(), "Unknown field: the body is {\"" + std::string(field) + "\": [...]}"};
    json::value* items = body.if_contains(field);
    if (!items || !items->is_array())
        return FieldError{std::string(field), items ? *items : json::value(nullptr), std::string(field) + " must be an array"};
    auto& array = items->get_array();
    if (array.empty() || array.size() > LeadHandlers::max_batch_items)
        return FieldError{std::string(field), nullptr,
                          std::string(field) + " must have 1 to " + std::to_string(LeadHandlers::max_batch_items) + " items"};
    return &array;
}

// The checks every batch runs before its items: ?atomic, the JSON body, its array.
struct BatchRequest {
    bool atomic = false;
    json::object body;
    json::array* items = nullptr;
};
std::variant<BatchRequest, http::Response> read_batch(const http::Request& request, std::string_view field,
                                                      json::storage_ptr storage) {
    auto atomic = parse_atomic(request.query);
    if (auto* e = std::get_if<FieldError>(&atomic)) return validation_error(request, *e);
    auto body = parse_json_object(request, std::move(storage));
    if (auto* bad = std::get_if<http::Response>(&body)) return std::move(*bad);
    BatchRequest batch{std::get<bool>(atomic), std::move(std::get<json::object>(body)), nullptr};
    auto items = batch_items(batch.body, field);
    if (auto* e = std::get_if<FieldError>(&items)) return validation_error(request, *e);
    batch.items = std::get<json::array*>(items);
    return batch;
}

FieldError not_an_object(std::string_view field, std::size_t index, const json::value& v) {
    return {std::string(field) + "[" + std::to_string(index) + "]", v, "Each item must be a JSON object"};
}

// The items of a POST batch: validated, then handed to the store in one call (one lock set,
// one log record). Atomic: any failure leaves every item unapplied. Otherwise each item succeeds
// or fails as it would have on its own, in order. With an Idempotency-Key, the answer is
// rendered under the store's locks and logged with the batch.
http::Response create_leads(store::LeadStore& store, const http::Request& request, store::WorkspaceId ws, bool atomic,
                            const json::array& items, store::LeadStore::IdempotentWrite* idempotent) {
    // Validation first, for every item: an atomic batch with an invalid item touches nothing.
    std::vector<std::optional<FieldError>> invalid(items.size());
    std::vector<store::NewLead> leads;  // the valid items, in order
    std::vector<std::size_t> item_of;   // leads[j] is item item_of[j]
    std::vector<std::string_view> sent_emails;  // as each item spelled it (a 409 reports that); `items` outlives them
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (!items[i].is_object()) {
            invalid[i] = not_an_object("leads", i, items[i]);
            continue;
        }
        auto checked = validate_create(items[i].get_object());
        if (auto* e = std::get_if<FieldError>(&checked)) {
            invalid[i] = std::move(*e);
            continue;
        }
        item_of.push_back(i);
        sent_emails.emplace_back(items[i].get_object().at("email").get_string());
        leads.push_back(std::move(std::get<store::NewLead>(checked)));
    }
    if (atomic && leads.size() != items.size()) {
        ItemResults results;
        const auto first_invalid = static_cast<std::size_t>(
            std::find_if(invalid.begin(), invalid.end(), [](const auto& e) { return e.has_value(); }) - invalid.begin());
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (invalid[i]) results.failure(i, validation_error(request, *invalid[i]));
            else results.failure(i, aborted(request, first_invalid));
        }
        return results.respond();
    }

    auto render = [&](const store::LeadStore::BatchOutcome& outcome) {
        // A duplicate of another item of this batch is named by its index.
        std::unordered_map<store::LeadId, std::size_t> item_with_id;
        for (std::size_t j = 0; j < outcome.ids.size(); ++j) item_with_id.emplace(outcome.ids[j], item_of[j]);
        std::vector<const store::StoreError*> failure_of(item_of.size(), nullptr);  // `leads` is moved out by now
        for (const auto& [j, e] : outcome.failures) failure_of[j] = &e;
        ItemResults results;
        for (std::size_t i = 0, j = 0; i < items.size(); ++i) {
            if (invalid[i]) {
                results.failure(i, validation_error(request, *invalid[i]));
                continue;
            }
            const std::size_t at = j++;
            if (const store::StoreError* e = failure_of[at]) {
                json::object extra;
                if (auto it = item_with_id.find(e->existing_lead); it != item_with_id.end())
                    extra["duplicateOfIndex"] = it->second;
                // Atomic: the other item's lead was never created, so name the item only.
                const std::string_view drop = atomic && !extra.empty() ? "existingLeadId" : std::string_view();
                results.failure(i, store_error(request, *e, sent_emails[at]), std::move(extra), drop);
            } else if (!outcome.failures.empty() && atomic) {
                results.failure(i, aborted(request, item_of[outcome.failures.front().first]));
            } else {
                results.success(i, 201, *outcome.leads[at]);
            }
        }
        return results.respond();
    };
    std::optional<http::Response> stored;
    if (idempotent) {
        idempotent->answer = [&](const store::LeadStore::BatchOutcome& outcome) {
            stored = render(outcome);
            return store::StoredAnswer{stored->status, stored->body, {}, {}};
        };
    }
    const auto mode = atomic ? store::LeadStore::BatchMode::AllOrNothing : store::LeadStore::BatchMode::EachOnItsOwn;
    const auto outcome = store.create_all(ws, std::move(leads), mode, idempotent);
    if (outcome.refused) return writes_unavailable(request);
    if (stored) return std::move(*stored);
    return render(outcome);
}

}  // namespace

http::Response LeadHandlers::create_batch(const http::Request& request, store::WorkspaceId ws) const {
    auto key = idempotency_key(request);
    if (auto* e = std::get_if<FieldError>(&key)) return validation_error(request, *e);
    json::monotonic_resource arena;
    auto read = read_batch(request, "leads", &arena);
    if (auto* refused = std::get_if<http::Response>(&read)) return std::move(*refused);
    const auto& batch = std::get<BatchRequest>(read);
    if (auto* k = std::get_if<std::string>(&key))
        return run_once(request, store_, ws, std::move(*k), request_fingerprint(request, batch.body),
                        [&](store::LeadStore::IdempotentWrite& w) {
                            return create_leads(store_, request, ws, batch.atomic, *batch.items, &w);
                        });
    return create_leads(store_, request, ws, batch.atomic, *batch.items, nullptr);
}

http::Response LeadHandlers::update_batch(const http::Request& request, store::WorkspaceId ws) const {
    json::monotonic_resource arena;
    auto read = read_batch(request, "updates", &arena);
    if (auto* refused = std::get_if<http::Response>(&read)) return std::move(*refused);
    auto& [atomic, body, items] = std::get<BatchRequest>(read);

    // Each item: {"id": "lead_...", ...the fields of a PUT body}.
    struct Checked {
        std::optional<FieldError> invalid;
        bool not_found = false;  // an id that cannot name a lead
        store::LeadId id = 0;
        store::LeadPatch patch;
    };
    std::vector<Checked> checked(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) {
        auto& item = (*items)[i];
        Checked& c = checked[i];
        if (!item.is_object()) {
            c.invalid = not_an_object("updates", i, item);
            continue;
        }
        const json::value* id = item.get_object().if_contains("id");
        if (!id || !id->is_string()) {
            c.invalid = FieldError{"id", id ? *id : json::value(nullptr), "Each update must name its lead: \"id\": \"lead_...\""};
            continue;
        }
        const std::string_view lead_id = id->get_string();
        auto patch = validate_patch(item.get_object(), lead_id, ws);
        if (auto* e = std::get_if<FieldError>(&patch)) {
            c.invalid = std::move(*e);
            continue;
        }
        c.patch = std::move(std::get<store::LeadPatch>(patch));
        const auto parsed = store::parse_hex_id("lead_", lead_id);
        c.not_found = !parsed;
        c.id = parsed.value_or(0);
    }
    auto sent_email = [&](std::size_t i) { return checked[i].patch.email.value_or(""); };

    ItemResults results;
    if (!atomic) {
        for (std::size_t i = 0; i < checked.size(); ++i) {
            Checked& c = checked[i];
            if (c.invalid) {
                results.failure(i, validation_error(request, *c.invalid));
                continue;
            }
            if (c.not_found) {
                results.failure(i, lead_not_found(request));
                continue;
            }
            auto updated = store_.update(ws, c.id, c.patch);
            if (!updated) {
                results.failure(i, store_error(request, updated.error(), sent_email(i), &(*items)[i].as_object()));
                continue;
            }
            results.success(i, 200, *updated.value());
        }
        return results.respond();
    }

    std::optional<std::size_t> first_bad;
    for (std::size_t i = 0; i < checked.size() && !first_bad; ++i)
        if (checked[i].invalid || checked[i].not_found) first_bad = i;
    if (first_bad) {
        for (std::size_t i = 0; i < checked.size(); ++i) {
            if (checked[i].invalid) results.failure(i, validation_error(request, *checked[i].invalid));
            else if (checked[i].not_found) results.failure(i, lead_not_found(request));
            else results.failure(i, aborted(request, *first_bad));
        }
        return results.respond();
    }
    std::vector<std::pair<store::LeadId, store::LeadPatch>> updates;
    updates.reserve(checked.size());
    for (auto& c : checked) updates.emplace_back(c.id, c.patch);
    const auto outcome = store_.update_all(ws, updates);
    if (outcome.refused) return writes_unavailable(request);
    if (!outcome.applied()) {
        std::size_t next_failure = 0;
        for (std::size_t i = 0; i < checked.size(); ++i) {
            if (next_failure < outcome.failures.size() && outcome.failures[next_failure].first == i)
                results.failure(i, store_error(request, outcome.failures[next_failure++].second, sent_email(i),
                                               &(*items)[i].as_object()));
            else
                results.failure(i, aborted(request, outcome.failures.front().first));
        }
        return results.respond();
    }
    for (std::size_t i = 0; i < outcome.leads.size(); ++i) results.success(i, 200, *outcome.leads[i]);
    return results.respond();
}

}  // namespace leadd::api
