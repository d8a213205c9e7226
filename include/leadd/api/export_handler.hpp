#pragma once
// GET /api/v1/leads/export?format=ndjson|csv: every lead of the caller's workspace that passes
// the list's filters, streamed (Response::stream) from a snapshot taken when the request is
// handled. The snapshot is the leads' pointers (LeadStore::list_all): 16 bytes per lead; the text
// is made a piece at a time as the client reads, so a slow reader holds one piece, not the export.
//
// NDJSON: one lead per line, the JSON GET /api/v1/leads/{id} returns in `data`.
// CSV (RFC 4180): a header row, then one row per lead; CRLF line ends; a field is quoted (quotes
// doubled) only when it holds a comma, a quote, CR or LF; null phone/source is an empty field;
// metadata is its JSON text. Values are exported as stored: no spreadsheet-formula escaping.

#include "leadd/api/query.hpp"
#include "leadd/http/message.hpp"
#include "leadd/store/lead_store.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace leadd::api {

// For a caller already admitted into `ws` (LeadHandlers registers the route behind admit_caller).
http::Response export_leads(const http::Request& request, const store::LeadStore& store, store::WorkspaceId ws);

inline constexpr std::string_view csv_header_row =
    "id,name,email,phone,source,status,metadata,workspaceId,createdAt,updatedAt\r\n";
// One field, quoted if it needs to be.
void append_csv_field(std::string& out, std::string_view value);
void append_csv_row(std::string& out, const store::Lead& lead);
// The lead's JSON and "\n". Uses the lead's cached JSON if a reader already made it, and
// otherwise renders it without filling the cache: an export must not leave every lead's text
// behind in memory.
void append_ndjson_line(std::string& out, const store::Lead& lead);

// The body of an export, a piece at a time: each call appends whole lines (the CSV header first)
// until the piece reaches `piece_bytes`, and returns false once the last lead is out. A lead's
// pointer is dropped once it is written, so a lead deleted meanwhile is freed as the export
// passes it. Copies share their progress (std::function may copy its target).
class ExportProducer {
public:
    static constexpr std::size_t default_piece_bytes = 64 * 1024;
    ExportProducer(std::vector<store::LeadPtr> leads, ExportFormat format,
                   std::size_t piece_bytes = default_piece_bytes);
    bool operator()(std::string& piece);

private:
    struct Progress {
        std::vector<store::LeadPtr> leads;
        std::size_t next = 0;
        bool header_written = false;
    };
    std::shared_ptr<Progress> progress_;
    ExportFormat format_;
    std::size_t piece_bytes_;
};

}  // namespace leadd::api
