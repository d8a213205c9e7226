#include "leadd/ops/config.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace leadd::ops {

namespace po = boost::program_options;

namespace {

constexpr const char* usage_head =
    "Usage: leadd serve [flags]\n"
    "Every flag can also be set as LEADD_<FLAG> in the environment (e.g. LEADD_LISTEN);\n"
    "a flag beats the environment. The admin token comes from LEADD_ADMIN_TOKEN or\n"
    "--admin-token-file.\n";

struct Raw {
    std::string listen, data_dir, admin_token_file, log_level, log_format, fsync, recover;
    // Signed on purpose: program_options reads "-1" into an unsigned as 2^64-1, which would pass
    // every range check; as a signed value it is refused.
    std::int64_t fsync_interval_ms = 0, snapshot_every_bytes = 0, segment_bytes = 0;
    std::int64_t threads = 0, shards = 0, max_body_bytes = 0;
    std::int64_t header_timeout_ms = 0, read_timeout_ms = 0, idle_timeout_ms = 0;
};

po::options_description describe(Raw& raw, const Config& d) {
    po::options_description network("Network");
    network.add_options()
        ("listen", po::value(&raw.listen)->default_value(d.listen_host + ":" + std::to_string(d.listen_port)),
         "address:port to listen on ([::1]:8080 for IPv6) [LEADD_LISTEN]")
        ("threads", po::value(&raw.threads)->default_value(std::max<std::int64_t>(1, std::thread::hardware_concurrency())),
         "worker threads, each with its own event loop [LEADD_THREADS]")
        ("max-body-bytes", po::value(&raw.max_body_bytes)->default_value(static_cast<std::int64_t>(d.max_body_bytes)),
         "largest request body; larger gets 413 [LEADD_MAX_BODY_BYTES]")
        ("header-timeout-ms", po::value(&raw.header_timeout_ms)->default_value(d.header_timeout.count()),
         "time to receive a request's headers once it has started [LEADD_HEADER_TIMEOUT_MS]")
        ("read-timeout-ms", po::value(&raw.read_timeout_ms)->default_value(d.read_timeout.count()),
         "time to receive a request's body [LEADD_READ_TIMEOUT_MS]")
        ("idle-timeout-ms", po::value(&raw.idle_timeout_ms)->default_value(d.idle_timeout.count()),
         "keep-alive connection closed after this long without a request [LEADD_IDLE_TIMEOUT_MS]");
    po::options_description storage("Storage");
    storage.add_options()
        ("data-dir", po::value(&raw.data_dir)->default_value(d.data_dir.string()),
         "data directory, created if missing [LEADD_DATA_DIR]")
        ("shards", po::value(&raw.shards)->default_value(static_cast<std::int64_t>(d.shards)),
         "store shards, a power of two [LEADD_SHARDS]")
        ("fsync", po::value(&raw.fsync)->default_value(d.fsync),
         "always: acknowledge a write once it is on disk; batch: acknowledge at once, fsync every "
         "--fsync-interval-ms (a crash may lose the last interval); none: the OS decides [LEADD_FSYNC]")
        ("fsync-interval-ms", po::value(&raw.fsync_interval_ms)->default_value(d.fsync_interval.count()),
         "fsync period under --fsync batch [LEADD_FSYNC_INTERVAL_MS]")
        ("snapshot-every-bytes", po::value(&raw.snapshot_every_bytes)->default_value(static_cast<std::int64_t>(d.snapshot_every_bytes)),
         "write a snapshot after this much log [LEADD_SNAPSHOT_EVERY_BYTES]")
        ("segment-bytes", po::value(&raw.segment_bytes)->default_value(static_cast<std::int64_t>(d.segment_bytes)),
         "start a new log segment after this size [LEADD_SEGMENT_BYTES]")
        ("recover", po::value(&raw.recover)->default_value("stop"),
         "on a damaged record in the middle of the log: stop (refuse to start) or truncate (keep "
         "what precedes it) [LEADD_RECOVER]");
    po::options_description security("Security");
    security.add_options()
        ("admin-token-file", po::value(&raw.admin_token_file),
         "file holding the admin token (enables /api/v1/admin) [LEADD_ADMIN_TOKEN_FILE]");
    po::options_description logging("Logging");
    logging.add_options()
        ("log-level", po::value(&raw.log_level)->default_value(d.log_level),
         "trace, debug, info, warn, error, critical or off [LEADD_LOG_LEVEL]")
        ("log-format", po::value(&raw.log_format)->default_value(d.log_format),
         "text or json [LEADD_LOG_FORMAT]");
    po::options_description all;
    all.add_options()("help,h", "show this help")("version", "print the version");
    all.add(network).add(storage).add(security).add(logging);
    return all;
}

CommandLine fail(std::string message) { return CommandLine{std::nullopt, 2, "leadd: " + message}; }

std::string trim_line_end(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace

std::string version_string() { return "leadd " LEADD_VERSION; }

EnvLookup process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v ? std::optional<std::string>(v) : std::nullopt;
    };
}

CommandLine parse_command_line(int argc, const char* const* argv, const EnvLookup& env) {
    Config config;
    Raw raw;
    auto options = describe(raw, config);

    // `leadd`, `leadd serve ...`, `leadd version`, `leadd --help`.
    int first = 1;
    if (argc > 1 && std::string_view(argv[1]) == "version") return {std::nullopt, 0, version_string()};
    if (argc > 1 && std::string_view(argv[1]) == "serve") first = 2;
    else if (argc > 1 && argv[1][0] != '-') return fail(std::string("unknown command '") + argv[1] + "' (try: leadd serve --help)");

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc - first + 1, argv + first - 1).options(options).run(), vm);
        // Environment second: po::store keeps the first value stored, so flags win.
        for (const auto& opt : options.options()) {
            const std::string& name = opt->long_name();
            if (name == "help" || name == "version" || (vm.count(name) && !vm[name].defaulted())) continue;
            std::string var = "LEADD_" + name;
            std::transform(var.begin(), var.end(), var.begin(),
                           [](char c) { return c == '-' ? '_' : static_cast<char>(std::toupper(c)); });
            if (auto value = env(var)) {
                po::parsed_options parsed(&options);
                parsed.options.push_back(po::option(name, {*value}));
                vm.erase(name);
                po::store(parsed, vm);
            }
        }
        po::notify(vm);
    } catch (const po::error& e) {
        return fail(e.what());
    }
    if (vm.count("help")) {
        std::ostringstream out;
        out << usage_head << options;
        return {std::nullopt, 0, out.str()};
    }
    if (vm.count("version")) return {std::nullopt, 0, version_string()};

    // --listen host:port
    const auto colon = raw.listen.rfind(':');
    if (colon == std::string::npos || colon + 1 == raw.listen.size())
        return fail("--listen must be address:port, got '" + raw.listen + "'");
    std::string host = raw.listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string port_text = raw.listen.substr(colon + 1);
    if (host.empty() || port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoul(port_text) > 65535)
        return fail("--listen must be address:port, got '" + raw.listen + "'");
    config.listen_host = host;
    config.listen_port = static_cast<std::uint16_t>(std::stoul(port_text));

    if (raw.threads < 1 || raw.threads > 1024) return fail("--threads must be from 1 to 1024");
    config.threads = static_cast<unsigned>(raw.threads);
    if (raw.shards < 1 || raw.shards > 65536 || (raw.shards & (raw.shards - 1)) != 0)
        return fail("--shards must be a power of two from 1 to 65536");
    config.shards = static_cast<std::size_t>(raw.shards);
    if (raw.max_body_bytes < 1) return fail("--max-body-bytes must be at least 1");
    config.max_body_bytes = static_cast<std::size_t>(raw.max_body_bytes);
    for (auto [value, name, out] : {std::tuple{raw.header_timeout_ms, "--header-timeout-ms", &config.header_timeout},
                                    std::tuple{raw.read_timeout_ms, "--read-timeout-ms", &config.read_timeout},
                                    std::tuple{raw.idle_timeout_ms, "--idle-timeout-ms", &config.idle_timeout}}) {
        if (value < 1) return fail(std::string(name) + " must be at least 1");
        *out = std::chrono::milliseconds(value);
    }
    config.data_dir = raw.data_dir;
    if (raw.fsync != "always" && raw.fsync != "batch" && raw.fsync != "none")
        return fail("--fsync must be always, batch or none");
    config.fsync = raw.fsync;
    if (raw.fsync_interval_ms < 1) return fail("--fsync-interval-ms must be at least 1");
    config.fsync_interval = std::chrono::milliseconds(raw.fsync_interval_ms);
    if (raw.snapshot_every_bytes < 1) return fail("--snapshot-every-bytes must be at least 1");
    config.snapshot_every_bytes = static_cast<std::uint64_t>(raw.snapshot_every_bytes);
    if (raw.segment_bytes < 4096) return fail("--segment-bytes must be at least 4096");
    config.segment_bytes = static_cast<std::uint64_t>(raw.segment_bytes);
    if (raw.recover != "stop" && raw.recover != "truncate") return fail("--recover must be stop or truncate");
    config.recover_truncate = raw.recover == "truncate";
    static constexpr std::string_view levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (std::find(std::begin(levels), std::end(levels), raw.log_level) == std::end(levels))
        return fail("--log-level must be one of trace, debug, info, warn, error, critical, off");
    config.log_level = raw.log_level;
    if (raw.log_format != "text" && raw.log_format != "json")
        return fail("--log-format must be text or json");
    config.log_format = raw.log_format;

    if (!raw.admin_token_file.empty()) {
        std::ifstream in(raw.admin_token_file);
        std::string token;
        if (!in || !std::getline(in, token))
            return fail("--admin-token-file: cannot read '" + raw.admin_token_file + "'");
        config.admin_token = trim_line_end(token);
    } else if (auto token = env("LEADD_ADMIN_TOKEN")) {
        config.admin_token = trim_line_end(*token);
    }
    if (config.admin_token && config.admin_token->empty()) return fail("the admin token is empty");
    return {config, 0, {}};
}

}  // namespace leadd::ops
