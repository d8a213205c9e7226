#pragma once
// spdlog to stderr, as text or as one JSON object per line. stdout is kept for the one-time
// initial API key banner. Nothing here is ever given a key or a token.

#include <spdlog/common.h>

#include <cstdint>
#include <string_view>

namespace leadd::ops {

void init_logging(std::string_view level, std::string_view format);

void log(spdlog::level::level_enum level, std::string_view message);

struct AccessRecord {
    std::string_view method;
    std::string_view path;  // without the query string
    int status;
    std::int64_t micros;
    std::string_view request_id;
};
void log_access(const AccessRecord& record);

}  // namespace leadd::ops
