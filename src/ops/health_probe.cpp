#include "leadd/ops/health_probe.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace leadd::ops {

namespace {

using Clock = std::chrono::steady_clock;

struct FdCloser {
    int fd;
    ~FdCloser() {
        if (fd >= 0) ::close(fd);
    }
};

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left)) == 1;
}

}  // namespace

ProbeResult probe_health(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    const std::string target = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(target.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
        return {false, "cannot resolve " + target + ": " + ::gai_strerror(rc)};
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);

    FdCloser sock{::socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (sock.fd < 0) return {false, std::string("socket: ") + std::strerror(errno)};
    if (::connect(sock.fd, found->ai_addr, found->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) return {false, std::string("connect: ") + std::strerror(errno)};
        if (!wait_for(sock.fd, POLLOUT, deadline)) return {false, "connect: timed out"};
        int error = 0;
        socklen_t len = sizeof error;
        ::getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) return {false, std::string("connect: ") + std::strerror(error)};
    }
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: " + target + "\r\nConnection: close\r\n\r\n";
    for (std::size_t sent = 0; sent < request.size();) {
        if (!wait_for(sock.fd, POLLOUT, deadline)) return {false, "send: timed out"};
        const auto n = ::send(sock.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) return {false, std::string("send: ") + std::strerror(errno)};
        if (n > 0) sent += static_cast<std::size_t>(n);
    }
    // The status line is all that matters: "HTTP/1.1 200 OK\r\n".
    std::string head;
    while (head.find("\r\n") == std::string::npos && head.size() < 256) {
        if (!wait_for(sock.fd, POLLIN, deadline)) return {false, "no answer within the timeout"};
        char buf[256];
        const auto n = ::recv(sock.fd, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0 && errno != EAGAIN) return {false, std::string("recv: ") + std::strerror(errno)};
        if (n > 0) head.append(buf, static_cast<std::size_t>(n));
    }
    const std::string status_line = head.substr(0, head.find("\r\n"));
    const bool healthy = status_line.rfind("HTTP/1.1 200", 0) == 0 || status_line.rfind("HTTP/1.0 200", 0) == 0;
    return {healthy, status_line.empty() ? "connection closed without an answer" : status_line.substr(9)};
}

}  // namespace leadd::ops
