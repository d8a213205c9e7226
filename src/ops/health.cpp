#include "leadd/ops/health.hpp"

namespace leadd::ops {

void Health::register_routes(http::Router& router) {
    router.add("GET", "/healthz", [](auto&, auto&) {
        http::Response r;
        r.body = R"({"status":"ok"})";
        return r;
    });
    router.add("GET", "/readyz", [this](auto&, auto&) {
        http::Response r;
        r.status = ready() ? 200 : 503;
        r.body = ready() ? R"({"status":"ready"})" : R"({"status":"starting"})";
        return r;
    });
}

}  // namespace leadd::ops
