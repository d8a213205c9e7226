#include "leadd/store/pod_vector.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

using leadd::store::PodVector;

namespace {

template <class T>
std::vector<T> contents(const PodVector<T>& v) {
    return std::vector<T>(v.begin(), v.end());
}

// Elements per vector at which it moves into pages of its own.
template <class T>
constexpr std::size_t mapped_at = PodVector<T>::mapped_from_bytes / sizeof(T);

}  // namespace

TEST_CASE("PodVector keeps its elements across growth from the heap into mapped pages and back", "[pod_vector]") {
    // Random operations against std::vector, crossing the heap/mapped boundary both ways.
    std::mt19937_64 rng(7);
    PodVector<std::uint32_t> v;
    std::vector<std::uint32_t> model;
    const std::size_t boundary = mapped_at<std::uint32_t>;
    for (int step = 0; step < 4000; ++step) {
        switch (rng() % 6) {
        case 0:
        case 1:
        case 2: {  // a run of appends, sometimes long enough to cross the boundary
            const std::size_t n = rng() % 3 == 0 ? boundary / 2 : rng() % 64;
            for (std::size_t i = 0; i < n; ++i) {
                const auto x = static_cast<std::uint32_t>(rng());
                v.push_back(x);
                model.push_back(x);
            }
            break;
        }
        case 3: {  // shrink, sometimes below the boundary, then give the room back
            const std::size_t keep = model.empty() ? 0 : rng() % (model.size() + 1);
            v.resize(keep);
            model.resize(keep);
            if (rng() % 2) v.shrink_to_fit();
            break;
        }
        case 4: {  // grow with zeros
            const std::size_t to = model.size() + rng() % 100;
            v.resize(to);
            model.resize(to);
            break;
        }
        case 5: {  // reserve never loses elements nor shrinks
            const std::size_t before = v.capacity();
            v.reserve(model.size() + rng() % (2 * boundary));
            REQUIRE(v.capacity() >= before);
            break;
        }
        }
        REQUIRE(v.size() == model.size());
        REQUIRE(v.capacity() >= v.size());
        if (step % 97 == 0) REQUIRE(contents(v) == model);
    }
    REQUIRE(contents(v) == model);
}

TEST_CASE("PodVector mapped growth keeps the data, and the rest of the last page is usable room", "[pod_vector]") {
    PodVector<char> v;
    const std::size_t n = 3 * PodVector<char>::mapped_from_bytes + 5;
    for (std::size_t i = 0; i < n; ++i) v.push_back(static_cast<char>('a' + i % 26));
    REQUIRE(v.size() == n);
    REQUIRE(v.capacity() % 4096 == 0);  // whole pages once mapped
    for (std::size_t i = 0; i < n; ++i) REQUIRE(v[i] == static_cast<char>('a' + i % 26));
    v.shrink_to_fit();
    REQUIRE(v.capacity() >= n);
    REQUIRE(v.capacity() < n + 4096);
    REQUIRE(v[n - 1] == static_cast<char>('a' + (n - 1) % 26));
    v.resize(10);
    v.shrink_to_fit();  // back onto the heap
    REQUIRE(v.capacity() == 10);
    REQUIRE(std::string(v.begin(), v.end()) == "abcdefghij");
}

TEST_CASE("PodVector moves leave the source empty and usable", "[pod_vector]") {
    PodVector<std::uint64_t> a;
    for (std::uint64_t i = 0; i < mapped_at<std::uint64_t> + 3; ++i) a.push_back(i * i);
    PodVector<std::uint64_t> b(std::move(a));
    REQUIRE(a.empty());
    REQUIRE(a.capacity() == 0);
    REQUIRE(b.size() == mapped_at<std::uint64_t> + 3);
    REQUIRE(b.back() == (mapped_at<std::uint64_t> + 2) * (mapped_at<std::uint64_t> + 2));

    PodVector<std::uint64_t> c;
    c.push_back(1);
    c = std::move(b);  // frees c's own block, takes b's pages
    REQUIRE(b.empty());
    REQUIRE(c.size() == mapped_at<std::uint64_t> + 3);
    REQUIRE(c[5] == 25);

    a.push_back(42);  // a moved-from vector starts over
    REQUIRE(contents(a) == std::vector<std::uint64_t>{42});
    a.append(c.data(), 3);
    REQUIRE(contents(a) == std::vector<std::uint64_t>{42, 0, 1, 4});
    a.clear();
    REQUIRE(a.empty());
    REQUIRE(a.capacity() >= 4);
}
