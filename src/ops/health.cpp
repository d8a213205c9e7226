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
        if (!ready_.load(std::memory_order_acquire)) {
            r.status = 503;
            r.body = R"({"status":"starting"})";
        } else if (!writes_accepted_()) {
            r.status = 503;
            r.body = R"({"status":"read-only"})";
        } else {
            r.body = R"({"status":"ready"})";
        }
        return r;
    });
}

}  // namespace leadd::ops
