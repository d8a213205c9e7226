#include "leadd/auth/rate_limiter.hpp"

#include <chrono>

namespace leadd::auth {

struct RateLimiter::Window {
    std::array<std::uint32_t, window_seconds> per_second{};  // indexed by unix second % 3600
    std::uint64_t total = 0;        // sum of per_second
    std::int64_t current = 0;       // the latest second the ring has been advanced to
    std::int64_t oldest = 0;        // oldest second with a count (meaningful while total > 0)

    // Moves the window's end to `now`, dropping the seconds that fall out of it.
    void advance_to(std::int64_t now) {
        if (now <= current) return;
        if (now - current >= window_seconds) {
            per_second.fill(0);
            total = 0;
        } else {
            for (std::int64_t s = current + 1; s <= now; ++s) {
                auto& slot = per_second[static_cast<std::size_t>(s % window_seconds)];
                total -= slot;
                slot = 0;
            }
        }
        current = now;
        if (total == 0) return;
        // Each second is stepped over at most once in the window's life: amortized O(1).
        oldest = std::max(oldest, current - window_seconds + 1);
        while (per_second[static_cast<std::size_t>(oldest % window_seconds)] == 0) ++oldest;
    }
};

namespace {
std::int64_t system_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}
}  // namespace

RateLimiter::RateLimiter(std::uint64_t per_hour, Clock now)
    : limit_(per_hour), now_(now ? std::move(now) : Clock(system_seconds)) {}

RateLimiter::~RateLimiter() = default;

Quota RateLimiter::admit(KeyId key) {
    const std::int64_t now = now_();
    // Key ids come from a counter: spread neighbours over stripes with a multiplicative hash.
    auto& stripe = stripes_[(key * 0x9E3779B97F4A7C15ull) >> 58];
    std::lock_guard lock(stripe.mu);
    auto& slot = stripe.windows[key];
    if (!slot) {
        slot = std::make_unique<Window>();
        slot->current = now;
    }
    Window& w = *slot;
    w.advance_to(now);

    Quota q;
    q.limit = limit_;
    if (w.total >= limit_) {
        q.allowed = false;
        q.used = w.total;
        q.reset_at = w.oldest + window_seconds;
        q.retry_after = std::max<std::int64_t>(1, q.reset_at - w.current);
        refused_.fetch_add(1, std::memory_order_relaxed);
        return q;
    }
    if (w.total == 0) w.oldest = w.current;
    ++w.per_second[static_cast<std::size_t>(w.current % window_seconds)];
    ++w.total;
    q.used = w.total;
    q.remaining = limit_ - w.total;
    q.reset_at = w.oldest + window_seconds;
    return q;
}

}  // namespace leadd::auth
