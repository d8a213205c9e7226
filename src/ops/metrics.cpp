#include "leadd/ops/metrics.hpp"

#include <array>
#include <cmath>
#include <cstdio>

namespace leadd::ops {

namespace {

constexpr int lowest_status = 100;
constexpr int status_slots = 500;  // 100..599
constexpr std::size_t unmatched_row = Metrics::max_routes;      // 404, 405, start-up router
constexpr std::size_t other_row = Metrics::max_routes + 1;      // routes past max_routes
constexpr std::size_t rows = Metrics::max_routes + 2;

std::atomic<std::uint64_t> next_instance{1};

void append_number(std::string& out, double value) {
    if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buf[32];
    const double integral = std::floor(value);
    const int n = integral == value && std::fabs(value) < 1e15 ? std::snprintf(buf, sizeof buf, "%.0f", value)
                                                               : std::snprintf(buf, sizeof buf, "%.9g", value);
    out.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

// One worker thread's counts; only that thread writes them (hence plain load + store).
struct Metrics::Slab {
    std::array<std::array<std::atomic<std::uint64_t>, status_slots>, rows> requests{};
    std::array<LatencyHistogram, rows> latency;
};

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    text_ += help;
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
}

void Exposition::sample(std::string_view name, std::string_view labels, double value) {
    text_ += name;
    if (!labels.empty()) {
        text_ += '{';
        text_ += labels;
        text_ += '}';
    }
    text_ += ' ';
    append_number(text_, value);
    text_ += '\n';
}

void Exposition::counter(std::string_view name, std::string_view help, double value) {
    family(name, "counter", help);
    sample(name, {}, value);
}

void Exposition::gauge(std::string_view name, std::string_view help, double value) {
    family(name, "gauge", help);
    sample(name, {}, value);
}

void Exposition::histogram_samples(std::string_view name, std::string_view labels,
                                   const LatencyHistogram::Counts& counts) {
    const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < LatencyHistogram::bucket_count; ++i) {
        cumulative += counts.buckets[i];
        std::string le;
        if (i < LatencyHistogram::bounds_micros.size())
            append_number(le, static_cast<double>(LatencyHistogram::bounds_micros[i]) / 1e6);
        else
            le = "+Inf";
        sample(std::string(name) + "_bucket", prefix + "le=\"" + le + "\"", static_cast<double>(cumulative));
    }
    sample(std::string(name) + "_sum", labels, static_cast<double>(counts.sum_micros) / 1e6);
    sample(std::string(name) + "_count", labels, static_cast<double>(counts.count));
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

Metrics::Metrics() : instance_(next_instance.fetch_add(1)) {}
Metrics::~Metrics() = default;

void Metrics::label_routes_of(const http::Router& router) {
    route_labels_ = router.routes();
    labelled_router_.store(&router, std::memory_order_release);
}

void Metrics::add_collector(Collector collector) {
    std::lock_guard lock(mu_);
    collectors_.push_back(std::move(collector));
}

void Metrics::register_routes(http::Router& router) {
    router.add("GET", "/metrics", [this](const http::Request&, const http::PathParams&) {
        http::Response r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = render();
        return r;
    });
}

Metrics::Slab& Metrics::slab_of_this_thread() {
    // A thread serves one Metrics in production; tests may make several, one after another.
    // Matched by instance number, never by dereferencing: a slab of a Metrics that is gone is
    // freed, and instance numbers are never reused.
    thread_local std::vector<std::pair<std::uint64_t, Slab*>> mine;
    for (const auto& [instance, slab] : mine)
        if (instance == instance_) return *slab;
    auto slab = std::make_unique<Slab>();
    Slab* raw = slab.get();
    {
        std::lock_guard lock(mu_);
        slabs_.push_back(std::move(slab));
    }
    mine.emplace_back(instance_, raw);
    return *raw;
}

void Metrics::request_done(const http::Router& router, int route, int status, std::chrono::microseconds took) {
    std::size_t row = unmatched_row;
    if (route >= 0 && &router == labelled_router_.load(std::memory_order_acquire))
        row = static_cast<std::size_t>(route) < max_routes ? static_cast<std::size_t>(route) : other_row;
    const int slot = std::clamp(status, lowest_status, lowest_status + status_slots - 1) - lowest_status;
    Slab& slab = slab_of_this_thread();
    auto& count = slab.requests[row][static_cast<std::size_t>(slot)];
    count.store(count.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    slab.latency[row].record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, took.count())));
}

std::string Metrics::render() const {
    std::vector<std::pair<std::string, std::string>> labels(rows, {"*", "(unmatched)"});
    if (labelled_router_.load(std::memory_order_acquire)) {
        for (std::size_t i = 0; i < route_labels_.size() && i < max_routes; ++i) labels[i] = route_labels_[i];
        labels[other_row] = {"*", "(other)"};
    }
    std::vector<std::array<std::uint64_t, status_slots>> requests(rows);
    std::vector<LatencyHistogram::Counts> latency(rows);
    std::vector<Collector> collectors;
    {
        std::lock_guard lock(mu_);
        for (const auto& slab : slabs_) {
            for (std::size_t r = 0; r < rows; ++r) {
                for (int s = 0; s < status_slots; ++s)
                    requests[r][static_cast<std::size_t>(s)] +=
                        slab->requests[r][static_cast<std::size_t>(s)].load(std::memory_order_relaxed);
                latency[r] += slab->latency[r].read();
            }
        }
        collectors = collectors_;
    }

    Exposition out;
    auto route_labels = [&](std::size_t r) {
        return "route=\"" + escape_label_value(labels[r].second) + "\",method=\"" + escape_label_value(labels[r].first) + "\"";
    };
    out.family("leadd_http_requests_total", "counter", "HTTP requests answered, by route pattern, method and status.");
    for (std::size_t r = 0; r < rows; ++r)
        for (int s = 0; s < status_slots; ++s)
            if (const auto n = requests[r][static_cast<std::size_t>(s)])
                out.sample("leadd_http_requests_total",
                           route_labels(r) + ",status=\"" + std::to_string(lowest_status + s) + "\"",
                           static_cast<double>(n));
    out.family("leadd_http_request_duration_seconds", "histogram",
               "Time from a request's headers and body being read to its response being written "
               "(writes include waiting for the log), by route.");
    for (std::size_t r = 0; r < rows; ++r)
        if (latency[r].count) out.histogram_samples("leadd_http_request_duration_seconds", route_labels(r), latency[r]);
    for (const auto& collect : collectors) collect(out);
    return out.text();
}

}  // namespace leadd::ops
