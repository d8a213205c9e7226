// libFuzzer target: store::apply_merge_patch, the RFC 7396 merge of a lead's metadata (and its
// shortcut on the metadata's text, merge_scalars_into_text).
//
// The input is JSON: [target, patch] with two objects (what a stored lead's metadata and an
// update's metadata are); a lone object is used as the patch of a fixed target.
//
// Invariants:
//   - the result equals the RFC's own definition (section 2's MergePatch pseudo-code, written
//     out below over values, independently of the implementation);
//   - applying the same patch again changes nothing (a retried PUT is harmless);
//   - the result holds no null member where the target held none (null means "remove");
//   - everything the patch sets (its members other than null, recursively) is in the result;
//   - the target's members the patch does not name are untouched;
//   - store::merge_scalars_into_text on the target's serialized text, where it applies, writes
//     exactly the serialized result.

#include "fuzz_check.hpp"

#include "leadd/store/json_parse.hpp"
#include "leadd/store/merge_patch.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <string>

namespace json = boost::json;

namespace {

// RFC 7396, section 2, as written there.
json::value merge_patch_by_the_rfc(json::value target, const json::value& patch) {
    if (!patch.is_object()) return patch;
    if (!target.is_object()) target = json::object();
    auto& t = target.get_object();
    for (const auto& [name, value] : patch.get_object()) {
        if (value.is_null()) {
            t.erase(name);
        } else {
            const auto* current = t.if_contains(name);
            t[name] = merge_patch_by_the_rfc(current ? *current : json::value(), value);
        }
    }
    return target;
}

// A null member anywhere in nested objects (arrays are values: their nulls are data).
bool has_null_member(const json::object& o) {
    for (const auto& [name, value] : o) {
        if (value.is_null()) return true;
        if (value.is_object() && has_null_member(value.get_object())) return true;
    }
    return false;
}

// Every non-null member `patch` sets is in `result` with that value (objects: recursively).
bool sets_everything(const json::object& patch, const json::object& result) {
    for (const auto& [name, value] : patch) {
        if (value.is_null()) continue;
        const auto* got = result.if_contains(name);
        if (!got) return false;
        if (value.is_object()) {
            if (!got->is_object() || !sets_everything(value.get_object(), got->get_object())) return false;
        } else if (*got != value) {
            return false;
        }
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    boost::system::error_code ec;
    // Read as the server reads a body (store::parse_json): Boost's own parser makes NaN of
    // 0E3192 (0 times an overflowed 10^3192), a value no request can carry and one that is
    // unequal to itself, which broke the comparison with the RFC's result below.
    const json::value input =
        leadd::store::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), ec);
    if (ec) return 0;
    json::object target, patch;
    if (input.is_array() && input.get_array().size() == 2 && input.get_array()[0].is_object() &&
        input.get_array()[1].is_object()) {
        target = input.get_array()[0].get_object();
        patch = input.get_array()[1].get_object();
    } else if (input.is_object()) {
        target = {{"notes", "Follow up"}, {"score", 42}, {"address", {{"city", "London"}, {"zip", nullptr}}}};
        patch = input.get_object();
    } else {
        return 0;
    }
    json::object result = target;
    leadd::store::apply_merge_patch(result, patch);
    // Built only when a check fails (FUZZ_CHECK evaluates its context then).
    auto with_result = [&] {
        return "target: " + json::serialize(target) + "\npatch:  " + json::serialize(patch) +
               "\nresult: " + json::serialize(result);
    };

    FUZZ_CHECK(json::value(result) == merge_patch_by_the_rfc(target, patch), with_result());

    json::object twice = result;
    leadd::store::apply_merge_patch(twice, patch);
    FUZZ_CHECK(twice == result, with_result() + "\ntwice:  " + json::serialize(twice));

    if (!has_null_member(target)) FUZZ_CHECK(!has_null_member(result), with_result());
    FUZZ_CHECK(sets_everything(patch, result), with_result());
    for (const auto& [name, value] : target)
        if (!patch.contains(name)) FUZZ_CHECK(result.contains(name) && result.at(name) == value, with_result());

    if (const auto text = leadd::store::merge_scalars_into_text(json::serialize(target), patch))
        FUZZ_CHECK(*text == json::serialize(result), with_result() + "\ntext:   " + *text);
    return 0;
}
