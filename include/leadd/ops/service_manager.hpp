#pragma once
// systemd's readiness protocol (sd_notify(3)) without libsystemd: when started by a unit with
// Type=notify, systemd passes a datagram socket in $NOTIFY_SOCKET and waits for "READY=1"
// before it counts the service as started (and starts the units ordered after it).

#include <string_view>

namespace leadd::ops {

// Sends `state` (e.g. "READY=1", "STOPPING=1") to $NOTIFY_SOCKET. Returns false, doing nothing,
// when the variable is unset (not under systemd) or the send fails; never throws.
bool notify_service_manager(std::string_view state);

}  // namespace leadd::ops
