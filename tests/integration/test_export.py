"""GET /api/v1/leads/export against a real server: chunked on the wire, both formats parse back
to exactly the leads the API returns, the list's filters, errors in the JSON envelope, rate-limit
headers, a snapshot that later writes do not change, a stalled reader that blocks nobody else,
and 100 000 leads streamed with bounded server memory (peak RSS before and during is printed)."""

import csv
import io
import json
import os
import socket
import sys
import threading
import time
import unittest

from harness import Server, ServerTest

CSV_COLUMNS = ["id", "name", "email", "phone", "source", "status", "metadata", "workspaceId",
               "createdAt", "updatedAt"]
CREATED_PREFIX = b'{"success":true,"data":'


def sanitized_build():
    """ASan's quarantine keeps freed memory resident and TSan is ~10x slower: a sanitizer build
    runs the big export with fewer leads and no memory bound."""
    with open(os.environ["LEADD_BIN"], "rb") as f:
        binary = f.read()
    return b"__asan_init" in binary or b"__tsan_init" in binary


def seed(server, key, count, make_lead, connections=4):
    """Creates `count` leads quickly: each of `connections` sockets gets its share of POSTs in one
    pipelined stream (a sender thread) while a reader parses the answers. Returns
    {lead id: the lead's JSON text as the 201 answered it}."""
    created = {}
    errors = []
    lock = threading.Lock()

    def run(indices):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=120)
        try:
            parts = []
            for i in indices:
                body = json.dumps(make_lead(i)).encode()
                parts.append(b"POST /api/v1/leads HTTP/1.1\r\nHost: leadd\r\nAuthorization: Bearer "
                             + key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
            sender = threading.Thread(target=sock.sendall, args=(b"".join(parts),), daemon=True)
            sender.start()
            buf, pos, answered, mine = bytearray(), 0, 0, {}
            while answered < len(indices):
                head_end = buf.find(b"\r\n\r\n", pos)
                if head_end >= 0:
                    head = bytes(buf[pos:head_end]).decode("latin-1")
                    length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n")
                                  if line.lower().startswith("content-length:"))
                    if len(buf) >= head_end + 4 + length:
                        body = bytes(buf[head_end + 4:head_end + 4 + length])
                        if not head.startswith("HTTP/1.1 201 "):
                            raise AssertionError(f"create answered {head.splitlines()[0]}: {body[:300]!r}")
                        assert body.startswith(CREATED_PREFIX) and body.endswith(b"}"), body[:200]
                        text = body[len(CREATED_PREFIX):-1]
                        mine[json.loads(text)["id"]] = text
                        pos = head_end + 4 + length
                        answered += 1
                        if pos > (1 << 20):
                            del buf[:pos]
                            pos = 0
                        continue
                data = sock.recv(1 << 20)
                if not data:
                    raise AssertionError(f"connection closed after {answered} answers")
                buf += data
            sender.join()
            with lock:
                created.update(mine)
        except Exception as e:  # reported by the caller, with the thread's exception
            errors.append(e)
        finally:
            sock.close()

    threads = [threading.Thread(target=run, args=(range(c, count, connections),)) for c in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    assert len(created) == count, (len(created), count)
    return created


class ExportStream:
    """One export over a raw socket, read as the client chooses: the head, then the decoded
    chunks one at a time (HTTP/1.0: the bytes until the server closes)."""

    def __init__(self, server, key, query="", version="1.1", rcvbuf=None, timeout=30):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", server.port))
        path = "/api/v1/leads/export" + (f"?{query}" if query else "")
        auth = f"Authorization: Bearer {key}\r\n" if key else ""
        self.sock.sendall(f"GET {path} HTTP/{version}\r\nHost: leadd\r\n{auth}\r\n".encode())
        self.buf = b""
        self.closed = False
        self.status, self.headers = self._read_head()

    def _more(self, n=65536):
        data = self.sock.recv(n)
        if not data:
            self.closed = True
        self.buf += data
        return bool(data)

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if not self._more():
                raise AssertionError(f"closed before the head ended: {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    def _take(self, n, recv_size=65536):
        while len(self.buf) < n:
            if not self._more(recv_size):
                raise AssertionError(f"closed mid-chunk ({len(self.buf)} of {n} bytes)")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def chunks(self, recv_size=65536):
        """Yields each chunk's data; returns after the last chunk (size 0) and its CRLF."""
        if self.headers.get("transfer-encoding") != "chunked":
            while True:
                if self.buf:
                    data, self.buf = self.buf, b""
                    yield data
                if not self._more(recv_size):
                    return
        while True:
            while b"\r\n" not in self.buf:
                if not self._more(recv_size):
                    raise AssertionError("closed before the last chunk: the export is incomplete")
            line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                assert self._take(2) == b"\r\n", "no CRLF after the last chunk"
                return
            data = self._take(size + 2, recv_size)
            assert data.endswith(b"\r\n"), "chunk data not followed by CRLF"
            yield data[:-2]

    def body(self):
        return b"".join(self.chunks())

    def close(self):
        self.sock.close()


def ndjson_leads(body):
    assert body == b"" or body.endswith(b"\n"), body[-100:]
    return [json.loads(line) for line in body.split(b"\n")[:-1]]


def csv_leads(body):
    """The CSV as lead dicts (as the JSON shows them), after checking RFC 4180's framing."""
    text = body.decode("utf-8")
    assert text.startswith(",".join(CSV_COLUMNS) + "\r\n"), text[:200]
    assert text.endswith("\r\n"), text[-100:]
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert rows[0] == CSV_COLUMNS, rows[0]
    leads = []
    for row in rows[1:]:
        assert len(row) == len(CSV_COLUMNS), row
        lead = dict(zip(CSV_COLUMNS, row))
        lead["phone"] = lead["phone"] or None
        lead["source"] = lead["source"] or None
        lead["metadata"] = json.loads(lead["metadata"])
        leads.append(lead)
    return leads


def export(server, key, query=""):
    stream = ExportStream(server, key, query)
    try:
        assert stream.status == 200, (stream.status, stream.buf[:500])
        return stream.headers, stream.body()
    finally:
        stream.close()


def listed(server, key, query=""):
    """Every lead the list endpoint returns for `query`, page by page."""
    out, page = [], 1
    conn = server.connection()
    try:
        while True:
            r = server.request("GET", f"/api/v1/leads?limit=100&page={page}&{query}", auth=key, conn=conn)
            assert r.status == 200, r
            data = r.json()["data"]
            out += data["leads"]
            if not data["pagination"]["hasNext"]:
                return out
            page += 1
    finally:
        conn.close()


def tricky_lead(i):
    """Names and values that need CSV quoting, unicode, null and non-null optional fields."""
    lead = {"name": ["Plain Name", 'Quote "The" Man', "Comma, Inc.", "Zoë 東京 🙂", "=SUM(A1:A2)"][i % 5]
                    + f" {i}",
            "email": f"tricky{i}.{time.time_ns()}@example.com",
            "status": ["new", "contacted", "qualified", "lost"][i % 4],
            "metadata": {"i": i, "note": 'line one\nline "two", three\r\n', "nested": {"a": [1, None, True]}}}
    if i % 3:
        lead["phone"] = "+1 (555) 010-" + str(1000 + i)
    if i % 2:
        lead["source"] = ["webinar", "web, paid", 'ref "x"'][i % 3]
    return lead


class ExportTest(ServerTest):
    server_args = ("--fsync", "none")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ws, cls.key = cls.server.new_workspace("export")
        seed(cls.server, cls.key, 60, tricky_lead, connections=2)

    def test_chunked_transfer_encoding_on_the_wire_then_keep_alive(self):
        stream = ExportStream(self.server, self.key, "format=csv")
        try:
            self.assertEqual(stream.status, 200)
            self.assertEqual(stream.headers.get("transfer-encoding"), "chunked")
            self.assertNotIn("content-length", stream.headers)
            self.assertEqual(stream.headers["content-type"], "text/csv; charset=utf-8")
            self.assertEqual(stream.headers["content-disposition"], f'attachment; filename="leads-{self.ws}.csv"')
            self.assertIn("x-request-id", stream.headers)
            self.assertEqual(len(csv_leads(stream.body())), 60)
            # The connection stays usable after the last chunk.
            stream.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: leadd\r\n\r\n")
            while b"\r\n\r\n" not in stream.buf:
                self.assertTrue(stream._more())
            self.assertTrue(stream.buf.startswith(b"HTTP/1.1 200 "), stream.buf)
        finally:
            stream.close()

    def test_http10_client_gets_the_body_then_a_close(self):
        stream = ExportStream(self.server, self.key, "format=ndjson", version="1.0")
        try:
            self.assertEqual(stream.status, 200)
            self.assertNotIn("transfer-encoding", stream.headers)
            self.assertNotIn("content-length", stream.headers)
            self.assertEqual(len(ndjson_leads(stream.body())), 60)
            self.assertTrue(stream.closed)
        finally:
            stream.close()

    def test_both_formats_parse_back_to_exactly_the_listed_leads(self):
        expected = listed(self.server, self.key)
        self.assertEqual(len(expected), 60)
        headers, body = export(self.server, self.key)  # ndjson by default
        self.assertEqual(headers["content-type"], "application/x-ndjson")
        self.assertEqual(ndjson_leads(body), expected)
        # Each line is byte for byte the JSON GET /api/v1/leads/{id} answers.
        first = body.split(b"\n")[0]
        got = self.server.request("GET", f"/api/v1/leads/{expected[0]['id']}", auth=self.key)
        self.assertEqual(got.body, CREATED_PREFIX + first + b"}")
        _, body = export(self.server, self.key, "format=csv")
        self.assertEqual(csv_leads(body), expected)

    def test_filters_select_what_the_list_selects(self):
        for query in ["status=lost", "source=web%2C%20paid", "search=ZO%C3%AB", "search=quote",
                      "status=contacted&source=webinar", "search=nobody-matches", "page=3&limit=1"]:
            with self.subTest(query=query):
                expected = listed(self.server, self.key, query.replace("page=3&limit=1", ""))
                _, body = export(self.server, self.key, "format=ndjson&" + query)
                self.assertEqual(ndjson_leads(body), expected)
                _, body = export(self.server, self.key, query + "&format=csv")
                self.assertEqual(csv_leads(body), expected)

    def test_errors_are_json_envelopes(self):
        r = self.server.request("GET", "/api/v1/leads/export", auth=None)
        self.assertError(r, 401, "MISSING_AUTH_HEADER")
        r = self.server.request("GET", "/api/v1/leads/export", auth="sk-workspace_" + "Q" * 51)
        self.assertError(r, 401, "INVALID_API_KEY")
        r = self.server.request("GET", "/api/v1/leads/export?format=xml", auth=self.key)
        self.assertEqual(self.assertError(r, 400, "VALIDATION_ERROR")["details"]["field"], "format")
        r = self.server.request("GET", "/api/v1/leads/export?format=csv&status=bogus", auth=self.key)
        self.assertEqual(self.assertError(r, 400, "VALIDATION_ERROR")["details"]["field"], "status")
        r = self.server.request("POST", "/api/v1/leads/export", body={}, auth=self.key)
        self.assertError(r, 405, "METHOD_NOT_ALLOWED")

    def test_snapshot_ignores_writes_made_while_a_slow_client_reads(self):
        ws, key = self.server.new_workspace("snapshot")
        created = seed(self.server, key, 15000, lambda i: {"name": f"Snap {i}", "email": f"snap{i}@example.com",
                                                         "metadata": {"pad": "x" * 200}})
        before = listed(self.server, key, "search=snap1499")  # snap1499, snap14990..14999 (newest)
        oldest = sorted(created, key=lambda i: (json.loads(created[i])["createdAt"], i))[:2]
        # A small receive buffer: the server is still producing when the writes below happen
        # (the export is ~6 MB, far more than both sockets' buffers).
        stream = ExportStream(self.server, key, rcvbuf=4096)
        try:
            chunks = stream.chunks(recv_size=4096)
            got = [next(chunks)]
            r = self.server.request("PUT", f"/api/v1/leads/{oldest[0]}", {"name": "Changed", "status": "lost"}, auth=key)
            self.assertEqual(r.status, 200, r)
            r = self.server.request("DELETE", f"/api/v1/leads/{oldest[1]}", auth=key)
            self.assertEqual(r.status, 200, r)
            newcomer = self.server.create_lead(key=key, name="Newcomer").json()["data"]["id"]
            got += list(chunks)
        finally:
            stream.close()
        leads = ndjson_leads(b"".join(got))
        self.assertEqual(len(leads), 15000)
        by_id = {lead["id"]: lead for lead in leads}
        self.assertNotIn(newcomer, by_id)
        self.assertEqual(by_id[oldest[0]], json.loads(created[oldest[0]]))  # as it was
        self.assertEqual(by_id[oldest[1]], json.loads(created[oldest[1]]))  # still there
        self.assertEqual([lead["id"] for lead in leads[-2:]], [oldest[1], oldest[0]])
        self.assertEqual({i: json.loads(t) for i, t in created.items()}, by_id)
        self.assertEqual(before, [lead for lead in leads if "snap1499" in lead["email"]])
        # And the store did change.
        self.assertEqual(len(listed(self.server, key, "search=Changed")), 1)

    def test_a_stalled_reader_does_not_block_other_clients(self):
        ws, key = self.server.new_workspace("stalled")
        seed(self.server, key, 12000, lambda i: {"name": f"Stall {i}", "email": f"stall{i}@example.com",
                                                 "metadata": {"pad": "y" * 200}})
        stalled = [ExportStream(self.server, key, rcvbuf=4096) for _ in range(3)]  # read no body
        try:
            for s in stalled:
                self.assertEqual(s.status, 200)
            time.sleep(0.3)  # their writes are now waiting on full socket buffers
            started = time.monotonic()
            for _ in range(20):
                r = self.server.create_lead(key=key)
                self.assertEqual(r.status, 201, r)
                lead_id = r.json()["data"]["id"]
                self.assertEqual(self.server.request("PATCH", f"/api/v1/leads/{lead_id}",
                                                     {"status": "lost"}, auth=key).status, 200)
            self.assertEqual(self.server.request("GET", "/api/v1/leads?limit=1", auth=key).status, 200)
            _, body = export(self.server, key, "status=lost")
            self.assertEqual(len(ndjson_leads(body)), 20)
            self.assertLess(time.monotonic() - started, 10)
        finally:
            for s in stalled:
                s.close()
        self.assertEqual(self.server.request("GET", "/healthz", auth=None).status, 200)


class ExportRateLimitTest(ServerTest):
    server_args = ("--fsync", "none", "--rate-limit-per-hour", "2")

    def test_rate_limit_headers_on_the_stream_and_429_past_the_limit(self):
        headers, body = export(self.server, self.server.api_key)
        self.assertEqual(body, b"")
        self.assertEqual(headers["x-ratelimit-limit"], "2")
        self.assertEqual(headers["x-ratelimit-remaining"], "1")
        for name in ("x-ratelimit-reset", "x-ratelimit-used"):
            self.assertIn(name, headers)
        headers, body = export(self.server, self.server.api_key, "format=csv")
        self.assertEqual(headers["x-ratelimit-remaining"], "0")
        self.assertEqual(body.decode(), ",".join(CSV_COLUMNS) + "\r\n")
        r = self.server.request("GET", "/api/v1/leads/export")
        self.assertError(r, 429, "RATE_LIMIT_EXCEEDED")
        self.assertEqual(r.headers["x-ratelimit-remaining"], "0")


def memory_kib(pid):
    """(VmRSS, VmHWM) of the process, in KiB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def reset_peak_rss(pid):
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+); False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class HundredThousandLeadsTest(ServerTest):
    server_args = ("--fsync", "none")
    COUNT = 10_000 if sanitized_build() else 100_000
    BOUND_MIB = 32

    def test_export_streams_with_bounded_memory_and_parses_back(self):
        pid = self.server.proc.pid
        started = time.monotonic()
        created = seed(self.server, self.server.api_key, self.COUNT, lambda i: {
            "name": f"Bulk Lead {i}", "email": f"bulk{i}@example.com", "phone": "+1 555 010 0000",
            "source": "import, bulk", "metadata": {"row": i, "company": f"Company \"{i % 97}\"", "tags": ["a", "b"]}})
        seeded = time.monotonic()
        report = [f"{self.COUNT} leads seeded in {seeded - started:.1f} s"]
        expected = {lead_id: json.loads(text) for lead_id, text in created.items()}
        order = sorted(created, key=lambda i: (expected[i]["createdAt"], i), reverse=True)
        for fmt in ("ndjson", "csv"):
            time.sleep(0.2)
            rss_before, hwm_before = memory_kib(pid)
            hwm_reset = reset_peak_rss(pid)
            stream = ExportStream(self.server, self.server.api_key, f"format={fmt}", rcvbuf=65536, timeout=60)
            self.assertEqual(stream.status, 200)
            pieces, size, sampled_peak, t0 = [], 0, rss_before, time.monotonic()
            for n, chunk in enumerate(stream.chunks()):
                pieces.append(chunk)
                size += len(chunk)
                if n % 16 == 0:
                    sampled_peak = max(sampled_peak, memory_kib(pid)[0])
                if size < 8 << 20:
                    time.sleep(0.01)  # the first 8 MB slowly: the server waits on the socket
            took = time.monotonic() - t0
            stream.close()
            rss_after, hwm_after = memory_kib(pid)
            peak = max(sampled_peak, hwm_after if hwm_reset else sampled_peak)
            report.append(f"{fmt}: {size / 2**20:.1f} MiB in {took:.1f} s; server RSS before {rss_before / 1024:.1f} MiB, "
                          f"peak during {peak / 1024:.1f} MiB (+{(peak - rss_before) / 1024:.1f} MiB)"
                          + ("" if hwm_reset else " (sampled; VmHWM reset refused)"))
            body = b"".join(pieces)
            del pieces
            leads = ndjson_leads(body) if fmt == "ndjson" else csv_leads(body)
            del body
            self.assertEqual(len(leads), self.COUNT)
            self.assertEqual([lead["id"] for lead in leads], order)
            for lead in leads:
                if lead != expected[lead["id"]]:
                    self.fail(f"{fmt}: exported {lead} but the server created {expected[lead['id']]}")
            del leads
            if not sanitized_build():
                self.assertLess(peak - rss_before, self.BOUND_MIB * 1024, report[-1])
                self.assertLess((peak - rss_before) * 1024, size / 2, report[-1])
        print("\n" + "\n".join(report), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
