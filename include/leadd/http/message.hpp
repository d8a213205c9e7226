#pragma once
// The request and response as handlers see them: plain types with no Beast in them, so the
// router, the handlers and their tests compile without the HTTP library. The server converts.

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace leadd::http {

struct Request {
    std::string_view method;  // "GET", "POST", ...
    std::string_view path;    // target before '?', not decoded
    std::string_view query;   // target after '?', not decoded ("" when none)
    std::string_view body;
    std::vector<std::pair<std::string_view, std::string_view>> headers;
    std::string request_id;   // from X-Request-Id or generated; echoed in every error body
    // The body was over the limit and was not read: `body` is empty. Routing and authentication
    // still answer first (the contract's order of checks); whoever reads the body answers 413.
    bool body_too_large = false;

    // Case-insensitive header lookup; "" when absent.
    std::string_view header(std::string_view name) const;
    bool has_header(std::string_view name) const;
};

struct Response {
    int status = 200;
    std::string body;  // JSON unless content_type says otherwise
    std::string content_type = "application/json; charset=utf-8";
    // Names are string literals (set_header only takes those): a response with an ETag, a
    // Location and the four X-RateLimit-* headers then allocates for none of the names.
    std::vector<std::pair<std::string_view, std::string>> headers;
    // A body too large to hold at once (an export). When set, `body` is ignored: the server sends
    // the headers, then calls `stream` again and again, each call appending the next piece (tens
    // of KiB) to an empty `chunk`, and writes each piece before asking for the next, until a call
    // returns false (what that last call appended is still sent). HTTP/1.1 gets chunked transfer
    // encoding; HTTP/1.0 gets the raw bytes and the connection closes. It runs on the connection's
    // thread between writes, so it must not block, nor hold a lock from one call to the next.
    std::function<bool(std::string& chunk)> stream;

    template <std::size_t N>
    void set_header(const char (&name)[N], std::string value) {
        if (headers.empty()) headers.reserve(6);
        headers.emplace_back(std::string_view(name, N - 1), std::move(value));
    }
};

bool iequals(std::string_view a, std::string_view b);

}  // namespace leadd::http
