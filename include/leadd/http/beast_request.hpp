#pragma once
// Where the bytes of a request become the handlers' Request: the server and the HTTP fuzz target
// both go through here, so the fuzzer exercises exactly what the server hands the router.
//
// RequestParser is Beast's HTTP/1 parser (basic_parser: the grammar, chunked bodies, keep-alive,
// the header and body limits) with leadd's own storage for what it parses. Beast's
// request_parser keeps the fields in a basic_fields: one allocation and one red-black tree
// insertion per field, freed again with every request (~1 600 instructions of a POST's ~42 000
// under callgrind). Here the method, target, names and values are appended to one string and
// the body to another, both owned by the connection (RequestStorage) and cleared, not freed,
// between requests, so parsing allocates nothing on a warm keep-alive connection. Net, with
// the appends it does instead: ~450 instructions less per GET, ~860 per POST
// (load/instructions_bench.py).
//
// parse_buffered feeds that parser what the connection's buffer already holds, as Beast's reads
// would, without their asynchronous machinery (see its comment).

#include "leadd/http/message.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace leadd::http {

// A client's X-Request-Id is echoed only if it is short, printable ASCII without quotes or
// backslashes: it ends up in logs and JSON bodies.
inline bool acceptable_request_id(std::string_view id) {
    return !id.empty() && id.size() <= 128 &&
           std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f && c != '"' && c != '\\'; });
}

// What one connection's requests are parsed into, one request at a time; kept across requests.
struct RequestStorage {
    // Where a piece of `head` starts and how long it is: offsets, since `head` may move as it
    // grows while the header is parsed.
    struct Span {
        std::size_t at = 0, size = 0;
    };
    std::string head;  // method, target, then each field's name and value
    Span method, target;
    std::vector<std::pair<Span, Span>> fields;
    std::string body;
    unsigned version = 11;  // 10 or 11

    // Empties it for the next request. A large body's buffer is freed rather than kept: an idle
    // connection should not hold the memory of the largest request it ever sent.
    void clear() {
        static constexpr std::size_t kept_capacity = 64 * 1024;
        head.clear();
        fields.clear();
        if (body.capacity() > kept_capacity) std::string().swap(body);
        body.clear();
        method = target = {};
        version = 11;
    }

    std::string_view view(Span s) const { return std::string_view(head).substr(s.at, s.size); }
    // The first field named `name` (ASCII case-insensitive), "" when absent.
    std::string_view field(std::string_view name) const {
        for (const auto& [n, v] : fields)
            if (iequals(view(n), name)) return view(v);
        return {};
    }
};

// One per request (a Beast parser parses one message); the storage outlives it, and making the
// parser empties the storage of the previous request.
class RequestParser : public boost::beast::http::basic_parser<true> {
public:
    explicit RequestParser(RequestStorage& storage) : storage_(storage) { storage_.clear(); }

    const RequestStorage& storage() const { return storage_; }

private:
    using error_code = boost::beast::error_code;
    using string_view = boost::beast::string_view;

    RequestStorage::Span keep(string_view text) {
        const RequestStorage::Span span{storage_.head.size(), text.size()};
        storage_.head.append(text.data(), text.size());
        return span;
    }

    void on_request_impl(boost::beast::http::verb, string_view method, string_view target, int version,
                         error_code&) override {
        storage_.method = keep(method);
        storage_.target = keep(target);
        storage_.version = static_cast<unsigned>(version);
    }
    void on_response_impl(int, string_view, int, error_code&) override {}  // requests only
    void on_field_impl(boost::beast::http::field, string_view name, string_view value, error_code&) override {
        const auto name_span = keep(name);
        storage_.fields.emplace_back(name_span, keep(value));
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code&) override {
        // The parser has checked the length against body_limit already.
        if (content_length) storage_.body.reserve(static_cast<std::size_t>(*content_length));
    }
    std::size_t on_body_impl(string_view piece, error_code&) override {
        storage_.body.append(piece.data(), piece.size());
        return piece.size();
    }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, string_view piece, error_code&) override {
        storage_.body.append(piece.data(), piece.size());
        return piece.size();
    }
    void on_finish_impl(error_code&) override {}

    RequestStorage& storage_;
};

// What Beast's async_read_header (whole_message false) or async_read (true) would do with the
// bytes `buffer` already holds, done without them: a Beast read that needs no bytes from the
// socket still completes through a composed operation and a post to the executor (a queue round
// trip per read), and most requests arrive whole in one read_some, so a GET would pay it once
// and a PUT or POST twice. True when that read would have completed (its header or message is
// done, or `ec` says why not: header_limit, body_limit, bad syntax); false when the parser needs
// bytes the buffer does not hold yet, and the caller goes on with the Beast read, which then
// starts by reading from the socket.
inline bool parse_buffered(RequestParser& parser, boost::beast::flat_buffer& buffer, bool whole_message,
                           boost::beast::error_code& ec) {
    parser.eager(whole_message);  // as Beast's reads set it
    const auto done = [&] { return whole_message ? parser.is_done() : parser.is_header_done(); };
    while (!done()) {
        if (buffer.size() == 0) return false;
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == boost::beast::http::error::need_more) {
            ec = {};
            return false;
        }
        if (ec) return true;
        if (used == 0) return false;  // no progress: leave it to Beast's read, as before
    }
    return true;
}

// The handlers' view of a parsed request; its views point into `parsed`, which must outlive it
// (and not be parsed into again meanwhile).
inline Request view_request(const RequestStorage& parsed, std::string request_id, bool body_too_large) {
    Request r;
    r.method = parsed.view(parsed.method);
    const std::string_view target = parsed.view(parsed.target);
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    r.body = body_too_large ? std::string_view{} : std::string_view(parsed.body);
    r.headers.reserve(parsed.fields.size());
    for (const auto& [name, value] : parsed.fields) r.headers.emplace_back(parsed.view(name), parsed.view(value));
    r.request_id = std::move(request_id);
    r.body_too_large = body_too_large;
    return r;
}

}  // namespace leadd::http
