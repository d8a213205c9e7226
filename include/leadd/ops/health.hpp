#pragma once
// /healthz (the process runs) and /readyz (start-up finished and writes are accepted).

#include "leadd/http/router.hpp"

#include <atomic>
#include <functional>

namespace leadd::ops {

class Health {
public:
    // Ready once start-up is over, for as long as `writes_accepted` says so (the log can be
    // written); a load balancer then sends writes elsewhere while the disk is full.
    void set_ready(std::function<bool()> writes_accepted) {
        writes_accepted_ = std::move(writes_accepted);
        ready_.store(true, std::memory_order_release);
    }
    void register_routes(http::Router& router);

private:
    std::atomic<bool> ready_{false};
    std::function<bool()> writes_accepted_;  // set once, before ready_ is published
};

}  // namespace leadd::ops
