// parse_command_line: flags, LEADD_* environment (through a fake EnvLookup), exit codes.

#include "leadd/ops/config.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using leadd::ops::CommandLine;
using leadd::ops::Config;
using leadd::ops::parse_command_line;

namespace {

using Env = std::map<std::string, std::string>;

leadd::ops::EnvLookup fake_env(Env env) {
    return [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
    };
}

CommandLine parse(std::vector<std::string> args, Env env = {}) {
    args.insert(args.begin(), "leadd");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    return parse_command_line(static_cast<int>(args.size()), argv.data(), fake_env(std::move(env)));
}

Config config_of(std::vector<std::string> args, Env env = {}) {
    const auto cl = parse(args, env);
    INFO("exit " << cl.exit_code << ": " << cl.message);
    REQUIRE(cl.config.has_value());
    CHECK(cl.exit_code == 0);
    return *cl.config;
}

// Expects exit code 2 with a message that mentions `needle`.
void expect_refused(std::vector<std::string> args, const std::string& needle, Env env = {}) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    INFO("args: " << joined);
    const auto cl = parse(args, env);
    INFO("message: " << cl.message);
    CHECK_FALSE(cl.config.has_value());
    CHECK(cl.exit_code == 2);
    CHECK(cl.message.find(needle) != std::string::npos);
}

// A temporary file removed at scope exit.
struct TempFile {
    std::filesystem::path path;
    explicit TempFile(const std::string& contents) {
        path = std::filesystem::temp_directory_path() /
               ("leadd-test-token-" + std::to_string(::getpid()) + "-" +
                std::to_string(reinterpret_cast<std::uintptr_t>(this)));
        std::ofstream(path, std::ios::binary) << contents;
    }
    ~TempFile() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
};

}  // namespace

TEST_CASE("defaults with no arguments", "[config]") {
    const Config c = config_of({});
    CHECK(c.listen_host == "127.0.0.1");
    CHECK(c.listen_port == 8080);
    CHECK(c.data_dir == std::filesystem::path("./data"));
    CHECK(c.threads == std::max(1u, std::thread::hardware_concurrency()));
    CHECK(c.shards == 64);
    CHECK(c.max_body_bytes == 1024 * 1024);
    CHECK(c.header_timeout == std::chrono::milliseconds(10'000));
    CHECK(c.read_timeout == std::chrono::milliseconds(30'000));
    CHECK(c.idle_timeout == std::chrono::milliseconds(60'000));
    CHECK(c.commit_window == std::chrono::microseconds(1500));
    CHECK_FALSE(c.admin_token.has_value());
    CHECK(c.log_level == "info");
    CHECK(c.log_format == "text");
}

TEST_CASE("the serve subcommand is the same as none", "[config]") {
    const Config none = config_of({"--listen", "0.0.0.0:9000", "--threads", "3"});
    const Config serve = config_of({"serve", "--listen", "0.0.0.0:9000", "--threads", "3"});
    CHECK(none.listen_host == serve.listen_host);
    CHECK(none.listen_port == serve.listen_port);
    CHECK(none.threads == serve.threads);
    CHECK(serve.listen_host == "0.0.0.0");
    CHECK(serve.listen_port == 9000);
    CHECK(serve.threads == 3);
    CHECK(config_of({"serve"}).listen_port == 8080);
}

TEST_CASE("flags set every field", "[config]") {
    const Config c = config_of({"serve", "--listen=10.1.2.3:1234", "--data-dir", "/var/lib/leadd",
                                "--threads=16", "--shards", "256", "--max-body-bytes=2048",
                                "--log-level", "debug", "--log-format=json", "--header-timeout-ms=5",
                                "--read-timeout-ms=6", "--idle-timeout-ms=7", "--commit-window-us=0"});
    CHECK(c.listen_host == "10.1.2.3");
    CHECK(c.listen_port == 1234);
    CHECK(c.data_dir == std::filesystem::path("/var/lib/leadd"));
    CHECK(c.threads == 16);
    CHECK(c.shards == 256);
    CHECK(c.max_body_bytes == 2048);
    CHECK(c.log_level == "debug");
    CHECK(c.log_format == "json");
    CHECK(c.header_timeout == std::chrono::milliseconds(5));
    CHECK(c.read_timeout == std::chrono::milliseconds(6));
    CHECK(c.idle_timeout == std::chrono::milliseconds(7));
    CHECK(c.commit_window == std::chrono::microseconds(0));
}

TEST_CASE("the environment is used when no flag is given", "[config]") {
    const Config c = config_of({"serve"}, {{"LEADD_LISTEN", "192.168.0.1:7000"},
                                           {"LEADD_DATA_DIR", "/srv/data"},
                                           {"LEADD_THREADS", "5"},
                                           {"LEADD_SHARDS", "128"},
                                           {"LEADD_MAX_BODY_BYTES", "4096"},
                                           {"LEADD_LOG_LEVEL", "warn"},
                                           {"LEADD_LOG_FORMAT", "json"},
                                           {"LEADD_IDLE_TIMEOUT_MS", "1234"}});
    CHECK(c.listen_host == "192.168.0.1");
    CHECK(c.listen_port == 7000);
    CHECK(c.data_dir == std::filesystem::path("/srv/data"));
    CHECK(c.threads == 5);
    CHECK(c.shards == 128);
    CHECK(c.max_body_bytes == 4096);
    CHECK(c.log_level == "warn");
    CHECK(c.log_format == "json");
    CHECK(c.idle_timeout == std::chrono::milliseconds(1234));
}

TEST_CASE("a flag beats the environment", "[config]") {
    const Env env = {{"LEADD_LISTEN", "192.168.0.1:7000"}, {"LEADD_THREADS", "5"}, {"LEADD_SHARDS", "128"},
                     {"LEADD_LOG_LEVEL", "warn"}};
    const Config c = config_of({"serve", "--listen", "127.0.0.1:9999", "--threads=2", "--log-level=error"}, env);
    CHECK(c.listen_host == "127.0.0.1");
    CHECK(c.listen_port == 9999);
    CHECK(c.threads == 2);
    CHECK(c.log_level == "error");
    CHECK(c.shards == 128);  // no flag: the environment
    // A flag equal to the default still beats the environment.
    CHECK(config_of({"--shards=64"}, env).shards == 64);
    CHECK(config_of({"--listen=127.0.0.1:8080"}, env).listen_port == 8080);
}

TEST_CASE("unrelated environment variables are ignored", "[config]") {
    const Config c = config_of({}, {{"LISTEN", "1.1.1.1:1"}, {"LEADD_BOGUS", "x"}, {"leadd_threads", "7"}});
    CHECK(c.listen_host == "127.0.0.1");
    CHECK(c.threads == std::max(1u, std::thread::hardware_concurrency()));
}

TEST_CASE("LEADD_ADMIN_TOKEN sets the admin token", "[config]") {
    CHECK(config_of({}, {{"LEADD_ADMIN_TOKEN", "s3cret"}}).admin_token == std::optional<std::string>("s3cret"));
    // A trailing newline (e.g. from $(cat file)) is not part of the token.
    CHECK(config_of({}, {{"LEADD_ADMIN_TOKEN", "s3cret\n"}}).admin_token == std::optional<std::string>("s3cret"));
    expect_refused({}, "admin token", {{"LEADD_ADMIN_TOKEN", ""}});
}

TEST_CASE("--admin-token-file reads the token from a file", "[config]") {
    TempFile file("file-token\n");
    CHECK(config_of({"serve", "--admin-token-file", file.path.string()}).admin_token ==
          std::optional<std::string>("file-token"));
    CHECK(config_of({"--admin-token-file=" + file.path.string()}).admin_token ==
          std::optional<std::string>("file-token"));
    // Also through the environment.
    CHECK(config_of({}, {{"LEADD_ADMIN_TOKEN_FILE", file.path.string()}}).admin_token ==
          std::optional<std::string>("file-token"));
    // The flag beats LEADD_ADMIN_TOKEN.
    CHECK(config_of({"--admin-token-file", file.path.string()}, {{"LEADD_ADMIN_TOKEN", "env-token"}}).admin_token ==
          std::optional<std::string>("file-token"));

    TempFile crlf("crlf-token\r\n");
    CHECK(config_of({"--admin-token-file", crlf.path.string()}).admin_token == std::optional<std::string>("crlf-token"));
    TempFile no_newline("bare");
    CHECK(config_of({"--admin-token-file", no_newline.path.string()}).admin_token == std::optional<std::string>("bare"));

    TempFile empty("");
    expect_refused({"--admin-token-file", empty.path.string()}, "admin-token-file");
    TempFile blank("\n");
    expect_refused({"--admin-token-file", blank.path.string()}, "admin token");
    expect_refused({"--admin-token-file", "/nonexistent/dir/token"}, "--admin-token-file");
}

TEST_CASE("the admin token is never taken from a flag value", "[config]") {
    expect_refused({"--admin-token", "s3cret"}, "admin-token");
    expect_refused({"--admin-token=s3cret"}, "admin-token");
}

TEST_CASE("--help and --version exit 0 without a config", "[config]") {
    for (const auto& args : std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"serve", "--help"}}) {
        const auto cl = parse(args);
        CHECK_FALSE(cl.config.has_value());
        CHECK(cl.exit_code == 0);
        CHECK(cl.message.find("Usage") != std::string::npos);
        CHECK(cl.message.find("--listen") != std::string::npos);
        CHECK(cl.message.find("LEADD_") != std::string::npos);
    }
    for (const auto& args : std::vector<std::vector<std::string>>{{"--version"}, {"version"}, {"serve", "--version"}}) {
        const auto cl = parse(args);
        CHECK_FALSE(cl.config.has_value());
        CHECK(cl.exit_code == 0);
        CHECK(cl.message == leadd::ops::version_string());
        CHECK(cl.message.find(LEADD_VERSION) != std::string::npos);
    }
}

TEST_CASE("an unknown flag or command exits 2 naming it", "[config]") {
    expect_refused({"--bogus"}, "--bogus");
    expect_refused({"serve", "--bogus=1"}, "--bogus");
    expect_refused({"frobnicate"}, "frobnicate");
}

TEST_CASE("a bad value exits 2 naming the flag", "[config]") {
    expect_refused({"--threads=abc"}, "threads");
    expect_refused({"--threads=0"}, "--threads");
    expect_refused({"--threads=1025"}, "--threads");
    expect_refused({"--threads=-1"}, "threads");
    expect_refused({"--max-body-bytes=0"}, "--max-body-bytes");
    expect_refused({"--max-body-bytes=lots"}, "max-body-bytes");
    expect_refused({"--header-timeout-ms=0"}, "--header-timeout-ms");
    expect_refused({"--read-timeout-ms=-5"}, "--read-timeout-ms");
    expect_refused({"--commit-window-us=-1"}, "--commit-window-us");
    expect_refused({"--commit-window-us=100001"}, "--commit-window-us");
    expect_refused({"--log-level=verbose"}, "--log-level");
    expect_refused({"--log-format=xml"}, "--log-format");
    expect_refused({"--listen"}, "listen");  // missing value
    // From the environment too.
    expect_refused({}, "threads", {{"LEADD_THREADS", "many"}});
    expect_refused({}, "--log-format", {{"LEADD_LOG_FORMAT", "yaml"}});
}

TEST_CASE("a negative --max-body-bytes is refused, not wrapped to a huge limit", "[config]") {
    // Boost's lexical_cast accepts "-1" for an unsigned type and wraps it to SIZE_MAX, which
    // would turn the body limit off.
    expect_refused({"--max-body-bytes=-1"}, "max-body-bytes");
}

TEST_CASE("bad --listen values exit 2 naming --listen", "[config]") {
    for (const char* v : {"nocolon", "host:", ":8080", "host:99999", "host:65536", "host:80a", "host:-1",
                          "host:123456", "[::1]", "[]:80", "host: 80"}) {
        INFO(v);
        expect_refused({std::string("--listen=") + v}, "--listen");
    }
    expect_refused({}, "--listen", {{"LEADD_LISTEN", "nocolon"}});
}

TEST_CASE("--listen accepts names, IPv4, IPv6 in brackets and the full port range", "[config]") {
    Config c = config_of({"--listen=[::1]:8080"});
    CHECK(c.listen_host == "::1");
    CHECK(c.listen_port == 8080);
    c = config_of({"--listen=[::]:443"});
    CHECK(c.listen_host == "::");
    CHECK(c.listen_port == 443);
    c = config_of({"--listen=[fe80::1%eth0]:65535"});
    CHECK(c.listen_host == "fe80::1%eth0");
    CHECK(c.listen_port == 65535);
    c = config_of({"--listen=localhost:0"});  // 0: pick a free port
    CHECK(c.listen_host == "localhost");
    CHECK(c.listen_port == 0);
}

TEST_CASE("--shards must be a power of two", "[config]") {
    for (const char* ok : {"1", "2", "64", "1024", "65536"}) {
        INFO(ok);
        CHECK(config_of({std::string("--shards=") + ok}).shards == std::stoul(ok));
    }
    for (const char* bad : {"0", "3", "6", "100", "65535", "131072", "-64"}) {
        INFO(bad);
        expect_refused({std::string("--shards=") + bad}, "shards");
    }
    expect_refused({}, "shards", {{"LEADD_SHARDS", "12"}});
}

TEST_CASE("abuse limits and the rate limit: defaults, flags, environment, refusals", "[config]") {
    const Config d = config_of({});
    CHECK(d.rate_limit_per_hour == 0);  // off unless asked for (API.md)
    CHECK(d.max_connections == 10'000);
    CHECK(d.max_header_bytes == 16 * 1024);
    CHECK(d.max_header_count == 128);
    const Config c = config_of({"--rate-limit-per-hour", "500", "--max-connections", "64", "--max-header-bytes",
                                "4096", "--max-header-count", "20"});
    CHECK(c.rate_limit_per_hour == 500);
    CHECK(c.max_connections == 64);
    CHECK(c.max_header_bytes == 4096);
    CHECK(c.max_header_count == 20);
    CHECK(config_of({}, {{"LEADD_RATE_LIMIT_PER_HOUR", "7"}}).rate_limit_per_hour == 7);
    expect_refused({"--rate-limit-per-hour", "-1"}, "--rate-limit-per-hour");
    expect_refused({"--max-connections", "0"}, "--max-connections");
    expect_refused({"--max-header-bytes", "100"}, "--max-header-bytes");
    expect_refused({"--max-header-count", "2"}, "--max-header-count");
}

TEST_CASE("healthcheck: the serve flags and environment, marked as a probe", "[config]") {
    const auto by_flag = parse({"healthcheck", "--listen", "0.0.0.0:9000"});
    REQUIRE(by_flag.config);
    CHECK(by_flag.healthcheck);
    CHECK(by_flag.config->listen_host == "0.0.0.0");
    CHECK(by_flag.config->listen_port == 9000);
    const auto by_env = parse({"healthcheck"}, {{"LEADD_LISTEN", "127.0.0.1:9100"}});
    REQUIRE(by_env.config);
    CHECK(by_env.healthcheck);
    CHECK(by_env.config->listen_port == 9100);
    CHECK_FALSE(parse({"serve"}).healthcheck);
    CHECK_FALSE(parse({}).healthcheck);
    expect_refused({"healthcheck", "--listen", "nope"}, "--listen");
}
