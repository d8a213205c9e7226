// Wires the parts together: config, logging, store, keys, routes, server.

#include "leadd/api/admin_handlers.hpp"
#include "leadd/api/lead_handlers.hpp"
#include "leadd/auth/key_registry.hpp"
#include "leadd/http/server.hpp"
#include "leadd/ops/config.hpp"
#include "leadd/ops/health.hpp"
#include "leadd/ops/logging.hpp"
#include "leadd/store/lead_store.hpp"

#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace {

using namespace leadd;

// On first start (no workspace yet) leadd makes workspace "default" with one key, shows the key
// once on stdout and leaves it in <data-dir>/initial-api-key (0600) so curl works at once.
bool bootstrap_initial_key(auth::KeyRegistry& keys, const std::filesystem::path& data_dir) {
    if (!keys.empty()) return true;
    const auto ws = keys.create_workspace("default");
    const auto key = keys.issue_key(ws.id);
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

}  // namespace

int main(int argc, char** argv) {
    const auto command = ops::parse_command_line(argc, argv, ops::process_environment());
    if (!command.config) {
        (command.exit_code == 0 ? std::cout : std::cerr) << command.message << "\n";
        return command.exit_code;
    }
    const ops::Config& config = *command.config;
    ops::init_logging(config.log_level, config.log_format);
    ops::log(spdlog::level::info, ops::version_string() + " starting");

    std::error_code ec;
    std::filesystem::create_directories(config.data_dir, ec);
    if (ec) {
        ops::log(spdlog::level::critical, "cannot create data dir " + config.data_dir.string() + ": " + ec.message());
        return 1;
    }

    store::StoreOptions store_options;
    store_options.shards = config.shards;
    store::LeadStore store(store_options);
    auth::KeyRegistry keys;
    if (!bootstrap_initial_key(keys, config.data_dir)) return 1;

    http::Router router;
    ops::Health health;
    health.register_routes(router);
    api::LeadHandlers leads(store, keys);
    leads.register_routes(router);
    std::optional<api::AdminHandlers> admin;
    if (config.admin_token) {
        admin.emplace(keys, store, auth::sha256(*config.admin_token));
        admin->register_routes(router);
    }

    http::ServerOptions server_options;
    server_options.host = config.listen_host;
    server_options.port = config.listen_port;
    server_options.threads = config.threads;
    server_options.max_body_bytes = config.max_body_bytes;
    server_options.header_timeout = config.header_timeout;
    server_options.read_timeout = config.read_timeout;
    server_options.idle_timeout = config.idle_timeout;
    http::Server server(server_options, router);
    try {
        server.listen();
    } catch (const std::exception& e) {
        ops::log(spdlog::level::critical, "cannot listen on " + config.listen_host + ":" +
                                              std::to_string(config.listen_port) + ": " + e.what());
        return 1;
    }
    ops::log(spdlog::level::info, "listening on " + config.listen_host + ":" +
                                      std::to_string(server.bound_port()) + " with " +
                                      std::to_string(config.threads) + " threads" +
                                      (config.admin_token ? ", admin API on" : ", admin API off"));
    health.set_ready(true);
    server.run();
    ops::log(spdlog::level::info, "stopped");
    return 0;
}
