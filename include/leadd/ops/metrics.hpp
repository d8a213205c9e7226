#pragma once
// Metrics: GET /metrics in the Prometheus text exposition format (version 0.0.4).
//
// Requests are counted as the server answers them (it calls request_done after writing the
// response), by route pattern, method and status, with a latency histogram per route. Each
// worker thread counts into its own slab, so the hot path touches no shared cache line and takes
// no lock; a scrape adds the slabs up. Everything else (store, log, rate limiter, connections) is
// read when scraped, by collectors (see service_metrics.hpp).
//
// Labels come from the router given to label_routes_of (the one main serves): a request that
// router did not hand to a route (404, 405) or that another router answered (during start-up)
// counts as route="(unmatched)", method="*", so hostile paths and methods cannot grow the label
// set.

#include "leadd/http/router.hpp"
#include "leadd/http/server.hpp"
#include "leadd/ops/latency_histogram.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace leadd::ops {

// The text of one scrape: families of samples with their # HELP and # TYPE lines.
class Exposition {
public:
    // One family, one sample without labels.
    void counter(std::string_view name, std::string_view help, double value);
    void gauge(std::string_view name, std::string_view help, double value);
    // A family whose samples follow with sample(); `type` is counter, gauge or histogram.
    void family(std::string_view name, std::string_view type, std::string_view help);
    // `labels` is `key="value",...` (already escaped), or empty.
    void sample(std::string_view name, std::string_view labels, double value);
    // The _bucket (cumulative, le in seconds), _sum (seconds) and _count samples of one histogram.
    void histogram_samples(std::string_view name, std::string_view labels, const LatencyHistogram::Counts& counts);

    const std::string& text() const { return text_; }

private:
    std::string text_;
};

// A label value escaped for the text format (backslash, double quote, newline).
std::string escape_label_value(std::string_view value);

class Metrics final : public http::RequestObserver {
public:
    using Collector = std::function<void(Exposition&)>;

    static constexpr std::size_t max_routes = 48;  // more are counted as route="(other)"

    Metrics();
    ~Metrics() override;

    // The router whose routes label requests; call it once all routes are added.
    void label_routes_of(const http::Router& router);
    void add_collector(Collector collector);
    // GET /metrics.
    void register_routes(http::Router& router);

    std::string render() const;

    void request_done(const http::Router& router, int route, int status,
                      std::chrono::microseconds took) override;

private:
    struct Slab;
    Slab& slab_of_this_thread();

    const std::uint64_t instance_;  // tells this thread's slabs apart from other Metrics' (tests)
    std::atomic<const http::Router*> labelled_router_{nullptr};
    std::vector<std::pair<std::string, std::string>> route_labels_;  // written before labelled_router_

    mutable std::mutex mu_;  // guards slabs_ and collectors_
    std::vector<std::unique_ptr<Slab>> slabs_;
    std::vector<Collector> collectors_;
};

}  // namespace leadd::ops
