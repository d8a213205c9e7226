#pragma once
// Router: (method, path pattern) -> handler. Patterns are literal segments and "{name}"
// segments, e.g. "/api/v1/leads/{leadId}". The router alone answers 404 NOT_FOUND (no pattern
// matches the path) and 405 METHOD_NOT_ALLOWED (a pattern matches, the method does not; with
// an Allow header listing the methods that do).

#include "leadd/http/message.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace leadd::http {

// Values of the "{name}" segments of the matched pattern, in order.
using PathParams = std::vector<std::string_view>;
using Handler = std::function<Response(const Request&, const PathParams&)>;

class Router {
public:
    void add(std::string_view method, std::string_view pattern, Handler handler);
    // Answers requests no pattern matches, instead of 404 NOT_FOUND (e.g. 503 while starting).
    void set_fallback(Handler handler) { fallback_ = std::move(handler); }
    Response route(const Request& request) const;

    // Every (method, pattern) known, for documentation checks.
    std::vector<std::pair<std::string, std::string>> routes() const;

private:
    struct Route {
        std::string method;
        std::string pattern;
        std::vector<std::string> segments;  // "{}" marks a parameter
        Handler handler;
    };
    static bool match(const Route& route, std::string_view path, PathParams& params);

    std::vector<Route> routes_;
    Handler fallback_;
};

}  // namespace leadd::http
