// libFuzzer target: a request body through the lead validation of create and of update
// (api/validation.hpp), parsed exactly as the handlers parse it (parse_json_object), and what
// an accepted body becomes afterwards.
//
// Invariants:
//   - no exception, whatever the body; a body that is not a JSON object is a 400;
//   - a create the validation accepts has a trimmed, non-empty name of at most 200 characters
//     in valid UTF-8, a valid email, metadata of at most 16 levels and 64 KiB;
//   - it survives every way a lead is shown or kept: rendered as the API's JSON, the JSON parses
//     and, without the server's fields, validates again to the same lead; encoded for the log,
//     it decodes to the same lead; the store takes it (or refuses it as a duplicate email only);
//   - an update the validation accepts, applied by the store to an existing lead, is accepted or
//     refused with a typed error, and the lead it leaves would itself pass create's validation
//     (the store never holds a lead the API would refuse).

#include "fuzz_check.hpp"

#include "leadd/api/json_lead.hpp"
#include "leadd/api/request_checks.hpp"
#include "leadd/api/validation.hpp"
#include "leadd/http/envelope.hpp"
#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"
#include "leadd/store/json_parse.hpp"
#include "leadd/store/lead_codec.hpp"
#include "leadd/store/lead_store.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdint>
#include <string>

namespace json = boost::json;
using namespace leadd;

namespace {

constexpr store::WorkspaceId workspace = 0x1a1a1a1a1a1a1a1aULL;
constexpr store::Millis clock_start = 1'767'225'600'000;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string describe(const store::Lead& lead) { return api::render_lead_json(lead); }

bool same_fields(const store::NewLead& a, const store::Lead& b) {
    return a.name == b.name && a.email == b.email && a.phone == b.phone && a.source == b.source &&
           a.status == b.status && a.metadata == b.metadata;
}

// What a client would send to create this lead again: its API JSON without the server's fields.
json::object as_create_body(const store::Lead& lead) {
    const std::string text = api::render_lead_json(lead);
    boost::system::error_code ec;
    json::value parsed = json::parse(text, ec);  // strict JSON, as any client reads it
    FUZZ_CHECK(!ec, text);
    parsed = store::parse_json(text, ec);  // as the server reads it back
    FUZZ_CHECK(!ec && parsed.is_object(), text);
    auto& o = parsed.get_object();
    FUZZ_CHECK(o.size() == 10, text);
    const auto* id = o.if_contains("id");
    const auto* ws = o.if_contains("workspaceId");
    FUZZ_CHECK(id && id->is_string() && store::parse_hex_id("lead_", id->get_string()) == lead.id, text);
    FUZZ_CHECK(ws && ws->is_string() && store::parse_hex_id("ws_", ws->get_string()) == lead.workspace, text);
    for (const auto* field : {"createdAt", "updatedAt"}) {
        const auto* t = o.if_contains(field);
        FUZZ_CHECK(t && t->is_string() && store::parse_iso8601(t->get_string()), text);
    }
    for (const auto* server_field : {"id", "workspaceId", "createdAt", "updatedAt"}) o.erase(server_field);
    return std::move(o);
}

// The checks every lead the API accepts or keeps must pass; `lead` is as the store keeps it.
void check_lead(const store::Lead& lead) {
    auto context = [&] { return describe(lead); };  // built only when a check fails
    const auto n = api::count_code_points(lead.name);
    FUZZ_CHECK(n >= 1 && n <= 200, context());
    FUZZ_CHECK(!is_space(lead.name.front()) && !is_space(lead.name.back()), context());
    FUZZ_CHECK(http::is_valid_utf8(lead.name), context());
    FUZZ_CHECK(lead.email.size() <= 254 && api::is_valid_email(lead.email), context());
    FUZZ_CHECK(api::json_depth(json::value(lead.metadata.object())) <= api::max_metadata_depth, context());
    FUZZ_CHECK(lead.metadata.text().size() <= api::max_metadata_bytes, context());

    // Shown by the API and sent back as a create: the same lead again.
    auto again = api::validate_create(as_create_body(lead));
    const auto* error = std::get_if<api::FieldError>(&again);
    FUZZ_CHECK(!error, context() + "\nrefused again: " + (error ? error->field + ": " + error->message : ""));
    FUZZ_CHECK(same_fields(std::get<store::NewLead>(again), lead), context());

    // Written to the log and read back at recovery: the same lead again.
    const auto decoded = store::decode_lead(store::encode_lead(lead));
    FUZZ_CHECK(decoded.has_value(), context());
    FUZZ_CHECK(decoded->id == lead.id && decoded->workspace == lead.workspace && decoded->version == lead.version &&
                   decoded->created_at == lead.created_at && decoded->updated_at == lead.updated_at,
               context());
    store::NewLead fields{decoded->name, decoded->email, decoded->phone, decoded->source, decoded->status,
                          decoded->metadata.object()};
    FUZZ_CHECK(same_fields(fields, lead), context());
}

store::StoreOptions store_options() {
    store::StoreOptions options;
    options.shards = 1;
    options.email_stripes = 1;
    options.clock = [now = clock_start]() mutable { return now += 7; };
    return options;
}

// The lead every update is applied to.
store::NewLead existing_lead() {
    store::NewLead lead;
    lead.name = "Ada Lovelace";
    lead.email = "ada@example.com";
    lead.phone = "+44 20 7946 0958";
    lead.source = "webinar";
    lead.metadata = json::object{{"notes", "Follow up scheduled for next week"}, {"score", 42}, {"address", {{"city", "London"}}}};
    return lead;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    http::Request request;
    request.body = std::string_view(reinterpret_cast<const char*>(data), size);
    request.headers.emplace_back("Content-Type", "application/json");
    request.request_id = "fuzz";
    auto parsed = api::parse_json_object(request);
    if (const auto* refused = std::get_if<http::Response>(&parsed)) {
        FUZZ_CHECK(refused->status == 400, refused->body);
        return 0;
    }
    auto& body = std::get<json::object>(parsed);  // the update below moves its metadata out (last use)

    store::LeadStore store(store_options());
    const auto existing = store.create(workspace, existing_lead());
    FUZZ_CHECK(existing.ok(), "the existing lead");
    const store::LeadPtr before = existing.value();

    // As a create.
    auto created = api::validate_create(body);
    if (auto* lead = std::get_if<store::NewLead>(&created)) {
        store::Lead shown;
        shown.id = store::IdGenerator::scramble(12345);
        shown.workspace = workspace;
        shown.name = lead->name;
        shown.email = lead->email;
        shown.phone = lead->phone;
        shown.source = lead->source;
        shown.status = lead->status;
        shown.metadata = lead->metadata;
        shown.created_at = shown.updated_at = clock_start;
        check_lead(shown);

        const store::NewLead accepted = *lead;
        auto stored = store.create(workspace, std::move(*lead));
        if (stored.ok()) {
            check_lead(*stored.value());
            FUZZ_CHECK(same_fields(accepted, *stored.value()), describe(*stored.value()));
        } else {
            FUZZ_CHECK(stored.error().code == store::StoreErrc::DuplicateEmail, accepted.email);
        }
    }

    // As an update of the existing lead.
    const std::string path_id = store::format_hex_id("lead_", before->id);
    auto patch = api::validate_patch(body, path_id, workspace);
    if (auto* p = std::get_if<store::LeadPatch>(&patch)) {
        auto updated = store.update(workspace, before->id, *p);
        if (updated.ok()) {
            const auto& after = *updated.value();
            check_lead(after);
            FUZZ_CHECK(after.id == before->id && after.created_at == before->created_at, describe(after));
            FUZZ_CHECK(after.version == before->version || (after.version == before->version + 1 &&
                                                            after.updated_at > before->updated_at),
                       describe(after));
        } else {
            const auto code = updated.error().code;
            FUZZ_CHECK(code == store::StoreErrc::DuplicateEmail || code == store::StoreErrc::ImmutableField ||
                           code == store::StoreErrc::MetadataTooLarge,
                       std::string(request.body));
        }
    }
    return 0;
}
