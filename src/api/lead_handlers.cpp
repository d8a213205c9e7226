#include "leadd/api/lead_handlers.hpp"

#include "leadd/api/export_handler.hpp"
#include "leadd/api/idempotency_key.hpp"
#include "leadd/api/json_lead.hpp"
#include "leadd/api/list_cursor.hpp"
#include "leadd/api/query.hpp"
#include "leadd/api/request_checks.hpp"
#include "leadd/http/envelope.hpp"
#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"

#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>

namespace leadd::api {

namespace json = boost::json;
using store::StoreErrc;

namespace {

// A read answers from (and from its second read on, keeps) the lead's rendering; a write renders
// without keeping (json_lead.hpp says why). Either way straight into the body, allocated once.
enum class Answering { Read, Write };
http::Response lead_response(int status, const store::Lead& lead, Answering answering) {
    std::string body = http::success_envelope_head(lead_json_room(lead));
    if (answering == Answering::Read) append_read_lead_json(body, lead);
    else append_lead_json(body, lead);
    http::Response r = http::success_response_built(status, std::move(body));
    r.set_header("ETag", etag_of(lead));
    return r;
}

// The version the store must still find for If-Match to hold, judged against the lead as it is
// now; the store re-checks it under the lead's lock, so a change in between gives 412. 0 (no
// version) when the header matches nothing; nullopt when there is no condition to keep.
std::optional<std::uint64_t> expected_version(const http::Request& request, const store::LeadPtr& current) {
    if (!request.has_header("If-Match") || !current) return std::nullopt;
    const std::string_view header = request.header("If-Match");
    if (header.find_first_not_of(" \t") != std::string_view::npos &&
        header.substr(header.find_first_not_of(" \t")).starts_with('*'))
        return std::nullopt;  // "*": any current version
    return etag_condition_matches(header, current->version, EtagComparison::Strong)
               ? std::optional<std::uint64_t>(current->version)
               : std::optional<std::uint64_t>(0);
}

std::string location_of(const store::Lead& lead) { return "/api/v1/leads/" + store::format_hex_id("lead_", lead.id); }

http::Response created_response(const store::Lead& lead) {
    auto r = lead_response(201, lead, Answering::Write);
    r.set_header("Location", location_of(lead));
    return r;
}

}  // namespace

void LeadHandlers::register_routes(http::Router& router) {
    // One admitted route: admit_caller in front of `handle(request, workspace, path params)`.
    auto admitted = [this](auto handle) {
        return [this, handle](const http::Request& rq, const http::PathParams& p) {
            return admit_caller(rq, keys_, limiter_, [&](store::WorkspaceId ws) { return handle(rq, ws, p); });
        };
    };
    router.add("POST", "/api/v1/leads", admitted([this](auto& rq, auto ws, auto&) { return create(rq, ws); }));
    router.add("POST", "/api/v1/leads/batch",
               admitted([this](auto& rq, auto ws, auto&) { return create_batch(rq, ws); }));
    router.add("PUT", "/api/v1/leads/batch",
               admitted([this](auto& rq, auto ws, auto&) { return update_batch(rq, ws); }));
    router.add("GET", "/api/v1/leads", admitted([this](auto& rq, auto ws, auto&) { return list(rq, ws); }));
    router.add("GET", "/api/v1/leads/export",
               admitted([this](auto& rq, auto ws, auto&) { return export_leads(rq, store_, ws); }));
    // A route of one lead: its {leadId} is parsed once, and the lead's entry in the store asked
    // for before the caller is admitted, so that it arrives meanwhile (LeadStore::prefetch).
    auto of_one_lead = [this](auto handle) {
        return [this, handle](const http::Request& rq, const http::PathParams& p) {
            const LeadRef lead{p[0], store::parse_hex_id("lead_", p[0])};
            if (lead.id) store_.prefetch(*lead.id);
            return admit_caller(rq, keys_, limiter_, [&](store::WorkspaceId ws) { return handle(rq, ws, lead); });
        };
    };
    router.add("GET", "/api/v1/leads/{leadId}",
               of_one_lead([this](auto& rq, auto ws, auto lead) { return get(rq, ws, lead); }));
    router.add("PUT", "/api/v1/leads/{leadId}",
               of_one_lead([this](auto& rq, auto ws, auto lead) { return update(rq, ws, lead); }));
    router.add("PATCH", "/api/v1/leads/{leadId}",
               of_one_lead([this](auto& rq, auto ws, auto lead) { return update(rq, ws, lead); }));
    router.add("DELETE", "/api/v1/leads/{leadId}",
               of_one_lead([this](auto& rq, auto ws, auto lead) { return remove(rq, ws, lead); }));
}

http::Response LeadHandlers::create(const http::Request& request, store::WorkspaceId ws) const {
    auto key = idempotency_key(request);
    if (auto* e = std::get_if<FieldError>(&key)) return validation_error(request, *e);
    // The parsed body lives in a stack arena for this call only; validation copies out what
    // the store keeps.
    unsigned char arena[4096];
    json::monotonic_resource resource(arena, sizeof arena);
    auto body = parse_json_object(request, &resource);
    if (auto* bad = std::get_if<http::Response>(&body)) return std::move(*bad);
    const auto& object = std::get<json::object>(body);
    if (auto* k = std::get_if<std::string>(&key))
        return run_once(request, store_, ws, std::move(*k), request_fingerprint(request, object),
                        [&](store::LeadStore::IdempotentWrite& w) { return create_lead(request, ws, object, &w); });
    return create_lead(request, ws, object, nullptr);
}

http::Response LeadHandlers::create_lead(const http::Request& request, store::WorkspaceId ws,
                                         const json::object& body, store::LeadStore::IdempotentWrite* idempotent) const {
    auto fields = validate_create(body);
    if (auto* e = std::get_if<FieldError>(&fields)) return validation_error(request, *e);
    auto& lead = std::get<store::NewLead>(fields);
    const std::string sent_email = lead.email;
    if (idempotent) {
        idempotent->answer = [](const store::LeadStore::BatchOutcome& outcome) {
            const store::Lead& lead = *outcome.leads.front();
            return store::StoredAnswer{201, created_response(lead).body, location_of(lead), etag_of(lead)};
        };
    }
    auto created = store_.create(ws, std::move(lead), idempotent);
    if (!created) return store_error(request, created.error(), sent_email);
    return created_response(*created.value());
}

http::Response LeadHandlers::list(const http::Request& request, store::WorkspaceId ws) const {
    auto query = parse_list_query(request.query);
    if (auto* e = std::get_if<FieldError>(&query)) return validation_error(request, *e);
    const auto& q = std::get<store::ListQuery>(query);

    const auto page = store_.list(ws, q);
    const std::size_t total_pages = (page.total + q.limit - 1) / q.limit;
    // A cursor page is numbered by where it starts, as if it had been reached by page numbers.
    json::object pagination{{"page", q.after ? page.before / q.limit + 1 : q.page},
                            {"limit", q.limit},
                            {"total", page.total},
                            {"totalPages", total_pages},
                            {"hasNext", q.after ? page.more : q.page < total_pages},
                            {"hasPrev", q.after ? page.before > 0 : q.page > 1 && page.total > 0}};
    // Offered after page-numbered pages too, so a client can switch to cursors at any page.
    if (page.more && !page.leads.empty())
        pagination["nextCursor"] = encode_list_cursor(q, store::position_of(*page.leads.back(), q.sort));
    // Each lead's JSON is kept in the lead from its second read on; the page is stitched from
    // those texts, in a body allocated once.
    std::size_t room = 256;  // the brackets, the commas and the pagination
    for (const auto& lead : page.leads) room += lead_json_room(*lead) + 1;
    std::string data;
    data.reserve(room);
    data = R"({"leads":[)";
    for (std::size_t i = 0; i < page.leads.size(); ++i) {
        if (i) data.push_back(',');
        append_read_lead_json(data, *page.leads[i]);
    }
    data += R"(],"pagination":)";
    data += json::serialize(pagination);
    data.push_back('}');
    return http::success_response_text(200, data);
}

http::Response LeadHandlers::get(const http::Request& request, store::WorkspaceId ws, LeadRef ref) const {
    const auto lead = ref.id ? store_.get(ws, *ref.id) : nullptr;
    if (!lead) return lead_not_found(request);
    if (request.has_header("If-None-Match")) {
        if (etag_condition_matches(request.header("If-None-Match"), lead->version, EtagComparison::Weak)) {
            http::Response r;
            r.status = 304;
            r.content_type.clear();
            r.set_header("ETag", etag_of(*lead));
            return r;
        }
    }
    return lead_response(200, *lead, Answering::Read);
}

http::Response LeadHandlers::update(const http::Request& request, store::WorkspaceId ws, LeadRef lead) const {
    unsigned char arena[4096];  // see create()
    json::monotonic_resource resource(arena, sizeof arena);
    auto body = parse_json_object(request, &resource);
    if (auto* bad = std::get_if<http::Response>(&body)) return std::move(*bad);
    auto patch = validate_patch(std::get<json::object>(body), lead.text, ws);
    if (auto* e = std::get_if<FieldError>(&patch)) return validation_error(request, *e);

    const auto& id = lead.id;
    if (!id) return lead_not_found(request);
    auto& p = std::get<store::LeadPatch>(patch);
    if (request.has_header("If-Match")) p.if_match = expected_version(request, store_.get(ws, *id));
    const std::string sent_email = p.email.value_or("");
    auto updated = store_.update(ws, *id, p);
    if (!updated) return store_error(request, updated.error(), sent_email, &std::get<json::object>(body));
    return lead_response(200, *updated.value(), Answering::Write);
}

http::Response LeadHandlers::remove(const http::Request& request, store::WorkspaceId ws, LeadRef lead) const {
    const auto& id = lead.id;
    if (!id) return lead_not_found(request);
    const auto expected =
        request.has_header("If-Match") ? expected_version(request, store_.get(ws, *id)) : std::nullopt;
    auto deleted = store_.remove(ws, *id, expected);
    if (!deleted) return store_error(request, deleted.error());
    json::object body{{"success", true},
                      {"message", "Lead deleted successfully"},
                      {"data", {{"id", lead.text}, {"deletedAt", store::format_iso8601(deleted.value())}}}};
    http::Response r;
    r.body = json::serialize(body);
    return r;
}

}  // namespace leadd::api
