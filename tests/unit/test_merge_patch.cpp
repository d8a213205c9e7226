// JSON Merge Patch (RFC 7396) applied to a lead's metadata object.

#include "leadd/store/merge_patch.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <string>

namespace json = boost::json;
using leadd::store::apply_merge_patch;

namespace {

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

// Applies `patch` to `target` and returns the result as a json::value for comparison.
json::value merged(std::string_view target, std::string_view patch) {
    json::object t = obj(target);
    apply_merge_patch(t, obj(patch));
    return t;
}

}  // namespace

TEST_CASE("RFC 7396 appendix A: the cases whose target and patch are objects", "[merge_patch]") {
    struct Case {
        const char* target;
        const char* patch;
        const char* result;
    };
    const Case cases[] = {
        {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
        {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
        {R"({"a":"b"})", R"({"a":null})", R"({})"},
        {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
        {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
        {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
        {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
        {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
        {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
        {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
    };
    for (const auto& c : cases) {
        INFO("target " << c.target << " patch " << c.patch);
        CHECK(merged(c.target, c.patch) == json::parse(c.result));
    }
}

TEST_CASE("RFC 7396 appendix A: a non-object target is replaced", "[merge_patch]") {
    // Appendix A's ["a","b"] + {"a":"b","c":null} -> {"a":"b"} and {"a":"foo"} style cases,
    // one level down, where the target value is not an object.
    CHECK(merged(R"({"x":[1,2]})", R"({"x":{"a":"b","c":null}})") ==
          json::parse(R"({"x":{"a":"b"}})"));
    CHECK(merged(R"({"x":"foo"})", R"({"x":{"y":1}})") == json::parse(R"({"x":{"y":1}})"));
    CHECK(merged(R"({"x":null})", R"({"x":{"y":1}})") == json::parse(R"({"x":{"y":1}})"));
    CHECK(merged(R"({"x":42})", R"({"x":{"y":null}})") == json::parse(R"({"x":{}})"));
    CHECK(merged(R"({"x":true})", R"({"x":{"y":{"z":null,"w":[null]}}})") ==
          json::parse(R"({"x":{"y":{"w":[null]}}})"));
}

TEST_CASE("merge patch: nested objects merge recursively at every depth", "[merge_patch]") {
    const auto result = merged(
        R"({"company":{"name":"Old","address":{"city":"Paris","zip":"75001"},"size":10},"k":1})",
        R"({"company":{"address":{"city":"Lyon","street":"Rue X"},"size":null}})");
    CHECK(result == json::parse(
                        R"({"company":{"name":"Old","address":{"city":"Lyon","zip":"75001",)"
                        R"("street":"Rue X"}},"k":1})"));

    // Five levels deep, one leaf changed, siblings at every level kept.
    CHECK(merged(R"({"a":{"s":1,"b":{"s":2,"c":{"s":3,"d":{"s":4,"e":{"s":5,"leaf":"old"}}}}}})",
                 R"({"a":{"b":{"c":{"d":{"e":{"leaf":"new"}}}}}})") ==
          json::parse(R"({"a":{"s":1,"b":{"s":2,"c":{"s":3,"d":{"s":4,"e":{"s":5,"leaf":"new"}}}}}})"));
}

TEST_CASE("merge patch: null removes, and only the named key", "[merge_patch]") {
    CHECK(merged(R"({"a":1,"b":2,"c":3})", R"({"b":null})") == json::parse(R"({"a":1,"c":3})"));
    // Removing a key that is not there is not an error and changes nothing.
    CHECK(merged(R"({"a":1})", R"({"zzz":null})") == json::parse(R"({"a":1})"));
    // A nested null removes inside the nested object, not the object itself.
    CHECK(merged(R"({"o":{"x":1,"y":2}})", R"({"o":{"x":null}})") == json::parse(R"({"o":{"y":2}})"));
    // Removing every key of a nested object leaves an empty object.
    CHECK(merged(R"({"o":{"x":1}})", R"({"o":{"x":null}})") == json::parse(R"({"o":{}})"));
    // Removing the object itself.
    CHECK(merged(R"({"o":{"x":1},"p":0})", R"({"o":null})") == json::parse(R"({"p":0})"));
}

TEST_CASE("merge patch: arrays and scalars replace, never merge", "[merge_patch]") {
    CHECK(merged(R"({"a":[1,2,3]})", R"({"a":[4]})") == json::parse(R"({"a":[4]})"));
    CHECK(merged(R"({"a":[1,2,3]})", R"({"a":[]})") == json::parse(R"({"a":[]})"));
    // Objects inside arrays are not merged either; nulls inside arrays are values.
    CHECK(merged(R"({"a":[{"x":1,"y":2}]})", R"({"a":[{"x":9}]})") == json::parse(R"({"a":[{"x":9}]})"));
    CHECK(merged(R"({"a":[1]})", R"({"a":[null,{"b":null}]})") ==
          json::parse(R"({"a":[null,{"b":null}]})"));
    // An object target replaced by a scalar or an array.
    CHECK(merged(R"({"a":{"x":1}})", R"({"a":5})") == json::parse(R"({"a":5})"));
    CHECK(merged(R"({"a":{"x":1}})", R"({"a":["x"]})") == json::parse(R"({"a":["x"]})"));
    // Types change freely.
    CHECK(merged(R"({"n":1,"s":"x","b":true})", R"({"n":"one","s":false,"b":2.5})") ==
          json::parse(R"({"n":"one","s":false,"b":2.5})"));
}

TEST_CASE("merge patch: an empty patch changes nothing; an empty object value is kept", "[merge_patch]") {
    CHECK(merged(R"({"a":1,"b":{"c":null}})", R"({})") == json::parse(R"({"a":1,"b":{"c":null}})"));
    // {"o":{}} merges nothing into an existing object...
    CHECK(merged(R"({"o":{"x":1}})", R"({"o":{}})") == json::parse(R"({"o":{"x":1}})"));
    // ...and creates an empty object where there was none.
    CHECK(merged(R"({})", R"({"o":{}})") == json::parse(R"({"o":{}})"));
}

TEST_CASE("merge patch: the seed's update example", "[merge_patch]") {
    // The user's update document: existing utm_* keys stay, the sent keys are added.
    const auto result = merged(
        R"({"utm_source":"google","utm_campaign":"spring_2024"})",
        R"({"company":"New Tech Corp","job_title":"Senior Manager","budget":"$50k-100k",)"
        R"("timeline":"Q2 2024","interests":["enterprise_solution","support_package"]})");
    CHECK(result == json::parse(
                        R"({"utm_source":"google","utm_campaign":"spring_2024",)"
                        R"("company":"New Tech Corp","job_title":"Senior Manager","budget":"$50k-100k",)"
                        R"("timeline":"Q2 2024","interests":["enterprise_solution","support_package"]})"));
}

TEST_CASE("merge patch: the patch is not modified and the result does not alias it", "[merge_patch]") {
    const json::object patch = obj(R"({"o":{"x":null,"y":[1,2]},"z":null})");
    const std::string before = json::serialize(patch);
    json::object target = obj(R"({"o":{"x":1}})");
    apply_merge_patch(target, patch);
    CHECK(json::serialize(patch) == before);
    // Changing the result must not reach back into the patch.
    target["o"].as_object()["y"].as_array().push_back(3);
    CHECK(json::serialize(patch) == before);
    CHECK(json::value(target) == json::parse(R"({"o":{"y":[1,2,3]}})"));
}

TEST_CASE("merge patch: applying the same patch twice is idempotent", "[merge_patch]") {
    json::object target = obj(R"({"a":{"b":1,"c":[1]},"d":"x","e":null})");
    const json::object patch = obj(R"({"a":{"b":null,"c":[2],"n":{"m":null,"k":1}},"d":null,"f":3})");
    apply_merge_patch(target, patch);
    const json::value once = target;
    apply_merge_patch(target, patch);
    CHECK(json::value(target) == once);
    CHECK(once == json::parse(R"({"a":{"c":[2],"n":{"k":1}},"e":null,"f":3})"));
}
