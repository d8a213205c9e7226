// Random secrets (random_alphanumeric, random_u64), SHA-256 and the constant-time comparison.

#include "leadd/auth/secrets.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string>
#include <unordered_set>

using leadd::auth::constant_time_equal;
using leadd::auth::Digest;
using leadd::auth::random_alphanumeric;
using leadd::auth::sha256;

namespace {

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::string hex(const Digest& d) {
    std::string out;
    char buf[3];
    for (unsigned char c : d) {
        std::snprintf(buf, sizeof buf, "%02x", c);
        out += buf;
    }
    return out;
}

}  // namespace

TEST_CASE("random_alphanumeric has the requested length", "[secrets]") {
    CHECK(random_alphanumeric(0).empty());
    for (std::size_t n : {1u, 2u, 51u, 63u, 64u, 65u, 200u, 1000u, 4097u}) {
        INFO(n);
        CHECK(random_alphanumeric(n).size() == n);
    }
}

TEST_CASE("random_alphanumeric draws only from [A-Za-z0-9]", "[secrets]") {
    const std::string s = random_alphanumeric(100'000);
    const auto bad = std::find_if(s.begin(), s.end(),
                                  [](char c) { return alphabet.find(c) == std::string_view::npos; });
    CHECK(bad == s.end());
}

TEST_CASE("random_alphanumeric: no two of 10 000 draws are equal", "[secrets]") {
    std::unordered_set<std::string> seen;
    for (int i = 0; i < 10'000; ++i) seen.insert(random_alphanumeric(51));
    CHECK(seen.size() == 10'000);
    // Short draws are not a fixed string either.
    std::unordered_set<std::string> short_draws;
    for (int i = 0; i < 100; ++i) short_draws.insert(random_alphanumeric(8));
    CHECK(short_draws.size() > 90);
}

TEST_CASE("random_alphanumeric is roughly uniform over the 62 symbols", "[secrets]") {
    // Chi-square over 62 cells (61 degrees of freedom: mean 61, sd 11). The bound, 200, has a
    // false-failure probability far below 1e-12, while the modulo bias of `byte % 62` without
    // rejection (8 symbols 25% more likely) gives about 800 at this sample size.
    constexpr std::size_t per_symbol = 2000;
    constexpr std::size_t n = 62 * per_symbol;
    const std::string s = random_alphanumeric(n);
    std::array<std::size_t, 256> counts{};
    for (unsigned char c : s) ++counts[c];
    double chi2 = 0;
    std::size_t symbols_seen = 0;
    for (char c : alphabet) {
        const double observed = static_cast<double>(counts[static_cast<unsigned char>(c)]);
        if (observed > 0) ++symbols_seen;
        chi2 += (observed - per_symbol) * (observed - per_symbol) / per_symbol;
    }
    INFO("chi-square = " << chi2);
    CHECK(symbols_seen == 62);
    CHECK(chi2 < 200.0);
}

TEST_CASE("random_u64 does not repeat", "[secrets]") {
    std::unordered_set<std::uint64_t> seen;
    for (int i = 0; i < 10'000; ++i) seen.insert(leadd::auth::random_u64());
    CHECK(seen.size() == 10'000);
}

TEST_CASE("sha256 matches the FIPS 180-2 test vectors", "[secrets]") {
    CHECK(hex(sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(hex(sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex(sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(hex(sha256(std::string(1'000'000, 'a'))) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 hashes the whole view, embedded NULs included", "[secrets]") {
    const std::string with_nul("a\0b", 3);
    CHECK(sha256(with_nul) != sha256("a"));
    CHECK(sha256(std::string_view("abcdef").substr(0, 3)) == sha256("abc"));
}

TEST_CASE("constant_time_equal on views compares every byte, in words and in the tail", "[secrets]") {
    const std::string a = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJK";  // 47 bytes: 5 words + 7
    CHECK(constant_time_equal(a, std::string(a)));
    CHECK(constant_time_equal(std::string_view(), std::string_view()));
    for (std::size_t i = 0; i < a.size(); ++i) {
        INFO("byte " << i);
        std::string b = a;
        b[i] = static_cast<char>(b[i] ^ 0x80);
        CHECK_FALSE(constant_time_equal(a, b));
        CHECK_FALSE(constant_time_equal(b, a));
    }
    CHECK_FALSE(constant_time_equal(a, a.substr(0, 46)));
    CHECK_FALSE(constant_time_equal("abc", "abcd"));
}

TEST_CASE("constant_time_equal compares all 32 bytes", "[secrets]") {
    const Digest a = sha256("key one");
    Digest b = a;
    CHECK(constant_time_equal(a, b));
    CHECK(constant_time_equal(a, a));
    for (std::size_t i : {0u, 1u, 15u, 16u, 30u, 31u}) {
        INFO("byte " << i);
        b = a;
        b[i] ^= 0x01;
        CHECK_FALSE(constant_time_equal(a, b));
        CHECK_FALSE(constant_time_equal(b, a));
    }
    CHECK_FALSE(constant_time_equal(sha256("abc"), sha256("abd")));
    const Digest zero{};
    CHECK(constant_time_equal(zero, Digest{}));
    CHECK_FALSE(constant_time_equal(zero, sha256("")));
}
