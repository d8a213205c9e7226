#include "leadd/store/lead.hpp"

#include "leadd/store/json_parse.hpp"
#include "leadd/store/merge_patch.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serializer.hpp>

#include <array>
#include <stdexcept>

namespace leadd::store {

namespace {
constexpr std::array<std::string_view, 6> status_names = {
    "new", "contacted", "qualified", "converted", "lost", "follow_up"};
}

Metadata::Metadata(const boost::json::object& object) {
    // Through a buffer on the stack: a typical lead's metadata fits, and its text is then one
    // allocation of exactly its size (boost::json::serialize grows a string, leaving slack that
    // every lead would keep).
    boost::json::serializer writer;
    writer.reset(&object);
    char buffer[1024];
    const std::string_view first = writer.read(buffer, sizeof buffer);
    text_.assign(first.data(), first.size());
    while (!writer.done()) {
        const std::string_view more = writer.read(buffer, sizeof buffer);
        text_.append(more.data(), more.size());
    }
}

boost::json::object Metadata::object(boost::json::storage_ptr storage) const {
    boost::system::error_code ec;
    auto parsed = parse_json(text_, ec, std::move(storage));
    // Never: the text only ever comes from serializing an object.
    if (ec || !parsed.is_object()) throw std::logic_error("lead metadata is not a serialized object");
    return std::move(parsed.get_object());
}

Metadata Metadata::merged(const boost::json::object& patch) const {
    Metadata result;
    // The usual patch (scalars and arrays) merges into the text directly: parsing the text into
    // an object and serializing the merged object back took ~3 900 of a PUT's ~41 200
    // instructions, and the text merge saves ~2 400 of them (load/instructions_bench.py).
    if (auto text = merge_scalars_into_text(text_, patch)) {
        result.text_ = std::move(*text);
        return result;
    }
    // The merged object only lives until its text is made: its nodes come from a buffer on
    // the stack (a typical lead's fit), not one heap block per key and value.
    unsigned char scratch_buffer[4096];
    boost::json::monotonic_resource scratch(scratch_buffer, sizeof scratch_buffer);
    boost::json::object merged = object(&scratch);
    apply_merge_patch(merged, patch);
    return Metadata(merged);
}

std::string_view to_string(Status s) { return status_names[static_cast<std::size_t>(s)]; }

std::optional<Status> parse_status(std::string_view s) {
    for (std::size_t i = 0; i < status_names.size(); ++i)
        if (status_names[i] == s) return static_cast<Status>(i);
    return std::nullopt;
}

}  // namespace leadd::store
