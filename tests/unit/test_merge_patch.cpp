// JSON Merge Patch (RFC 7396) applied to a lead's metadata object, and its shortcut on the
// metadata's text.

#include "leadd/store/lead.hpp"
#include "leadd/store/merge_patch.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace json = boost::json;
using leadd::store::apply_merge_patch;
using leadd::store::merge_scalars_into_text;

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

// merge_scalars_into_text against the object merge it stands in for: the text of `target`
// (as serialize writes it) merged with `patch` must be exactly the serialized object merge.
namespace {

std::string object_merge_text(const std::string& target_text, const json::object& patch) {
    json::object target = obj(target_text);
    apply_merge_patch(target, patch);
    return json::serialize(target);
}

void require_text_merge_matches(const std::string& target_text, const json::object& patch) {
    INFO("target " << target_text << "\npatch " << json::serialize(patch));
    const auto text = merge_scalars_into_text(target_text, patch);
    REQUIRE(text.has_value());
    CHECK(*text == object_merge_text(target_text, patch));
}

// A random JSON value: every kind, strings with escapes and UTF-8, numbers of every width.
json::value random_value(std::mt19937& rng, int depth) {
    const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    static const char* const strings[] = {"", "x", "Follow up \"soon\"", "back\\slash", "tab\there",
                                          "caf\xc3\xa9 \xe2\x82\xac", "line\nbreak", "\x01 control", "/slash/"};
    switch (pick(depth > 2 ? 6 : 8)) {
        case 0: return nullptr;
        case 1: return pick(2) == 0;
        case 2: return static_cast<std::int64_t>(rng()) - (1ll << 31);
        case 3: return pick(2) ? json::value(std::numeric_limits<std::uint64_t>::max() - rng() % 1000)
                               : json::value(std::numeric_limits<std::int64_t>::min() + rng() % 1000);
        case 4: {
            const double doubles[] = {0.1, -2.5, 1e300, 3.141592653589793, 1e-7, 123456.789, -0.0};
            return doubles[pick(7)];
        }
        case 5: return json::string(strings[pick(9)]);
        case 6: {
            json::array a;
            for (int i = pick(4); i-- > 0;) a.push_back(random_value(rng, depth + 1));
            return a;
        }
        default: {
            json::object o;
            for (int i = pick(4); i-- > 0;) o["k" + std::to_string(pick(6))] = random_value(rng, depth + 1);
            return o;
        }
    }
}

}  // namespace

TEST_CASE("merge into text: a patch of scalars and arrays gives exactly the object merge's text", "[merge_patch]") {
    const char* const targets[] = {
        R"({})", R"({"a":"b"})", R"({"notes":"x","touches":3})", R"({"a":{"b":[1,{"c":"}"}]},"z":"]"})",
        R"({"s":"with \"quotes\" and \\ and , and }","n":-1.5e-7,"t":true,"f":false,"u":null})",
        R"({"caf\u00e9":1,"e":[],"o":{}})", R"({"big":18446744073709551615,"neg":-9223372036854775808})"};
    const char* const patches[] = {
        R"({})", R"({"a":"c"})", R"({"new":1})", R"({"a":[1,{"x":null}],"touches":4,"notes":"y"})",
        R"({"s":"\"\\\n","n":0.1,"u":[],"z":1e300})", R"({"o":5,"e":"now a string","k":false})",
        R"({"new \"key\"\n\u0001":"x","t":true,"big":18446744073709551615,"neg":-9223372036854775808})"};
    for (const char* target : targets)
        for (const char* patch : patches) require_text_merge_matches(json::serialize(obj(target)), obj(patch));
}

TEST_CASE("merge into text: random targets and scalar patches match the object merge", "[merge_patch]") {
    std::mt19937 rng(20261127);
    for (int round = 0; round < 3000; ++round) {
        json::object target;
        for (int i = static_cast<int>(rng() % 6); i-- > 0;)
            target["k" + std::to_string(rng() % 8)] = random_value(rng, 0);
        json::object patch;
        for (int i = static_cast<int>(rng() % 5); i-- > 0;) {
            json::value v = random_value(rng, 1);
            if (v.is_null() || v.is_object()) continue;  // those take the object way (next test)
            patch["k" + std::to_string(rng() % 10)] = std::move(v);
        }
        require_text_merge_matches(json::serialize(target), patch);
    }
}

TEST_CASE("merge into text: a null or object member, or an escaped target key, takes the object way", "[merge_patch]") {
    CHECK_FALSE(merge_scalars_into_text(R"({"a":1})", obj(R"({"a":null})")));
    CHECK_FALSE(merge_scalars_into_text(R"({"a":1})", obj(R"({"b":2,"a":{"x":1}})")));
    CHECK_FALSE(merge_scalars_into_text(json::serialize(obj(R"({"q\"uote":1})")), obj(R"({"b":2})")));
    json::object wide;  // more members than the shortcut keeps track of on the stack
    for (int i = 0; i < 65; ++i) wide["k" + std::to_string(i)] = i;
    CHECK_FALSE(merge_scalars_into_text(R"({"k3":"x"})", wide));
    CHECK(leadd::store::Metadata(obj(R"({"k3":"x"})")).merged(wide).text() == object_merge_text(R"({"k3":"x"})", wide));
    // ...and Metadata::merged, which falls back to it, still gives the object merge.
    const leadd::store::Metadata metadata(obj(R"({"a":{"x":1,"y":2},"b":1})"));
    const json::object patch = obj(R"({"a":{"x":null},"b":null,"c":3})");
    CHECK(metadata.merged(patch).text() == object_merge_text(std::string(metadata.text()), patch));
    CHECK(metadata.merged(obj(R"({"b":[2]})")).text() == R"({"a":{"x":1,"y":2},"b":[2]})");
}

TEST_CASE("merge into text: a text that is not a serialized object is left to the object way", "[merge_patch]") {
    const json::object patch = obj(R"({"a":1})");
    for (const char* text : {"", "{", "[]", R"({"a)", R"({"a":"unterminated)", R"({"a":[1,2)", R"({"a":1)"}) {
        INFO("text " << text);
        CHECK_FALSE(merge_scalars_into_text(text, patch));
    }
}
