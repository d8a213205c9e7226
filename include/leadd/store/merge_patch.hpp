#pragma once
// JSON Merge Patch (RFC 7396) applied to a lead's metadata object.

#include <boost/json/object.hpp>

namespace leadd::store {

// Keys of `patch` replace or add; a key whose value is null is removed; an object value merges
// recursively into an object target (a non-object target is replaced by the patch applied to
// an empty object); arrays and scalars replace.
void apply_merge_patch(boost::json::object& target, const boost::json::object& patch);

}  // namespace leadd::store
