#pragma once
// ConnectionDeadlines: the timeouts of one io_context's connections, as one deadline per
// connection and a sweep every `tick` while the io_context has connections: the sweep cancels
// the pending operations of each socket past its deadline (they complete with
// operation_aborted). A timeout fires at most one tick (plus the loop's own delay) after it is
// due, never before.
//
// Why not beast::tcp_stream's timeouts: they start a timer wait with every read and every write
// and cancel it when the operation completes, a timer-queue insert, a removal and a handler run
// per operation. Moving from them to this took 19 % of a GET's user instructions and 8 % of a
// create's (callgrind, load/instructions_bench.py's runs). Setting a deadline here is a clock
// read and a store.
//
// Not thread-safe: each io_context has one thread, and its ConnectionDeadlines, its Deadlines
// and their sockets are touched on that thread only (the sockets' operations already are).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cassert>
#include <chrono>
#include <cstddef>
#include <vector>

namespace leadd::http {

class ConnectionDeadlines {
public:
    using Clock = std::chrono::steady_clock;

    // One connection's deadline. Set it before each read or write (or run of them) it covers;
    // between operations an expired deadline cancels nothing, as there is nothing to cancel.
    class Deadline {
    public:
        explicit Deadline(boost::asio::ip::tcp::socket& socket) : socket_(&socket) {}
        void expires_after(Clock::duration timeout) { at_ = Clock::now() + timeout; }

    private:
        friend class ConnectionDeadlines;
        boost::asio::ip::tcp::socket* socket_;
        Clock::time_point at_ = Clock::time_point::max();
        std::size_t slot_ = 0;  // its index in watched_, while watched
    };

    explicit ConnectionDeadlines(boost::asio::io_context& io,
                                 Clock::duration tick = std::chrono::milliseconds(100))
        : timer_(io), tick_(tick) {}

    // From the connection's start to its end; the sweep runs while anything is watched, so an
    // io_context with no connections has no timer pending (and its run() can return).
    void watch(Deadline& deadline) {
        deadline.slot_ = watched_.size();
        watched_.push_back(&deadline);
        if (watched_.size() == 1) schedule_sweep();
    }
    void unwatch(Deadline& deadline) {
        assert(deadline.slot_ < watched_.size() && watched_[deadline.slot_] == &deadline);
        watched_[deadline.slot_] = watched_.back();
        watched_[deadline.slot_]->slot_ = deadline.slot_;
        watched_.pop_back();
        if (watched_.empty()) timer_.cancel();
    }

    std::size_t watched() const { return watched_.size(); }

private:
    void schedule_sweep() {
        timer_.expires_after(tick_);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec || watched_.empty()) return;  // cancelled: the last connection went
            sweep();
            schedule_sweep();
        });
    }

    void sweep() {
        const auto now = Clock::now();
        for (Deadline* d : watched_) {
            if (d->at_ > now) continue;
            d->at_ = Clock::time_point::max();  // one cancel per deadline
            boost::system::error_code ignored;
            d->socket_->cancel(ignored);
        }
    }

    boost::asio::steady_timer timer_;
    Clock::duration tick_;
    std::vector<Deadline*> watched_;
};

}  // namespace leadd::http
