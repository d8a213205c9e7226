#pragma once
// /healthz (the process runs) and /readyz (start-up finished and writes are accepted).

#include "leadd/http/router.hpp"

#include <atomic>

namespace leadd::ops {

class Health {
public:
    void set_ready(bool ready) { ready_.store(ready, std::memory_order_release); }
    bool ready() const { return ready_.load(std::memory_order_acquire); }
    void register_routes(http::Router& router);

private:
    std::atomic<bool> ready_{false};
};

}  // namespace leadd::ops
