#pragma once
// RateLimiter: API.md's `--rate-limit-per-hour N`, a sliding 60-minute window per API key.
//
// Each key's window is a ring of 3600 one-second counters: the window is exactly the last 3600
// seconds (to the second), memory is fixed per key (14 KiB), and admitting a request is O(1)
// amortized (a second's counter is cleared once, when the ring comes round to it). Refused
// requests are not counted.
//
// No global lock: keys are spread over stripes, each with its own mutex guarding its keys'
// windows; a request holds one stripe's mutex for a few counter updates.
//
// Time is unix seconds from `now` (the system clock unless a test gives another). A clock that
// steps back is treated as standing still until it catches up, so a window never runs backwards.

#include "leadd/auth/key_registry.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace leadd::auth {

// What the X-RateLimit-* headers say about one request.
struct Quota {
    bool allowed = true;
    std::uint64_t limit = 0;
    std::uint64_t used = 0;          // counted in the window, this request included if allowed
    std::uint64_t remaining = 0;
    std::int64_t reset_at = 0;       // unix seconds when the oldest counted request leaves
    std::int64_t retry_after = 0;    // seconds until a refused request could pass (0 if allowed)
};

class RateLimiter {
public:
    static constexpr std::int64_t window_seconds = 3600;
    using Clock = std::function<std::int64_t()>;

    // per_hour == 0: off (admit() is never called by the handlers then).
    explicit RateLimiter(std::uint64_t per_hour, Clock now = {});
    ~RateLimiter();

    bool enabled() const { return limit_ != 0; }
    std::uint64_t limit() const { return limit_; }

    Quota admit(KeyId key);

    std::uint64_t refused_total() const { return refused_.load(std::memory_order_relaxed); }

private:
    struct Window;
    struct Stripe {
        std::mutex mu;  // guards windows and every Window in it
        std::unordered_map<KeyId, std::unique_ptr<Window>> windows;
    };
    static constexpr std::size_t stripe_count = 64;

    std::uint64_t limit_;
    Clock now_;
    std::array<Stripe, stripe_count> stripes_;
    std::atomic<std::uint64_t> refused_{0};
};

}  // namespace leadd::auth
