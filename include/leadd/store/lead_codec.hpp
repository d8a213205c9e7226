#pragma once
// Log payloads of the store's records: the whole lead (LeadPut), a deletion (LeadDelete) and the
// snapshot header (the id counter). Binary, so a typical lead costs ~1.2x its JSON-free fields.

#include "leadd/store/lead.hpp"
#include "leadd/wal/codec.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace leadd::store {

std::string encode_lead(const Lead& lead);
void encode_lead(const Lead& lead, wal::PayloadWriter& out);  // appends; a batch reuses one buffer
std::optional<Lead> decode_lead(std::string_view payload);
// Encodes each of `leads` in turn, into one reused buffer, and hands each payload to `take`: a
// snapshot's pass over every lead.
void encode_each(const std::vector<const Lead*>& leads,
                 const std::function<void(std::string_view payload)>& take);

struct LeadDeletion {
    WorkspaceId workspace;
    LeadId id;
};
std::string encode_lead_deletion(const LeadDeletion& d);
std::optional<LeadDeletion> decode_lead_deletion(std::string_view payload);

}  // namespace leadd::store
