#pragma once
// Printed forms of ids ("lead_" / "ws_" / "key_" + 16 lowercase hex) and the lead id generator.

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace leadd::store {

std::string format_hex_id(std::string_view prefix, std::uint64_t value);
// The same, appended to `out` (a response being written needs no string of its own).
void append_hex_id(std::string& out, std::string_view prefix, std::uint64_t value);
// Parses prefix + exactly 16 lowercase hex digits.
std::optional<std::uint64_t> parse_hex_id(std::string_view prefix, std::string_view text);

// Lead ids are a counter passed through a fixed bijection of 64-bit integers: unique by
// construction (no collision check, never reused while the counter only grows) yet not
// guessable as "the next one". The counter is the state the log will persist.
class IdGenerator {
public:
    explicit IdGenerator(std::uint64_t next_counter = 1) : next_(next_counter) {}

    std::uint64_t next() { return scramble(next_.fetch_add(1, std::memory_order_relaxed)); }
    std::uint64_t next_counter() const { return next_.load(std::memory_order_relaxed); }

    // Recovery: the counter moves past every id seen, so no id is ever handed out twice.
    void observe(std::uint64_t id) {
        const auto counter = unscramble(id) + 1;
        auto current = next_.load(std::memory_order_relaxed);
        while (current < counter && !next_.compare_exchange_weak(current, counter)) {}
    }
    void restore_counter(std::uint64_t next) {
        auto current = next_.load(std::memory_order_relaxed);
        while (current < next && !next_.compare_exchange_weak(current, next)) {}
    }

    void skip(std::uint64_t count) { next_.fetch_add(count, std::memory_order_relaxed); }

    static std::uint64_t scramble(std::uint64_t counter);
    static std::uint64_t unscramble(std::uint64_t id);

private:
    std::atomic<std::uint64_t> next_;
};

}  // namespace leadd::store
