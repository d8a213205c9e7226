// SearchIndex against a brute-force scan of the same leads: random operation sequences, many
// kinds of needles, and the edge cases of short, long and non-ASCII needles.

#include "leadd/store/search_index.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace leadd::store;

namespace {

LeadPtr make_lead(LeadId id, std::string name, std::string email, Status status = Status::New) {
    auto lead = std::make_shared<Lead>();
    lead->id = id;
    lead->name = std::move(name);
    lead->email = std::move(email);
    lead->status = status;
    return lead;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

bool brute_contains(const Lead& lead, std::string_view needle) {
    const std::string n = lowered(needle);
    return lowered(lead.name).find(n) != std::string::npos || lowered(lead.email).find(n) != std::string::npos;
}

// The index and, beside it, the truth: the current LeadPtr of every lead.
struct Model {
    SearchIndex index;
    std::map<LeadId, LeadPtr> leads;

    void put(LeadPtr lead) {
        const auto old = leads.find(lead->id);
        index.put(*lead, old == leads.end() ? nullptr : old->second.get());
        leads[lead->id] = std::move(lead);
    }
    void erase(LeadId id) {
        index.erase(*leads.at(id));
        leads.erase(id);
    }

    // The pointers the index visits, sorted; duplicates stay so the caller can see them.
    std::vector<const Lead*> found(std::string_view needle) const {
        std::vector<const Lead*> visited;
        index.for_each_match(needle, [&](const Lead& lead) { visited.push_back(&lead); });
        std::sort(visited.begin(), visited.end());
        return visited;
    }
    std::vector<const Lead*> expected(std::string_view needle) const {
        std::vector<const Lead*> out;
        for (const auto& [id, lead] : leads)
            if (brute_contains(*lead, needle)) out.push_back(lead.get());
        std::sort(out.begin(), out.end());
        return out;
    }
    void check(std::string_view needle) const {
        INFO("needle \"" << needle << "\", " << leads.size() << " leads");
        CHECK(found(needle) == expected(needle));
    }
};

// Pieces that make names and emails share many trigrams, with mixed case and non-ASCII bytes.
const std::vector<std::string> name_pieces = {"Maria", " ", "Gonzalez", "son", "SON", "aa", "a", "Al", "Jos\xc3\xa9",
                                              "\xc3\x89", "O'Neil", "-", "x", "aaaa", "Ana", std::string(1, '\0')};
const std::vector<std::string> email_pieces = {"maria", ".", "gonzalez", "42", "@", "example.com", "gmail.com",
                                               "son", "aa", "a", "_", "+", "Z", "\xc3\xa9"};

std::string random_text(std::mt19937& rng, const std::vector<std::string>& pieces, int max_pieces) {
    std::string out;
    const int count = std::uniform_int_distribution<int>(0, max_pieces)(rng);
    for (int i = 0; i < count; ++i) out += pieces[std::uniform_int_distribution<std::size_t>(0, pieces.size() - 1)(rng)];
    return out;
}

std::string flip_case_randomly(std::mt19937& rng, std::string text) {
    for (char& c : text)
        if (rng() % 2 == 0) c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    return text;
}

std::string random_substring(std::mt19937& rng, const std::string& text, std::size_t max_length) {
    if (text.empty()) return text;
    const std::size_t start = rng() % text.size();
    const std::size_t length = 1 + rng() % std::min(max_length, text.size() - start);
    return text.substr(start, length);
}

std::vector<std::string> needles_for(std::mt19937& rng, const Model& model) {
    std::vector<std::string> needles = {"",        "a",       "A",       "aa",           "aaa",      "aaaa",
                                        "aaaaa",   "son",     "SoN",     "gonzalez",     "example",  "@",
                                        ".",       "'",       "z",       "42@",          "maria.go", "\xc3",
                                        "\xc3\xa9", "\xc3\x89", "jos\xc3\xa9", "absent", "qqq", "ma",
                                        "Al",      "l",       std::string(200, 'a'), "Maria Gonzalez son"};
    std::vector<const Lead*> leads;
    for (const auto& [id, lead] : model.leads) leads.push_back(lead.get());
    for (int i = 0; i < 12 && !leads.empty(); ++i) {
        const Lead& lead = *leads[rng() % leads.size()];
        needles.push_back(flip_case_randomly(rng, random_substring(rng, lead.name, 12)));
        needles.push_back(flip_case_randomly(rng, random_substring(rng, lead.email, 12)));
        // The end of the name and the start of the email, joined directly or by a '\0': must not
        // match as one string.
        if (!lead.name.empty() && !lead.email.empty()) {
            const std::string name_end = lead.name.substr(lead.name.size() - 1 - rng() % lead.name.size());
            const std::string email_start = lead.email.substr(0, 1 + rng() % lead.email.size());
            needles.push_back(name_end + email_start);
            needles.push_back(name_end + '\0' + email_start);
        }
        needles.push_back(random_text(rng, email_pieces, 2));
    }
    return needles;
}

}  // namespace

TEST_CASE("SearchIndex: random operation sequences equal a brute-force scan") {
    for (std::uint32_t seed = 1; seed <= 12; ++seed) {
        INFO("seed " << seed);
        std::mt19937 rng(seed);
        Model model;
        std::uint64_t version = 0;
        const auto random_id = [&] { return LeadId{1 + rng() % 300}; };
        for (int op = 1; op <= 4000; ++op) {
            const LeadId id = random_id();
            const auto current = model.leads.find(id);
            const int kind = static_cast<int>(rng() % 10);
            if (current == model.leads.end()) {
                model.put(make_lead(id, random_text(rng, name_pieces, 4), random_text(rng, email_pieces, 5)));
            } else if (kind < 3) {  // status only: the index keeps the slot, swaps the pointer
                model.put(make_lead(id, current->second->name, current->second->email,
                                    static_cast<Status>(++version % status_count)));
            } else if (kind < 4) {  // the same text in another case: folds to the same trigrams
                model.put(make_lead(id, flip_case_randomly(rng, current->second->name),
                                    flip_case_randomly(rng, current->second->email)));
            } else if (kind < 6) {
                model.put(make_lead(id, random_text(rng, name_pieces, 4), current->second->email));
            } else if (kind < 7) {
                model.put(make_lead(id, current->second->name, random_text(rng, email_pieces, 5)));
            } else {
                model.erase(id);
            }
            if (op % 250 == 0)
                for (const std::string& needle : needles_for(rng, model)) model.check(needle);
        }
        REQUIRE(model.index.size() == model.leads.size());
    }
}

TEST_CASE("SearchIndex: a lead is visited once even when the needle is in both name and email") {
    Model model;
    model.put(make_lead(1, "Maria son", "maria.son@example.com"));
    model.put(make_lead(2, "Sonja", "x@y.io"));
    for (std::string needle : {"son", "maria", "so", "s", "maria.son"}) {
        const auto found = model.found(needle);
        CHECK(std::adjacent_find(found.begin(), found.end()) == found.end());
        model.check(needle);
    }
}

TEST_CASE("SearchIndex: edge cases") {
    Model model;
    SECTION("an empty index matches nothing, not even the empty needle") {
        CHECK(model.found("").empty());
        CHECK(model.found("a").empty());
        CHECK(model.found("ab").empty());
        CHECK(model.found("abc").empty());
    }
    model.put(make_lead(1, "abc", "def@x.io"));
    model.put(make_lead(2, "aaa", "b@c.de"));
    model.put(make_lead(3, "Al", "AL@Z.IO"));
    model.put(make_lead(4, "Jos\xc3\xa9 N\xc3\xba\xc3\xb1" "ez", "jose/x@example.com"));
    model.put(make_lead(5, "\x83", "q@w.er"));  // 0x83 shares a mask bit with '/'
    model.put(make_lead(6, "", ""));

    SECTION("the empty needle matches every lead") { CHECK(model.found("").size() == 6); }
    SECTION("name and email are separate strings") {
        CHECK(model.found("cde").empty());
        CHECK(model.found("abcdef").empty());
        CHECK(model.found("cd").empty());
        model.check("c");
    }
    SECTION("repeated trigrams must still be verified") {
        CHECK(model.found("aaaa").empty());
        CHECK(model.found("aaa").size() == 1);
        model.put(make_lead(7, "xaaaax", "e@f.gh"));
        CHECK(model.found("aaaa").size() == 1);
        model.check("aaaaa");
    }
    SECTION("needles longer than every text") {
        CHECK(model.found(std::string(300, 'a')).empty());
        CHECK(model.found("jose/x@example.com.and.more").empty());
    }
    SECTION("two-byte names are found by two-byte needles in any case") {
        CHECK(model.found("al").size() == 1);
        CHECK(model.found("AL").size() == 1);
        model.check("l");
        model.check("z.");
    }
    SECTION("non-ASCII bytes compare as is: no Unicode case folding") {
        CHECK(model.found("\xc3\xa9").size() == 1);      // é
        CHECK(model.found("JOS\xc3\xa9").size() == 1);
        CHECK(model.found("JOS\xc3\x89").empty());       // É is another byte sequence
        CHECK(model.found("\xc3").size() == 1);
        CHECK(model.found("\xba\xc3").size() == 1);
        model.check("\xb1" "e");
    }
    SECTION("single bytes without a mask bit of their own are verified") {
        CHECK(model.found("/").size() == 1);
        CHECK(model.found("\x83").size() == 1);
        model.check("#");
    }
    SECTION("a '\\0' in a name is a byte like any other, and never joins name and email") {
        using namespace std::string_literals;
        model.put(make_lead(8, "ab\0cd"s, "ef@g.hi"));
        CHECK(model.found("b\0c"s).size() == 1);
        CHECK(model.found("\0"s).size() == 1);
        CHECK(model.found("cd\0ef"s).empty());
        CHECK(model.found("d\0e"s).empty());
        model.check("\0e"s);
    }
    SECTION("an erased lead is not found, a re-created one is") {
        model.erase(1);
        CHECK(model.found("abc").empty());
        CHECK(model.found("").size() == 5);
        model.put(make_lead(1, "abcd", "n@m.op"));
        CHECK(model.found("abc").size() == 1);
        model.check("bcd");
    }
}

TEST_CASE("SearchIndex: an update that keeps name and email hands out the new pointer") {
    Model model;
    model.put(make_lead(1, "Maria Gonzalez", "maria@example.com"));
    const LeadPtr contacted = make_lead(1, "Maria Gonzalez", "maria@example.com", Status::Contacted);
    model.put(contacted);
    const auto found = model.found("gonz");
    REQUIRE(found.size() == 1);
    CHECK(found[0] == contacted.get());
}

TEST_CASE("SearchIndex: updates that keep the text do not grow it, renames are compacted away") {
    SearchIndex index;
    LeadPtr lead = make_lead(1, "Maria Gonzalez", "maria.gonzalez42@example.com");
    index.put(*lead, nullptr);
    const std::size_t one_lead = index.memory_bytes();
    for (int i = 0; i < 10'000; ++i) {
        LeadPtr next = make_lead(1, lead->name, lead->email, static_cast<Status>(i % status_count));
        index.put(*next, lead.get());
        lead = std::move(next);
    }
    CHECK(index.memory_bytes() == one_lead);

    // Tombstones left by renames of ten leads must not pile up: the index stays the size of a
    // few thousand leads, not of the 100 000 versions.
    SearchIndex reference;
    std::vector<LeadPtr> reference_leads;  // the index holds plain pointers: the leads live here
    for (LeadId id = 1; id <= 4'000; ++id) {
        reference_leads.push_back(make_lead(id, "Lead " + std::to_string(id), "lead" + std::to_string(id) + "@example.com"));
        reference.put(*reference_leads.back(), nullptr);
    }
    std::vector<LeadPtr> renamed(10);
    for (std::size_t i = 0; i < renamed.size(); ++i) {
        renamed[i] = make_lead(100 + i, "Lead", "lead@example.com");
        index.put(*renamed[i], nullptr);
    }
    for (int i = 0; i < 100'000; ++i) {
        LeadPtr& current = renamed[static_cast<std::size_t>(i % 10)];
        LeadPtr next = make_lead(current->id, "Lead " + std::to_string(i), "lead" + std::to_string(i) + "@example.com");
        index.put(*next, current.get());
        current = std::move(next);
    }
    CHECK(index.size() == 11);
    CHECK(index.memory_bytes() < reference.memory_bytes());
    std::size_t found = 0;
    index.for_each_match("lead", [&](const Lead&) { ++found; });
    CHECK(found == 10);
}

TEST_CASE("SearchIndex: a lead it does not hold is not erased, not even a copy of one it holds") {
    // The index finds a lead by the slot number the lead carries; a copy is a new lead (it is
    // about to become another version), so it carries none.
    Model model;
    model.put(make_lead(1, "Maria Gonzalez", "maria@example.com"));
    const auto copy = std::make_shared<Lead>(*model.leads.at(1));
    CHECK(copy->search_slot.get() == SearchSlot::none);
    model.index.erase(*copy);
    model.index.erase(*make_lead(2, "Maria Gonzalez", "other@example.com"));
    CHECK(model.index.size() == 1);
    CHECK(model.found("gonzalez").size() == 1);
    model.erase(1);
    CHECK(model.found("gonzalez").empty());
    CHECK(model.index.size() == 0);
}
