#pragma once
// Random secrets from the operating system's CSPRNG (OpenSSL RAND_bytes) and their hashes.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace leadd::auth {

using Digest = std::array<unsigned char, 32>;

// `length` characters drawn uniformly from [A-Za-z0-9] (rejection sampling, no modulo bias).
std::string random_alphanumeric(std::size_t length);
std::uint64_t random_u64();

Digest sha256(std::string_view data);
// Take the same time whatever the contents, so a comparison leaks no prefix length: 8 bytes at
// a time, no early exit (views of different lengths are unequal at once: lengths are not
// secret). OpenSSL's CRYPTO_memcmp, used before for digests, goes byte by byte: ~230
// instructions for one, ~2 % of an authenticated GET's.
bool constant_time_equal(std::string_view a, std::string_view b);
bool constant_time_equal(const Digest& a, const Digest& b);

}  // namespace leadd::auth
