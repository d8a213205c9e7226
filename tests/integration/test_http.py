"""The HTTP layer of leadd, mostly over raw sockets: keep-alive, pipelining, HTTP/1.0, body and
header limits, malformed input, timeouts against slow clients, odd targets, request ids and
graceful shutdown.

Run: cd tests/integration && LEADD_BIN=/path/to/leadd python3 -m unittest -v test_http
"""

import json
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import http.client

from harness import Response, Server, ServerTest

SANITIZER_REPORT = re.compile(
    r"ThreadSanitizer|AddressSanitizer|LeakSanitizer|"
    r"\.(?:c|cc|cpp|cxx|h|hpp|ipp):\d+:\d+: runtime error:")

MISSING_LEAD = "lead_0000000000000000"


# --------------------------------------------------------------------------- raw HTTP helpers

def build_request(method, target, headers=(), body=None, version="HTTP/1.1", host=True):
    """Bytes of one request. `headers` is a dict or a list of (name, value); Host and
    Content-Length are added unless given (or unless `host` is False)."""
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    names = {k.lower() for k, _ in hs}
    if host and "host" not in names:
        hs.insert(0, ("Host", "127.0.0.1"))
    if isinstance(body, str):
        body = body.encode()
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hs.append(("Content-Length", str(len(body))))
    out = [f"{method} {target} {version}".encode("latin-1")]
    for k, v in hs:
        out.append(k.encode("latin-1") + b": " + (v if isinstance(v, bytes) else v.encode("latin-1")))
    return b"\r\n".join(out) + b"\r\n\r\n" + (body or b"")


class ConnectionClosedMidResponse(AssertionError):
    pass


class RawClient:
    """One TCP connection; parses responses from the byte stream (Content-Length or chunked)."""

    def __init__(self, port, timeout=10.0, receive_buffer=None):
        if receive_buffer is None:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        else:  # set before connecting, so the window the server sees stays that small
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self.sock.settimeout(timeout)
            self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        """Sends everything it can; returns False if the peer already closed/reset."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline):
        """Reads more bytes into buf. False on EOF/reset; TimeoutError past the deadline."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data before the deadline")
        self.sock.settimeout(remaining)
        try:
            b = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data before the deadline") from None
        except ConnectionResetError:
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def _need(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ConnectionClosedMidResponse(f"closed mid-body: {self.buf[:200]!r}")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            if not self._fill(deadline):
                raise ConnectionClosedMidResponse(f"closed mid-chunk: {self.buf[:200]!r}")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_response(self, timeout=10.0):
        """The next response, or None if the connection closed before any byte of it.
        Raises TimeoutError if nothing complete arrives in `timeout` seconds (a hang)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                if not self.buf:
                    return None
                raise ConnectionClosedMidResponse(f"closed mid-headers: {self.buf[:300]!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        assert parts[0].startswith(b"HTTP/1."), f"not an HTTP response: {head[:300]!r}"
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            for _ in range(1_000_000):
                size = int(self._line(deadline).split(b";")[0], 16)
                if size == 0:
                    while self._line(deadline):  # trailers up to the empty line
                        pass
                    break
                body += self._need(size, deadline)
                self._need(2, deadline)
        elif "content-length" in headers:
            body = self._need(int(headers["content-length"]), deadline)
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:  # delimited by close
            for _ in range(1_000_000):
                if not self._fill(deadline):
                    break
            body, self.buf = self.buf, b""
        r = Response(status, headers, body)
        r.version = parts[0].decode()
        return r

    def wait_closed(self, timeout):
        """Seconds until the server closed the connection (EOF or reset), or None if it is
        still open after `timeout`. Bytes that arrive meanwhile are kept in buf."""
        start = time.monotonic()
        deadline = start + timeout
        try:
            for _ in range(1_000_000):
                if not self._fill(deadline):
                    return time.monotonic() - start
        except TimeoutError:
            return None
        return None

    def is_open(self):
        """True if the server has not closed the connection (non-blocking check)."""
        if self.eof:
            return False
        self.sock.setblocking(False)
        try:
            b = self.sock.recv(65536)
        except BlockingIOError:
            return True
        except ConnectionResetError:
            self.eof = True
            return False
        finally:
            self.sock.setblocking(True)
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True


def lead_body(email, name="Raw Client", **extra):
    d = {"name": name, "email": email}
    d.update(extra)
    return json.dumps(d).encode()


def unique_email(tag="raw"):
    return f"{tag}.{time.time_ns()}.{random.randrange(10**6)}@example.com"


# One page of the list of a workspace holding BIG_PAGE_LEADS leads of ~60 KB each: ~6 MB, more
# than a socket takes at once (the kernel's send buffer grows to 4 MB at most), so the server
# writes part of it at once and the rest as the client reads.
BIG_PAGE_LEADS = 100
BIG_PAGE_BLOB = 60_000


def big_page_workspace(server, name):
    """A new workspace with BIG_PAGE_LEADS big leads; returns (api key, list target, ids)."""
    _, key = server.new_workspace(name)
    ids = set()
    for i in range(BIG_PAGE_LEADS):
        r = server.create_lead(key, metadata={"blob": chr(ord("a") + i % 26) * BIG_PAGE_BLOB, "i": i})
        assert r.status == 201, r
        ids.add(r.json()["data"]["id"])
    return key, f"/api/v1/leads?limit={BIG_PAGE_LEADS}", ids


# --------------------------------------------------------------------------- shared checks

class HttpChecks:
    """Mixed into ServerTest subclasses."""

    def api_headers(self, key, extra=()):
        h = [("Authorization", f"Bearer {key}"), ("Content-Type", "application/json")]
        h.extend(extra)
        return h

    def assertEnvelopeError(self, r, statuses, codes=None, msg=None):
        ctx = f"{msg or ''} -> {r!r}"
        self.assertIn(r.status, statuses, ctx)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), ctx)
        body = r.json()
        self.assertIs(body.get("success"), False, ctx)
        self.assertIsInstance(body.get("code"), str, ctx)
        self.assertTrue(body["code"], ctx)
        if codes is not None:
            self.assertIn(body["code"], codes, ctx)
        self.assertIsInstance(body.get("error"), str, ctx)
        self.assertTrue(body["error"], ctx)
        self.assertIn("requestId", body, ctx)
        return body

    def assertHealthy(self, msg=""):
        self.assertIsNone(self.server.proc.poll(), f"leadd exited ({msg})")
        r = self.server.request("GET", "/healthz", auth=None)
        self.assertEqual(r.status, 200, f"{msg}: {r!r}")
        self.assertEqual(r.json(), {"status": "ok"}, msg)

    def list_total(self, key):
        r = self.server.request("GET", "/api/v1/leads?limit=1", auth=key)
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]["pagination"]["total"]

    def get_lead(self, key, lead_id):
        r = self.server.request("GET", f"/api/v1/leads/{lead_id}", auth=key)
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]

    def assertNoSanitizerReport(self):
        self.server.log.flush()
        with open(self.server.log_path, errors="replace") as f:
            log = f.read()
        m = SANITIZER_REPORT.search(log)
        self.assertIsNone(m, "sanitizer report in the server log:\n"
                          + (log[max(0, m.start() - 200):m.start() + 3000] if m else ""))


# =========================================================================== default flags

class HttpBasicsTest(ServerTest, HttpChecks):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ws, cls.key = cls.server.new_workspace("http-basics")

    def test_healthz_and_readyz(self):
        r = self.server.request("GET", "/healthz", auth=None)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"status": "ok"})
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        r = self.server.request("GET", "/readyz", auth=None)
        self.assertEqual(r.status, 200, r)
        # an API key is not required but does not hurt
        r = self.server.request("GET", "/healthz", auth=self.key)
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))

    def test_keep_alive_several_requests_on_one_connection(self):
        email = unique_email("ka")
        with RawClient(self.server.port) as c:
            c.send(build_request("GET", "/healthz"))
            r = c.read_response()
            self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))

            c.send(build_request("POST", "/api/v1/leads", self.api_headers(self.key),
                                 lead_body(email)))
            r = c.read_response()
            self.assertEqual(r.status, 201, r)
            lead_id = r.json()["data"]["id"]
            self.assertEqual(r.headers.get("location"), f"/api/v1/leads/{lead_id}")

            c.send(build_request("GET", f"/api/v1/leads/{lead_id}", self.api_headers(self.key)))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["data"]["email"], email)

            c.send(build_request("PUT", f"/api/v1/leads/{lead_id}", self.api_headers(self.key),
                                 json.dumps({"status": "contacted"})))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["data"]["status"], "contacted")

            c.send(build_request("GET", f"/api/v1/leads?search={email}", self.api_headers(self.key)))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["data"]["pagination"]["total"], 1)

            c.send(build_request("DELETE", f"/api/v1/leads/{lead_id}", self.api_headers(self.key)))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)

            c.send(build_request("GET", "/readyz"))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            self.assertNotEqual(r.headers.get("connection", "").lower(), "close", r.headers)
            self.assertTrue(c.is_open(), "server closed a keep-alive connection")

    def test_pipelined_requests_answered_in_order(self):
        existing = self.server.create_lead(self.key)
        self.assertEqual(existing.status, 201, existing)
        existing_id = existing.json()["data"]["id"]
        email = unique_email("pipe")
        reqs = [
            build_request("GET", "/healthz", [("X-Request-Id", "pipe-1")]),
            build_request("POST", "/api/v1/leads",
                          self.api_headers(self.key, [("X-Request-Id", "pipe-2")]),
                          lead_body(email, name="Piped")),
            build_request("GET", f"/api/v1/leads?search={email}",
                          self.api_headers(self.key, [("X-Request-Id", "pipe-3")])),
            build_request("GET", f"/api/v1/leads/{existing_id}",
                          self.api_headers(self.key, [("X-Request-Id", "pipe-4")])),
            build_request("GET", "/readyz", [("X-Request-Id", "pipe-5")]),
            build_request("GET", f"/api/v1/leads/{MISSING_LEAD}",
                          self.api_headers(self.key, [("X-Request-Id", "pipe-6")])),
        ]
        with RawClient(self.server.port) as c:
            c.send(b"".join(reqs))
            rs = [c.read_response() for _ in reqs]
        self.assertNotIn(None, rs, "connection closed before all pipelined responses")
        self.assertEqual([r.headers.get("x-request-id") for r in rs],
                         [f"pipe-{i}" for i in range(1, 7)], "responses out of order")
        self.assertEqual([r.status for r in rs], [200, 201, 200, 200, 200, 404], rs)
        self.assertEqual(rs[0].json(), {"status": "ok"})
        created = rs[1].json()["data"]
        self.assertEqual(created["email"], email)
        listed = rs[2].json()["data"]
        self.assertEqual(listed["pagination"]["total"], 1, "the piped create was not applied "
                         "before the piped list that follows it")
        self.assertEqual(listed["leads"][0]["id"], created["id"])
        self.assertEqual(rs[3].json()["data"]["id"], existing_id)
        self.assertEqual(rs[5].json()["code"], "LEAD_NOT_FOUND")

    def test_many_pipelined_requests_in_one_write(self):
        n = 60
        data = b"".join(build_request("GET", "/healthz", [("X-Request-Id", f"many-{i}")])
                        for i in range(n))
        with RawClient(self.server.port) as c:
            c.send(data)
            ids = []
            for _ in range(n):
                r = c.read_response()
                self.assertIsNotNone(r, f"closed after {len(ids)} of {n} responses")
                self.assertEqual(r.status, 200, r)
                ids.append(r.headers.get("x-request-id"))
        self.assertEqual(ids, [f"many-{i}" for i in range(n)])

    def test_answer_larger_than_the_socket_takes_reaches_a_slow_reader_whole(self):
        key, target, ids = big_page_workspace(self.server, "big-answer")
        with RawClient(self.server.port, receive_buffer=16384) as c:
            c.send(build_request("GET", target, self.api_headers(key)))
            time.sleep(0.3)  # not reading: the server's socket fills up and its write waits
            chunks = 0
            deadline = time.monotonic() + 20
            while b"\r\n\r\n" not in c.buf or len(c.buf) < BIG_PAGE_LEADS * BIG_PAGE_BLOB:
                self.assertTrue(c._fill(deadline), f"closed after {len(c.buf)} bytes")
                chunks += 1
                if chunks % 8 == 0:
                    time.sleep(0.002)  # a slow reader
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            items = r.json()["data"]["leads"]
            self.assertEqual({lead["id"] for lead in items}, ids)
            for lead in items:
                self.assertEqual(lead["metadata"]["blob"], chr(ord("a") + lead["metadata"]["i"] % 26) * BIG_PAGE_BLOB)
            # The connection goes on once the rest is written.
            c.send(build_request("GET", "/healthz"))
            self.assertEqual(c.read_response().status, 200)

    def test_request_split_into_tiny_segments(self):
        email = unique_email("split")
        data = build_request("POST", "/api/v1/leads", self.api_headers(self.key),
                             lead_body(email, name="Split Request"))
        with RawClient(self.server.port) as c:
            for i in range(0, len(data), 7):
                self.assertTrue(c.send(data[i:i + 7]), "server closed mid-request")
                time.sleep(0.002)
            r = c.read_response()
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"]["email"], email)

    def test_http10_without_keep_alive_closes(self):
        with RawClient(self.server.port) as c:
            c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertIsNotNone(r, "no response to an HTTP/1.0 request")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json(), {"status": "ok"})
            self.assertIsNotNone(c.wait_closed(5), "HTTP/1.0 connection left open")

    def test_connection_close_header_closes(self):
        with RawClient(self.server.port) as c:
            c.send(build_request("GET", "/healthz", [("Connection", "close")]))
            r = c.read_response()
            self.assertIsNotNone(r)
            self.assertEqual(r.status, 200, r)
            self.assertIsNotNone(c.wait_closed(5), "'Connection: close' connection left open")

    MALFORMED = [
        ("garbage line", b"GARBAGE\r\n\r\n", (400,)),
        ("binary noise", bytes([0]) + random.Random(7).randbytes(4095) + b"\r\n\r\n", (400,)),
        ("tls client hello", bytes.fromhex("16030100a5010000a10303") + bytes(160), (400,)),
        ("method only", b"GET\r\n\r\n", (400,)),
        ("no version", b"GET /healthz\r\n\r\n", (400,)),
        ("bad version", b"GET /healthz HTTX/1.1\r\nHost: x\r\n\r\n", (400,)),
        ("NUL in method", b"G\x00T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
        ("space in header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", (400,)),
        ("empty header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n", (400,)),
        ("non-numeric content-length",
         b"POST /api/v1/leads HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", (400,)),
        ("conflicting content-lengths",
         b"POST /api/v1/leads HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
         b"Content-Length: 6\r\n\r\nhello!", (400,)),
        ("content-length overflow",
         b"POST /api/v1/leads HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
         (400, 413)),
    ]

    def test_malformed_requests_rejected_without_hang(self):
        for name, data, statuses in self.MALFORMED:
            with self.subTest(name):
                with RawClient(self.server.port) as c:
                    c.send(data)
                    try:
                        r = c.read_response(timeout=5)
                    except TimeoutError:
                        self.fail(f"{name}: no response and no close within 5 s (hang)")
                    if r is not None:
                        codes = ("PAYLOAD_TOO_LARGE",) if r.status == 413 else ("BAD_REQUEST",)
                        self.assertEnvelopeError(r, statuses, codes, name)
                    self.assertIsNotNone(c.wait_closed(5),
                                         f"{name}: connection left open after {r!r}")
                self.assertHealthy(name)

    def test_bad_chunked_body_rejected(self):
        data = build_request("POST", "/api/v1/leads",
                             self.api_headers(self.key, [("Transfer-Encoding", "chunked")])) \
            + b"ZZZ\r\nhello\r\n0\r\n\r\n"
        before = self.list_total(self.key)
        with RawClient(self.server.port) as c:
            c.send(data)
            try:
                r = c.read_response(timeout=5)
            except TimeoutError:
                self.fail("bad chunk size: hang")
            if r is not None:
                self.assertEnvelopeError(r, (400,), None, "bad chunk size")
            self.assertIsNotNone(c.wait_closed(5), "connection left open after a bad chunk")
        self.assertHealthy()
        self.assertEqual(self.list_total(self.key), before)

    def _header_flood(self, data, what):
        with RawClient(self.server.port) as c:
            c.send(data)  # may fail half-way: the server is allowed to close early
            try:
                r = c.read_response(timeout=5)
            except TimeoutError:
                self.fail(f"{what}: no response and no close within 5 s")
            except ConnectionClosedMidResponse:
                r = None  # reset while reading: closed connection is acceptable
            if r is not None:
                self.assertEnvelopeError(r, (431, 400), None, what)
                self.assertIsNotNone(c.wait_closed(5), f"{what}: left open after {r!r}")
        self.assertHealthy(what)

    def test_header_flood_single_100k_header(self):
        self._header_flood(build_request("GET", "/healthz", [("X-Big", "a" * 100_000)]),
                           "one 100 KB header")

    def test_header_flood_10000_small_headers(self):
        self._header_flood(build_request("GET", "/healthz",
                                         [(f"X-H{i}", "v") for i in range(10_000)]),
                           "10 000 headers")

    def test_header_section_under_16k_accepted(self):
        # "a header section over 16 KiB -> 431": below that, requests are served normally
        r = self.server.request("GET", "/healthz", auth=None, headers={"Cookie": "c" * 8200})
        self.assertEqual(r.status, 200, f"an 8 KB header was refused: {r!r}")
        many = {f"X-Pad-{i}": "p" * 100 for i in range(110)}  # ~12.5 KB
        r = self.server.request("GET", "/healthz", auth=None, headers=many)
        self.assertEqual(r.status, 200, f"a 12.5 KB header section was refused: {r!r}")

    ODD_TARGETS = [
        # (target, allowed statuses, expected details.field or None)
        ("/api/v1/leads/../leads", (400, 404), None),
        ("/api/v1/leads/%2e%2e/leads", (400, 404), None),
        ("//", (400, 404), None),
        ("/api/v1//leads", (400, 404), None),
        ("/%", (400, 404), None),
        ("/healthz%00", (400, 404), None),
        ("/api/v1/leads/%00", (400, 404), None),
        ("/api/v1/leads/lead_1234567890abcdef%00", (400, 404), None),
        ("/api/v1/leads/" + "a" * 8192, (400, 404), None),
        ("/api/v1/leads?page=%zz", (400,), None),
        ("/api/v1/leads?limit=1e3", (400,), "limit"),
        ("/api/v1/leads?page=-1", (400,), "page"),
        ("/api/v1/leads?page=0", (400,), "page"),
        ("/api/v1/leads?page=1.5", (400,), "page"),
        ("/api/v1/leads?page=99999999999999999999", (400,), "page"),
        ("/api/v1/leads?limit=0", (400,), "limit"),
        ("/api/v1/leads?limit=101", (400,), "limit"),
        ("/api/v1/leads?limit=10abc", (400,), "limit"),
        ("/api/v1/leads?limit=%00", (400,), "limit"),
        ("/api/v1/leads?status=bogus", (400,), "status"),
    ]

    def test_odd_paths_and_query_strings(self):
        for target, statuses, field in self.ODD_TARGETS:
            with self.subTest(target[:80]):
                r = self.server.request("GET", target, auth=self.key)
                body = self.assertEnvelopeError(r, statuses, None, target[:80])
                if field is not None:
                    self.assertEqual(body["code"], "VALIDATION_ERROR", body)
                    self.assertEqual(body.get("details", {}).get("field"), field, body)
                self.assertHealthy(target[:80])

    INVALID_UTF8 = [
        ("lone 0xff", b"\xff\xfe"),
        ("overlong slash", b"\xc0\xaf"),
        ("utf-16 surrogate", b"\xed\xa0\x80"),
        ("truncated sequence", b"ab\xe2\x82"),
        ("continuation byte alone", b"\x80"),
    ]

    def test_invalid_utf8_in_json_string(self):
        ws, key = self.server.new_workspace("utf8")
        lead = self.server.create_lead(key, metadata={"k": "v"}).json()["data"]
        for name, bad in self.INVALID_UTF8:
            with self.subTest(name):
                body = b'{"name": "N' + bad + b'", "email": "' + unique_email("u8").encode() + b'"}'
                r = self.server.request("POST", "/api/v1/leads", auth=key, raw_body=body,
                                        headers={"Content-Type": "application/json"})
                self.assertEnvelopeError(r, (400,), ("INVALID_JSON",), f"POST {name}")
                body = b'{"metadata": {"note": "x' + bad + b'"}}'
                r = self.server.request("PUT", f"/api/v1/leads/{lead['id']}", auth=key,
                                        raw_body=body,
                                        headers={"Content-Type": "application/json"})
                self.assertEnvelopeError(r, (400,), ("INVALID_JSON",), f"PUT {name}")
        self.assertEqual(self.list_total(key), 1, "a lead was created from invalid UTF-8")
        self.assertEqual(self.get_lead(key, lead["id"]), lead, "invalid UTF-8 PUT changed the lead")
        self.assertHealthy()

    def test_deeply_nested_body(self):
        ws, key = self.server.new_workspace("nested")
        bodies = [
            ("100000 open brackets", b"[" * 100_000, ("INVALID_JSON",)),
            ("100000 open objects", b'{"a":' * 100_000, ("INVALID_JSON",)),
            ("closed 50000-deep array", b"[" * 50_000 + b"]" * 50_000, ("INVALID_JSON",)),
            ("100000-deep metadata",
             b'{"name":"Deep","email":"deep@example.com","metadata":'
             + b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"}",
             ("INVALID_JSON", "VALIDATION_ERROR")),
        ]
        for name, body, codes in bodies:
            with self.subTest(name):
                r = self.server.request("POST", "/api/v1/leads", auth=key, raw_body=body,
                                        headers={"Content-Type": "application/json"})
                self.assertEnvelopeError(r, (400,), codes, name)
                self.assertHealthy(name)
        self.assertEqual(self.list_total(key), 0)

    def test_request_id_echoed(self):
        rid = "it-req-0123456789"
        r = self.server.request("GET", "/healthz", auth=None, headers={"X-Request-Id": rid})
        self.assertEqual(r.headers.get("x-request-id"), rid, r.headers)
        r = self.server.request("GET", "/api/v1/leads", auth=self.key, headers={"X-Request-Id": rid})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-request-id"), rid, r.headers)
        r = self.server.request("GET", f"/api/v1/leads/{MISSING_LEAD}", auth=self.key,
                                headers={"X-Request-Id": rid})
        body = self.assertEnvelopeError(r, (404,), ("LEAD_NOT_FOUND",))
        self.assertEqual(r.headers.get("x-request-id"), rid, r.headers)
        self.assertEqual(body["requestId"], rid)
        r = self.server.request("GET", "/api/v1/leads", auth=None, headers={"X-Request-Id": rid})
        body = self.assertEnvelopeError(r, (401,), ("MISSING_AUTH_HEADER",))
        self.assertEqual((r.headers.get("x-request-id"), body["requestId"]), (rid, rid))

    def test_request_id_generated_when_absent(self):
        calls = [
            ("GET", "/healthz", None, None),
            ("GET", "/readyz", None, None),
            ("GET", "/api/v1/leads", self.key, 200),
            ("GET", f"/api/v1/leads/{MISSING_LEAD}", self.key, 404),
            ("GET", "/api/v1/leads", None, 401),
            ("GET", "/no/such/route", self.key, 404),
            ("DELETE", "/api/v1/leads", self.key, 405),
            ("GET", "/api/v1/leads?limit=0", self.key, 400),
        ]
        seen = []
        for method, path, key, status in calls:
            with self.subTest(f"{method} {path}"):
                r = self.server.request(method, path, auth=key)
                if status is not None:
                    self.assertEqual(r.status, status, r)
                rid = r.headers.get("x-request-id")
                self.assertTrue(rid, f"no X-Request-Id on {method} {path}: {r.headers}")
                if r.status >= 400:
                    self.assertEqual(r.json().get("requestId"), rid, r)
                seen.append(rid)
        self.assertEqual(len(set(seen)), len(seen), f"generated request ids repeat: {seen}")

    def test_zz_server_survived_and_no_sanitizer_report(self):
        self.assertHealthy("after all HTTP tests")
        self.assertNoSanitizerReport()


# =========================================================================== --max-body-bytes

class BodyLimitTest(ServerTest, HttpChecks):
    server_args = ("--max-body-bytes", "1024")
    LIMIT = 1024

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ws, cls.key = cls.server.new_workspace("body-limit")

    def sized_body(self, size):
        """A valid create body of exactly `size` bytes."""
        email = unique_email("lim")
        base = json.dumps({"name": "Big Body", "email": email, "metadata": {"pad": ""}}).encode()
        pad = size - len(base)
        self.assertGreaterEqual(pad, 0)
        body = json.dumps({"name": "Big Body", "email": email,
                           "metadata": {"pad": "x" * pad}}).encode()
        self.assertEqual(len(body), size)
        return body

    def post_raw(self, data, timeout=5):
        with RawClient(self.server.port) as c:
            c.send(data)
            try:
                return c.read_response(timeout=timeout)
            except TimeoutError:
                self.fail(f"no response within {timeout} s")

    def test_body_exactly_at_limit_accepted(self):
        r = self.server.request("POST", "/api/v1/leads", auth=self.key,
                                raw_body=self.sized_body(self.LIMIT),
                                headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 201, f"a body of exactly --max-body-bytes was refused: {r!r}")

    def test_content_length_over_limit_is_413(self):
        before = self.list_total(self.key)
        for size in (self.LIMIT + 1, 5000, 200_000):
            with self.subTest(size=size):
                r = self.post_raw(build_request("POST", "/api/v1/leads", self.api_headers(self.key),
                                                self.sized_body(size)))
                self.assertIsNotNone(r, f"closed without a 413 for a {size}-byte body")
                self.assertEnvelopeError(r, (413,), ("PAYLOAD_TOO_LARGE",), f"{size} bytes")
                self.assertHealthy()
        self.assertEqual(self.list_total(self.key), before, "an oversized body created a lead")

    def test_put_over_limit_is_413_and_changes_nothing(self):
        lead = self.server.create_lead(self.key).json()["data"]
        body = json.dumps({"metadata": {"pad": "y" * 2000}}).encode()
        r = self.post_raw(build_request("PUT", f"/api/v1/leads/{lead['id']}",
                                        self.api_headers(self.key), body))
        self.assertIsNotNone(r)
        self.assertEnvelopeError(r, (413,), ("PAYLOAD_TOO_LARGE",))
        self.assertEqual(self.get_lead(self.key, lead["id"]), lead)

    def test_huge_declared_length_rejected_without_reading_it(self):
        # 10 GB announced, 10 bytes sent: the answer must come from the header alone
        data = build_request("POST", "/api/v1/leads",
                             self.api_headers(self.key, [("Content-Length", "10000000000")])) \
            + b'{"name": "'
        t0 = time.monotonic()
        r = self.post_raw(data, timeout=5)
        self.assertIsNotNone(r, "closed without a 413")
        self.assertEnvelopeError(r, (413,), ("PAYLOAD_TOO_LARGE",))
        self.assertLess(time.monotonic() - t0, 5)

    @staticmethod
    def chunked(body, size=300):
        out = b""
        for i in range(0, len(body), size):
            part = body[i:i + size]
            out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
        return out + b"0\r\n\r\n"

    def test_chunked_body_over_limit_is_413(self):
        small = self.sized_body(400)
        r = self.post_raw(build_request(
            "POST", "/api/v1/leads",
            self.api_headers(self.key, [("Transfer-Encoding", "chunked")])) + self.chunked(small))
        if r is None or r.status != 201:
            self.skipTest(f"server does not read chunked request bodies (answered {r!r})")
        before = self.list_total(self.key)
        for size in (self.LIMIT + 1, 3000):
            with self.subTest(size=size):
                r = self.post_raw(build_request(
                    "POST", "/api/v1/leads",
                    self.api_headers(self.key, [("Transfer-Encoding", "chunked")]))
                    + self.chunked(self.sized_body(size)))
                self.assertIsNotNone(r, "closed without a 413")
                self.assertEnvelopeError(r, (413,), ("PAYLOAD_TOO_LARGE",), f"chunked {size}")
        self.assertEqual(self.list_total(self.key), before, "an oversized chunked body created a lead")
        self.assertHealthy()


# =========================================================================== timeouts

class TimeoutTest(ServerTest, HttpChecks):
    server_args = ("--header-timeout-ms", "500", "--read-timeout-ms", "500",
                   "--idle-timeout-ms", "1000")
    CUT_WITHIN = 4.0  # seconds; the timeouts are 0.5 s / 1 s

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ws, cls.key = cls.server.new_workspace("timeouts")

    def assertCutOff(self, c, what, at_least=0.0):
        t = c.wait_closed(self.CUT_WITHIN)
        self.assertIsNotNone(t, f"{what}: still open after {self.CUT_WITHIN} s")
        self.assertGreaterEqual(t, at_least, f"{what}: closed after {t:.3f} s, before its timeout")
        if c.buf:  # a 408 (or similar) before closing is fine; anything else is not
            self.assertRegex(c.buf[:12], rb"^HTTP/1\.[01] 4\d\d", c.buf[:300])
        return t

    def half_headers(self):
        return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n"

    def half_body(self):
        return build_request("POST", "/api/v1/leads",
                             self.api_headers(self.key, [("Content-Length", "100")])) \
            + b'{"name": "'

    def test_incomplete_headers_cut_off(self):
        with RawClient(self.server.port) as c:
            c.send(self.half_headers())
            self.assertCutOff(c, "headers without the final CRLF", at_least=0.25)
        self.assertHealthy()

    def test_incomplete_body_cut_off_and_nothing_created(self):
        before = self.list_total(self.key)
        with RawClient(self.server.port) as c:
            c.send(self.half_body())
            self.assertCutOff(c, "Content-Length 100 with 10 bytes sent", at_least=0.25)
        self.assertEqual(self.list_total(self.key), before)
        self.assertHealthy()

    def test_silent_connection_cut_off(self):
        with RawClient(self.server.port) as c:
            self.assertCutOff(c, "connection that never sends a byte")

    def test_other_clients_served_while_slow_clients_hang(self):
        slow = []
        try:
            for i in range(8):  # more slow clients than the server has threads
                c = RawClient(self.server.port)
                slow.append(c)
                c.send(self.half_headers() if i % 2 == 0 else self.half_body())
            t0 = time.monotonic()
            r = self.server.request("GET", "/healthz", auth=None)
            r2 = self.server.request("GET", "/api/v1/leads", auth=self.key)
            elapsed = time.monotonic() - t0
            self.assertEqual((r.status, r2.status), (200, 200))
            still_open = [c.is_open() for c in slow]
            self.assertLess(elapsed, 0.45, f"normal clients waited {elapsed:.3f} s behind slow ones")
            self.assertTrue(any(still_open), "the slow clients were already cut off: the test "
                            "could not observe service while they hang")
            for i, c in enumerate(slow):
                self.assertCutOff(c, f"slow client {i}")
        finally:
            for c in slow:
                c.close()
        self.assertHealthy()

    def _trickle(self, first, byte, what):
        with RawClient(self.server.port) as c:
            self.assertTrue(c.send(first))
            t0 = time.monotonic()
            closed_at = None
            for _ in range(int(self.CUT_WITHIN / 0.1)):  # one byte every 100 ms
                time.sleep(0.1)
                if not c.is_open() or not c.send(byte):
                    closed_at = time.monotonic() - t0
                    break
            self.assertIsNotNone(closed_at, f"{what}: a client trickling one byte every 100 ms "
                                 f"was not cut off within {self.CUT_WITHIN} s")

    def test_trickled_headers_cut_off_at_header_deadline(self):
        self._trickle(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: ", b"a",
                      "trickled header")
        self.assertHealthy()

    def test_trickled_body_cut_off_at_read_deadline(self):
        before = self.list_total(self.key)
        first = build_request("POST", "/api/v1/leads",
                              self.api_headers(self.key, [("Content-Length", "5000")])) \
            + b'{"name": "'
        self._trickle(first, b"a", "trickled body")
        self.assertEqual(self.list_total(self.key), before)
        self.assertHealthy()

    def test_idle_keep_alive_connection_closed(self):
        with RawClient(self.server.port) as c:
            c.send(build_request("GET", "/healthz"))
            r = c.read_response()
            self.assertEqual(r.status, 200, r)
            # idle timeout 1 s: not closed much earlier, closed within a few seconds
            self.assertCutOff(c, "idle keep-alive connection", at_least=0.6)

    def test_active_keep_alive_connection_outlives_idle_timeout(self):
        with RawClient(self.server.port) as c:
            t0 = time.monotonic()
            for i in range(7):  # 7 requests, 0.3 s apart: 1.8 s > the 1 s idle timeout
                self.assertTrue(c.send(build_request("GET", "/healthz")), f"request {i}")
                r = c.read_response()
                self.assertIsNotNone(r, f"connection closed before request {i} "
                                     f"({time.monotonic() - t0:.2f} s) though never idle 1 s")
                self.assertEqual(r.status, 200, r)
                time.sleep(0.3)

    def test_zz_server_survived_and_no_sanitizer_report(self):
        self.assertHealthy()
        self.assertNoSanitizerReport()


class WriteTimeoutTest(ServerTest, HttpChecks):
    """The write deadline alone: header and idle timeouts are long, so a connection cut within a
    few seconds was cut by the timeout of the write the socket did not take at once."""
    server_args = ("--header-timeout-ms", "20000", "--read-timeout-ms", "500",
                   "--idle-timeout-ms", "20000")

    def test_client_not_reading_a_large_answer_cut_off_at_write_deadline(self):
        key, target, _ = big_page_workspace(self.server, "unread-answer")
        with RawClient(self.server.port, receive_buffer=16384) as c:
            c.send(build_request("GET", target, self.api_headers(key)))
            t0 = time.monotonic()
            r = self.server.request("GET", "/healthz", auth=None)
            self.assertEqual(r.status, 200, "another client waited behind the unread answer")
            time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))  # the write timeout is 0.5 s
            # Cut off: what the kernel had buffered arrives, then the end, short of the body.
            # Still open now (no deadline on the write), reading would let the whole page through;
            # never written (no write of the rest), the read would time out.
            with self.assertRaises(ConnectionClosedMidResponse):
                c.read_response(timeout=10)
        self.assertHealthy()

    def test_zz_server_survived_and_no_sanitizer_report(self):
        self.assertHealthy("after the write timeout test")
        self.assertNoSanitizerReport()


# =========================================================================== shutdown

class ShutdownTest(unittest.TestCase):
    """Each test starts its own server, since it stops it."""
    EXIT_WITHIN = 8.0  # "a few seconds"
    OBSERVE = 20.0     # how long a test waits to learn the real exit time when it is late

    def setUp(self):
        self.server = Server()
        self.addCleanup(self.server.close)
        _, self.key = self.server.new_workspace("shutdown")

    def wait_exit(self, t0, limit):
        """Seconds from t0 until the process exited, or None if it still runs at t0 + limit."""
        deadline = t0 + limit
        while time.monotonic() < deadline:
            if self.server.proc.poll() is not None:
                return time.monotonic() - t0
            time.sleep(0.02)
        return None

    def assertExitedInTime(self, t0, what):
        took = self.wait_exit(t0, self.OBSERVE)
        self.assertIsNotNone(took, f"leadd still running {self.OBSERVE} s after {what}")
        self.assertLessEqual(took, self.EXIT_WITHIN,
                             f"leadd took {took:.1f} s to exit after {what}")
        self.assertEqual(self.server.proc.returncode, 0, f"exit code after {what}")

    def wait_refusing(self, limit=3.0):
        """Seconds until a new connection is refused, or None."""
        t0 = time.monotonic()
        for _ in range(int(limit / 0.02)):
            try:
                socket.create_connection(("127.0.0.1", self.server.port), timeout=1).close()
            except OSError:
                return time.monotonic() - t0
            time.sleep(0.02)
        return None

    def assertLogClean(self):
        self.server.log.flush()
        with open(self.server.log_path, errors="replace") as f:
            log = f.read()
        m = SANITIZER_REPORT.search(log)
        self.assertIsNone(m, log[max(0, m.start() - 200):m.start() + 3000] if m else "")

    def half_sent_create(self, body):
        c = RawClient(self.server.port)
        self.addCleanup(c.close)
        c.send(build_request("POST", "/api/v1/leads", [
            ("Authorization", f"Bearer {self.key}"), ("Content-Type", "application/json"),
            ("Content-Length", str(len(body)))]) + body[:10])
        time.sleep(0.2)  # let the server read the headers: the request is now in flight
        return c

    def start_busy_client(self):
        """A thread creating leads on fresh connections until stopped or refused."""
        srv, key = self.server, self.key
        stop = threading.Event()
        outcomes = {"ok": 0, "refused": 0, "bad": []}

        def busy():
            for _ in range(20_000):
                if stop.is_set():
                    return
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
                try:
                    conn.request("POST", "/api/v1/leads", body=lead_body(unique_email("busy")),
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"})
                    r = conn.getresponse()
                    body = r.read()
                    if r.status == 201 and json.loads(body)["success"] is True:
                        outcomes["ok"] += 1
                    elif r.status == 503 and json.loads(body)["code"] == "SERVICE_UNAVAILABLE":
                        outcomes["refused"] += 1  # refusing work while draining is fine
                    else:
                        outcomes["bad"].append((r.status, body[:200]))
                except http.client.IncompleteRead as e:
                    outcomes["bad"].append(("truncated response", repr(e)[:200]))
                except (OSError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                    outcomes["refused"] += 1
                    if srv.proc.poll() is not None:
                        return
                    time.sleep(0.01)
                finally:
                    conn.close()

        t = threading.Thread(target=busy, daemon=True)
        t.start()
        deadline = time.monotonic() + 10
        while outcomes["ok"] < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertGreaterEqual(outcomes["ok"], 20, f"the busy client got nowhere: {outcomes}")

        def finish():
            stop.set()
            t.join(10)
            return outcomes
        return finish

    def test_sigterm_finishes_in_flight_request_and_exits_0(self):
        srv = self.server
        body = lead_body(unique_email("inflight"), name="In Flight")
        slow = self.half_sent_create(body)
        idle = RawClient(srv.port)  # an idle keep-alive connection (idle timeout 60 s)
        self.addCleanup(idle.close)
        idle.send(build_request("GET", "/healthz"))
        self.assertEqual(idle.read_response().status, 200)
        finish_busy = self.start_busy_client()

        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        refused_after = self.wait_refusing()
        self.assertIsNotNone(refused_after, "new connections still accepted 3 s after SIGTERM")
        self.assertIsNotNone(idle.wait_closed(3), "idle keep-alive connection not closed on SIGTERM")
        self.assertIsNone(srv.proc.poll(), "leadd exited without finishing the in-flight request")
        # the in-flight request completes and is answered
        self.assertTrue(slow.send(body[10:]), "the in-flight request's connection was cut")
        r = slow.read_response(timeout=5)
        self.assertIsNotNone(r, "the in-flight request got no response")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"]["name"], "In Flight")
        self.assertIsNotNone(slow.wait_closed(5), "connection kept open after shutdown response")
        self.assertExitedInTime(t0, "SIGTERM")
        outcomes = finish_busy()
        self.assertEqual(outcomes["bad"], [], "responses during shutdown were wrong or cut")
        self.assertLogClean()

    def test_sigterm_with_stalled_half_sent_request_exits_0(self):
        # headers and 10 of 100 body bytes, then nothing (the read timeout is 30 s)
        self.half_sent_create(lead_body(unique_email("stalled"), name="Stalled Client"))
        t0 = time.monotonic()
        self.server.proc.send_signal(signal.SIGTERM)
        self.assertIsNotNone(self.wait_refusing(), "new connections still accepted after SIGTERM")
        self.assertExitedInTime(t0, "SIGTERM with a stalled half-sent request")
        self.assertLogClean()

    def test_sigint_exits_0(self):
        finish_busy = self.start_busy_client()
        t0 = time.monotonic()
        self.server.proc.send_signal(signal.SIGINT)
        self.assertExitedInTime(t0, "SIGINT")
        self.assertEqual(finish_busy()["bad"], [], "responses during shutdown were wrong or cut")
        self.assertIsNotNone(self.wait_refusing(), "connections accepted after exit")
        self.assertLogClean()


class ServiceManagerNotification(unittest.TestCase):
    """Type=notify in packaging/leadd.service: leadd tells systemd (over $NOTIFY_SOCKET) that it is
    ready once the log has been replayed, and that it is stopping on SIGTERM."""

    def check(self, bind_address, env_value):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(bind_address)
        listener.settimeout(10)
        server = Server(env={"NOTIFY_SOCKET": env_value})
        try:
            self.assertEqual(listener.recv(256), b"READY=1")
            self.assertEqual(server.request("GET", "/readyz", auth=None).status, 200)
            self.assertEqual(server.stop(), 0)
            self.assertEqual(listener.recv(256), b"STOPPING=1")
        finally:
            server.close()
            listener.close()

    def test_ready_and_stopping_on_a_path_socket(self):
        with tempfile.TemporaryDirectory(prefix="leadd-notify-") as d:
            path = os.path.join(d, "notify")
            self.check(path, path)

    def test_ready_and_stopping_on_an_abstract_socket(self):
        name = f"leadd-notify-{os.getpid()}-{random.randrange(1 << 30)}"
        self.check("\0" + name, "@" + name)


class HealthcheckCommand(unittest.TestCase):
    """`leadd healthcheck` (the container HEALTHCHECK): exit 0 when the server at --listen /
    LEADD_LISTEN answers /healthz with 200, 1 otherwise."""

    def healthcheck(self, args=(), env=None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LEADD_")}
        full_env.update(env or {})
        return subprocess.run([os.environ["LEADD_BIN"], "healthcheck", *args], env=full_env,
                              capture_output=True, text=True, timeout=10)

    def test_healthy_server_by_flag_and_by_environment(self):
        server = Server()
        try:
            by_flag = self.healthcheck(["--listen", f"127.0.0.1:{server.port}"])
            self.assertEqual(by_flag.returncode, 0, by_flag.stderr)
            self.assertIn("200", by_flag.stdout)
            by_env = self.healthcheck(env={"LEADD_LISTEN": f"0.0.0.0:{server.port}"})  # wildcard: loopback
            self.assertEqual(by_env.returncode, 0, by_env.stderr)
        finally:
            server.close()

    def test_nothing_listening_exits_1(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # bound, not listening: connections are refused
            r = self.healthcheck(["--listen", f"127.0.0.1:{port}"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("refused", r.stderr)

    def test_a_silent_listener_times_out_with_1(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)  # accepts in the kernel, never answers
            started = time.time()
            r = self.healthcheck(["--listen", f"127.0.0.1:{s.getsockname()[1]}"])
        self.assertEqual(r.returncode, 1)
        self.assertLess(time.time() - started, 8)


if __name__ == "__main__":
    unittest.main()
