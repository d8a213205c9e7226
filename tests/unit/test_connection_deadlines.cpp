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

// A one-byte read on a connection's server side, and how it ended (empty while pending).
struct PendingRead {
    char byte = 0;
    std::optional<boost::system::error_code> result;

    void start(Connection& c) {
        c.server.async_read_some(asio::buffer(&byte, 1),
                                 [this](boost::system::error_code ec, std::size_t) { result = ec; });
    }
    void run_until_done(asio::io_context& io) {
        while (!result && io.run_one()) {
        }
    }
};

// The peer sends one byte; the pending read must complete with it, not be cancelled.
void check_read_gets_what_peer_sends(asio::io_context& io, Connection& c, PendingRead& read, char sent) {
    asio::write(c.client, asio::buffer(&sent, 1));
    read.run_until_done(io);
    REQUIRE(read.result);
    CHECK_FALSE(*read.result);
    CHECK(read.byte == sent);
}

}  // namespace

TEST_CASE("a read past its deadline is cancelled; one whose deadline is ahead is not", "[deadlines]") {
    asio::io_context io;
    ConnectionDeadlines deadlines(io, 5ms);
    Connection late(io), early(io);
    deadlines.watch(late.deadline);
    deadlines.watch(early.deadline);

    PendingRead late_read, early_read;
    late.deadline.expires_after(1h);
    early.deadline.expires_after(20ms);
    late_read.start(late);
    early_read.start(early);

    early_read.run_until_done(io);
    REQUIRE(early_read.result);
    CHECK(*early_read.result == asio::error::operation_aborted);
    CHECK_FALSE(late_read.result);  // still waiting: many sweeps ran meanwhile

    // The survivor still reads what its peer sends.
    check_read_gets_what_peer_sends(io, late, late_read, 'x');

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

    PendingRead read;
    c.deadline.expires_after(1h);
    read.start(c);
    io.run_for(30ms);  // more sweeps: none may cancel the read
    CHECK_FALSE(read.result);
    check_read_gets_what_peer_sends(io, c, read, 'y');
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
