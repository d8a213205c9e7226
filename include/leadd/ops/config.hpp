#pragma once
// Command line and environment: `leadd serve [flags]`. Every flag can also come from the
// environment as LEADD_<FLAG_IN_CAPS> (dashes become underscores); a flag beats the environment.
// The admin token is read only from LEADD_ADMIN_TOKEN or --admin-token-file, never from a flag
// value, so it does not show in `ps`.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace leadd::ops {

struct Config {
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 8080;
    std::filesystem::path data_dir = "./data";
    unsigned threads = 1;  // set to the hardware threads by parse_command_line
    std::size_t shards = 64;
    std::size_t max_connections = 10'000;
    std::size_t max_body_bytes = 1024 * 1024;
    std::size_t max_header_bytes = 16 * 1024;
    std::size_t max_header_count = 128;
    std::uint64_t rate_limit_per_hour = 0;  // 0: off
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds read_timeout{30'000};
    std::chrono::milliseconds idle_timeout{60'000};
    std::optional<std::string> admin_token;
    std::string fsync = "always";  // always | batch | none
    std::chrono::milliseconds fsync_interval{10};
    std::chrono::microseconds commit_window{1500};  // --fsync always; see wal::Log "Commit window"
    std::uint64_t snapshot_every_bytes = 256ull << 20;
    std::uint64_t segment_bytes = 64ull << 20;
    bool recover_truncate = false;  // --recover=truncate: keep what precedes damage in the log
    std::string log_level = "info";
    std::string log_format = "text";  // or "json"
};

// What main does next: serve with `config` (or probe it, see healthcheck), or print `message` and exit with `exit_code`
// (0 for --help / --version, 2 for a bad flag or value).
struct CommandLine {
    std::optional<Config> config;
    int exit_code = 0;
    std::string message;
    // `leadd healthcheck [flags]`: probe GET /healthz on the configured --listen address (the
    // container HEALTHCHECK) instead of serving.
    bool healthcheck = false;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

CommandLine parse_command_line(int argc, const char* const* argv, const EnvLookup& env);
EnvLookup process_environment();

// One line: "leadd 0.2.0-3-gabc1234 (commit abc1234, GNU 12.2.0, Release -O3, static)".
// `leadd --version` prints it; the first log line starts with it. The version comes from
// `git describe` (see cmake/GenerateBuildInfo.cmake).
std::string version_string();

}  // namespace leadd::ops
