#pragma once
// FUZZ_CHECK(condition, context): an invariant of a fuzz target. When it fails, the target
// prints what broke and the context (the response, the record...) and aborts, which libFuzzer
// reports as a crash and saves the input. Unlike assert, it stays on in every build type.

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace leadd::fuzz {

[[noreturn]] inline void invariant_broken(const char* condition, const char* file, int line, std::string_view context) {
    std::fprintf(stderr, "\n%s:%d: fuzz invariant broken: %s\n--- context ---\n%.*s\n---\n", file, line, condition,
                 static_cast<int>(context.size()), context.data());
    std::abort();
}

}  // namespace leadd::fuzz

#define FUZZ_CHECK(condition, context) \
    ((condition) ? void() : ::leadd::fuzz::invariant_broken(#condition, __FILE__, __LINE__, (context)))
