// Writes the fuzz targets' seed corpora (corpus/<target>/) and the HTTP target's dictionary
// from the real thing: HTTP requests that use the credentials and lead ids of fuzz_service.hpp,
// lead bodies, RFC 7396's own examples, and log segments and a snapshot written by the real Log
// and Persistence. Run by hand after changing the fixture or the formats; commit the output.
//
//   build/fuzz/tests/fuzz/write_seed_corpus tests/fuzz

#include "fuzz_service.hpp"

#include "leadd/api/list_cursor.hpp"
#include "leadd/ops/persistence.hpp"
#include "leadd/store/clock.hpp"
#include "leadd/wal/file_system.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace leadd;

namespace {

void write_file(const fs::path& path, std::string_view bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

const std::string key_a(fuzz::api_key_a), key_b(fuzz::api_key_b), token(fuzz::admin_token);
const std::string lead_1 = fuzz::preset_lead_id(1), lead_2 = fuzz::preset_lead_id(2), lead_3 = fuzz::preset_lead_id(3);
const std::string lead_created = fuzz::preset_lead_id(fuzz::preset_leads + 1);  // the first create's id
const std::string ws_a = store::format_hex_id("ws_", fuzz::workspace_a);
const std::string key_id_b = store::format_hex_id("key_", fuzz::key_id_b);

// One HTTP/1.1 request as a client writes it.
std::string request(std::string_view method, std::string_view target, const std::string& bearer = "",
                    std::string_view body = {}, std::vector<std::string> headers = {}) {
    std::string out = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n";
    if (!bearer.empty()) out += "Authorization: Bearer " + bearer + "\r\n";
    for (const auto& h : headers) out += h + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    out += "\r\n";
    out += body;
    return out;
}

const std::string create_body =
    R"({"name": "John Smith", "email": "john.doe@example.com", "phone": "+1-555-0100", "source": "webinar", )"
    R"("status": "new", "metadata": {"company": "Acme Inc", "notes": "Met at the conference", "tags": ["vip"]}})";
const std::string update_body =
    R"({"status": "contacted", "metadata": {"notes": "Follow up scheduled for next week", "score": null}})";

void write_http_seeds(const fs::path& dir) {
    const auto seed = [&](const std::string& name, const std::string& bytes) { write_file(dir / name, bytes); };
    seed("healthz", request("GET", "/healthz"));
    seed("readyz", request("GET", "/readyz"));
    seed("create_lead", request("POST", "/api/v1/leads", key_a, create_body));
    seed("create_lead_minimal",
         request("POST", "/api/v1/leads", key_b, R"({"name":"Ada","email":"ADA@Example.com"})"));
    seed("list_leads", request("GET", "/api/v1/leads?page=1&limit=10&status=new&source=webinar&search=ada", key_a));
    seed("list_leads_encoded", request("GET", "/api/v1/leads?search=Grace%20H&limit=1&page=2&x=%zz", key_a));
    seed("list_leads_sorted",
         request("GET", "/api/v1/leads?sort=name&order=asc&createdAfter=2026-01-01T00:00:00Z"
                        "&createdBefore=2026-01-01T00:00:00.050Z&updatedAfter=2026-01-01T00:00:00.007Z&limit=2", key_a));
    // A cursor after the first preset lead, replayed with its own query and then with another sort.
    store::ListQuery by_update;
    by_update.sort = store::SortField::UpdatedAt;
    by_update.order = store::SortOrder::Asc;
    by_update.status = store::Status::New;
    const std::string cursor = api::encode_list_cursor(
        by_update, {fuzz::clock_start + 7, "", *store::parse_hex_id("lead_", lead_1)});
    seed("list_leads_cursor",
         request("GET", "/api/v1/leads?sort=updatedAt&order=asc&status=new&limit=1", key_a) +
             request("GET", "/api/v1/leads?sort=updatedAt&order=asc&status=new&limit=1&cursor=" + cursor, key_a) +
             request("GET", "/api/v1/leads?sort=name&order=asc&status=new&cursor=" + cursor, key_a));
    seed("get_lead", request("GET", "/api/v1/leads/" + lead_1, key_a));
    seed("get_lead_not_modified", request("GET", "/api/v1/leads/" + lead_2, key_a, "", {"If-None-Match: W/\"1\""}));
    seed("get_lead_other_workspace", request("GET", "/api/v1/leads/" + lead_1, key_b));
    seed("put_lead", request("PUT", "/api/v1/leads/" + lead_1, key_a, update_body, {"If-Match: \"1\""}));
    seed("put_lead_echo", request("PUT", "/api/v1/leads/" + lead_1, key_a,
                                  R"({"id": ")" + lead_1 + R"(", "workspaceId": ")" + ws_a +
                                      R"(", "createdAt": "2026-01-01T00:00:00.007Z", "name": "Ada King"})"));
    seed("patch_lead", request("PATCH", "/api/v1/leads/" + lead_2, key_a,
                               R"({"email": "grace.hopper@example.com", "phone": null, "source": "referral"})"));
    seed("patch_lead_duplicate_email",
         request("PATCH", "/api/v1/leads/" + lead_2, key_a, R"({"email": "ADA@example.com"})"));
    // A keyed create, its retry, and the key reused for another body.
    seed("create_lead_idempotent",
         request("POST", "/api/v1/leads", key_a, create_body, {"Idempotency-Key: import-1"}) +
             request("POST", "/api/v1/leads", key_a, create_body, {"Idempotency-Key: import-1"}) +
             request("POST", "/api/v1/leads", key_a, R"({"name":"Other","email":"other@example.com"})",
                     {"Idempotency-Key: import-1"}));
    seed("delete_lead", request("DELETE", "/api/v1/leads/" + lead_1, key_a, "", {"If-Match: *"}));
    seed("delete_lead_stale", request("DELETE", "/api/v1/leads/" + lead_3, key_b, "", {"If-Match: \"7\""}));
    seed("admin_create_workspace", request("POST", "/api/v1/admin/workspaces", token, R"({"name": "Acme"})"));
    seed("admin_list_workspaces", request("GET", "/api/v1/admin/workspaces", token));
    seed("admin_create_key", request("POST", "/api/v1/admin/workspaces/" + ws_a + "/keys", token, "{}"));
    seed("admin_revoke_key", request("DELETE", "/api/v1/admin/keys/" + key_id_b, token) +
                                 request("GET", "/api/v1/leads", key_b));
    seed("pipelined_lifecycle",
         request("POST", "/api/v1/leads", key_a, create_body) + request("GET", "/api/v1/leads/" + lead_created, key_a) +
             request("PUT", "/api/v1/leads/" + lead_created, key_a, update_body, {"If-Match: \"1\""}) +
             request("DELETE", "/api/v1/leads/" + lead_created, key_a) +
             request("GET", "/api/v1/leads?limit=5", key_a));
    std::string rate_limited;
    for (std::uint64_t i = 0; i <= fuzz::rate_limit_per_hour; ++i) rate_limited += request("GET", "/api/v1/leads", key_b);
    seed("rate_limited", rate_limited);
    const auto chunk = [](std::string_view data) {
        char size[20];
        std::snprintf(size, sizeof size, "%zx", data.size());
        return std::string(size) + "\r\n" + std::string(data) + "\r\n";
    };
    seed("chunked_create", "POST /api/v1/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_a +
                               "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                               chunk(R"({"name":"Chunky","em)") + chunk(R"(ail":"chunky@example.com"})") + "0\r\n\r\n");
    seed("expect_continue", request("POST", "/api/v1/leads", key_a, R"({"name":"Expect","email":"e@example.io"})",
                                     {"Expect: 100-continue", "X-Request-Id: client-chosen-id-42"}));
    seed("http10_keep_alive", "GET /api/v1/leads/" + lead_2 + " HTTP/1.0\r\nConnection: keep-alive\r\n"
                              "Authorization: Bearer " + key_a + "\r\n\r\n" + request("GET", "/healthz"));
    seed("connection_close", request("GET", "/readyz", "", "", {"Connection: close"}) + request("GET", "/healthz"));
    seed("missing_auth", request("GET", "/api/v1/leads"));
    seed("wrong_key", request("GET", "/api/v1/leads", "sk-workspace_nope"));
    seed("method_not_allowed", request("PATCH", "/api/v1/leads", key_a, "{}"));
    seed("not_found", request("GET", "/api/v1/leads/" + lead_1 + "/notes", key_a));
    seed("invalid_json", request("POST", "/api/v1/leads", key_a, R"({"name": "Trailing", })"));
    seed("wrong_media_type", "POST /api/v1/leads HTTP/1.1\r\nAuthorization: Bearer " + key_a +
                                 "\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
    seed("create_lead_exact_numbers",
         request("POST", "/api/v1/leads", key_a,
                 R"({"name":"Numbers","email":"n@example.com","metadata":{"big":-3.3333333333333334E86,"tiny":5e-324}})"));
    seed("create_lead_number_too_large", request("POST", "/api/v1/leads", key_a,
                                                 R"({"name":"Inf","email":"inf@example.com","metadata":{"x":1e400}})"));
    seed("batch_create", request("POST", "/api/v1/leads/batch", key_a,
                                 R"({"leads":[{"name":"One","email":"one@example.com"},)"
                                 R"({"name":"Two","email":"two@example.com","status":"qualified"},)"
                                 R"({"name":"Dup","email":"ONE@example.com"},{"name":""}]})"));
    seed("batch_create_atomic", request("POST", "/api/v1/leads/batch?atomic=true", key_a,
                                        R"({"leads":[{"name":"A1","email":"a1@example.com"},)"
                                        R"({"name":"A2","email":"ada@example.com"}]})"));
    seed("batch_update", request("PUT", "/api/v1/leads/batch?atomic=false", key_a,
                                 R"({"updates":[{"id":")" + lead_1 + R"(","status":"lost"},{"id":")" + lead_2 +
                                     R"(","metadata":{"score":7}},{"id":")" + lead_3 + R"(","name":"Not mine"}]})"));
    seed("export_ndjson", request("GET", "/api/v1/leads/export?format=ndjson&status=new", key_a));
    seed("export_csv", request("GET", "/api/v1/leads/export?format=csv&search=a", key_a) +
                           request("GET", "/api/v1/leads/export?format=xml", key_a));
    seed("validation_error", request("POST", "/api/v1/leads", key_a,
                                     R"({"name": "", "email": "not-an-email", "status": "won"})"));
    seed("body_too_large", "POST /api/v1/leads HTTP/1.1\r\nAuthorization: Bearer " + key_a +
                               "\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{");
    seed("malformed", "GET /api/v1/leads HTTP/1.1\r\nBad Header\r\n\r\n");
}

void write_http_dictionary(const fs::path& path) {
    std::vector<std::string> words = {
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", " HTTP/1.1\r\n", " HTTP/1.0\r\n", "\r\n\r\n",
        "/api/v1/leads", "/api/v1/leads/", "/api/v1/admin/workspaces", "/api/v1/admin/workspaces/", "/keys",
        "/api/v1/admin/keys/", "/healthz", "/readyz", "/api/v1/leads/batch", "/api/v1/leads/export",
        "?atomic=true", "?format=ndjson", "?format=csv", "\"leads\":[", "\"updates\":[", "?page=", "&limit=", "&status=", "&source=", "&search=",
        "&sort=", "createdAt", "updatedAt", "name", "&order=", "asc", "desc", "&createdAfter=", "&createdBefore=",
        "&updatedAfter=", "&cursor=", "2026-01-01T00:00:00Z", "%",
        "Authorization: Bearer ", "Content-Type: application/json\r\n", "Content-Length: ",
        "Transfer-Encoding: chunked\r\n", "Connection: close\r\n", "Connection: keep-alive\r\n",
        "Expect: 100-continue\r\n", "If-Match: ", "If-None-Match: ", "X-Request-Id: ", "Idempotency-Key: ", "W/\"1\"", "\"1\"", "\"2\"",
        "*", "lead_", "ws_", "key_", "sk-workspace_", "\"name\":", "\"email\":", "\"phone\":", "\"source\":",
        "\"status\":", "\"metadata\":", "\"id\":", "\"createdAt\":", "\"updatedAt\":", "\"workspaceId\":", "null",
        "\"new\"", "\"contacted\"", "\"qualified\"", "\"converted\"", "\"lost\"", "\"follow_up\"",
        "@example.com", "2026-01-01T00:00:00.007Z",
        key_a, key_b, token, lead_1, lead_2, lead_3, lead_created, ws_a, key_id_b,
        store::format_hex_id("ws_", fuzz::workspace_b), store::format_hex_id("key_", fuzz::key_id_a)};
    std::string out = "# libFuzzer dictionary of fuzz_http_request; written by write_seed_corpus.cpp.\n";
    for (const auto& w : words) {
        out += '"';
        for (unsigned char c : w) {
            if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
            else if (c < 0x20 || c >= 0x7f) {
                char buf[5];
                std::snprintf(buf, sizeof buf, "\\x%02X", c);
                out += buf;
            } else out += static_cast<char>(c);
        }
        out += "\"\n";
    }
    write_file(path, out);
}

void write_lead_seeds(const fs::path& dir) {
    const auto seed = [&](const std::string& name, const std::string& body) { write_file(dir / name, body); };
    seed("create_full", create_body);
    seed("create_minimal", R"({"name":"Ada Lovelace","email":"ada.lovelace@example.co.uk"})");
    seed("create_unicode", R"({"name":"  Zoë Ünal 李  ","email":"zoe+leads@sub.example-mail.org","source":"ünïcode"})");
    seed("create_nested_metadata", R"({"name":"N","email":"n@x.io","metadata":{"a":{"b":{"c":[1,2.5,-3e2,true,null]}}}})");
    seed("create_server_field", R"({"id":"lead_0000000000000001","name":"X","email":"x@y.zz"})");
    seed("create_bad_email", R"({"name":"Bad","email":"bad@@example..com"})");
    seed("create_bad_phone", R"({"name":"Phone","email":"p@example.com","phone":"555-CALL-NOW"})");
    seed("update_status_metadata", update_body);
    seed("update_echo", R"({"id":")" + store::format_hex_id("lead_", store::IdGenerator::scramble(1)) +
                            R"(","workspaceId":"ws_1a1a1a1a1a1a1a1a","createdAt":"2026-01-01T00:00:00.007Z",)"
                            R"("updatedAt":"1999-01-01T00:00:00.000Z","name":"Ada King"})");
    seed("update_clear", R"({"phone":null,"source":null,"metadata":{"address":null}})");
    seed("update_null_name", R"({"name":null})");
    seed("update_unknown_field", R"({"nickname":"Ada"})");
}

// RFC 7396, Appendix A, as [target, patch] (only the cases whose target and patch are objects,
// as a lead's metadata and an update's metadata always are), and a lead's metadata update.
void write_merge_patch_seeds(const fs::path& dir) {
    std::vector<std::string> examples = {
        R"([{"a":"b"}, {"a":"c"}])",
        R"([{"a":"b"}, {"b":"c"}])",
        R"([{"a":"b"}, {"a":null}])",
        R"([{"a":"b","b":"c"}, {"a":null}])",
        R"([{"a":["b"]}, {"a":"c"}])",
        R"([{"a":"c"}, {"a":["b"]}])",
        R"([{"a":{"b":"c"}}, {"a":{"b":"d","c":null}}])",
        R"([{"a":[{"b":"c"}]}, {"a":[1]}])",
        R"([{"e":null}, {"a":1}])",
        R"([{}, {"a":{"bb":{"ccc":null}}}])",
        R"([{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],)"
        R"("content":"This will be unchanged"}, {"title":"Hello!","phoneNumber":"+01-123-456-7890",)"
        R"("author":{"familyName":null},"tags":["example"]}])",
    };
    for (std::size_t i = 0; i < examples.size(); ++i)
        write_file(dir / ("rfc7396_" + std::to_string(i + 1)), examples[i]);
    write_file(dir / "lead_metadata",
               R"([{"notes":"Met at the conference","score":42,"address":{"city":"London","zip":"N1"}}, )"
               R"({"notes":"Follow up scheduled for next week","score":null,"address":{"zip":null,"country":"UK"}}])");
}

// A real data dir: the Persistence of main, the store and registry appending their records.
void write_log_seeds(const fs::path& dir) {
    const fs::path data = fs::temp_directory_path() / ("leadd-seed-corpus-" + std::to_string(::getpid()));
    fs::remove_all(data);
    fs::create_directories(data);
    {
        store::LeadStore store;
        auth::KeyRegistry keys;
        ops::PersistenceOptions options;
        options.log.dir = data;
        options.log.fs = wal::posix_file_system();
        auto opened = ops::Persistence::open(options, store, keys);
        if (auto* failure = std::get_if<std::string>(&opened)) throw std::runtime_error(*failure);
        auto& persistence = *std::get<std::unique_ptr<ops::Persistence>>(opened);

        const auto ws = keys.create_workspace("Acme");
        const auto key = keys.issue_key(ws.id);
        const auto second = keys.issue_key(ws.id);
        keys.revoke(second->key_id);
        std::vector<store::LeadId> ids;
        for (int i = 0; i < 3; ++i) {
            store::NewLead lead;
            lead.name = "Lead " + std::to_string(i);
            lead.email = "lead" + std::to_string(i) + "@example.com";
            if (i != 1) lead.phone = "+1 555 010" + std::to_string(i);
            if (i != 2) lead.source = "webinar";
            lead.metadata = boost::json::object{{"notes", "Met at the conference"}, {"score", i * 10}};
            ids.push_back(store.create(ws.id, std::move(lead)).value()->id);
        }
        store::LeadPatch patch;
        patch.status = store::Status::Contacted;
        patch.metadata_merge = boost::json::object{{"notes", "Follow up"}, {"score", nullptr}};
        store.update(ws.id, ids[0], patch);
        store.remove(ws.id, ids[1], std::nullopt);
        // Idempotent writes: an Idempotent record around a LeadPut (and, in the snapshot, its
        // IdempotencyEntry), then one around a LeadBatch.
        auto answer_with = [](std::string key) {
            return store::LeadStore::IdempotentWrite{key, std::string(32, 'f'), [](const auto& outcome) {
                return store::StoredAnswer{201, "{\"n\":" + std::to_string(outcome.leads.size()) + "}", "/here", "\"1\""};
            }};
        };
        auto once = answer_with("retry-1");
        store.idempotency().claim(ws.id, once.key, once.fingerprint, store.now());
        store::NewLead retried;
        retried.name = "Retried";
        retried.email = "retried@example.com";
        store.create(ws.id, std::move(retried), &once);
        persistence.log().wait_durable(persistence.log().last_seq());
        if (auto ec = persistence.snapshot()) throw std::runtime_error("snapshot: " + ec.message());
        store::LeadPatch after;
        after.email = "lead2.new@example.com";
        store.update(ws.id, ids[2], after);
        std::vector<store::NewLead> batch(2);
        batch[0].name = "Batch one";
        batch[0].email = "batch1@example.com";
        batch[1].name = "Batch two";
        batch[1].email = "batch2@example.com";
        batch[1].metadata = boost::json::object{{"from", "batch"}};
        if (!store.create_all(ws.id, std::move(batch)).applied()) throw std::runtime_error("batch not applied");
        std::vector<store::NewLead> retried_batch(1);
        retried_batch[0].name = "Retried batch";
        retried_batch[0].email = "retried.batch@example.com";
        auto twice = answer_with("retry-2");
        store.idempotency().claim(ws.id, twice.key, twice.fingerprint, store.now());
        store.create_all(ws.id, std::move(retried_batch), store::LeadStore::BatchMode::EachOnItsOwn, &twice);
        keys.revoke(key->key_id);
        persistence.log().wait_durable(persistence.log().last_seq());

        for (const auto& entry : fs::directory_iterator(data)) {
            const std::string name = entry.path().filename().string();
            const std::string bytes = read_file(entry.path());
            if (name.ends_with(".log") && !bytes.empty()) {
                const std::string kind = name.starts_with("wal-0000000000000001") ? "segment_first" : "segment_after_snapshot";
                write_file(dir / (kind + ".log"), bytes);
                write_file(dir / (kind + "_torn.log"), bytes.substr(0, bytes.size() - 5));
            } else if (name.ends_with(".snap")) {
                write_file(dir / "snapshot.snap", bytes);
                std::string flipped = bytes;
                flipped[flipped.size() / 2] ^= 0x10;
                write_file(dir / "snapshot_bit_flipped.snap", flipped);
            }
        }
        persistence.close();
    }
    fs::remove_all(data);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: write_seed_corpus <tests/fuzz directory>\n";
        return 2;
    }
    // Overwrites its own files and leaves the rest: the regression-* seeds are crashes the
    // fuzzers found, added by hand (see README, "Fuzzing").
    const fs::path root = argv[1];
    write_http_seeds(root / "corpus" / "http_request");
    write_http_dictionary(root / "http_request.dict");
    write_lead_seeds(root / "corpus" / "lead_validation");
    write_merge_patch_seeds(root / "corpus" / "merge_patch");
    write_log_seeds(root / "corpus" / "log_record_reader");
    std::cout << "seed corpora written under " << (root / "corpus").string() << "\n";
    return 0;
}
