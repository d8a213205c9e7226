"""/metrics over real sockets: the text parses with the Prometheus client library's own parser,
and the values move as requests are made (requests by route/method/status, latency histograms,
leads, log bytes and fsyncs, rate-limited requests, open connections)."""

import socket
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

from harness import ServerTest


class Scrape:
    def __init__(self, server, conn=None):
        r = server.request("GET", "/metrics", auth=None, conn=conn)
        assert r.status == 200, r
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
        self.families = {f.name: f for f in text_string_to_metric_families(r.body.decode())}

    def value(self, sample_name, **labels):
        """The value of the one sample with exactly these labels (0 if absent)."""
        for family in self.families.values():
            for s in family.samples:
                if s.name == sample_name and s.labels == labels:
                    return s.value
        return 0.0


class MetricsTest(ServerTest):
    server_args = ("--rate-limit-per-hour", "3")

    def test_text_parses_and_has_every_family(self):
        families = Scrape(self.server).families
        for name, kind in [("leadd_http_requests", "counter"),
                           ("leadd_http_request_duration_seconds", "histogram"),
                           ("leadd_open_connections", "gauge"), ("leadd_leads", "gauge"),
                           ("leadd_log_bytes_written", "counter"), ("leadd_log_fsyncs", "counter"),
                           ("leadd_log_fsync_duration_seconds", "histogram"),
                           ("leadd_rate_limited_requests", "counter"),
                           ("leadd_recovery_duration_seconds", "gauge"), ("leadd_build_info", "gauge")]:
            self.assertIn(name, families)  # the parser drops the _total suffix of counters
            self.assertEqual(families[name].type, kind, name)

    def test_request_counts_and_latency_follow_requests(self):
        _, key = self.server.new_workspace("counted")
        route = dict(route="/api/v1/leads/{leadId}", method="GET")
        # One connection for all of it: a request is counted once its answer is written, so a
        # scrape on another connection may come before the last request is counted; on the same
        # one it is read only after.
        conn = self.server.connection()
        self.addCleanup(conn.close)
        before = Scrape(self.server, conn)
        created = self.server.request("POST", "/api/v1/leads", {"name": "Ada Lovelace", "email": "ada-counted@example.com"},
                                      auth=key, conn=conn)
        lead_id = created.json()["data"]["id"]
        self.assertEqual(self.server.request("GET", f"/api/v1/leads/{lead_id}", auth=key, conn=conn).status, 200)
        self.assertEqual(self.server.request("GET", "/api/v1/leads/lead_0000000000000001", auth=key, conn=conn).status, 404)
        self.assertEqual(self.server.request("DELETE", "/api/v1/leads", auth=key, conn=conn).status, 405)
        self.assertEqual(self.server.request("GET", "/no/such/path", auth=None, conn=conn).status, 404)
        after = Scrape(self.server, conn)

        def delta(name, **labels):
            return after.value(name, **labels) - before.value(name, **labels)

        self.assertEqual(delta("leadd_http_requests_total", status="200", **route), 1)
        self.assertEqual(delta("leadd_http_requests_total", status="404", **route), 1)
        self.assertEqual(delta("leadd_http_requests_total", route="/api/v1/leads", method="POST", status="201"), 1)
        # 405 and unknown paths are not labelled with what the client sent.
        self.assertEqual(delta("leadd_http_requests_total", route="(unmatched)", method="*", status="405"), 1)
        self.assertGreaterEqual(delta("leadd_http_requests_total", route="(unmatched)", method="*", status="404"), 1)
        self.assertEqual(delta("leadd_http_request_duration_seconds_count", **route), 2)
        self.assertGreater(delta("leadd_http_request_duration_seconds_sum", **route), 0)
        self.assertEqual(delta("leadd_http_request_duration_seconds_bucket", le="+Inf", **route), 2)
        # Buckets are cumulative: the +Inf bucket holds the count.
        self.assertEqual(after.value("leadd_http_request_duration_seconds_bucket", le="+Inf", **route),
                         after.value("leadd_http_request_duration_seconds_count", **route))

    def test_store_and_log_figures_follow_writes(self):
        _, key = self.server.new_workspace("writes")
        before = Scrape(self.server)
        for i in range(3):
            self.assertEqual(self.server.create_lead(key=key).status, 201)
        after = Scrape(self.server)
        self.assertEqual(after.value("leadd_leads") - before.value("leadd_leads"), 3)
        self.assertGreaterEqual(after.value("leadd_log_records_total") - before.value("leadd_log_records_total"), 3)
        self.assertGreater(after.value("leadd_log_bytes_written_total"), before.value("leadd_log_bytes_written_total"))
        # --fsync always (the default): every acknowledged create waited for an fdatasync.
        self.assertGreaterEqual(after.value("leadd_log_fsyncs_total") - before.value("leadd_log_fsyncs_total"), 3)
        self.assertEqual(after.value("leadd_log_fsync_duration_seconds_count"), after.value("leadd_log_fsyncs_total"))
        self.assertEqual(after.value("leadd_log_writable"), 1)

    def test_rate_limited_requests_are_counted(self):
        _, key = self.server.new_workspace("limited")
        before = Scrape(self.server).value("leadd_rate_limited_requests_total")
        statuses = [self.server.request("GET", "/api/v1/leads", auth=key).status for _ in range(5)]
        self.assertEqual(statuses, [200, 200, 200, 429, 429])
        after = Scrape(self.server)
        self.assertEqual(after.value("leadd_rate_limited_requests_total") - before, 2)
        self.assertEqual(after.value("leadd_rate_limit_per_hour"), 3)

    def test_open_connections_gauge(self):
        # Every scrape over one keep-alive connection: a connection per scrape would still be
        # closing server-side when the next scrape counts.
        conn = self.server.connection()
        try:
            def open_now():
                return Scrape(self.server, conn).value("leadd_open_connections")
            def settle_to(expected):
                deadline = time.time() + 5
                while open_now() != expected and time.time() < deadline:
                    time.sleep(0.02)
                return open_now()
            # Only this connection, once other tests' connections have finished closing.
            self.assertEqual(settle_to(1), 1)
            held = []
            try:
                for _ in range(5):
                    s = socket.create_connection(("127.0.0.1", self.server.port))
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertIn(b"200 OK", s.recv(4096))
                    held.append(s)
                self.assertEqual(open_now(), 6)
            finally:
                for s in held:
                    s.close()
            self.assertEqual(settle_to(1), 1)
        finally:
            conn.close()

    def test_build_info_names_the_fsync_policy(self):
        families = Scrape(self.server).families
        (sample,) = families["leadd_build_info"].samples
        self.assertEqual(sample.value, 1)
        self.assertEqual(sample.labels["fsync"], "always")
        self.assertTrue(sample.labels["version"])


if __name__ == "__main__":
    unittest.main()
