#pragma once
// JSON Merge Patch (RFC 7396) applied to a lead's metadata object.

#include <boost/json/object.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace leadd::store {

// Keys of `patch` replace or add; a key whose value is null is removed; an object value merges
// recursively into an object target (a non-object target is replaced by the patch applied to
// an empty object); arrays and scalars replace.
void apply_merge_patch(boost::json::object& target, const boost::json::object& patch);

// The same merge on a serialized target: `target_text` is an object as boost::json::serialize
// writes it (compact; a lead's Metadata text). For the usual patch, whose members are all
// scalars or arrays (no null, no object), it returns the merged text without building the
// target object: the target's members in their order, those the patch names with its values,
// then the patch's new keys in its order — byte for byte what serializing apply_merge_patch's
// result gives. nullopt when the patch has a null or an object member or more than 64 members,
// or a target key holds an escape; the caller then merges the objects.
std::optional<std::string> merge_scalars_into_text(std::string_view target_text, const boost::json::object& patch);

}  // namespace leadd::store
