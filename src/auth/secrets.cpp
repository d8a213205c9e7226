#include "leadd/auth/secrets.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>

namespace leadd::auth {

namespace {
void fill_random(unsigned char* out, std::size_t n) {
    // RAND_bytes fails only when the OS has no entropy source; serving predictable keys would be
    // worse than refusing to start or to create a key.
    if (RAND_bytes(out, static_cast<int>(n)) != 1) throw std::runtime_error("CSPRNG unavailable");
}
}  // namespace

std::string random_alphanumeric(std::size_t length) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static_assert(sizeof alphabet - 1 == 62);
    std::string out;
    out.reserve(length);
    unsigned char buf[64];
    while (out.size() < length) {
        fill_random(buf, sizeof buf);
        for (unsigned char b : buf) {
            if (b >= 248) continue;  // 248 = 4 * 62: keep only bytes that map uniformly
            out.push_back(alphabet[b % 62]);
            if (out.size() == length) break;
        }
    }
    return out;
}

std::uint64_t random_u64() {
    std::uint64_t v;
    fill_random(reinterpret_cast<unsigned char*>(&v), sizeof v);
    return v;
}

Digest sha256(std::string_view data) {
    Digest d;
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data());
    return d;
}

bool constant_time_equal(const Digest& a, const Digest& b) {
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace leadd::auth
