// libFuzzer target: the log's record reader (wal/format.hpp) and what recovery does with the
// records it returns (the payload decoders and the store's and key registry's restore), over
// arbitrary bytes taken as a segment or snapshot file.
//
// Each input is read twice: as it is, which tests how damage is found, and with every record's
// checksum recomputed in place ("repaired"), since random bytes almost never carry a valid
// CRC-32C and the payload decoders would otherwise see nothing.
//
// Invariants:
//   - the reader never reads outside the input, and stops with a reason: a clean end exactly at
//     the end of the input, else the reason the record at offset() fails, which the header
//     there confirms (too few bytes, impossible length, checksum, unknown type);
//   - every record it returns is exactly the bytes frame_record writes for its type, seq and
//     payload at that offset (so its checksum matches), and records tile the input from 0 to
//     offset(): what it drops is size() - offset() bytes at offset();
//   - the repaired input has no checksum failure;
//   - a payload that decodes re-encodes to one that decodes to the same thing; restoring any
//     payload into a store and a key registry never crashes, and the store then lists, counts
//     and renders what it holds.

#include "fuzz_check.hpp"

#include "leadd/api/json_lead.hpp"
#include "leadd/auth/key_registry.hpp"
#include "leadd/store/lead_codec.hpp"
#include "leadd/store/lead_store.hpp"
#include "leadd/wal/codec.hpp"
#include "leadd/wal/format.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

using namespace leadd;
using wal::RecordReader;
using wal::RecordType;

namespace {

std::string hex(std::string_view bytes, std::size_t limit = 64) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

bool same_lead(const store::Lead& a, const store::Lead& b) {
    return a.id == b.id && a.workspace == b.workspace && a.version == b.version && a.created_at == b.created_at &&
           a.updated_at == b.updated_at && a.status == b.status && a.name == b.name && a.email == b.email &&
           a.phone == b.phone && a.source == b.source && a.metadata == b.metadata;
}

// The workspaces of a LeadBatch payload's leads (a count, then each lead as a length-prefixed
// LeadPut payload), or nullopt when any of it does not decode.
std::optional<std::vector<store::WorkspaceId>> batch_workspaces(std::string_view payload) {
    wal::PayloadReader batch(payload);
    const std::uint64_t count = batch.u64();
    std::vector<store::WorkspaceId> touched;
    for (std::uint64_t i = 0; i < count && batch.ok(); ++i) {
        const auto lead = store::decode_lead(batch.str());
        if (!lead) return std::nullopt;
        touched.push_back(lead->workspace);
    }
    if (!batch.done()) return std::nullopt;
    return touched;
}

void check_entry_round_trip(const store::IdempotencyEntry& entry, const std::string& context) {
    const auto again = store::decode_idempotency_entry(store::encode_idempotency_entry(entry));
    FUZZ_CHECK(again && again->workspace == entry.workspace && again->key == entry.key &&
                   again->fingerprint == entry.fingerprint && again->answered_at == entry.answered_at &&
                   again->answer.status == entry.answer.status && again->answer.body == entry.answer.body &&
                   again->answer.location == entry.answer.location && again->answer.etag == entry.answer.etag,
               context);
}

// What recovery does with one record: decode, check the codec round trip, restore.
void apply(const wal::RecordView& record, store::LeadStore& store, auth::KeyRegistry& keys,
           std::set<store::WorkspaceId>& workspaces) {
    auto context = [&] { return "type " + std::to_string(int(record.type)) + " payload " + hex(record.payload); };
    switch (record.type) {
    case RecordType::LeadPut: {
        const auto lead = store::decode_lead(record.payload);
        if (lead) {
            const auto again = store::decode_lead(store::encode_lead(*lead));
            FUZZ_CHECK(again && same_lead(*again, *lead), context());
            workspaces.insert(lead->workspace);
        }
        FUZZ_CHECK(store.restore_lead(record.payload) == lead.has_value(), context());
        break;
    }
    case RecordType::LeadDelete: {
        const auto deletion = store::decode_lead_deletion(record.payload);
        if (deletion) {
            const auto again = store::decode_lead_deletion(store::encode_lead_deletion(*deletion));
            FUZZ_CHECK(again && again->id == deletion->id && again->workspace == deletion->workspace, context());
        }
        FUZZ_CHECK(store.restore_deletion(record.payload) == deletion.has_value(), context());
        break;
    }
    case RecordType::SnapshotHeader: {
        // A header's lead count presizes the store's maps, up to 16M leads' worth of zeroed
        // buckets: true to recovery, but ~10 ms an input would take most of the fuzzing time.
        // The cap itself has a unit test (test_lead_store); here a large count is read only.
        wal::PayloadReader header(record.payload);
        header.u64();
        if (header.u64() <= 4096) store.restore_header(record.payload);
        break;
    }
    case RecordType::WorkspaceCreate:
    case RecordType::KeyIssue:
    case RecordType::KeyRevoke:
        keys.restore(record.type, record.payload);
        break;
    case RecordType::LeadBatch: {
        const auto touched = batch_workspaces(record.payload);
        FUZZ_CHECK(store.restore_batch(record.payload) == touched.has_value(), context());
        if (touched) workspaces.insert(touched->begin(), touched->end());
        break;
    }
    case RecordType::Idempotent: {
        // The stored answer, then the write it answers as a LeadPut or LeadBatch payload.
        wal::PayloadReader in(record.payload);
        const auto entry = store::decode_idempotency_entry(in.str());
        if (entry) check_entry_round_trip(*entry, context());
        const auto inner_type = static_cast<RecordType>(in.byte());
        const std::string_view inner = in.str();
        std::optional<std::vector<store::WorkspaceId>> touched;
        if (entry && in.done() && inner_type == RecordType::LeadPut) {
            if (const auto lead = store::decode_lead(inner)) touched.emplace(1, lead->workspace);
        } else if (entry && in.done() && inner_type == RecordType::LeadBatch) {
            touched = batch_workspaces(inner);
        }
        FUZZ_CHECK(store.restore_idempotent(record.payload) == touched.has_value(), context());
        if (touched) workspaces.insert(touched->begin(), touched->end());
        break;
    }
    case RecordType::IdempotencyEntry: {
        const auto entry = store::decode_idempotency_entry(record.payload);
        if (entry) check_entry_round_trip(*entry, context());
        FUZZ_CHECK(store.restore_idempotency_entry(record.payload) == entry.has_value(), context());
        break;
    }
    case RecordType::SnapshotEnd:
        break;
    }
}

// Reads `bytes` to the end as recovery would; returns why the reader stopped.
RecordReader::Stop read_all(std::string_view bytes) {
    store::StoreOptions options;
    options.shards = 2;
    options.email_stripes = 2;
    options.clock = [] { return store::Millis{1'767'225'600'000}; };
    store::LeadStore store(options);
    auth::KeyRegistry keys;
    std::set<store::WorkspaceId> workspaces;

    RecordReader reader(bytes);
    std::size_t at = 0;  // where the next record must start
    std::string framed;
    while (const auto record = reader.next()) {
        framed.clear();
        wal::frame_record(framed, record->type, record->seq, record->payload);
        auto context = [&] { return "record at " + std::to_string(at) + ": " + hex(bytes.substr(at)); };
        FUZZ_CHECK(framed.size() <= bytes.size() - at && bytes.substr(at, framed.size()) == framed, context());
        FUZZ_CHECK(record->payload.data() == bytes.data() + at + wal::record_header_bytes, context());
        at += framed.size();
        FUZZ_CHECK(reader.offset() == at, context());
        apply(*record, store, keys, workspaces);
    }

    const auto stop = reader.stop();
    const std::size_t left = bytes.size() - at;
    auto context = [&] {
        return std::string(wal::to_string(stop)) + " at " + std::to_string(reader.offset()) + " of " +
               std::to_string(bytes.size()) + ": " + hex(bytes.substr(at));
    };
    FUZZ_CHECK(reader.offset() == at && reader.size() == bytes.size(), context());
    FUZZ_CHECK(!reader.next(), context());  // stays stopped
    switch (stop) {
    case RecordReader::Stop::None:
        FUZZ_CHECK(false, context());
        break;
    case RecordReader::Stop::CleanEnd:
        FUZZ_CHECK(left == 0, context());
        break;
    case RecordReader::Stop::Truncated:
        FUZZ_CHECK(left > 0, context());
        FUZZ_CHECK(left < wal::record_header_bytes ||
                       left < wal::record_header_bytes + wal::read_record_header(bytes.data() + at).length,
                   context());
        break;
    case RecordReader::Stop::BadLength:
        FUZZ_CHECK(left >= wal::record_header_bytes &&
                       wal::read_record_header(bytes.data() + at).length > wal::max_record_payload,
                   context());
        break;
    case RecordReader::Stop::BadChecksum:
    case RecordReader::Stop::BadType: {
        FUZZ_CHECK(left >= wal::record_header_bytes, context());
        const auto header = wal::read_record_header(bytes.data() + at);
        FUZZ_CHECK(left >= wal::record_header_bytes + header.length, context());
        const bool crc_matches =
            wal::crc32c(bytes.substr(at + 4, wal::record_header_bytes - 4 + header.length)) == header.crc;
        const bool known_type = header.type >= 1 && header.type <= std::uint8_t(RecordType::LastType);
        if (stop == RecordReader::Stop::BadChecksum) FUZZ_CHECK(!crc_matches, context());
        else FUZZ_CHECK(crc_matches && !known_type, context());
        break;
    }
    }

    // Whatever was restored, the store serves it.
    std::size_t listed = 0;
    for (const auto ws : workspaces) {
        store::ListQuery query;
        query.limit = 100;
        const auto page = store.list(ws, query);
        for (const auto& lead : page.leads) {
            FUZZ_CHECK(lead->workspace == ws, context());
            FUZZ_CHECK(store.get(ws, lead->id) == lead, context());
            api::render_lead_json(*lead);
        }
        listed += page.total;
        FUZZ_CHECK(page.total == store.count(ws), context());
    }
    FUZZ_CHECK(listed == store.size(), context());
    return stop;
}

// `bytes` with each record's checksum recomputed, as far as the lengths in the headers allow.
std::string with_checksums_repaired(std::string_view bytes) {
    std::string out(bytes);
    for (std::size_t at = 0; out.size() - at >= wal::record_header_bytes;) {
        const auto header = wal::read_record_header(out.data() + at);
        if (header.length > wal::max_record_payload || out.size() - at - wal::record_header_bytes < header.length)
            break;
        const std::uint32_t crc =
            wal::crc32c(std::string_view(out).substr(at + 4, wal::record_header_bytes - 4 + header.length));
        for (int i = 0; i < 4; ++i) out[at + static_cast<std::size_t>(i)] = static_cast<char>(crc >> (8 * i));
        at += wal::record_header_bytes + header.length;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    read_all(bytes);
    const std::string repaired = with_checksums_repaired(bytes);
    const auto stop = read_all(repaired);
    FUZZ_CHECK(stop != RecordReader::Stop::BadChecksum, hex(repaired));
    return 0;
}
