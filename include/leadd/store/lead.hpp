#pragma once
// The lead as the store keeps it, and the typed commands that change it.

#include <boost/json/object.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace leadd::store {

enum class Status : std::uint8_t { New, Contacted, Qualified, Converted, Lost, FollowUp };
inline constexpr std::size_t status_count = 6;

std::string_view to_string(Status s);
std::optional<Status> parse_status(std::string_view s);

using LeadId = std::uint64_t;       // shown as "lead_" + 16 hex
using WorkspaceId = std::uint64_t;  // shown as "ws_" + 16 hex
using Millis = std::int64_t;        // milliseconds since the Unix epoch, UTC

// A slot for a rendering of an immutable lead (its JSON), kept from the lead's second read on,
// so a hot lead is serialized once or twice, not on every GET. Not on the first read: a lead read
// once (a GET run over a million leads reads most leads once) would keep ~350 bytes it never
// gives back, and growing the heap costs more than rendering again (load/README.md, "A read's
// rendering"). One block, its size then its bytes: a read finds the text one line away from the
// slot, not behind a std::string's own pointer. Not part of the lead's value: a copied or
// assigned Lead starts with an empty slot (the copy is about to differ).
class RenderCache {
public:
    RenderCache() = default;
    RenderCache(const RenderCache&) noexcept {}
    RenderCache& operator=(const RenderCache&) noexcept {
        release(slot_.exchange(empty, std::memory_order_acq_rel));
        return *this;
    }
    ~RenderCache() { release(slot_.load(std::memory_order_acquire)); }

    // The kept rendering, if a read kept one (never changes the slot).
    std::optional<std::string_view> peek() const {
        const std::uintptr_t slot = slot_.load(std::memory_order_acquire);
        if (slot == empty || slot == read_once) return std::nullopt;
        return text_of(slot);
    }
    // For a read that found no rendering kept: whether the lead was read before, so that this
    // read's rendering is worth keeping; the first read is noted instead (of two first reads at
    // once, one is noted and the other keeps).
    bool read_before() const {
        std::uintptr_t expected = empty;
        return !slot_.compare_exchange_strong(expected, read_once, std::memory_order_relaxed) && expected == read_once;
    }
    // Keeps a copy of `text` as the rendering, unless another read kept one first; returns the
    // rendering kept (the same text: the lead is immutable).
    std::string_view keep(std::string_view text) const {
        auto* block = static_cast<char*>(::operator new(sizeof(std::size_t) + text.size()));
        const std::size_t size = text.size();
        std::memcpy(block, &size, sizeof size);
        std::memcpy(block + sizeof size, text.data(), size);
        const auto fresh = reinterpret_cast<std::uintptr_t>(block);
        std::uintptr_t expected = slot_.load(std::memory_order_acquire);
        while (expected == empty || expected == read_once) {
            if (slot_.compare_exchange_weak(expected, fresh, std::memory_order_acq_rel, std::memory_order_acquire))
                return text_of(fresh);
        }
        ::operator delete(block);
        return text_of(expected);
    }

private:
    // Blocks are aligned (operator new), so neither marker is ever a block's address.
    static constexpr std::uintptr_t empty = 0;
    static constexpr std::uintptr_t read_once = 1;
    static std::string_view text_of(std::uintptr_t block) {
        const auto* bytes = reinterpret_cast<const char*>(block);
        std::size_t size;
        std::memcpy(&size, bytes, sizeof size);
        return {bytes + sizeof size, size};
    }
    static void release(std::uintptr_t slot) {
        if (slot != empty && slot != read_once) ::operator delete(reinterpret_cast<char*>(slot));
    }

    mutable std::atomic<std::uintptr_t> slot_{empty};
};

// Where an index of the lead's workspace keeps this lead, carried by the lead so that an update
// or erase finds it without a table (or a descent) of its own. Written and read by that index,
// under the workspace's listing lock, and only while the index holds this state of the lead.
// The store also reads the listing's cell under the lead's shard lock, as a prefetch hint: every
// write to it is made under that shard lock too (the store indexes a change before releasing
// it), but for a snapshot's leads, which are indexed while the store opens, before any request.
// Like RenderCache, not part of the lead's value: a copy is a new lead that no index holds yet,
// so copying neither reads nor carries the place (a copy made under a shard lock never races
// the index moving the original).
template <class Place, Place nowhere>
class IndexPlace {
public:
    static constexpr Place none = nowhere;
    IndexPlace() = default;
    IndexPlace(const IndexPlace&) noexcept {}
    IndexPlace& operator=(const IndexPlace&) noexcept { return *this; }

    Place get() const { return place_; }
    void set(Place place) const { place_ = place; }

private:
    mutable Place place_ = nowhere;
};

struct ListedLead;  // workspace_index.hpp: the listing index's cell for one lead

using SearchSlot = IndexPlace<std::uint32_t, ~std::uint32_t{0}>;  // SearchIndex's slot number
using ListingSlot = IndexPlace<ListedLead*, nullptr>;              // WorkspaceIndex's cell

// A lead's metadata, kept as the compact JSON text of the object (what boost::json::serialize
// writes, so equal objects built the same way have equal text): answers and log records copy
// the text as it is instead of serializing the object on every one, and the text takes well
// under half the memory of the parsed object (a table, plus a heap block per key: ~130 bytes
// less for a two-key object). merged() applies a patch of scalars to the text itself; object()
// parses it back, exactly (json_parse.hpp), for any other merge or a test.
class Metadata {
public:
    Metadata() = default;  // {}
    Metadata(const boost::json::object& object);  // NOLINT: a lead's metadata is set from objects

    std::string_view text() const { return text_; }
    // `storage`: where the object's nodes go (a scratch buffer for an object that only lives
    // until it is merged and serialized back).
    boost::json::object object(boost::json::storage_ptr storage = {}) const;
    // This metadata with an RFC 7396 merge patch applied (merge_patch.hpp).
    Metadata merged(const boost::json::object& patch) const;
    friend bool operator==(const Metadata& a, const Metadata& b) { return a.text_ == b.text_; }

private:
    std::string text_ = "{}";
};

// An immutable snapshot: the store never changes a Lead in place, it swaps in a new one, so a
// reader holding a shared_ptr<const Lead> needs no lock.
struct Lead {
    LeadId id = 0;
    WorkspaceId workspace = 0;
    std::string name;
    std::string email;
    std::optional<std::string> phone;
    std::optional<std::string> source;
    Status status = Status::New;
    SearchSlot search_slot;     // in the padding after status: no bytes of its own
    Metadata metadata;
    Millis created_at = 0;
    Millis updated_at = 0;
    std::uint64_t version = 1;  // the ETag; bumped on every change, never reused for this lead
    RenderCache json;           // the API's JSON of this version, once someone asked for it
    ListingSlot listing;
};

// How the store hands out a lead: shared, so a reader keeps the version it got.
using LeadPtr = std::shared_ptr<const Lead>;

// The bytes of a lead's strings and metadata text: what its JSON and its log record hold beyond
// a bounded amount of keys, numbers and framing (what their writers reserve for).
inline std::size_t text_bytes(const Lead& lead) {
    return lead.name.size() + lead.email.size() + (lead.phone ? lead.phone->size() : 0) +
           (lead.source ? lead.source->size() : 0) + lead.metadata.text().size();
}

// Asks for the first line of each of a lead's own heap blocks (name, email, metadata text),
// without waiting: at a million leads each is a cold line, found only through the lead, and
// asked for together they arrive in about the time of one (the snapshot's encoding, an update,
// a lead's first rendering). Phone and source are left out: they are usually short enough (15
// bytes) to sit inside the lead's own strings.
inline void prefetch_text(const Lead& lead) {
    __builtin_prefetch(lead.name.data());
    __builtin_prefetch(lead.email.data());
    __builtin_prefetch(lead.metadata.text().data());
}

// A create, already validated by the api layer.
struct NewLead {
    std::string name;
    std::string email;
    std::optional<std::string> phone;
    std::optional<std::string> source;
    Status status = Status::New;
    Metadata metadata;  // validated: an object of at most the size and depth limits
};

// A partial update, already validated. An absent member leaves the field alone; for phone and
// source, a present nullopt clears it.
struct LeadPatch {
    std::optional<std::string> name;
    std::optional<std::string> email;
    std::optional<std::optional<std::string>> phone;
    std::optional<std::optional<std::string>> source;
    std::optional<Status> status;
    std::optional<boost::json::object> metadata_merge;  // RFC 7396 merge patch for metadata
    // Immutable fields a client may echo back; they must equal the lead's current values.
    std::optional<Millis> expect_created_at;
    bool created_at_unreadable = false;  // createdAt was sent but is not a timestamp
    std::optional<std::uint64_t> if_match;  // expected version (If-Match)
};

}  // namespace leadd::store
