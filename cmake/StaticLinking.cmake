# LEADD_STATIC=ON (the dist build): everything but glibc inside the binary, so it runs on a
# Debian 12 machine without any library package. Included after the find_package calls, which
# LEADD_STATIC already pointed at Boost's and OpenSSL's static archives.
#
# Debian 12 ships libboost_*.a and libcrypto.a, but no static spdlog or fmt: both are compiled
# into the binary as header-only libraries instead. LEADD_SPDLOG_TARGET is what to link for
# spdlog either way.

set(LEADD_SPDLOG_TARGET spdlog::spdlog)
if(NOT LEADD_STATIC)
  return()
endif()

find_package(fmt REQUIRED)
# Debian's spdlog_header_only target still links the shared fmt; point it at fmt's headers.
set_target_properties(spdlog::spdlog_header_only PROPERTIES
  INTERFACE_LINK_LIBRARIES "Threads::Threads;fmt::fmt-header-only")
set(LEADD_SPDLOG_TARGET spdlog::spdlog_header_only)
add_link_options(-static-libstdc++ -static-libgcc)
