#include "leadd/api/export_handler.hpp"

#include "leadd/api/json_lead.hpp"
#include "leadd/api/request_checks.hpp"
#include "leadd/store/clock.hpp"
#include "leadd/store/ids.hpp"

#include <utility>

namespace leadd::api {

void append_csv_field(std::string& out, std::string_view value) {
    if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
        out += value;
        return;
    }
    out.push_back('"');
    for (std::size_t start = 0;;) {
        const auto quote = value.find('"', start);
        out.append(value.substr(start, quote == std::string_view::npos ? quote : quote + 1 - start));
        if (quote == std::string_view::npos) break;
        out.push_back('"');  // the quote just copied, doubled
        start = quote + 1;
    }
    out.push_back('"');
}

void append_csv_row(std::string& out, const store::Lead& lead) {
    store::append_hex_id(out, "lead_", lead.id);  // ids and times need no quoting: appended as they are
    out.push_back(',');
    append_csv_field(out, lead.name);
    out.push_back(',');
    append_csv_field(out, lead.email);
    out.push_back(',');
    append_csv_field(out, lead.phone.value_or(""));
    out.push_back(',');
    append_csv_field(out, lead.source.value_or(""));
    out.push_back(',');
    out += store::to_string(lead.status);
    out.push_back(',');
    append_csv_field(out, lead.metadata.text());  // as in the lead's JSON
    out.push_back(',');
    store::append_hex_id(out, "ws_", lead.workspace);
    out.push_back(',');
    store::append_iso8601(out, lead.created_at);
    out.push_back(',');
    store::append_iso8601(out, lead.updated_at);
    out += "\r\n";
}

void append_ndjson_line(std::string& out, const store::Lead& lead) {
    append_lead_json(out, lead);  // the cached text if a read made it; an export does not fill the cache
    out.push_back('\n');
}

ExportProducer::ExportProducer(std::vector<store::LeadPtr> leads, ExportFormat format, std::size_t piece_bytes)
    : progress_(std::make_shared<Progress>(Progress{std::move(leads)})), format_(format),
      piece_bytes_(piece_bytes) {}

bool ExportProducer::operator()(std::string& piece) {
    Progress& p = *progress_;
    if (format_ == ExportFormat::Csv && !p.header_written) {
        piece += csv_header_row;
        p.header_written = true;
    }
    for (; p.next < p.leads.size() && piece.size() < piece_bytes_; ++p.next) {
        if (format_ == ExportFormat::Csv) append_csv_row(piece, *p.leads[p.next]);
        else append_ndjson_line(piece, *p.leads[p.next]);
        p.leads[p.next].reset();
    }
    return p.next < p.leads.size();
}

http::Response export_leads(const http::Request& request, const store::LeadStore& store, store::WorkspaceId ws) {
    auto query = parse_export_query(request.query);
    if (auto* e = std::get_if<FieldError>(&query)) return validation_error(request, *e);
    const auto& q = std::get<ExportQuery>(query);
    const bool csv = q.format == ExportFormat::Csv;

    http::Response r;
    r.content_type = csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
    r.set_header("Content-Disposition", "attachment; filename=\"leads-" + store::format_hex_id("ws_", ws) +
                                            (csv ? ".csv\"" : ".ndjson\""));
    // The snapshot is taken here, when the request is handled; the bytes are made as they are sent.
    r.stream = ExportProducer(store.list_all(ws, q.filters), q.format);
    return r;
}

}  // namespace leadd::api
