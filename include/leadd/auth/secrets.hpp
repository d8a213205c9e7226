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
// Takes the same time whatever the contents, so a comparison leaks no prefix length.
bool constant_time_equal(const Digest& a, const Digest& b);

}  // namespace leadd::auth
