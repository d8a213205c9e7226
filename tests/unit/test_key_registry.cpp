// KeyRegistry: workspaces, issuing, authenticating and revoking API keys.

#include "leadd/auth/key_registry.hpp"

#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <string>

using leadd::auth::KeyRegistry;

namespace {
const std::regex key_form("^sk-workspace_[A-Za-z0-9]{51}$");
}

TEST_CASE("a new registry is empty", "[keys]") {
    KeyRegistry keys;
    CHECK(keys.empty());
    CHECK(keys.workspaces().empty());
    CHECK_FALSE(keys.authenticate("sk-workspace_" + std::string(51, 'a')));
}

TEST_CASE("issued keys have the documented form", "[keys]") {
    KeyRegistry keys;
    const auto ws = keys.create_workspace("Acme");
    CHECK_FALSE(keys.empty());
    CHECK(ws.name == "Acme");
    std::set<std::string> seen;
    for (int i = 0; i < 200; ++i) {
        const auto key = keys.issue_key(ws.id);
        REQUIRE(key.has_value());
        INFO(key->api_key);
        CHECK(key->api_key.size() == 64);
        CHECK(std::regex_match(key->api_key, key_form));
        CHECK(key->workspace == ws.id);
        seen.insert(key->api_key);
    }
    CHECK(seen.size() == 200);
}

TEST_CASE("authenticate returns the key's workspace", "[keys]") {
    KeyRegistry keys;
    const auto a = keys.create_workspace("A");
    const auto b = keys.create_workspace("B");
    const auto key_a = keys.issue_key(a.id);
    const auto key_b = keys.issue_key(b.id);
    REQUIRE(key_a);
    REQUIRE(key_b);
    CHECK(keys.authenticate(key_a->api_key) == leadd::auth::Caller{a.id, key_a->key_id});
    CHECK(keys.authenticate(key_b->api_key) == leadd::auth::Caller{b.id, key_b->key_id});
    // Several keys of one workspace all work.
    const auto key_a2 = keys.issue_key(a.id);
    REQUIRE(key_a2);
    CHECK(keys.authenticate(key_a2->api_key)->workspace == a.id);
    CHECK(keys.authenticate(key_a->api_key)->workspace == a.id);
}

TEST_CASE("unknown and altered keys fail", "[keys]") {
    KeyRegistry keys;
    const auto ws = keys.create_workspace("A");
    const auto key = keys.issue_key(ws.id);
    REQUIRE(key);
    const std::string& k = key->api_key;

    CHECK_FALSE(keys.authenticate(""));
    CHECK_FALSE(keys.authenticate("sk-workspace_"));
    CHECK_FALSE(keys.authenticate("sk-workspace_" + std::string(51, 'a')));
    CHECK_FALSE(keys.authenticate(k.substr(0, 63)));       // prefix
    CHECK_FALSE(keys.authenticate(k + "x"));               // extension
    CHECK_FALSE(keys.authenticate(" " + k));
    std::string flipped = k;
    flipped.back() = flipped.back() == 'a' ? 'b' : 'a';   // last character changed
    CHECK_FALSE(keys.authenticate(flipped));
    std::string upper = k;                                 // case matters
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (upper != k) CHECK_FALSE(keys.authenticate(upper));
}

TEST_CASE("a revoked key fails; the workspace's other keys still work", "[keys]") {
    KeyRegistry keys;
    const auto ws = keys.create_workspace("A");
    const auto k1 = keys.issue_key(ws.id);
    const auto k2 = keys.issue_key(ws.id);
    REQUIRE(k1);
    REQUIRE(k2);
    CHECK(k1->key_id != k2->key_id);

    CHECK(keys.revoke(k1->key_id).has_value());
    CHECK_FALSE(keys.authenticate(k1->api_key));
    CHECK(keys.authenticate(k2->api_key)->workspace == ws.id);
    // Revoking twice, or an unknown key, reports nothing to revoke.
    CHECK_FALSE(keys.revoke(k1->key_id).has_value());
    CHECK_FALSE(keys.revoke(k1->key_id ^ 1).has_value());
    CHECK(keys.authenticate(k2->api_key)->workspace == ws.id);
}

TEST_CASE("a key revoked right after it authenticated fails on its next request", "[keys]") {
    // Each thread remembers the last key it hashed: what it remembers must be the digest only,
    // never the answer, and a near-miss of the remembered key must not pass for it.
    KeyRegistry keys;
    const auto ws = keys.create_workspace("A");
    const auto k1 = keys.issue_key(ws.id);
    REQUIRE(k1);
    CHECK(keys.authenticate(k1->api_key)->workspace == ws.id);
    CHECK(keys.authenticate(k1->api_key)->workspace == ws.id);  // the remembered digest
    std::string flipped = k1->api_key;
    flipped.back() = flipped.back() == 'a' ? 'b' : 'a';
    CHECK_FALSE(keys.authenticate(flipped));
    CHECK(keys.authenticate(k1->api_key)->workspace == ws.id);
    CHECK(keys.revoke(k1->key_id).has_value());
    CHECK_FALSE(keys.authenticate(k1->api_key));
    // Another registry, the same thread: it knows nothing of the key.
    KeyRegistry other;
    CHECK_FALSE(other.authenticate(k1->api_key));
}

TEST_CASE("a key cannot be issued for an unknown workspace", "[keys]") {
    KeyRegistry keys;
    CHECK_FALSE(keys.issue_key(0).has_value());
    CHECK_FALSE(keys.issue_key(12345).has_value());
    const auto ws = keys.create_workspace("A");
    CHECK_FALSE(keys.issue_key(ws.id + 1).has_value());
    CHECK_FALSE(keys.issue_key(ws.id ^ 0x8000000000000000ULL).has_value());
    CHECK(keys.issue_key(ws.id).has_value());
}

TEST_CASE("workspaces are listed in creation order with distinct ids", "[keys]") {
    KeyRegistry keys;
    std::vector<leadd::auth::Workspace> created;
    for (int i = 0; i < 50; ++i) created.push_back(keys.create_workspace("ws-" + std::to_string(i)));
    const auto listed = keys.workspaces();
    REQUIRE(listed.size() == 50);
    std::set<leadd::store::WorkspaceId> ids;
    for (std::size_t i = 0; i < listed.size(); ++i) {
        CHECK(listed[i].name == "ws-" + std::to_string(i));
        CHECK(listed[i].id == created[i].id);
        CHECK(listed[i].created_at == created[i].created_at);
        ids.insert(listed[i].id);
    }
    CHECK(ids.size() == 50);
    // Creation times never go backwards along the list.
    for (std::size_t i = 1; i < listed.size(); ++i) CHECK(listed[i - 1].created_at <= listed[i].created_at);
}

TEST_CASE("workspace names may repeat; ids may not", "[keys]") {
    KeyRegistry keys;
    const auto a = keys.create_workspace("same");
    const auto b = keys.create_workspace("same");
    CHECK(a.id != b.id);
    CHECK(keys.workspaces().size() == 2);
}

TEST_CASE("key ids are distinct across workspaces", "[keys]") {
    KeyRegistry keys;
    std::set<leadd::auth::KeyId> key_ids;
    for (int w = 0; w < 10; ++w) {
        const auto ws = keys.create_workspace("w");
        for (int i = 0; i < 20; ++i) {
            const auto key = keys.issue_key(ws.id);
            REQUIRE(key);
            key_ids.insert(key->key_id);
            CHECK(keys.authenticate(key->api_key)->workspace == ws.id);
        }
    }
    CHECK(key_ids.size() == 200);
}
