#pragma once
// Every route leadd serves once start-up is over, registered in one place: main serves exactly
// this router, and the OpenAPI test checks the document against exactly this router.

#include "leadd/api/admin_handlers.hpp"
#include "leadd/api/lead_handlers.hpp"
#include "leadd/http/router.hpp"
#include "leadd/ops/health.hpp"
#include "leadd/ops/metrics.hpp"

namespace leadd::api {

struct RouteSources {
    ops::Health& health;
    LeadHandlers& leads;
    AdminHandlers* admin = nullptr;  // null: no admin token, every /api/v1/admin/* path is a 404
    ops::Metrics* metrics = nullptr;  // GET /metrics; it labels requests with this router's routes
};

void register_service_routes(http::Router& router, const RouteSources& sources);

}  // namespace leadd::api
