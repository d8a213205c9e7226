#pragma once
// Router: (method, path pattern) -> handler. Patterns are literal segments and "{name}"
// segments, e.g. "/api/v1/leads/{leadId}". The router alone answers 404 NOT_FOUND (no pattern
// matches the path) and 405 METHOD_NOT_ALLOWED (a pattern matches, the method does not; with
// an Allow header listing the methods that do).

#include "leadd/http/message.hpp"

#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace leadd::http {

// Values of the "{name}" segments of the matched pattern, in order. Fixed capacity: routing
// allocates nothing.
class PathParams {
public:
    static constexpr std::size_t capacity = 4;
    const std::string_view& operator[](std::size_t i) const { return values_[i]; }
    std::size_t size() const { return count_; }
    bool push_back(std::string_view v) {
        if (count_ == capacity) return false;
        values_[count_++] = v;
        return true;
    }
    void clear() { count_ = 0; }
    const std::string_view* begin() const { return values_.data(); }
    const std::string_view* end() const { return values_.data() + count_; }

private:
    std::array<std::string_view, capacity> values_{};
    std::size_t count_ = 0;
};

// A request path cut at '/', kept as views into the path (at most `capacity` segments; a longer
// path matches no route).
struct PathSegments {
    static constexpr std::size_t capacity = 16;
    std::array<std::string_view, capacity> values{};
    std::size_t count = 0;
    bool too_long = false;
};
PathSegments split_path(std::string_view path);
using Handler = std::function<Response(const Request&, const PathParams&)>;

class Router {
public:
    void add(std::string_view method, std::string_view pattern, Handler handler);
    // Answers requests no pattern matches, instead of 404 NOT_FOUND (e.g. 503 while starting).
    void set_fallback(Handler handler) { fallback_ = std::move(handler); }
    // `matched_route`, if given, is set to the index in routes() of the route that handled the
    // request, or -1 (404, 405, fallback): what /metrics labels requests with.
    Response route(const Request& request, int* matched_route = nullptr) const;

    // Every (method, pattern) known, in the order added; for documentation checks and metrics.
    std::vector<std::pair<std::string, std::string>> routes() const;

private:
    struct Segment {
        std::string literal;  // empty for a parameter
        bool parameter = false;
    };
    struct Route {
        std::string method;
        std::string pattern;
        std::vector<Segment> segments;
        // The pattern's literal start, compared with the path at once: up to and with the '/'
        // before the first parameter ("/api/v1/leads/"), or the whole pattern if it has none.
        std::string literal_prefix;
        std::size_t first_parameter = 0;  // segments.size() if none
        Handler handler;
    };
    static bool match(const Route& route, std::string_view raw_path, const PathSegments& path, PathParams& params);

    std::vector<Route> routes_;
    Handler fallback_;
};

}  // namespace leadd::http
