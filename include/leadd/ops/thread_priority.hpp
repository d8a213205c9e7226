#pragma once
// Background work (a snapshot's encoding, preparing the next log segment) runs at nice 10, for
// the calling thread only (Linux keeps a nice value per thread): against busy nice-0 workers it
// gets about a tenth of a core, so it takes mostly what the request workers leave and still
// finishes under full load. Best effort.
//
// A nice value says how often a thread runs, not for how long. Where background work and a
// request worker share a core (a one-CPU container, or leadd pinned to one core as load/bench.py
// runs it), the kernel takes the core back from the background thread at its timer tick, so
// each of its turns is a whole tick (4 ms with HZ=250, the kernel load/README's figures come
// from), and every request in flight waits that long: during a snapshot of a million leads, a
// PUT load's p99 was ~4.9 ms instead of ~1. Long background loops therefore give the core
// back themselves, through a BackgroundPacer.

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

namespace leadd::ops {

inline void lower_this_threads_priority() { ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10); }

// Gives the core back (sched_yield) once a turn has lasted `turn`: a worker waiting for the core
// then runs, and the background thread's next turn comes when the scheduler gives it one. On an
// idle core sched_yield returns at once, so the work is not slowed where nobody waits. Call
// pause_point() between pieces of work small enough that a turn overruns by little (~10 µs).
// The default turn, 200 µs, is what a request may wait for it: a fraction of a loaded p99.
class BackgroundPacer {
public:
    using Clock = std::chrono::steady_clock;
    explicit BackgroundPacer(std::chrono::microseconds turn = std::chrono::microseconds(200)) : turn_(turn) {}

    void pause_point() {
        const auto now = Clock::now();
        if (now - turn_started_ < turn_) return;
        ::sched_yield();
        ++yields_;
        turn_started_ = Clock::now();
    }
    std::uint64_t yields() const { return yields_; }

private:
    std::chrono::microseconds turn_;
    Clock::time_point turn_started_ = Clock::now();
    std::uint64_t yields_ = 0;
};

}  // namespace leadd::ops
