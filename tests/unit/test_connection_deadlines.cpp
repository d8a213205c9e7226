// ConnectionDeadlines: the sweep cancels what a connection has pending once its deadline has
// passed, and only then; with nothing watched it leaves its io_context no work. Real loopback
// sockets; the only clock is the deadlines' own (no assertion on how long anything took).

#include "leadd/http/connection_deadlines.hpp"

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <optional>

using leadd::http::ConnectionDeadlines;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A connected pair on loopback: `server` is the side a ConnectionDeadlines watches.
struct Connection {
    tcp::socket server;
    tcp::socket client;
    ConnectionDeadlines::Deadline deadline{server};

    explicit Connection(asio::io_context& io) : server(io), client(io) {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        client.connect(acceptor.local_endpoint());
        acceptor.accept(server);
    }
};

// A read on `c.server` whose outcome lands in `result` when it completes.
void start_read(Connection& c, char& byte, std::optional<boost::system::error_code>& result) {
    c.server.async_read_some(asio::buffer(&byte, 1), [&result](boost::system::error_code ec, std::size_t) {
        result = ec;
    });
}

}  // namespace

TEST_CASE("a read past its deadline is cancelled; one whose deadline is ahead is not", "[deadlines]") {
    asio::io_context io;
    ConnectionDeadlines deadlines(io, 5ms);
    Connection late(io), early(io);
    deadlines.watch(late.deadline);
    deadlines.watch(early.deadline);

    char late_byte = 0, early_byte = 0;
    std::optional<boost::system::error_code> late_result, early_result;
    late.deadline.expires_after(1h);
    early.deadline.expires_after(20ms);
    start_read(late, late_byte, late_result);
    start_read(early, early_byte, early_result);

    while (!early_result && io.run_one()) {
    }
    REQUIRE(early_result);
    CHECK(*early_result == asio::error::operation_aborted);
    CHECK_FALSE(late_result);  // still waiting: many sweeps ran meanwhile

    // The survivor still reads what its peer sends.
    asio::write(late.client, asio::buffer("x", 1));
    while (!late_result && io.run_one()) {
    }
    REQUIRE(late_result);
    CHECK_FALSE(*late_result);
    CHECK(late_byte == 'x');

    deadlines.unwatch(early.deadline);
    deadlines.unwatch(late.deadline);
    CHECK(deadlines.watched() == 0);
}

TEST_CASE("a deadline that passed with nothing pending does not cancel the next operation", "[deadlines]") {
    asio::io_context io;
    ConnectionDeadlines deadlines(io, 5ms);
    Connection c(io);
    deadlines.watch(c.deadline);

    // Between operations (a handler, a durable-write wait) the deadline may pass unnoticed.
    c.deadline.expires_after(1ms);
    io.run_for(50ms);  // sweeps that find it expired

    char byte = 0;
    std::optional<boost::system::error_code> result;
    c.deadline.expires_after(1h);
    start_read(c, byte, result);
    io.run_for(30ms);  // more sweeps: none may cancel the read
    CHECK_FALSE(result);
    asio::write(c.client, asio::buffer("y", 1));
    while (!result && io.run_one()) {
    }
    REQUIRE(result);
    CHECK_FALSE(*result);
    CHECK(byte == 'y');
    deadlines.unwatch(c.deadline);
}

TEST_CASE("with no connection left, the sweep leaves its io_context no work", "[deadlines]") {
    asio::io_context io;
    ConnectionDeadlines deadlines(io, 1h);  // a sweep pending for an hour unless cancelled
    Connection a(io), b(io);
    deadlines.watch(a.deadline);
    deadlines.watch(b.deadline);
    deadlines.unwatch(a.deadline);  // b moves into a's slot
    deadlines.unwatch(b.deadline);
    io.run_for(10s);
    CHECK(io.stopped());  // ran out of work, rather than waiting out the 10 s

    // And a new connection starts the sweep again.
    io.restart();
    deadlines.watch(a.deadline);
    CHECK(deadlines.watched() == 1);
    io.run_for(20ms);
    CHECK_FALSE(io.stopped());
    deadlines.unwatch(a.deadline);
}
