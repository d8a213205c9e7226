#include "leadd/http/router.hpp"

#include "leadd/http/envelope.hpp"

#include <algorithm>

namespace leadd::http {

PathSegments split_path(std::string_view path) {
    // "/a/b" -> {"a", "b"}; "/" -> {""}; "/a/" -> {"a", ""}: empty segments are kept so that
    // "/api/v1/leads/" does not silently match "/api/v1/leads".
    PathSegments out;
    if (path.empty() || path.front() != '/') return out;
    path.remove_prefix(1);
    for (;;) {
        if (out.count == PathSegments::capacity) {
            out.too_long = true;
            return out;
        }
        const auto slash = path.find('/');
        out.values[out.count++] = path.substr(0, slash);
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

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
    Route r;
    r.method = method;
    r.pattern = pattern;
    r.handler = std::move(handler);
    const auto segments = split_path(pattern);
    for (std::size_t i = 0; i < segments.count; ++i) {
        const bool parameter = segments.values[i].starts_with('{');
        r.segments.push_back({parameter ? std::string() : std::string(segments.values[i]), parameter});
    }
    r.first_parameter = r.segments.size();
    r.literal_prefix = "/";
    for (std::size_t i = 0; i < r.segments.size(); ++i) {
        if (r.segments[i].parameter) {
            r.first_parameter = i;
            break;
        }
        r.literal_prefix += r.segments[i].literal;
        if (i + 1 < r.segments.size()) r.literal_prefix += '/';
    }
    routes_.push_back(std::move(r));
}

// `path` is `raw_path` cut at '/'. With the segment counts equal, a path that starts with a
// prefix ending in '/' has exactly its literal segments first, and an all-literal pattern
// matches only the very same path.
bool Router::match(const Route& route, std::string_view raw_path, const PathSegments& path, PathParams& params) {
    params.clear();
    if (path.too_long || path.count != route.segments.size()) return false;
    const bool all_literal = route.first_parameter == route.segments.size();
    if (all_literal ? raw_path != route.literal_prefix : !raw_path.starts_with(route.literal_prefix)) return false;
    for (std::size_t i = route.first_parameter; i < path.count; ++i) {
        if (route.segments[i].parameter) {
            if (path.values[i].empty() || !params.push_back(path.values[i])) return false;
        } else if (route.segments[i].literal != path.values[i]) {
            return false;
        }
    }
    return true;
}

Response Router::route(const Request& request, int* matched_route) const {
    if (matched_route) *matched_route = -1;
    // Only the most specific patterns that match the path count (fewest parameters), so a
    // literal route such as /api/v1/leads/export is never taken for /api/v1/leads/{leadId}, and
    // its Allow header lists its own methods. One pass finds the route (the first of the fewest
    // parameters with the request's method); only a 405 walks the routes again, for Allow.
    const PathSegments path = split_path(request.path);
    PathParams params, chosen_params;
    const Route* chosen = nullptr;
    std::size_t fewest = SIZE_MAX;
    for (const auto& r : routes_) {
        if (!match(r, request.path, path, params) || params.size() > fewest) continue;
        if (params.size() < fewest) {
            fewest = params.size();
            chosen = nullptr;
        }
        if (!chosen && r.method == request.method) {
            chosen = &r;
            chosen_params = params;
        }
    }
    if (fewest == SIZE_MAX) {
        if (fallback_) return fallback_(request, params);
        return error_response(404, "NOT_FOUND", "No such route", request);
    }
    if (chosen) {
        if (matched_route) *matched_route = static_cast<int>(chosen - routes_.data());
        return chosen->handler(request, chosen_params);
    }
    std::string allow;
    for (const auto& r : routes_) {
        if (!match(r, request.path, path, params) || params.size() != fewest) continue;
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
