// RequestParser and RequestStorage: what a connection's requests are parsed into, and that one
// storage reused from request to request carries nothing of a request into the next;
// parse_buffered: the server's reads of what is already buffered, done without Beast's reads.

#include "leadd/http/beast_request.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <string_view>

namespace bhttp = boost::beast::http;
using leadd::http::RequestParser;
using leadd::http::RequestStorage;
using leadd::http::view_request;

namespace {

// Feeds `wire` to `parser` the way the server's reads do (all that has arrived, again and
// again); returns what is left after the message, or fails the test on a parse error.
std::string_view parse(RequestParser& parser, std::string_view wire, std::size_t body_limit = 1024 * 1024) {
    parser.body_limit(body_limit);
    parser.eager(true);
    boost::beast::error_code ec;
    while (!parser.is_done()) {
        const std::size_t used = parser.put(boost::asio::buffer(wire.data(), wire.size()), ec);
        wire.remove_prefix(used);
        if (ec == bhttp::error::need_more && used > 0) {
            ec = {};
            continue;
        }
        REQUIRE(!ec);
        REQUIRE(used > 0);
    }
    return wire;
}

}  // namespace

TEST_CASE("a request's method, target, fields and body, as the handlers see them", "[http][parser]") {
    RequestStorage storage;
    RequestParser parser(storage);
    const std::string_view rest = parse(parser,
                                        "POST /api/v1/leads?x=1 HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc\r\n"
                                        "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
    CHECK(rest.empty());
    CHECK(storage.version == 11);
    CHECK(parser.keep_alive());
    CHECK(storage.field("x-request-id") == "abc");  // case-insensitive
    CHECK(storage.field("Accept").empty());
    const auto r = view_request(storage, "id", false);
    CHECK(r.method == "POST");
    CHECK(r.path == "/api/v1/leads");
    CHECK(r.query == "x=1");
    CHECK(r.body == "{\"a\":1}");
    REQUIRE(r.headers.size() == 4);
    CHECK(r.headers[1].first == "X-Request-Id");
    CHECK(r.headers[1].second == "abc");
    CHECK(r.header("content-type") == "application/json");
    CHECK(r.request_id == "id");
    CHECK(view_request(storage, "id", true).body.empty());  // over the limit: no body
}

TEST_CASE("one storage, pipelined requests: nothing of the first is left in the second", "[http][parser]") {
    RequestStorage storage;
    std::string wire =
        "PUT /first?q=1 HTTP/1.1\r\nX-One: 1\r\nX-Two: 2\r\nContent-Length: 5\r\n\r\nhello"
        "GET /second HTTP/1.0\r\nX-Three: 3\r\n\r\n";
    std::string_view rest = wire;
    {
        RequestParser parser(storage);
        rest = parse(parser, rest);
        CHECK(view_request(storage, "1", false).body == "hello");
    }
    RequestParser parser(storage);
    rest = parse(parser, rest);
    CHECK(rest.empty());
    const auto r = view_request(storage, "2", false);
    CHECK(r.method == "GET");
    CHECK(r.path == "/second");
    CHECK(r.query.empty());
    CHECK(r.body.empty());
    REQUIRE(r.headers.size() == 1);
    CHECK(r.headers[0].first == "X-Three");
    CHECK(storage.field("X-One").empty());
    CHECK(storage.version == 10);
    CHECK(!parser.keep_alive());  // HTTP/1.0 without keep-alive
}

TEST_CASE("a chunked body is put together; a large body's buffer is not kept", "[http][parser]") {
    RequestStorage storage;
    {
        RequestParser parser(storage);
        parse(parser, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
        CHECK(storage.body == "abcdefg");
    }
    const std::string big(200 * 1024, 'x');
    {
        RequestParser parser(storage);
        parse(parser, "POST /big HTTP/1.1\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big);
        CHECK(storage.body == big);
    }
    RequestParser parser(storage);
    CHECK(storage.body.empty());
    CHECK(storage.body.capacity() < big.size());
    parse(parser, "GET / HTTP/1.1\r\n\r\n");
    CHECK(storage.fields.empty());
}

TEST_CASE("the parser's limits still apply", "[http][parser]") {
    RequestStorage storage;
    RequestParser parser(storage);
    parser.body_limit(4);
    boost::beast::error_code ec;
    const std::string_view wire = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    parser.put(boost::asio::buffer(wire.data(), wire.size()), ec);
    CHECK(ec == bhttp::error::body_limit);
    // Stopped before the header was done (so keep_alive() must not be asked), with the fields
    // kept: routing and authentication still answer before the 413.
    CHECK(!parser.is_header_done());
    CHECK(storage.field("Content-Length") == "5");

    RequestParser chunked(storage);
    chunked.body_limit(4);
    const std::string_view chunks =
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
    std::string_view rest = chunks;
    ec = {};
    while (!ec && !rest.empty()) {
        const std::size_t used = chunked.put(boost::asio::buffer(rest.data(), rest.size()), ec);
        if (used == 0 && !ec) break;
        rest.remove_prefix(used);
    }
    CHECK(ec == bhttp::error::body_limit);

    RequestParser headers(storage);
    headers.header_limit(32);
    const std::string long_header = "GET / HTTP/1.1\r\nX-Long: " + std::string(64, 'a') + "\r\n\r\n";
    ec = {};
    headers.put(boost::asio::buffer(long_header.data(), long_header.size()), ec);
    CHECK(ec == bhttp::error::header_limit);
}

namespace {

void append(boost::beast::flat_buffer& buffer, std::string_view bytes) {
    const auto room = buffer.prepare(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    buffer.commit(bytes.size());
}

std::string held(const boost::beast::flat_buffer& buffer) { return boost::beast::buffers_to_string(buffer.data()); }

}  // namespace

TEST_CASE("parse_buffered: what a Beast read would do with the bytes already buffered", "[http][parser]") {
    using leadd::http::parse_buffered;
    RequestStorage storage;
    boost::beast::flat_buffer buffer;
    boost::beast::error_code ec;

    SECTION("pipelined requests: the header, then the body, each stops where its read would") {
        const std::string next = "GET /second HTTP/1.1\r\n\r\n";
        append(buffer, "PUT /first HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello" + next);
        {
            RequestParser parser(storage);
            CHECK(parse_buffered(parser, buffer, false, ec));
            CHECK(!ec);
            CHECK(parser.is_header_done());
            CHECK(!parser.is_done());  // as async_read_header: the body is left in the buffer
            CHECK(held(buffer) == "hello" + next);
            CHECK(parse_buffered(parser, buffer, true, ec));
            CHECK(!ec);
            CHECK(parser.is_done());
            CHECK(storage.body == "hello");
            CHECK(held(buffer) == next);  // the next request is not touched
        }
        RequestParser parser(storage);
        CHECK(parse_buffered(parser, buffer, false, ec));
        CHECK(parse_buffered(parser, buffer, true, ec));  // a GET is done with its header
        CHECK(!ec);
        CHECK(view_request(storage, "2", false).path == "/second");
        CHECK(buffer.size() == 0);
    }

    SECTION("a header or body not all there yet: false, and the rest parses once it arrives") {
        RequestParser parser(storage);
        append(buffer, "POST /c HTTP/1.1\r\nContent-Len");
        CHECK(!parse_buffered(parser, buffer, false, ec));
        CHECK(!ec);  // need_more is not an error
        append(buffer, "gth: 5\r\n\r\nhel");
        CHECK(parse_buffered(parser, buffer, false, ec));
        CHECK(!parse_buffered(parser, buffer, true, ec));
        CHECK(!ec);
        CHECK(buffer.size() == 0);
        append(buffer, "lo");
        CHECK(parse_buffered(parser, buffer, true, ec));
        CHECK(view_request(storage, "1", false).method == "POST");
        CHECK(storage.field("Content-Length") == "5");
        CHECK(storage.body == "hello");

        RequestParser chunked(storage);
        append(buffer, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
        CHECK(parse_buffered(chunked, buffer, false, ec));
        CHECK(!parse_buffered(chunked, buffer, true, ec));
        append(buffer, "c\r\n0\r\n\r\n");
        CHECK(parse_buffered(chunked, buffer, true, ec));
        CHECK(!ec);
        CHECK(storage.body == "abc");
    }

    SECTION("errors end the read as Beast's would: limits and bad syntax") {
        RequestParser over(storage);
        over.body_limit(4);
        append(buffer, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        CHECK(parse_buffered(over, buffer, false, ec));
        CHECK(ec == bhttp::error::body_limit);

        buffer.clear();
        ec = {};
        RequestParser bad(storage);
        append(buffer, "GET / HTTP/1.1\r\nBad Header\r\n\r\n");
        CHECK(parse_buffered(bad, buffer, false, ec));
        CHECK(ec);
        CHECK(ec != bhttp::error::need_more);
    }
}
