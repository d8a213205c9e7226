#include "leadd/ops/thread_priority.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using leadd::ops::BackgroundPacer;
using namespace std::chrono_literals;

TEST_CASE("a pacer gives the core back once a turn has lasted its length, and not before", "[ops]") {
    SECTION("a turn far longer than the test: never") {
        BackgroundPacer pacer(std::chrono::duration_cast<std::chrono::microseconds>(1h));
        for (int i = 0; i < 1000; ++i) pacer.pause_point();
        CHECK(pacer.yields() == 0);
    }
    SECTION("a turn of nothing: at every pause point") {
        BackgroundPacer pacer(0us);
        for (int i = 0; i < 1000; ++i) pacer.pause_point();
        CHECK(pacer.yields() == 1000);
    }
    SECTION("a turn starts again after each yield") {
        BackgroundPacer pacer(200ms);
        pacer.pause_point();
        CHECK(pacer.yields() == 0);
        std::this_thread::sleep_for(250ms);
        pacer.pause_point();
        CHECK(pacer.yields() == 1);
        pacer.pause_point();  // the new turn has only begun
        CHECK(pacer.yields() == 1);
    }
}
