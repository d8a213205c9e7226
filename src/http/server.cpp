#include "leadd/http/server.hpp"

#include "leadd/http/beast_request.hpp"
#include "leadd/http/connection_deadlines.hpp"
#include "leadd/http/envelope.hpp"
#include "leadd/ops/logging.hpp"

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <mutex>
#include <span>
#include <random>
#include <thread>
#include <unordered_set>
#include <vector>

namespace leadd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
constexpr auto as_tuple = asio::as_tuple(use_awaitable);

namespace {

// A request id for requests that bring none: a random per-thread prefix and a counter, so ids
// are unique across threads and restarts without a shared atomic on the hot path.
std::string generate_request_id() {
    thread_local const std::uint64_t prefix =
        std::random_device{}() | std::uint64_t(std::random_device{}()) << 32;
    thread_local std::uint64_t counter = 0;
    static constexpr char hex[] = "0123456789abcdef";
    std::string id(24, '0');
    std::uint64_t p = prefix, c = ++counter;
    for (int i = 15; i >= 0; --i, p >>= 4) id[static_cast<std::size_t>(i)] = hex[p & 15];
    for (int i = 23; i >= 16; --i, c >>= 4) id[static_cast<std::size_t>(i)] = hex[c & 15];
    return id;
}

bool is_malformed_request(const beast::error_code& ec) {
    return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
           ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
           ec != bhttp::error::need_more && ec != bhttp::error::need_buffer;
}

bool is_write(std::string_view method) {
    return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

// Suspends the connection's coroutine until its write is durable, then resumes it on its own
// executor (false: the log gave up, see DurabilityGate).
//
// Group commit across connections, per event-loop round: the writes this thread answers in one
// round of its loop (the other connections' requests whose reads completed with this one) are
// parked together; a handler posted behind them runs after them and registers ONE waiter with
// the gate for everything appended so far (one flusher wake-up). When that batch is durable,
// one post brings the whole group back. Each io_context has its own thread, so the parked group
// is per thread.
//
// Not a coroutine itself: it returns async_initiate's awaitable, which the connection's
// coroutine awaits directly (a wrapping coroutine would cost a frame and a resumption per write).
awaitable<bool> wait_until_durable(DurabilityGate& gate, const asio::any_io_executor& executor) {
    return asio::async_initiate<decltype(use_awaitable), void(bool)>(
        [&gate, executor](auto handler) {
            using Handler = decltype(handler);
            using Group = std::vector<Handler>;
            thread_local Group parked;
            parked.push_back(std::move(handler));
            if (parked.size() > 1) return;  // the round's handler is already posted
            asio::post(executor, [&gate, executor] {
                auto group = std::make_shared<Group>(std::move(parked));
                parked.clear();
                gate.when_durable([group, executor](bool ok) {
                    asio::post(executor, [group, ok] {
                        for (auto& waiting : *group) std::move(waiting)(ok);
                    });
                });
            });
        },
        use_awaitable);
}

template <class Number>
void append_number(std::string& out, Number n) {
    char digits[24];
    out.append(digits, static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, n).ptr - digits));
}

// The status line and the headers every response has, into `out` (cleared first); the caller
// adds the framing headers and the blank line. String views throughout: appending C strings
// measured each with strlen (serialize_response was ~1 550 instructions a GET, now ~1 070).
void serialize_head(std::string& out, const Response& response, std::string_view request_id, unsigned version) {
    using namespace std::string_view_literals;
    const auto status = static_cast<bhttp::status>(response.status);
    out.clear();
    out += version == 10 ? "HTTP/1.0 "sv : "HTTP/1.1 "sv;
    append_number(out, static_cast<unsigned>(response.status));
    out += ' ';
    out += bhttp::obsolete_reason(status);
    out += "\r\n"sv;
    if (!response.content_type.empty()) {
        out += "Content-Type: "sv;
        out += response.content_type;
        out += "\r\n"sv;
    }
    for (const auto& [name, value] : response.headers) {
        out += name;
        out += ": "sv;
        out += value;
        out += "\r\n"sv;
    }
    out += "X-Request-Id: "sv;
    out += request_id;
    out += "\r\n"sv;
}

// HTTP/1.x response bytes into `out` (reused across a connection's responses).
void serialize_response(std::string& out, const Response& response, std::string_view request_id,
                        bool keep_alive, unsigned version) {
    using namespace std::string_view_literals;
    const bool bodyless = response.status == 204 || response.status == 304 || response.status < 200;
    serialize_head(out, response, request_id, version);
    if (!bodyless) {
        out += "Content-Length: "sv;
        append_number(out, response.body.size());
        out += "\r\n"sv;
    }
    if (!keep_alive && version != 10) out += "Connection: close\r\n"sv;
    if (keep_alive && version == 10) out += "Connection: keep-alive\r\n"sv;
    out += "\r\n"sv;
    if (!bodyless) out += response.body;
}

// The head of a streamed response (Response::stream): chunked for HTTP/1.1; for HTTP/1.0, which
// has no chunks, no length at all, and the end of the body is the connection's close.
void serialize_stream_head(std::string& out, const Response& response, std::string_view request_id,
                           bool keep_alive, unsigned version) {
    serialize_head(out, response, request_id, version);
    if (version != 10) out += "Transfer-Encoding: chunked\r\n";
    if (!keep_alive && version != 10) out += "Connection: close\r\n";
    out += "\r\n";
}

}  // namespace

struct Session;

struct Server::Impl {
    ServerOptions options;
    std::atomic<const Router*> router;
    std::atomic<DurabilityGate*> durability{nullptr};
    std::atomic<RequestObserver*> observer{nullptr};
    std::atomic<std::uint64_t> turned_away{0};
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    // One per context, used on its thread. Declared after `contexts`, so destroyed while they
    // still exist; a connection whose coroutine is destroyed with its io_context (after a drain
    // timeout) never unwatches, and needs not: nothing sweeps any more.
    std::vector<std::unique_ptr<ConnectionDeadlines>> deadlines;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    std::unique_ptr<tcp::acceptor> acceptor;
    asio::signal_set signals;
    std::atomic<bool> stopping{false};
    std::mutex sessions_mu;  // guards sessions
    std::unordered_set<std::shared_ptr<Session>> sessions;
    std::unique_ptr<asio::steady_timer> drain_deadline;  // only touched on contexts[0]

    Impl(ServerOptions o, const Router& r)
        : options(std::move(o)), router(&r), contexts(make_contexts(options.threads)),
          signals(*contexts[0], SIGINT, SIGTERM) {
        for (auto& c : contexts) {
            guards.push_back(asio::make_work_guard(*c));
            deadlines.push_back(std::make_unique<ConnectionDeadlines>(*c));
        }
    }

    static std::vector<std::unique_ptr<asio::io_context>> make_contexts(unsigned n) {
        std::vector<std::unique_ptr<asio::io_context>> v;
        for (unsigned i = 0; i < std::max(1u, n); ++i) v.push_back(std::make_unique<asio::io_context>(1));
        return v;
    }

    awaitable<void> accept_loop();
    // Runs `connection` (serve or turn_away) with the session's deadline watched by its thread's sweep.
    static awaitable<void> with_deadline(ConnectionDeadlines& deadlines, std::shared_ptr<Session> session,
                                         awaitable<void> connection);
    awaitable<void> serve(std::shared_ptr<Session> session);
    awaitable<void> turn_away(std::shared_ptr<Session> session);
    void begin_shutdown();
    void end_drain() {
        if (drain_deadline) drain_deadline->cancel();
    }
    // `routed_by` and `route`: the router that answered and its route's index (or -1).
    Response handle(const RequestStorage& parsed, std::string request_id, bool body_too_large,
                    const Router*& routed_by, int& route);
};

struct Session {
    tcp::socket socket;
    ConnectionDeadlines::Deadline deadline{socket};  // watched by its thread's ConnectionDeadlines
    // True while waiting for the first byte of the next request; touched only on the socket's
    // thread. At shutdown such a connection is closed at once; one with a request under way
    // (being received or answered) may finish it until the drain deadline.
    bool awaiting_request = true;

    explicit Session(tcp::socket s) : socket(std::move(s)) {}
};

awaitable<void> Server::Impl::accept_loop() {
    std::size_t next = 0;
    for (;;) {
        const std::size_t thread = next++ % contexts.size();
        auto& target = *contexts[thread];
        auto [ec, socket] = co_await acceptor->async_accept(target, as_tuple);
        if (ec) {
            if (stopping || ec == asio::error::operation_aborted) co_return;
            // EMFILE and friends: back off briefly instead of spinning on the error.
            ops::log(spdlog::level::warn, "accept failed: " + ec.message());
            asio::steady_timer pause(acceptor->get_executor(), std::chrono::milliseconds(50));
            co_await pause.async_wait(as_tuple);
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        auto session = std::make_shared<Session>(std::move(socket));
        {
            std::lock_guard lock(sessions_mu);
            if (sessions.size() >= options.max_connections) {
                turned_away.fetch_add(1, std::memory_order_relaxed);
                asio::co_spawn(target, with_deadline(*deadlines[thread], session, turn_away(session)), asio::detached);
                continue;
            }
            sessions.insert(session);
        }
        asio::co_spawn(target, with_deadline(*deadlines[thread], session, serve(session)),
                       [this, s = session](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    ops::log(spdlog::level::err, std::string("connection failed: ") + ex.what());
                }
            }
            std::lock_guard lock(sessions_mu);
            sessions.erase(s);
            if (stopping && sessions.empty()) asio::post(*contexts[0], [this] { end_drain(); });
        });
    }
}

awaitable<void> Server::Impl::with_deadline(ConnectionDeadlines& deadlines, std::shared_ptr<Session> session,
                                            awaitable<void> connection) {
    deadlines.watch(session->deadline);
    try {
        co_await std::move(connection);
    } catch (...) {
        deadlines.unwatch(session->deadline);  // and the exception goes on to co_spawn's handler
        throw;
    }
    deadlines.unwatch(session->deadline);
}

// Over --max-connections: the client hears why (503 in the envelope, Retry-After) instead of a
// bare reset, and the connection is closed. Its request is not read; the answer goes out at
// once, and a second later at most the socket is gone whatever the client does.
awaitable<void> Server::Impl::turn_away(std::shared_ptr<Session> session) {
    auto& socket = session->socket;
    auto& deadline = session->deadline;
    Request r;
    r.request_id = generate_request_id();
    auto response = error_response(503, "SERVICE_UNAVAILABLE", "Too many open connections; try again shortly", r);
    response.set_header("Retry-After", "1");
    std::string wire;
    serialize_response(wire, response, r.request_id, false, 11);
    deadline.expires_after(std::chrono::seconds(1));
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(wire), as_tuple);
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    // Closing with the client's request unread would reset the connection, and the reset can
    // overtake the answer; read (and drop) until the client closes or the second is up.
    std::array<char, 4096> sink;
    while (!ec) std::tie(ec, n) = co_await socket.async_read_some(asio::buffer(sink), as_tuple);
    socket.close(ignored);
}

Response Server::Impl::handle(const RequestStorage& parsed, std::string request_id,
                              bool body_too_large, const Router*& routed_by, int& route) {
    const Request r = view_request(parsed, std::move(request_id), body_too_large);
    routed_by = router.load(std::memory_order_acquire);
    try {
        return routed_by->route(r, &route);
    } catch (const std::exception& e) {
        // A bug: say so in the log with the request id, and nothing of it to the client.
        ops::log(spdlog::level::err, "request " + r.request_id + " failed: " + e.what());
        return error_response(500, "INTERNAL_ERROR", "Internal server error", r);
    }
}

awaitable<void> Server::Impl::serve(std::shared_ptr<Session> session) {
    auto& socket = session->socket;
    auto& deadline = session->deadline;
    beast::flat_buffer buffer;
    RequestStorage parsed;  // each request's method, target, fields and body (kept, not freed)

    // The response is written as one buffer built here: status line, headers, body. Beast's
    // serializer walks a chain of buffer views per write, which costs more than the request.
    //
    // It is first offered to the socket by a non-blocking send: a response almost always fits
    // in the socket's send buffer (the previous one has left it: the client read it before
    // sending this request), and then it is done with one send() and no suspension. An Asio
    // async write that completes at once still goes through a composed operation, a reactor
    // operation and a post to the executor before the coroutine resumes: a queue round trip per
    // response, ~1 000 instructions of a GET's ~10 600. What the socket does not take (a large
    // body, a slow reader) goes out by the async write, under the write timeout. Not coroutines:
    // `send_now` returns the bytes sent, `send_rest` the awaitable of the rest's write (a
    // coroutine per response would cost a frame and a resumption each).
    beast::error_code nonblocking_ec;
    socket.non_blocking(true, nonblocking_ec);  // only the send below is synchronous
    std::string wire;
    auto send_now = [&](const Response& response, std::string_view request_id, bool keep_alive, unsigned version,
                        beast::error_code& ec) -> std::size_t {
        serialize_response(wire, response, request_id, keep_alive, version);
        if (nonblocking_ec) return 0;  // never expected; the async write then sends it all
        const std::size_t sent = socket.write_some(asio::buffer(wire), ec);
        // Not taken now (full buffer, a signal): the async write sends it.
        if (ec == asio::error::would_block || ec == asio::error::try_again || ec == asio::error::interrupted) ec = {};
        return sent;
    };
    auto send_rest = [&](std::size_t sent) {
        deadline.expires_after(options.read_timeout);
        return asio::async_write(socket, asio::buffer(wire) + sent, as_tuple);
    };

    // A streamed response: the head, then one write per piece the producer makes, each awaited
    // before the next piece is made, so a slow reader holds one piece of memory and a suspended
    // coroutine; the write timeout applies to each piece. Fails (the caller closes the
    // connection) if a write fails or the producer throws: a chunked body cut short without its
    // last chunk is how the client learns the export is incomplete.
    std::string piece;
    auto send_streamed = [&](Response response, std::string_view request_id, bool keep_alive,
                             unsigned version) -> awaitable<beast::error_code> {
        const bool chunked = version != 10;
        serialize_stream_head(wire, response, request_id, keep_alive, version);
        deadline.expires_after(options.read_timeout);
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(wire), as_tuple);
        static constexpr std::string_view crlf = "\r\n", last_chunk = "0\r\n\r\n";
        for (bool more = true; !ec && more;) {
            piece.clear();
            try {
                more = response.stream(piece);
            } catch (const std::exception& e) {
                ops::log(spdlog::level::err, "request " + std::string(request_id) + " failed while streaming: " + e.what());
                co_return beast::error_code(EIO, boost::system::generic_category());
            }
            char size_line[24];
            const auto size_end = std::to_chars(size_line, size_line + 16, piece.size(), 16).ptr;
            size_end[0] = '\r';
            size_end[1] = '\n';
            std::array<asio::const_buffer, 4> buffers{};
            std::size_t count = 0;
            if (!piece.empty()) {
                if (chunked) buffers[count++] = asio::buffer(size_line, static_cast<std::size_t>(size_end + 2 - size_line));
                buffers[count++] = asio::buffer(piece);
                if (chunked) buffers[count++] = asio::buffer(crlf.data(), crlf.size());
            }
            if (!more && chunked) buffers[count++] = asio::buffer(last_chunk.data(), last_chunk.size());
            if (count == 0) continue;
            deadline.expires_after(options.read_timeout);
            std::tie(ec, n) = co_await asio::async_write(
                socket, std::span<const asio::const_buffer>(buffers.data(), count), as_tuple);
        }
        // A long export's largest piece need not stay with the connection.
        if (piece.capacity() > 256 * 1024) std::string().swap(piece);
        co_return ec;
    };

    // After answering a request whose body was not read, the rest of it is drained for a
    // moment before closing: closing with unread data resets the connection, and the client
    // might never see the answer.
    auto drain = [&]() -> awaitable<void> {
        beast::error_code ec;
        socket.shutdown(tcp::socket::shutdown_send, ec);
        deadline.expires_after(std::chrono::milliseconds(500));
        std::array<char, 8192> sink;
        for (std::size_t drained = 0; drained < options.max_body_bytes + 65536;) {
            auto [rec, n] = co_await socket.async_read_some(asio::buffer(sink), as_tuple);
            if (rec) break;
            drained += n;
        }
    };
    auto refuse = [&](int status, std::string_view code, std::string_view message) -> awaitable<void> {
        Request r;
        r.request_id = generate_request_id();
        beast::error_code ec;
        const std::size_t sent = send_now(error_response(status, code, message, r), r.request_id, false, 11, ec);
        if (!ec && sent < wire.size()) co_await send_rest(sent);
        co_await drain();
    };

    for (;;) {
        session->awaiting_request = true;
        if (stopping) break;
        if (buffer.size() == 0) {
            deadline.expires_after(options.idle_timeout);
            auto [ec, n] = co_await socket.async_read_some(buffer.prepare(4096), as_tuple);
            if (ec) break;  // closed by the client, idle timeout, or shutdown
            buffer.commit(n);
        }
        session->awaiting_request = false;

        RequestParser parser(parsed);
        parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
        parser.body_limit(options.max_body_bytes);
        deadline.expires_after(options.header_timeout);
        beast::error_code hec;
        if (!parse_buffered(parser, buffer, /*whole_message=*/false, hec))
            std::tie(hec, std::ignore) = co_await bhttp::async_read_header(socket, buffer, parser, as_tuple);
        if (hec == bhttp::error::header_limit) {
            co_await refuse(431, "HEADERS_TOO_LARGE", "Request headers are too large");
            break;
        }
        if (!hec && parsed.fields.size() > options.max_header_count) {
            co_await refuse(431, "HEADERS_TOO_LARGE", "Request has too many header fields");
            break;
        }
        bool too_large = hec == bhttp::error::body_limit;
        if (hec && !too_large) {
            if (is_malformed_request(hec)) co_await refuse(400, "BAD_REQUEST", "Malformed HTTP request");
            break;
        }
        if (!too_large && !parser.is_done()) {  // a GET is usually complete with its header
            if (beast::iequals(parsed.field("Expect"), "100-continue")) {
                bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, 11};
                deadline.expires_after(options.read_timeout);
                auto [cec, cn] = co_await bhttp::async_write(socket, cont, as_tuple);
                if (cec) break;
            }
            deadline.expires_after(options.read_timeout);
            beast::error_code bec;
            if (!parse_buffered(parser, buffer, /*whole_message=*/true, bec))
                std::tie(bec, std::ignore) = co_await bhttp::async_read(socket, buffer, parser, as_tuple);
            too_large = bec == bhttp::error::body_limit;
            if (bec && !too_large) {
                if (is_malformed_request(bec)) co_await refuse(400, "BAD_REQUEST", "Malformed HTTP request");
                break;
            }
        }

        const auto started = std::chrono::steady_clock::now();
        const std::string_view sent_id = parsed.field("X-Request-Id");
        std::string request_id = acceptable_request_id(sent_id) ? std::string(sent_id) : generate_request_id();
        // Not parser.keep_alive() first: a body over the limit can stop the parser before the
        // header is done, and then it has no answer.
        const bool keep_alive = !too_large && !stopping && parser.keep_alive();
        const std::string_view method = parsed.view(parsed.method);
        const Router* routed_by = nullptr;
        int route = -1;
        Response response = handle(parsed, request_id, too_large, routed_by, route);
        DurabilityGate* gate = durability.load(std::memory_order_acquire);
        if (gate && response.status / 100 == 2 && is_write(method) &&
            !co_await wait_until_durable(*gate, socket.get_executor())) {
            Request r;
            r.request_id = request_id;
            Response unconfirmed = error_response(
                503, "SERVICE_UNAVAILABLE", "The write could not be confirmed durable; it may or may not be applied", r);
            unconfirmed.set_header("Retry-After", "1");
            // The request was admitted and counted: its rate-limit headers still hold.
            for (auto& header : response.headers)
                if (header.first.starts_with("X-RateLimit-")) unconfirmed.headers.push_back(std::move(header));
            response = std::move(unconfirmed);
        }
        const int status = response.status;
        // HTTP/1.0 has no chunks: a streamed body ends when the connection closes.
        const bool streamed = static_cast<bool>(response.stream);
        const bool stays_open = keep_alive && !(streamed && parsed.version == 10);
        beast::error_code ec;
        if (streamed)
            ec = co_await send_streamed(std::move(response), request_id, stays_open, parsed.version);
        else {
            const std::size_t sent = send_now(response, request_id, keep_alive, parsed.version, ec);
            if (!ec && sent < wire.size()) std::tie(ec, std::ignore) = co_await send_rest(sent);
        }
        const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - started).count();
        const std::string_view target = parsed.view(parsed.target);
        ops::log_access({method, target.substr(0, target.find('?')), status, micros, request_id});
        if (auto* o = observer.load(std::memory_order_acquire))
            o->request_done(*routed_by, route, status, std::chrono::microseconds(micros));
        if (too_large) co_await drain();
        if (ec || !stays_open) break;
    }
    beast::error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
}

void Server::Impl::begin_shutdown() {
    if (stopping.exchange(true)) return;
    ops::log(spdlog::level::info, "shutting down: no new connections, finishing in-flight requests");
    asio::post(acceptor->get_executor(), [this] {
        beast::error_code ec;
        acceptor->close(ec);
    });
    {
        std::lock_guard lock(sessions_mu);
        for (const auto& s : sessions)
            asio::post(s->socket.get_executor(), [s] {
                beast::error_code ignored;  // the socket may be closed already, its coroutine ending
                if (s->awaiting_request) s->socket.cancel(ignored);
            });
    }
    for (auto& g : guards) g.reset();
    signals.cancel();
    // Connections still open after the drain timeout are cut.
    drain_deadline = std::make_unique<asio::steady_timer>(*contexts[0], options.drain_timeout);
    drain_deadline->async_wait([this](beast::error_code ec) {
        if (ec) return;
        ops::log(spdlog::level::warn, "drain timeout: closing remaining connections");
        for (auto& c : contexts) c->stop();
    });
    std::lock_guard lock(sessions_mu);
    if (sessions.empty()) end_drain();
}

Server::Server(ServerOptions options, const Router& router)
    : impl_(std::make_unique<Impl>(std::move(options), router)) {}

Server::~Server() = default;

void Server::set_durability_gate(DurabilityGate& gate) {
    impl_->durability.store(&gate, std::memory_order_release);
}

void Server::set_request_observer(RequestObserver& observer) {
    impl_->observer.store(&observer, std::memory_order_release);
}

std::size_t Server::open_connections() const {
    std::lock_guard lock(impl_->sessions_mu);
    return impl_->sessions.size();
}

std::uint64_t Server::connections_turned_away() const {
    return impl_->turned_away.load(std::memory_order_relaxed);
}

void Server::set_router(const Router& router) { impl_->router.store(&router, std::memory_order_release); }

void Server::listen() {
    auto& io = *impl_->contexts[0];
    const tcp::endpoint endpoint(asio::ip::make_address(impl_->options.host), impl_->options.port);
    impl_->acceptor = std::make_unique<tcp::acceptor>(io);
    impl_->acceptor->open(endpoint.protocol());
    impl_->acceptor->set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor->bind(endpoint);
    impl_->acceptor->listen(asio::socket_base::max_listen_connections);
}

std::uint16_t Server::bound_port() const { return impl_->acceptor->local_endpoint().port(); }

namespace {

// io_context::run(), told apart into "has work" and "out of work" for the durability gate: poll()
// runs every handler that is ready (and whatever they make ready) and returns only when there
// is nothing left; then the thread is idle until run_one() finds the next event. Costs one
// non-blocking epoll_wait per idle spell, none under load. The gate is attached once the store
// is recovered, after the server started (health checks are answered meanwhile), so it is
// looked up at each change; `told` pairs each thread_idle with the thread_busy before it.
void run_worker(asio::io_context& context, const std::atomic<DurabilityGate*>& gate) {
    DurabilityGate* told = nullptr;
    const auto busy = [&] {
        if ((told = gate.load(std::memory_order_acquire))) told->thread_busy();
    };
    const auto idle = [&] {
        if (told) told->thread_idle();
        told = nullptr;
    };
    busy();
    for (;;) {
        context.poll();
        idle();
        if (context.stopped() || context.run_one() == 0) return;
        busy();
    }
}

}  // namespace

void Server::run() {
    impl_->signals.async_wait([this](beast::error_code ec, int) {
        if (!ec) impl_->begin_shutdown();
    });
    asio::co_spawn(*impl_->contexts[0], impl_->accept_loop(), asio::detached);
    std::vector<std::thread> workers;
    for (std::size_t i = 1; i < impl_->contexts.size(); ++i)
        workers.emplace_back([this, i] { run_worker(*impl_->contexts[i], impl_->durability); });
    run_worker(*impl_->contexts[0], impl_->durability);
    for (auto& w : workers) w.join();
}

void Server::stop() {
    asio::post(*impl_->contexts[0], [this] { impl_->begin_shutdown(); });
}

}  // namespace leadd::http
