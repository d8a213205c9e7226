// RateLimiter: the sliding 60-minute window per key, to the second, on a hand-driven clock.

#include "leadd/auth/rate_limiter.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using leadd::auth::Quota;
using leadd::auth::RateLimiter;

namespace {

struct FakeClock {
    std::int64_t now = 1'700'000'000;
    RateLimiter::Clock function() {
        return [this] { return now; };
    }
};

}  // namespace

TEST_CASE("remaining counts down with the current request included, then 429s", "[rate]") {
    FakeClock clock;
    RateLimiter limiter(5, clock.function());
    const std::int64_t start = clock.now;
    for (std::uint64_t expected_remaining : {4, 3, 2, 1, 0}) {
        const Quota q = limiter.admit(1);
        CHECK(q.allowed);
        CHECK(q.limit == 5);
        CHECK(q.remaining == expected_remaining);
        CHECK(q.used == 5 - expected_remaining);
        CHECK(q.reset_at == start + 3600);  // when the first request leaves the window
        ++clock.now;
    }
    const Quota refused = limiter.admit(1);
    CHECK_FALSE(refused.allowed);
    CHECK(refused.remaining == 0);
    CHECK(refused.used == 5);
    CHECK(refused.reset_at == start + 3600);
    CHECK(refused.retry_after == refused.reset_at - clock.now);
    CHECK(limiter.refused_total() == 1);
}

TEST_CASE("the window slides: each request leaves exactly 3600 seconds after it was made", "[rate]") {
    FakeClock clock;
    const std::int64_t start = clock.now;
    RateLimiter limiter(3, clock.function());
    REQUIRE(limiter.admit(7).allowed);  // t = start
    clock.now = start + 100;
    REQUIRE(limiter.admit(7).allowed);
    clock.now = start + 200;
    REQUIRE(limiter.admit(7).allowed);
    clock.now = start + 3599;
    CHECK_FALSE(limiter.admit(7).allowed);  // all three still inside
    clock.now = start + 3600;               // the first has left: one slot
    const Quota q = limiter.admit(7);
    CHECK(q.allowed);
    CHECK(q.remaining == 0);
    CHECK(q.reset_at == start + 100 + 3600);  // now the oldest is the one at +100
    CHECK_FALSE(limiter.admit(7).allowed);
    clock.now = start + 3700;
    CHECK(limiter.admit(7).allowed);
}

TEST_CASE("refused requests do not count toward the window", "[rate]") {
    FakeClock clock;
    const std::int64_t start = clock.now;
    RateLimiter limiter(2, clock.function());
    REQUIRE(limiter.admit(1).allowed);
    REQUIRE(limiter.admit(1).allowed);
    for (int i = 0; i < 100; ++i) {
        clock.now = start + 10 * i;
        REQUIRE_FALSE(limiter.admit(1).allowed);
    }
    // Had the refusals counted, the window would still be full an hour after the first two.
    clock.now = start + 3600;
    const Quota q = limiter.admit(1);
    CHECK(q.allowed);
    CHECK(q.used == 1);
    CHECK(q.remaining == 1);
}

TEST_CASE("keys have separate windows", "[rate]") {
    FakeClock clock;
    RateLimiter limiter(1, clock.function());
    CHECK(limiter.admit(1).allowed);
    CHECK_FALSE(limiter.admit(1).allowed);
    CHECK(limiter.admit(2).allowed);
    CHECK(limiter.admit(3).allowed);
    CHECK_FALSE(limiter.admit(2).allowed);
}

TEST_CASE("many requests in one second, and a gap longer than the window", "[rate]") {
    FakeClock clock;
    const std::int64_t start = clock.now;
    RateLimiter limiter(1000, clock.function());
    for (int i = 0; i < 1000; ++i) REQUIRE(limiter.admit(9).allowed);
    CHECK_FALSE(limiter.admit(9).allowed);
    clock.now = start + 3 * 3600 + 17;
    const Quota q = limiter.admit(9);
    CHECK(q.allowed);
    CHECK(q.used == 1);
    CHECK(q.reset_at == clock.now + 3600);
}

TEST_CASE("a clock that steps back does not run the window backwards", "[rate]") {
    FakeClock clock;
    const std::int64_t start = clock.now;
    RateLimiter limiter(2, clock.function());
    REQUIRE(limiter.admit(4).allowed);
    clock.now = start - 5000;  // e.g. NTP stepping the wall clock
    const Quota q = limiter.admit(4);
    CHECK(q.allowed);
    CHECK(q.reset_at == start + 3600);
    CHECK_FALSE(limiter.admit(4).allowed);
    clock.now = start + 3600;  // both were counted at `start`
    CHECK(limiter.admit(4).allowed);
}

TEST_CASE("the window matches a brute-force log of admitted times", "[rate]") {
    FakeClock clock;
    const std::uint64_t limit = 40;
    RateLimiter limiter(limit, clock.function());
    std::vector<std::int64_t> admitted;
    std::uint64_t seed = 12345;
    auto next = [&seed] { return (seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 33; };
    for (int i = 0; i < 20'000; ++i) {
        clock.now += static_cast<std::int64_t>(next() % 400);
        std::vector<std::int64_t> in_window;
        for (auto t : admitted)
            if (t > clock.now - 3600) in_window.push_back(t);
        admitted = in_window;
        const Quota q = limiter.admit(11);
        REQUIRE(q.allowed == (admitted.size() < limit));
        if (q.allowed) admitted.push_back(clock.now);
        REQUIRE(q.used == admitted.size());
        REQUIRE(q.reset_at == admitted.front() + 3600);
    }
}

TEST_CASE("concurrent callers on one key never admit more than the limit", "[rate]") {
    RateLimiter limiter(10'000);  // real clock: the test runs well inside one hour
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 5000; ++i)
                if (limiter.admit(42).allowed) allowed.fetch_add(1);
        });
    for (auto& t : threads) t.join();
    CHECK(allowed.load() == 10'000);
    CHECK(limiter.refused_total() == 10'000);
}
