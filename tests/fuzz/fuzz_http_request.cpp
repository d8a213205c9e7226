// libFuzzer target: bytes as a client sends them on one connection, through what the server
// does with them, in-process: the server's request parser (http::RequestParser, Beast's
// grammar) with the server's default limits, http::view_request (the server's own
// conversion), and the full router of main (register_service_routes) over a real store, key
// registry, rate limiter and admin API, with credentials fixed in advance (fuzz_service.hpp) so
// that inputs can authenticate.
//
// An input may hold several pipelined requests; they are answered in order, as the server does,
// until one is malformed or incomplete, asks to close, or has a body over the limit. Every input
// starts from a fresh service, so a crash reproduces from its input alone.
//
// Invariants, for every answer to every input:
//   - no exception escapes the router (the server would answer 500 and log a bug);
//   - no 500 at all, and a status Beast knows, 200..599 (handlers never answer 1xx);
//   - header names are tokens and no header value holds CR, LF or NUL (they go on the wire raw);
//   - 204 and 304 have no body; every other body is valid JSON (UTF-8 included), or a stream
//     (an export) that ends, in valid UTF-8, each NDJSON line valid JSON;
//   - an error (>= 400) is the error envelope: success false, a non-empty code, an error
//     message, and requestId equal to the request's id; a 2xx from /api/ has success true;
//   - 405 names the allowed methods; 401 says how to authenticate.

#include "fuzz_check.hpp"
#include "fuzz_service.hpp"

#include "leadd/http/beast_request.hpp"
#include "leadd/http/envelope.hpp"
#include "leadd/http/server.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bhttp = boost::beast::http;
namespace json = boost::json;
using namespace leadd;

namespace {

constexpr int max_requests_per_input = 8;

bool is_token_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string describe(const http::Request& request, const http::Response& response) {
    std::string out = std::string(request.method) + " " + std::string(request.path);
    if (!request.query.empty()) out += "?" + std::string(request.query);
    out += "\n-> " + std::to_string(response.status) + " [" + response.content_type + "]\n";
    for (const auto& [name, value] : response.headers) out += std::string(name) + ": " + value + "\n";
    out += response.body.substr(0, 2000);
    return out;
}

bool has_header(const http::Response& response, std::string_view name) {
    return std::any_of(response.headers.begin(), response.headers.end(),
                       [&](const auto& h) { return http::iequals(h.first, name) && !h.second.empty(); });
}

void check_response(const http::Request& request, const http::Response& response) {
    // Built only when a check fails (FUZZ_CHECK evaluates its context then).
    auto context = [&] { return describe(request, response); };
    const int status = response.status;
    FUZZ_CHECK(status != 500, context());
    FUZZ_CHECK(status >= 200 && status <= 599, context());
    FUZZ_CHECK(bhttp::int_to_status(static_cast<unsigned>(status)) != bhttp::status::unknown, context());

    auto clean = [](std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == s.npos; };
    FUZZ_CHECK(clean(response.content_type), context());
    for (const auto& [name, value] : response.headers) {
        FUZZ_CHECK(!name.empty() && std::all_of(name.begin(), name.end(), is_token_char), context());
        FUZZ_CHECK(clean(value), context());
    }
    if (status == 405) FUZZ_CHECK(has_header(response, "Allow"), context());
    if (status == 401) FUZZ_CHECK(has_header(response, "WWW-Authenticate"), context());

    if (status == 204 || status == 304) {
        FUZZ_CHECK(response.body.empty() && !response.stream, context());
        return;
    }
    if (response.stream) {
        // Drained as the server sends it (an export): it ends, and each NDJSON line is JSON.
        std::string all, chunk;
        bool more = true;
        for (int pieces = 0; more && pieces < 100'000; ++pieces) {
            chunk.clear();
            more = response.stream(chunk);
            all += chunk;
        }
        FUZZ_CHECK(!more, context());
        FUZZ_CHECK(status == 200 && http::is_valid_utf8(all), context() + "\n" + all.substr(0, 2000));
        if (response.content_type.starts_with("application/x-ndjson")) {
            for (std::size_t at = 0; at < all.size();) {
                const std::size_t end = std::min(all.find('\n', at), all.size());
                boost::system::error_code ec;
                json::parse(std::string_view(all).substr(at, end - at), ec);
                FUZZ_CHECK(!ec, context() + "\n" + all.substr(at, end - at));
                at = end + 1;
            }
        }
        return;
    }
    FUZZ_CHECK(response.content_type.starts_with("application/json"), context());
    boost::system::error_code ec;
    const json::value body = json::parse(response.body, ec);
    FUZZ_CHECK(!ec, context());
    if (status >= 400) {
        FUZZ_CHECK(body.is_object(), context());
        const auto& o = body.get_object();
        const auto* success = o.if_contains("success");
        FUZZ_CHECK(success && success->is_bool() && !success->get_bool(), context());
        const auto* code = o.if_contains("code");
        FUZZ_CHECK(code && code->is_string() && !code->get_string().empty(), context());
        const auto* error = o.if_contains("error");
        FUZZ_CHECK(error && error->is_string() && !error->get_string().empty(), context());
        const auto* request_id = o.if_contains("requestId");
        FUZZ_CHECK(request_id && request_id->is_string() && request_id->get_string() == request.request_id, context());
    } else if (request.path.starts_with("/api/")) {
        FUZZ_CHECK(body.is_object(), context());
        const auto* success = body.get_object().if_contains("success");
        FUZZ_CHECK(success && success->is_bool() && success->get_bool(), context());
    }
}

enum class Parsed { Request, Stop };

// Parses the next request off `buffer` as the server's read loop does (http::parse_buffered, the
// server's own), or says to stop (incomplete: the server would read more; malformed or headers
// over the limit: it answers 400/431 itself and closes). `too_large`: the body is over the limit
// and was not read.
Parsed parse_next(boost::beast::flat_buffer& buffer, http::RequestParser& parser, bool& too_large) {
    static const http::ServerOptions defaults;
    parser.header_limit(static_cast<std::uint32_t>(defaults.max_header_bytes));
    parser.body_limit(defaults.max_body_bytes);
    too_large = false;
    boost::beast::error_code ec;
    for (const bool whole_message : {false, true}) {
        if (!http::parse_buffered(parser, buffer, whole_message, ec)) return Parsed::Stop;  // the input ends inside
        if (ec == bhttp::error::body_limit) {
            too_large = true;
            return Parsed::Request;
        }
        if (ec) return Parsed::Stop;
        if (!whole_message && parser.storage().fields.size() > defaults.max_header_count) return Parsed::Stop;
    }
    return Parsed::Request;
}

}  // namespace

// LEADD_FUZZ_TRACE=1: print each request and its answer (to see what the seeds reach).
const bool trace = std::getenv("LEADD_FUZZ_TRACE") != nullptr;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Service service;
    boost::beast::flat_buffer buffer;  // the input, as if one read had brought all of it
    if (size > 0) {
        std::memcpy(buffer.prepare(size).data(), data, size);
        buffer.commit(size);
    }
    http::RequestStorage parsed;  // reused from request to request, as on a server connection
    for (int n = 0; n < max_requests_per_input && buffer.size() > 0; ++n) {
        http::RequestParser parser(parsed);
        bool too_large = false;
        if (parse_next(buffer, parser, too_large) == Parsed::Stop) break;

        const std::string_view sent_id = parsed.field("X-Request-Id");
        std::string request_id =
            http::acceptable_request_id(sent_id) ? std::string(sent_id) : "generated-request-id-" + std::to_string(n);
        const bool keep_alive = !too_large && parser.keep_alive();  // as the server: the header may not be done

        const http::Request request = http::view_request(parsed, std::move(request_id), too_large);
        const http::Response response = service.router.route(request);
        if (trace) std::fprintf(stderr, "%s\n", describe(request, response).substr(0, 300).c_str());
        check_response(request, response);
        if (!keep_alive) break;
    }
    return 0;
}
