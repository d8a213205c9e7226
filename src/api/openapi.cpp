#include "leadd/api/openapi.hpp"

#include <cstdint>
#include <string>

namespace leadd::api {

namespace {

// FNV-1a of the document: the tag changes whenever the document does, and is the same for
// every process serving the same binary, so a cache can revalidate across restarts.
std::string document_etag(std::string_view document) {
    std::uint64_t hash = 14695981039346656037ull;
    for (unsigned char c : document) hash = (hash ^ c) * 1099511628211ull;
    static constexpr char hex[] = "0123456789abcdef";
    std::string tag = "\"";
    for (int shift = 60; shift >= 0; shift -= 4) tag.push_back(hex[(hash >> shift) & 15]);
    tag.push_back('"');
    return tag;
}

// If-None-Match uses the weak comparison: W/"x" matches "x"; "*" matches anything.
bool none_match_holds(std::string_view header, std::string_view etag) {
    while (!header.empty()) {
        const auto comma = header.find(',');
        std::string_view tag = header.substr(0, comma);
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
        while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
        while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
        if (tag.starts_with("W/")) tag.remove_prefix(2);
        if (tag == "*" || tag == etag) return true;
    }
    return false;
}

}  // namespace

void register_openapi_route(http::Router& router) {
    router.add("GET", "/openapi.json", [](const http::Request& request, const http::PathParams&) {
        static const std::string etag = document_etag(openapi_document());
        http::Response r;
        r.set_header("ETag", etag);
        r.set_header("Cache-Control", "no-cache");
        if (request.has_header("If-None-Match") && none_match_holds(request.header("If-None-Match"), etag)) {
            r.status = 304;
            r.content_type.clear();
            return r;
        }
        r.body = std::string(openapi_document());
        return r;
    });
}

}  // namespace leadd::api
