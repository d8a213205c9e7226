#pragma once
// The collectors behind /metrics besides the request counts: the store, the keys, the log
// (bytes, fsyncs and their latency, read-only mode), snapshots, recovery, the rate limiter, the
// server's connections and the build. Each is read when /metrics is scraped.

#include "leadd/auth/key_registry.hpp"
#include "leadd/auth/rate_limiter.hpp"
#include "leadd/http/server.hpp"
#include "leadd/ops/metrics.hpp"
#include "leadd/ops/persistence.hpp"
#include "leadd/store/lead_store.hpp"

#include <string>

namespace leadd::ops {

struct ServiceParts {
    const store::LeadStore& store;
    const auth::KeyRegistry& keys;
    Persistence& persistence;
    const auth::RateLimiter& rate_limiter;
    const http::Server& server;
    std::string fsync_policy;  // always | batch | none
};

void add_service_collectors(Metrics& metrics, const ServiceParts& parts);

}  // namespace leadd::ops
