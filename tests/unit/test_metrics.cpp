// Metrics and LatencyHistogram: request counts from several threads add up, labels come from the
// labelled router only, histograms are cumulative in seconds, label values are escaped.

#include "leadd/ops/metrics.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

using leadd::ops::LatencyHistogram;
using leadd::ops::Metrics;

namespace {

leadd::http::Router router_with_two_routes() {
    leadd::http::Router r;
    auto ok = [](const leadd::http::Request&, const leadd::http::PathParams&) { return leadd::http::Response{}; };
    r.add("GET", "/a", ok);
    r.add("POST", "/b/{id}", ok);
    return r;
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("histogram buckets: a value goes to the first bound >= it", "[metrics]") {
    LatencyHistogram h;
    h.record(0);
    h.record(100);        // exactly on a bound: that bucket (le is <=)
    h.record(101);
    h.record(20'000'000);  // past the last bound: +Inf
    const auto c = h.read();
    CHECK(c.count == 4);
    CHECK(c.sum_micros == 20'000'201);
    CHECK(c.buckets[0] == 2);
    CHECK(c.buckets[1] == 1);
    CHECK(c.buckets[LatencyHistogram::bucket_count - 1] == 1);
}

TEST_CASE("requests from several threads add up per route and status", "[metrics]") {
    const auto router = router_with_two_routes();
    Metrics metrics;
    metrics.label_routes_of(router);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 1000; ++i) {
                metrics.request_done(router, 0, 200, std::chrono::microseconds(50));
                metrics.request_done(router, 1, 409, std::chrono::microseconds(3000));
            }
        });
    for (auto& t : threads) t.join();
    metrics.request_done(router, -1, 404, std::chrono::microseconds(10));
    const std::string text = metrics.render();
    CHECK(has_line(text, R"m(leadd_http_requests_total{route="/a",method="GET",status="200"} 4000)m"));
    CHECK(has_line(text, R"m(leadd_http_requests_total{route="/b/{id}",method="POST",status="409"} 4000)m"));
    CHECK(has_line(text, R"m(leadd_http_requests_total{route="(unmatched)",method="*",status="404"} 1)m"));
    CHECK(has_line(text, R"m(leadd_http_request_duration_seconds_bucket{route="/b/{id}",method="POST",le="0.0025"} 0)m"));
    CHECK(has_line(text, R"m(leadd_http_request_duration_seconds_bucket{route="/b/{id}",method="POST",le="0.005"} 4000)m"));
    CHECK(has_line(text, R"m(leadd_http_request_duration_seconds_bucket{route="/b/{id}",method="POST",le="+Inf"} 4000)m"));
    CHECK(has_line(text, R"m(leadd_http_request_duration_seconds_sum{route="/b/{id}",method="POST"} 12)m"));
    CHECK(has_line(text, R"m(leadd_http_request_duration_seconds_count{route="/a",method="GET"} 4000)m"));
}

TEST_CASE("a request another router answered is counted as unmatched", "[metrics]") {
    const auto served = router_with_two_routes();
    const auto starting = router_with_two_routes();
    Metrics metrics;
    metrics.label_routes_of(served);
    metrics.request_done(starting, 0, 503, std::chrono::microseconds(1));
    const std::string text = metrics.render();
    CHECK(has_line(text, R"m(leadd_http_requests_total{route="(unmatched)",method="*",status="503"} 1)m"));
    CHECK(text.find(R"m(route="/a")m") == std::string::npos);
}

TEST_CASE("two Metrics on one thread keep their own counts", "[metrics]") {
    const auto router = router_with_two_routes();
    auto first = std::make_unique<Metrics>();
    first->label_routes_of(router);
    first->request_done(router, 0, 200, std::chrono::microseconds(1));
    first.reset();  // its slab for this thread is gone; a new Metrics must not find it
    Metrics second;
    second.label_routes_of(router);
    second.request_done(router, 0, 200, std::chrono::microseconds(1));
    CHECK(has_line(second.render(), R"m(leadd_http_requests_total{route="/a",method="GET",status="200"} 1)m"));
}

TEST_CASE("collectors add families; label values are escaped", "[metrics]") {
    Metrics metrics;
    metrics.add_collector([](leadd::ops::Exposition& out) {
        out.gauge("x_items", "Items.", 42);
        out.family("x_info", "gauge", "Info.");
        out.sample("x_info", "name=\"" + leadd::ops::escape_label_value("a\"b\\c\nd") + "\"", 1);
    });
    const std::string text = metrics.render();
    CHECK(has_line(text, "# TYPE x_items gauge"));
    CHECK(has_line(text, "x_items 42"));
    CHECK(has_line(text, R"m(x_info{name="a\"b\\c\nd"} 1)m"));
}
