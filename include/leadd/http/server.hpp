#pragma once
// Server: the Beast HTTP/1.1 front end. One io_context per worker thread; one acceptor hands
// each new connection to the next worker in turn, and the connection's coroutine stays on that
// worker for its life, so a session never needs a lock. Per connection, requests are read,
// routed and answered one at a time, which answers pipelined requests in order.
//
// Timeouts: idle (waiting for the first byte of the next request), header (the rest of the
// request line and headers), read (the body). A client that misses one is disconnected; it never
// holds a worker, since waiting is a suspended coroutine, not a blocked thread.
//
// Shutdown (SIGINT/SIGTERM or stop()): stop accepting, close idle connections, let each one with
// a request under way finish it (answered with Connection: close) until the drain timeout, then
// cut what is left and return from run().

#include "leadd/http/router.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace leadd::http {

// Asked after every successful write (POST, PUT, PATCH, DELETE answered 2xx): the answer is sent
// only once when_durable's callback says true; false turns it into 503 SERVICE_UNAVAILABLE. This
// is how "acknowledged means durable" reaches the socket without the HTTP layer knowing the log.
class DurabilityGate {
public:
    virtual ~DurabilityGate() = default;
    // The server calls it once per event-loop round for all the writes it answered in that
    // round (see wait_until_durable in server.cpp): `done` covers everything written so far.
    virtual void when_durable(std::function<void(bool)> done) = 0;
    // Each worker thread says when it starts having work and when it runs out of it (about to
    // wait for the network), so that the log can hold a batch open for the records of the
    // requests being served, and never longer (wal::Log's "Commit window").
    virtual void thread_busy() {}
    virtual void thread_idle() {}
};

// Told about every answered request, on the worker thread that answered it, after the response
// was written: `route` is the index in router.routes() of the route that handled it, or -1.
// How /metrics counts requests without the HTTP layer knowing about metrics.
class RequestObserver {
public:
    virtual ~RequestObserver() = default;
    virtual void request_done(const Router& router, int route, int status, std::chrono::microseconds took) = 0;
};

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;  // 0 picks a free port; see bound_port()
    unsigned threads = 1;
    std::size_t max_connections = 10'000;  // one more is answered 503 and closed
    std::size_t max_body_bytes = 1024 * 1024;
    std::size_t max_header_bytes = 16 * 1024;  // request line + headers; more gets 431
    std::size_t max_header_count = 128;        // header fields; more gets 431
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds read_timeout{30'000};
    std::chrono::milliseconds idle_timeout{60'000};
    std::chrono::milliseconds drain_timeout{5'000};  // then remaining connections are cut
};

class Server {
public:
    Server(ServerOptions options, const Router& router);
    ~Server();

    // Routes every request from now on (e.g. the full API once start-up has finished).
    void set_router(const Router& router);
    void set_durability_gate(DurabilityGate& gate);
    void set_request_observer(RequestObserver& observer);

    std::size_t open_connections() const;
    std::uint64_t connections_turned_away() const;  // over max_connections

    // Binds and listens; throws std::system_error when the address cannot be bound.
    void listen();
    std::uint16_t bound_port() const;

    // Serves until SIGINT/SIGTERM (or stop()), drains, then returns.
    void run();
    void stop();  // thread-safe

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace leadd::http
