// What a cold cache line costs on this machine, below leadd: random 64-byte lines of a 1 GiB
// block (far past the caches, as a million leads' trees and leads are), `batch` of them asked
// for at once with a prefetch each and then read; which lines the next batch reads depends on
// what this one read, as a descent's next node depends on the last. The figure is per line: a
// batch of one is a miss's latency, a large batch how fast lines arrive when the core has as
// many on their way as it can, the ceiling a store update's prefetches share (counted_tree.hpp).
// By hand:
//   build/release/load/micro/leadd_micro --benchmark_filter=ColdLines

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace {

constexpr std::size_t block_lines = std::size_t{1} << 24;  // 16 Mi lines of 64 bytes: 1 GiB

struct alignas(64) Line {
    std::uint64_t word[8];
};

const Line* cold_block() {
    static const std::unique_ptr<Line[]> block = [] {
        // Every line written once, so every page is mapped before a timing loop runs.
        std::unique_ptr<Line[]> lines(new Line[block_lines]);
        for (std::size_t i = 0; i < block_lines; ++i) lines[i].word[0] = i;
        return lines;
    }();
    return block.get();
}

void BM_ColdLines(benchmark::State& state) {
    const Line* block = cold_block();
    const auto batch = static_cast<std::size_t>(state.range(0));
    std::vector<std::size_t> picks(batch);
    std::uint64_t x = 0x9e3779b97f4a7c15ULL;  // xorshift64: a new random line each time
    for (auto _ : state) {
        for (auto& pick : picks) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pick = x & (block_lines - 1);
            __builtin_prefetch(&block[pick]);
        }
        for (const std::size_t pick : picks) x += block[pick].word[0];  // the next batch waits for these
        x |= 1;  // xorshift stays at 0 once there
    }
    benchmark::DoNotOptimize(x);
    // Seconds per line (printed in ns): a rate of lines, inverted.
    state.counters["per_line"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ColdLines)->Arg(1)->Arg(8)->Arg(64)->Arg(512);

}  // namespace
