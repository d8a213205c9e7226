#include "leadd/ops/logging.hpp"

#include "leadd/http/envelope.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace leadd::ops {

namespace {

bool json_format = false;

// Text lines stay one line per event whatever a client sends in a path.
std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : http::to_valid_utf8(s)) {
        if (c < 0x20 || c == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

std::string json_string(std::string_view s) {
    return boost::json::serialize(boost::json::string(http::to_valid_utf8(s)));
}

}  // namespace

void init_logging(std::string_view level, std::string_view format) {
    auto logger = spdlog::stderr_logger_mt("leadd");
    json_format = format == "json";
    logger->set_pattern(json_format ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})"
                                    : "%Y-%m-%dT%H:%M:%S.%eZ %l %v",
                        spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::from_str(std::string(level)));
    // Warnings and errors reach stderr at once; the per-request access lines are flushed every
    // second instead of costing a write(2) each.
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    spdlog::flush_every(std::chrono::seconds(1));
}

void log(spdlog::level::level_enum level, std::string_view message) {
    if (!spdlog::should_log(level)) return;
    if (json_format) spdlog::log(level, "\"msg\":{}", json_string(message));
    else spdlog::log(level, "{}", printable(message));
}

void log_access(const AccessRecord& r) {
    if (!spdlog::should_log(spdlog::level::info)) return;
    if (json_format)
        spdlog::info(R"("msg":"request","method":{},"path":{},"status":{},"us":{},"requestId":{})",
                     json_string(r.method), json_string(r.path), r.status, r.micros,
                     json_string(r.request_id));
    else
        spdlog::info("{} {} {} {}us rid={}", printable(r.method), printable(r.path), r.status,
                     r.micros, printable(r.request_id));
}

}  // namespace leadd::ops
