#pragma once
// Where a Beast request becomes the handlers' Request: the server and the HTTP fuzz target both
// go through here, so the fuzzer exercises exactly what the server hands the router. The
// Request's views point into the Beast request, which must outlive it.

#include "leadd/http/message.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <string>
#include <string_view>

namespace leadd::http {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;

// A client's X-Request-Id is echoed only if it is short, printable ASCII without quotes or
// backslashes: it ends up in logs and JSON bodies.
inline bool acceptable_request_id(std::string_view id) {
    return !id.empty() && id.size() <= 128 &&
           std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f && c != '"' && c != '\\'; });
}

inline Request view_request(const BeastRequest& req, std::string request_id, bool body_too_large) {
    Request r;
    r.method = req.method_string();
    const std::string_view target = req.target();
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    r.body = req.body();
    r.headers.reserve(16);
    for (const auto& field : req) r.headers.emplace_back(field.name_string(), field.value());
    r.request_id = std::move(request_id);
    r.body_too_large = body_too_large;
    return r;
}

}  // namespace leadd::http
