// Wires the parts together: config, logging, recovery, keys, routes, server.

#include "leadd/api/routes.hpp"
#include "leadd/auth/key_registry.hpp"
#include "leadd/http/envelope.hpp"
#include "leadd/http/server.hpp"
#include "leadd/ops/config.hpp"
#include "leadd/ops/health.hpp"
#include "leadd/ops/health_probe.hpp"
#include "leadd/ops/logging.hpp"
#include "leadd/ops/persistence.hpp"
#include "leadd/ops/service_metrics.hpp"
#include "leadd/ops/service_manager.hpp"
#include "leadd/store/lead_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

namespace {

using namespace leadd;

// On first start (no workspace yet) leadd makes workspace "default" with one key, shows the key
// once on stdout and leaves it in <data-dir>/initial-api-key (0600) so curl works at once. The
// key is printed only after its record is durable, so a printed key always survives a crash.
bool bootstrap_initial_key(auth::KeyRegistry& keys, wal::Log& log, const std::filesystem::path& data_dir) {
    if (!keys.empty()) return true;
    const auto ws = keys.create_workspace("default");
    const auto key = keys.issue_key(ws.id);
    if (!log.wait_durable(log.last_seq())) {
        ops::log(spdlog::level::critical, "cannot make the initial workspace durable");
        return false;
    }
    const auto path = data_dir / "initial-api-key";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        ops::log(spdlog::level::critical, "cannot write " + path.string());
        return false;
    }
    ::fchmod(fd, 0600);  // O_CREAT's mode does not apply to a file that already existed
    const std::string line = key->api_key + "\n";
    const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                         ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
        ops::log(spdlog::level::critical, "cannot write " + path.string());
        return false;
    }
    std::cout << "leadd: created workspace 'default'. Its API key (shown once, also in "
              << path.string() << "):\n\n    " << key->api_key << "\n\n"
              << std::flush;
    return true;
}

// "Acknowledged means durable": a successful write waits for the log's group commit of
// everything appended up to its answer (its own record included).
class LogDurabilityGate final : public http::DurabilityGate {
public:
    explicit LogDurabilityGate(wal::Log& log) : log_(log) {}
    void when_durable(std::function<void(bool)> done) override {
        log_.when_durable(log_.last_seq(), std::move(done));
    }
    void thread_busy() override { log_.writer_busy(); }
    void thread_idle() override { log_.writer_idle(); }

private:
    wal::Log& log_;
};

}  // namespace

int main(int argc, char** argv) {
    const auto command = ops::parse_command_line(argc, argv, ops::process_environment());
    if (!command.config) {
        (command.exit_code == 0 ? std::cout : std::cerr) << command.message << "\n";
        return command.exit_code;
    }
    const ops::Config& config = *command.config;
    if (command.healthcheck) {
        const auto probe = ops::probe_health(config.listen_host, config.listen_port, std::chrono::seconds(2));
        (probe.healthy ? std::cout : std::cerr) << "leadd healthcheck: " << probe.detail << "\n";
        return probe.healthy ? 0 : 1;
    }
    ops::init_logging(config.log_level, config.log_format);
    ops::log(spdlog::level::info, ops::version_string() + " starting");

    // The data dir holds every lead (personal data) and the key hashes: one leadd creates is
    // its owner's only (an existing one keeps the mode its operator gave it; the files in it are
    // 0600 either way).
    std::error_code ec;
    if (std::filesystem::create_directories(config.data_dir, ec))
        std::filesystem::permissions(config.data_dir, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::replace, ec);
    if (ec) {
        ops::log(spdlog::level::critical, "cannot create data dir " + config.data_dir.string() + ": " + ec.message());
        return 1;
    }

    // Listen first, so /healthz answers and /readyz says 503 while the log is replayed.
    ops::Health health;
    http::Router starting;
    health.register_routes(starting);
    starting.set_fallback([](const http::Request& request, const http::PathParams&) {
        auto r = http::error_response(503, "SERVICE_UNAVAILABLE", "Starting: recovering the log", request);
        r.set_header("Retry-After", "1");
        return r;
    });
    http::ServerOptions server_options;
    server_options.host = config.listen_host;
    server_options.port = config.listen_port;
    server_options.threads = config.threads;
    server_options.max_connections = config.max_connections;
    server_options.max_body_bytes = config.max_body_bytes;
    server_options.max_header_bytes = config.max_header_bytes;
    server_options.max_header_count = config.max_header_count;
    server_options.header_timeout = config.header_timeout;
    server_options.read_timeout = config.read_timeout;
    server_options.idle_timeout = config.idle_timeout;
    http::Server server(server_options, starting);
    try {
        server.listen();
    } catch (const std::exception& e) {
        ops::log(spdlog::level::critical, "cannot listen on " + config.listen_host + ":" +
                                              std::to_string(config.listen_port) + ": " + e.what());
        return 1;
    }
    ops::log(spdlog::level::info, "listening on " + config.listen_host + ":" + std::to_string(server.bound_port()) +
                                      " with " + std::to_string(config.threads) + " threads");
    std::thread serving([&] { server.run(); });

    store::StoreOptions store_options;
    store_options.shards = config.shards;
    // The email index is striped like the leads: --shards sets both, so it also bounds the locks
    // one atomic batch holds (every shard and stripe it touches) to twice its value.
    store_options.email_stripes = config.shards;
    store::LeadStore store(store_options);
    auth::KeyRegistry keys;
    ops::PersistenceOptions persistence_options;
    persistence_options.log.dir = config.data_dir;
    persistence_options.log.fsync = *wal::parse_fsync_policy(config.fsync);
    persistence_options.log.fsync_interval = config.fsync_interval;
    persistence_options.log.commit_window = config.commit_window;
    persistence_options.log.segment_bytes = config.segment_bytes;
    // Zeros written ahead save fdatasyncs their journal commit; without fdatasyncs they would
    // only double what the log writes.
    persistence_options.log.prepare_segments = persistence_options.log.fsync != wal::FsyncPolicy::None;
    persistence_options.log.fs = wal::posix_file_system();
    persistence_options.snapshot_every_bytes = config.snapshot_every_bytes;
    persistence_options.on_corruption =
        config.recover_truncate ? wal::CorruptionPolicy::Truncate : wal::CorruptionPolicy::Stop;
    auto opened = ops::Persistence::open(persistence_options, store, keys);
    if (auto* failure = std::get_if<std::string>(&opened)) {
        ops::log(spdlog::level::critical, "recovery failed: " + *failure);
        server.stop();
        serving.join();
        return 1;
    }
    auto& persistence = *std::get<std::unique_ptr<ops::Persistence>>(opened);
    const auto& report = persistence.recovery();
    for (const auto& repair : report.repairs) ops::log(spdlog::level::warn, "recovery: " + repair);
    ops::log(spdlog::level::info,
             "recovered " + std::to_string(store.size()) + " leads in " + std::to_string(report.took.count() / 1000) +
                 " ms (snapshot seq " + std::to_string(report.snapshot_seq) + " with " +
                 std::to_string(report.snapshot_records) + " records, then " +
                 std::to_string(report.records_replayed) + " log records); fsync " + config.fsync);
    if (!bootstrap_initial_key(keys, persistence.log(), config.data_dir)) {
        server.stop();
        serving.join();
        return 1;
    }

    auth::RateLimiter rate_limiter(config.rate_limit_per_hour);
    api::LeadHandlers leads(store, keys, &rate_limiter);
    std::optional<api::AdminHandlers> admin;
    if (config.admin_token) admin.emplace(keys, store, auth::sha256(*config.admin_token));
    ops::Metrics metrics;
    ops::add_service_collectors(metrics, {store, keys, persistence, rate_limiter, server, config.fsync});
    http::Router router;
    api::register_service_routes(router, {health, leads, admin ? &*admin : nullptr, &metrics});
    server.set_request_observer(metrics);
    LogDurabilityGate gate(persistence.log());
    server.set_durability_gate(gate);
    server.set_router(router);
    health.set_ready([&log = persistence.log()] { return log.writable(); });
    ops::log(spdlog::level::info, std::string("ready; admin API ") + (config.admin_token ? "on" : "off"));
    ops::notify_service_manager("READY=1");

    serving.join();
    ops::notify_service_manager("STOPPING=1");
    persistence.close();
    ops::log(spdlog::level::info, "stopped");
    return 0;
}
