#pragma once
// `leadd healthcheck`: GET /healthz on the server's own --listen address, for a container's
// HEALTHCHECK (the runtime image has no curl). Plain blocking sockets: it runs once and exits.

#include <chrono>
#include <cstdint>
#include <string>

namespace leadd::ops {

struct ProbeResult {
    bool healthy = false;
    std::string detail;  // "200 OK", or what went wrong
};

// A wildcard host (0.0.0.0, ::) is probed on the loopback address of its family.
ProbeResult probe_health(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);

}  // namespace leadd::ops
