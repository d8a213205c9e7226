#pragma once
// LatencyHistogram: counts of durations in fixed buckets, the shape Prometheus exposes
// (le="0.0001" ... le="+Inf", _sum, _count). Bounds are fixed so that histograms from several
// threads add up bucket by bucket.
//
// One writer at a time (record() is a load and a store, not a read-modify-write: cheaper, and
// exact for one writer); any number of readers, which may see a record half-counted (a bucket
// before the sum), never a torn value.

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

namespace leadd::ops {

class LatencyHistogram {
public:
    // Upper bounds in microseconds: 100 µs to 10 s.
    static constexpr std::array<std::uint64_t, 14> bounds_micros{
        100, 250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 1'000'000, 2'500'000, 10'000'000};
    static constexpr std::size_t bucket_count = bounds_micros.size() + 1;  // the last is +Inf

    struct Counts {
        std::array<std::uint64_t, bucket_count> buckets{};  // per bucket, not cumulative
        std::uint64_t count = 0;
        std::uint64_t sum_micros = 0;

        Counts& operator+=(const Counts& other) {
            for (std::size_t i = 0; i < bucket_count; ++i) buckets[i] += other.buckets[i];
            count += other.count;
            sum_micros += other.sum_micros;
            return *this;
        }
    };

    void record(std::uint64_t micros) {
        const auto bucket = static_cast<std::size_t>(
            std::lower_bound(bounds_micros.begin(), bounds_micros.end(), micros) - bounds_micros.begin());
        bump(buckets_[bucket], 1);
        bump(sum_micros_, micros);
        bump(count_, 1);
    }

    Counts read() const {
        Counts c;
        for (std::size_t i = 0; i < bucket_count; ++i) c.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
        c.count = count_.load(std::memory_order_relaxed);
        c.sum_micros = sum_micros_.load(std::memory_order_relaxed);
        return c;
    }

private:
    static void bump(std::atomic<std::uint64_t>& a, std::uint64_t by) {
        a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }

    std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> sum_micros_{0};
};

}  // namespace leadd::ops
