#pragma once
// Log payloads of the store's records: the whole lead (LeadPut), a deletion (LeadDelete) and the
// snapshot header (the id counter). Binary, so a typical lead costs ~1.2x its JSON-free fields.

#include "leadd/store/lead.hpp"
#include "leadd/wal/codec.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace leadd::store {

std::string encode_lead(const Lead& lead);
void encode_lead(const Lead& lead, wal::PayloadWriter& out);  // appends; a batch reuses one buffer
std::optional<Lead> decode_lead(std::string_view payload);

struct LeadDeletion {
    WorkspaceId workspace;
    LeadId id;
};
std::string encode_lead_deletion(const LeadDeletion& d);
std::optional<LeadDeletion> decode_lead_deletion(std::string_view payload);

}  // namespace leadd::store
