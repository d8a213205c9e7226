#include "leadd/auth/secrets.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>
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
    // Every authenticated request hashes its key. SHA256() looks the algorithm up on each call
    // (EVP_Q_digest); fetching it once and reusing a per-thread context costs a third as much.
    struct Context {
        EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        ~Context() {
            EVP_MD_CTX_free(ctx);
            EVP_MD_free(md);
        }
    };
    thread_local Context c;
    Digest d;
    unsigned int n = 0;
    if (!c.md || !c.ctx || EVP_DigestInit_ex(c.ctx, c.md, nullptr) != 1 ||
        EVP_DigestUpdate(c.ctx, data.data(), data.size()) != 1 || EVP_DigestFinal_ex(c.ctx, d.data(), &n) != 1)
        throw std::runtime_error("SHA-256 unavailable");
    return d;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;  // lengths are not secret
    std::uint64_t differ = 0;
    std::size_t i = 0;
    for (; i + 8 <= a.size(); i += 8) {
        std::uint64_t x, y;
        std::memcpy(&x, a.data() + i, 8);
        std::memcpy(&y, b.data() + i, 8);
        differ |= x ^ y;
    }
    for (; i < a.size(); ++i) differ |= static_cast<unsigned char>(a[i] ^ b[i]);
    return differ == 0;
}

bool constant_time_equal(const Digest& a, const Digest& b) {
    return constant_time_equal(std::string_view(reinterpret_cast<const char*>(a.data()), a.size()),
                               std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

}  // namespace leadd::auth
