# Initial cache of the dist tree: `cmake -C cmake/Dist.cmake -S . -B build/dist` (scripts/dist.sh).
# FORCE: a build/dist configured before follows this file when it changes.
# A static -O3 release build with debug info, which scripts/dist.sh strips into a separate file.
# -O3 without LTO measured best (README, "Single binary"): -O2 took 3% more instructions per GET,
# LTO 2% more at either level, for no req/s difference above noise and a 14 s link per rebuild.
set(CMAKE_BUILD_TYPE Release CACHE STRING "" FORCE)
set(CMAKE_CXX_FLAGS_RELEASE "-O3 -g -DNDEBUG" CACHE STRING "" FORCE)
set(CMAKE_INTERPROCEDURAL_OPTIMIZATION OFF CACHE BOOL "" FORCE)
set(LEADD_STATIC ON CACHE BOOL "" FORCE)
set(LEADD_BUILD_TESTS OFF CACHE BOOL "" FORCE)
# ccache cannot cache a precompiled header; without one every object comes from the cache in a
# fresh checkout (CI's clone) and the build takes seconds.
set(CMAKE_DISABLE_PRECOMPILE_HEADERS ON CACHE BOOL "" FORCE)
