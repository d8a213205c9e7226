// The export (GET /api/v1/leads/export): CSV escaping, NDJSON lines, the producer across piece
// boundaries, the snapshot it streams from, and its filters against the list endpoint's.

#include "leadd/api/export_handler.hpp"
#include "leadd/api/json_lead.hpp"
#include "leadd/api/lead_handlers.hpp"
#include "leadd/api/query.hpp"
#include "leadd/auth/key_registry.hpp"
#include "leadd/http/router.hpp"
#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"
#include "leadd/store/lead_store.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace json = boost::json;
using leadd::api::ExportFormat;
using leadd::api::ExportProducer;
using namespace leadd::store;

namespace {

constexpr WorkspaceId ws_a = 0xaaaa;

std::string csv_field(std::string_view v) {
    std::string out;
    leadd::api::append_csv_field(out, v);
    return out;
}

// An RFC 4180 reader, written from the RFC and independent of the writer: records of fields,
// "..." quoting with "" for a quote, CRLF between records. Fails the test on malformed input.
std::vector<std::vector<std::string>> parse_csv(std::string_view text) {
    std::vector<std::vector<std::string>> records;
    std::vector<std::string> record;
    std::string field;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == '"') {
            for (++i;; ++i) {
                REQUIRE(i < text.size());  // an unterminated quoted field
                if (text[i] != '"') field.push_back(text[i]);
                else if (i + 1 < text.size() && text[i + 1] == '"') field.push_back(text[++i]);
                else break;
            }
            ++i;
        } else {
            while (i < text.size() && text[i] != ',' && text[i] != '\r' && text[i] != '"') {
                REQUIRE(text[i] != '\n');  // a bare LF outside quotes
                field.push_back(text[i++]);
            }
            REQUIRE((i == text.size() || text[i] != '"'));  // a quote inside an unquoted field
        }
        if (i < text.size() && text[i] == ',') {
            record.push_back(std::move(field));
            field.clear();
            ++i;
            continue;
        }
        REQUIRE(text.substr(i, 2) == "\r\n");  // every record ends with CRLF
        record.push_back(std::move(field));
        field.clear();
        records.push_back(std::move(record));
        record.clear();
        i += 2;
    }
    return records;
}

std::vector<std::string> ndjson_lines(std::string_view text) {
    std::vector<std::string> lines;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        REQUIRE(nl != std::string_view::npos);  // every line ends with \n
        lines.emplace_back(text.substr(0, nl));
        text.remove_prefix(nl + 1);
    }
    return lines;
}

// Runs a producer to its end; `pieces` counts its calls.
std::string drain(ExportProducer producer, std::size_t* pieces = nullptr, std::size_t* largest = nullptr) {
    std::string all, piece;
    for (bool more = true; more;) {
        piece.clear();
        more = producer(piece);
        if (pieces) ++*pieces;
        if (largest) *largest = std::max(*largest, piece.size());
        all += piece;
    }
    return all;
}

NewLead lead_named(std::string name, std::string email) {
    NewLead l;
    l.name = std::move(name);
    l.email = std::move(email);
    return l;
}

// The CSV row of a lead, field by field, from its JSON: what the row must say.
std::vector<std::string> expected_row(const Lead& lead) {
    const auto j = json::parse(leadd::api::render_lead_json(lead)).as_object();
    auto text = [&](const char* k) { return j.at(k).is_null() ? std::string() : std::string(j.at(k).as_string()); };
    return {text("id"),     text("name"),     text("email"),         text("phone"),
            text("source"), text("status"),   json::serialize(j.at("metadata")),
            text("workspaceId"), text("createdAt"), text("updatedAt")};
}

}  // namespace

TEST_CASE("a CSV field is quoted only when it must be, with its quotes doubled", "[export]") {
    CHECK(csv_field("plain text") == "plain text");
    CHECK(csv_field("") == "");
    CHECK(csv_field("Zoë 東京 🙂") == "Zoë 東京 🙂");  // UTF-8 passes through as bytes
    CHECK(csv_field("a,b") == "\"a,b\"");
    CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csv_field("\"") == "\"\"\"\"");
    CHECK(csv_field("line\nbreak") == "\"line\nbreak\"");
    CHECK(csv_field("cr\rhere") == "\"cr\rhere\"");
    CHECK(csv_field("crlf\r\n") == "\"crlf\r\n\"");
    // Exported as stored: no spreadsheet-formula escaping (see SECURITY.md).
    CHECK(csv_field("=1+1") == "=1+1");
    CHECK(csv_field("+1-555-0100") == "+1-555-0100");
}

TEST_CASE("a CSV row holds every field of the lead's JSON and parses back to it", "[export]") {
    LeadStore store;
    NewLead tricky = lead_named("O\"Brien, \"Jr\"\r\nSecond line 東京", "Tricky+tag@Example.com");
    tricky.phone = "+1 (555) 010-0199";
    tricky.source = "web, \"paid\"";
    tricky.status = Status::FollowUp;
    tricky.metadata = json::parse(R"({"note":"a,b\n\"c\"","nested":{"x":[1,2.5,null]},"n":null})").as_object();
    const LeadPtr full = store.create(ws_a, std::move(tricky)).value();
    const LeadPtr bare = store.create(ws_a, lead_named("Bare", "bare@example.com")).value();

    std::string csv(leadd::api::csv_header_row);
    leadd::api::append_csv_row(csv, *full);
    leadd::api::append_csv_row(csv, *bare);
    const auto records = parse_csv(csv);
    REQUIRE(records.size() == 3);
    CHECK(records[0] == std::vector<std::string>{"id", "name", "email", "phone", "source", "status", "metadata",
                                                 "workspaceId", "createdAt", "updatedAt"});
    CHECK(records[1] == expected_row(*full));
    CHECK(records[2] == expected_row(*bare));
    CHECK(records[2][3].empty());  // null phone
    CHECK(records[2][4].empty());  // null source
    CHECK(records[2][6] == "{}");
    CHECK(json::parse(records[1][6]) == json::value(full->metadata.object()));
}

TEST_CASE("an NDJSON line is the lead's GET JSON, and exporting does not fill the JSON cache", "[export]") {
    LeadStore store;
    const LeadPtr lead = store.create(ws_a, lead_named("Line \"one\"\nwith break", "l@example.com")).value();
    REQUIRE_FALSE(lead->json.peek());  // the store renders nothing itself
    std::string out;
    leadd::api::append_ndjson_line(out, *lead);
    CHECK(out == leadd::api::render_lead_json(*lead) + "\n");
    CHECK_FALSE(lead->json.peek());  // 100 000 exported leads must not stay rendered
    std::string read;
    leadd::api::append_read_lead_json(read, *lead);  // a second read keeps the rendering
    leadd::api::append_read_lead_json(read, *lead);
    REQUIRE(lead->json.peek());
    const std::string kept(*lead->json.peek());
    out.clear();
    leadd::api::append_ndjson_line(out, *lead);
    CHECK(out == kept + "\n");
}

TEST_CASE("the producer emits every lead once, in list order, across many small pieces", "[export]") {
    LeadStore store;
    for (int i = 0; i < 500; ++i)
        REQUIRE(store.create(ws_a, lead_named("Lead " + std::to_string(i) + ", \"q\"",
                                               "lead" + std::to_string(i) + "@example.com")).ok());
    const auto snapshot = store.list_all(ws_a, {});
    REQUIRE(snapshot.size() == 500);
    std::vector<std::string> ids;
    for (const auto& l : snapshot) ids.push_back(format_hex_id("lead_", l->id));

    SECTION("ndjson") {
        std::size_t pieces = 0, largest = 0;
        const auto text = drain(ExportProducer(snapshot, ExportFormat::Ndjson, 1000), &pieces, &largest);
        CHECK(pieces > 100);
        CHECK(largest < 1000 + 400);  // a piece stops at the first whole line past its size
        const auto lines = ndjson_lines(text);
        REQUIRE(lines.size() == 500);
        for (std::size_t i = 0; i < lines.size(); ++i) {
            CHECK(std::string(json::parse(lines[i]).at("id").as_string()) == ids[i]);
            CHECK(lines[i] == leadd::api::render_lead_json(*snapshot[i]));
        }
    }
    SECTION("csv") {
        std::size_t pieces = 0;
        const auto text = drain(ExportProducer(snapshot, ExportFormat::Csv, 1000), &pieces);
        CHECK(pieces > 50);
        const auto records = parse_csv(text);
        REQUIRE(records.size() == 501);
        for (std::size_t i = 0; i < 500; ++i) CHECK(records[i + 1] == expected_row(*snapshot[i]));
    }
    SECTION("default pieces of 64 KiB") {
        std::size_t pieces = 0, largest = 0;
        const auto text = drain(ExportProducer(snapshot, ExportFormat::Ndjson), &pieces, &largest);
        REQUIRE(text.size() > 64 * 1024);
        CHECK(pieces == 2);
        CHECK(largest >= 64 * 1024);
        CHECK(largest < 64 * 1024 + 400);
        CHECK(ndjson_lines(text).size() == 500);
    }
}

TEST_CASE("an empty export is empty NDJSON, or CSV with its header row only", "[export]") {
    CHECK(drain(ExportProducer({}, ExportFormat::Ndjson)).empty());
    CHECK(drain(ExportProducer({}, ExportFormat::Csv)) == leadd::api::csv_header_row);
}

TEST_CASE("the snapshot does not see updates, deletes or creates made after it was taken", "[export]") {
    LeadStore store;
    const LeadPtr kept = store.create(ws_a, lead_named("Kept", "kept@example.com")).value();
    const LeadPtr renamed = store.create(ws_a, lead_named("Before", "renamed@example.com")).value();
    const LeadPtr deleted = store.create(ws_a, lead_named("Deleted", "deleted@example.com")).value();

    auto snapshot = store.list_all(ws_a, {});
    std::vector<std::string> as_taken;  // in list order, as the leads were when it was taken
    for (const auto& l : snapshot) as_taken.push_back(leadd::api::render_lead_json(*l));
    ExportProducer producer(std::move(snapshot), ExportFormat::Ndjson, 1);  // one lead per piece
    std::string first;
    REQUIRE(producer(first));  // one lead is out; then the store changes under the rest

    LeadPatch rename;
    rename.name = "After";
    rename.status = Status::Lost;
    REQUIRE(store.update(ws_a, renamed->id, rename).ok());
    REQUIRE(store.remove(ws_a, deleted->id, std::nullopt).ok());
    REQUIRE(store.remove(ws_a, kept->id, std::nullopt).ok());
    REQUIRE(store.create(ws_a, lead_named("Newcomer", "new@example.com")).ok());

    CHECK(ndjson_lines(first + drain(producer)) == as_taken);
    std::string names;
    for (const auto& line : as_taken) names += std::string(json::parse(line).at("name").as_string()) + ";";
    CHECK(names.find("Before") != std::string::npos);
    CHECK(names.find("Deleted") != std::string::npos);
    CHECK(names.find("Newcomer") == std::string::npos);
    // The store itself moved on: one renamed lead and the newcomer.
    CHECK(store.list_all(ws_a, {}).size() == 2);
}

TEST_CASE("list_all applies status, source and search exactly as list does", "[export][store]") {
    LeadStore store;
    const Status statuses[] = {Status::New, Status::Contacted, Status::Lost};
    const char* sources[] = {"web", "Web", "referral"};
    for (int i = 0; i < 60; ++i) {
        NewLead l = lead_named(i % 4 == 0 ? "ÉMILE Smith" : i % 4 == 1 ? "john SMITH" : "Ann Lee",
                               "p" + std::to_string(i) + (i % 5 == 0 ? "@Smith.example" : "@example.com"));
        l.status = statuses[i % 3];
        if (i % 7 != 0) l.source = sources[i % 3];
        REQUIRE(store.create(ws_a, std::move(l)).ok());
    }
    std::vector<ListQuery> queries(1);
    // Field by field: designated initializers leaving the other fields out warn under -Wextra.
    for (auto s : statuses) queries.emplace_back().status = s;
    for (auto src : sources) queries.emplace_back().source = src;
    for (auto term : {"smith", "SMITH", "émile", "ÉMILE", "", "nobody", "P1"}) queries.emplace_back().search = term;
    ListQuery& three_filters = queries.emplace_back();
    three_filters.status = Status::Contacted;
    three_filters.source = "Web";
    three_filters.search = "smith";
    ListQuery& status_and_search = queries.emplace_back();
    status_and_search.status = Status::New;
    status_and_search.search = "example.com";
    for (const auto& q : queries) {
        ListQuery everything = q;
        everything.limit = 1000;
        const auto page = store.list(ws_a, everything);
        const auto all = store.list_all(ws_a, q);
        CHECK(all.size() == page.total);
        CHECK(all == page.leads);
    }
    CHECK(store.list_all(0xdead, {}).empty());  // a workspace with no leads
}

TEST_CASE("the export query: format defaults to ndjson, filters follow the list's rules", "[export][query]") {
    using leadd::api::ExportQuery;
    using leadd::api::FieldError;
    using leadd::api::parse_export_query;
    const auto ok = [](std::string_view q) {
        auto r = parse_export_query(q);
        if (auto* e = std::get_if<FieldError>(&r)) FAIL(q << ": " << e->field << ": " << e->message);
        return std::get<ExportQuery>(r);
    };
    const auto error_field = [](std::string_view q) {
        auto r = parse_export_query(q);
        REQUIRE(std::holds_alternative<FieldError>(r));
        return std::get<FieldError>(r).field;
    };
    CHECK(ok("").format == ExportFormat::Ndjson);
    CHECK(ok("format=csv").format == ExportFormat::Csv);
    CHECK(ok("format=ndjson&format=xml").format == ExportFormat::Ndjson);  // the first one counts
    CHECK(ok("page=abc&limit=0&other=1").format == ExportFormat::Ndjson);   // not export parameters
    const auto q = ok("format=csv&status=lost&source=a%20b&search=J%C3%B6");
    CHECK(q.filters.status == Status::Lost);
    CHECK(q.filters.source == "a b");
    CHECK(q.filters.search == "Jö");
    CHECK(error_field("format=xml") == "format");
    CHECK(error_field("format=CSV") == "format");
    CHECK(error_field("format=") == "format");
    CHECK(error_field("status=bogus") == "status");
    CHECK(error_field("source=") == "source");
    CHECK(error_field("search=" + std::string(201, 'x')) == "search");
    CHECK(error_field("search=%ZZ") == "search");
}

TEST_CASE("GET /api/v1/leads/export through the router: auth, errors, headers, same leads as the list",
          "[export][handlers]") {
    LeadStore store;
    leadd::auth::KeyRegistry keys;
    leadd::api::LeadHandlers handlers{store, keys};
    leadd::http::Router router;
    handlers.register_routes(router);
    const auto ws = keys.create_workspace("A");
    const std::string key = keys.issue_key(ws.id)->api_key;
    for (int i = 0; i < 130; ++i) {
        NewLead l = lead_named(i % 2 ? "Odd Smith" : "Even Jones", "e" + std::to_string(i) + "@example.com");
        l.status = i % 3 ? Status::New : Status::Qualified;
        l.source = i % 4 ? "web" : "fair";
        REQUIRE(store.create(ws.id, std::move(l)).ok());
    }
    const std::string auth = "Bearer " + key;
    const auto send = [&](std::string_view path, std::string_view query, bool with_key = true) {
        leadd::http::Request rq;
        rq.method = "GET";
        rq.path = path;
        rq.query = query;
        if (with_key) rq.headers.emplace_back("Authorization", auth);
        rq.request_id = "req-export";
        return router.route(rq);
    };
    const auto ids_of_export = [&](std::string_view query) {
        auto r = send("/api/v1/leads/export", query);
        INFO(query << " -> " << r.status << " " << r.body);
        REQUIRE(r.status == 200);
        REQUIRE(r.stream);
        std::vector<std::string> ids;
        std::string piece;
        std::string all;
        for (bool more = true; more;) {
            piece.clear();
            more = r.stream(piece);
            all += piece;
        }
        for (const auto& line : ndjson_lines(all)) ids.emplace_back(json::parse(line).at("id").as_string());
        return ids;
    };
    const auto ids_of_list = [&](std::string query) {
        std::vector<std::string> ids;
        for (int page = 1;; ++page) {
            auto r = send("/api/v1/leads", query + "&limit=7&page=" + std::to_string(page));
            REQUIRE(r.status == 200);
            const auto data = json::parse(r.body).at("data").as_object();
            for (const auto& l : data.at("leads").as_array()) ids.emplace_back(l.at("id").as_string());
            if (!data.at("pagination").at("hasNext").as_bool()) return ids;
        }
    };
    for (std::string filters : {"", "status=qualified", "source=fair", "search=SMITH", "status=new&source=web&search=odd",
                                "search=nobody"}) {
        INFO("filters: " << filters);
        CHECK(ids_of_export("format=ndjson&" + filters) == ids_of_list(filters));
    }
    CHECK(ids_of_export("").size() == 130);

    const auto csv = send("/api/v1/leads/export", "format=csv&status=qualified");
    CHECK(csv.content_type == "text/csv; charset=utf-8");
    const auto ndjson = send("/api/v1/leads/export", "");
    CHECK(ndjson.content_type == "application/x-ndjson");
    const auto disposition = [](const leadd::http::Response& r) {
        for (const auto& [k, v] : r.headers)
            if (k == "Content-Disposition") return v;
        return std::string("<absent>");
    };
    const std::string ws_hex = format_hex_id("ws_", ws.id);
    CHECK(disposition(csv) == "attachment; filename=\"leads-" + ws_hex + ".csv\"");
    CHECK(disposition(ndjson) == "attachment; filename=\"leads-" + ws_hex + ".ndjson\"");

    const auto bad = send("/api/v1/leads/export", "format=xml");
    CHECK(bad.status == 400);
    CHECK_FALSE(bad.stream);
    const auto body = json::parse(bad.body).as_object();
    CHECK(body.at("code") == "VALIDATION_ERROR");
    CHECK(body.at("details").at("field") == "format");
    CHECK(send("/api/v1/leads/export", "status=bogus").status == 400);
    const auto anonymous = send("/api/v1/leads/export", "", false);
    CHECK(anonymous.status == 401);
    CHECK(json::parse(anonymous.body).at("code") == "MISSING_AUTH_HEADER");
    CHECK_FALSE(anonymous.stream);
    CHECK(send("/api/v1/leads/export/x", "").status == 404);  // no lead route under export
}
