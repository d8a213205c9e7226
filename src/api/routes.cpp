#include "leadd/api/routes.hpp"

#include "leadd/api/openapi.hpp"

namespace leadd::api {

void register_service_routes(http::Router& router, const RouteSources& sources) {
    sources.health.register_routes(router);
    sources.leads.register_routes(router);
    if (sources.admin) sources.admin->register_routes(router);
    register_openapi_route(router);
    if (sources.metrics) sources.metrics->register_routes(router);
    // Last: every route is known by now.
    if (sources.metrics) sources.metrics->label_routes_of(router);
}

}  // namespace leadd::api
