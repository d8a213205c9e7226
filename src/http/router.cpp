#include "leadd/http/router.hpp"

#include "leadd/http/envelope.hpp"

#include <algorithm>

namespace leadd::http {

namespace {
std::vector<std::string_view> split_path(std::string_view path) {
    // "/a/b" -> {"a", "b"}; "/" -> {""}; "/a/" -> {"a", ""}: empty segments are kept so that
    // "/api/v1/leads/" does not silently match "/api/v1/leads".
    std::vector<std::string_view> out;
    if (path.empty() || path.front() != '/') return out;
    path.remove_prefix(1);
    for (;;) {
        const auto slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; };
               return lower(x) == lower(y);
           });
}

std::string_view Request::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

bool Request::has_header(std::string_view name) const {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& h) { return iequals(h.first, name); });
}

void Router::add(std::string_view method, std::string_view pattern, Handler handler) {
    Route r{std::string(method), std::string(pattern), {}, std::move(handler)};
    for (auto seg : split_path(pattern))
        r.segments.emplace_back(seg.starts_with('{') ? std::string_view("{}") : seg);
    routes_.push_back(std::move(r));
}

bool Router::match(const Route& route, std::string_view path, PathParams& params) {
    params.clear();
    const auto segments = split_path(path);
    if (segments.size() != route.segments.size()) return false;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        if (route.segments[i] == "{}") {
            if (segments[i].empty()) return false;
            params.push_back(segments[i]);
        } else if (route.segments[i] != segments[i]) {
            return false;
        }
    }
    return true;
}

Response Router::route(const Request& request) const {
    // Only the most specific patterns that match the path count (fewest parameters), so a
    // literal route such as /api/v1/leads/export is never taken for /api/v1/leads/{leadId}, and
    // its Allow header lists its own methods.
    PathParams params;
    std::size_t fewest = SIZE_MAX;
    for (const auto& r : routes_)
        if (match(r, request.path, params)) fewest = std::min(fewest, params.size());
    if (fewest == SIZE_MAX) {
        if (fallback_) return fallback_(request, params);
        return error_response(404, "NOT_FOUND", "No such route", request);
    }
    std::string allow;
    for (const auto& r : routes_) {
        if (!match(r, request.path, params) || params.size() != fewest) continue;
        if (r.method == request.method) return r.handler(request, params);
        if (!allow.empty()) allow += ", ";
        allow += r.method;
    }
    auto r = error_response(405, "METHOD_NOT_ALLOWED",
                            "Method " + std::string(request.method) + " is not allowed here",
                            request, {{"allowed", allow}});
    r.set_header("Allow", allow);
    return r;
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& r : routes_) out.emplace_back(r.method, r.pattern);
    return out;
}

}  // namespace leadd::http
