"""Starts a real leadd process on a free loopback port with a fresh data dir, and talks to it
over real sockets. Every integration test goes through this module.

The binary comes from the LEADD_BIN environment variable (CTest sets it)."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"

# What a sanitizer build of leadd (ASan, UBSan, LSan, TSan) prints when it finds something. Every
# server's log is checked when it stops, so each suite run against such a build fails on one.
SANITIZER_REPORT = re.compile(
    r"ThreadSanitizer|AddressSanitizer|LeakSanitizer|"
    r"\.(?:c|cc|cpp|cxx|h|hpp|ipp):\d+:\d+: runtime error:")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict with lower-case names
        self.body = body        # bytes

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


class Server:
    """One leadd process. `extra_args` are appended to `leadd serve`."""

    def __init__(self, extra_args=(), admin_token=ADMIN_TOKEN, env=None, data_dir=None):
        self.port = free_port()
        self.own_data_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="leadd-it-")
        self.admin_token = admin_token
        binary = os.environ.get("LEADD_BIN")
        if not binary:
            raise RuntimeError("LEADD_BIN is not set")
        # LEADD_TEST_ARGS: flags every test server gets in one build flavour (the TSan tree sets
        # fewer shards: TSan's deadlock detector tracks at most 64 locks held by one thread,
        # and a snapshot's cut holds every shard lock at once).
        flavour_args = os.environ.get("LEADD_TEST_ARGS", "").split()
        args = [binary, "serve", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", self.data_dir, "--threads", "2", *flavour_args, *extra_args]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LEADD_")}  # no leaks
        if admin_token is not None:
            full_env["LEADD_ADMIN_TOKEN"] = admin_token
        full_env.update(env or {})
        self.log_path = os.path.join(tempfile.gettempdir(), f"leadd-it-{self.port}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, env=full_env)
        self._wait_ready()
        key_file = os.path.join(self.data_dir, "initial-api-key")
        self.api_key = None
        if os.path.exists(key_file):
            with open(key_file) as f:
                self.api_key = f.read().strip()

    def _wait_ready(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"leadd exited early with {self.proc.returncode}: "
                                   + open(self.log_path, errors="replace").read()[-2000:])
            try:
                r = self.request("GET", "/readyz", auth=None)
                if r.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("leadd did not become ready")

    def connection(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, auth="default", headers=None, raw_body=None,
                conn=None):
        """One request. `body` is JSON-encoded; `raw_body` is sent as is (bytes or str).
        `auth="default"` uses the initial API key, None sends no Authorization header, any
        other string is sent as the bearer token."""
        h = {}
        if auth == "default":
            auth = self.api_key
        if auth is not None:
            h["Authorization"] = f"Bearer {auth}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if raw_body is not None:
            data = raw_body.encode() if isinstance(raw_body, str) else raw_body
        h.update(headers or {})
        own = conn is None
        c = conn or self.connection()
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, payload)
        finally:
            if own:
                c.close()

    def admin(self, method, path, body=None):
        return self.request(method, path, body=body, auth=self.admin_token)

    def new_workspace(self, name="ws"):
        """Creates a workspace through the admin API; returns (workspaceId, apiKey)."""
        r = self.admin("POST", "/api/v1/admin/workspaces", {"name": name})
        assert r.status == 201, r
        d = r.json()["data"]
        return d["workspaceId"], d["apiKey"]

    def create_lead(self, key="default", **fields):
        body = {"name": "Ada Lovelace", "email": f"ada{time.time_ns()}@example.com"}
        body.update(fields)
        return self.request("POST", "/api/v1/leads", body, auth=key)

    def raw(self, data, read_timeout=5):
        """Sends raw bytes on a fresh socket and returns everything read until the server
        closes or `read_timeout` passes without data."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout)
        try:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)
        finally:
            s.close()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stops the server and returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        self.assert_no_sanitizer_report()
        return self.proc.returncode

    def assert_no_sanitizer_report(self):
        if getattr(self, "sanitizer_checked", False):
            return
        self.sanitizer_checked = True
        with open(self.log_path, errors="replace") as f:
            log = f.read()
        m = SANITIZER_REPORT.search(log)
        if m is not None:
            raise AssertionError(f"sanitizer report in the log of leadd ({self.log_path}):\n"
                                 + log[max(0, m.start() - 200):m.start() + 4000])

    def close(self):
        """Stops the server and removes what it left: its own data dir, and its log unless the
        log holds a sanitizer report (stop() raises and names the file) or LEADD_KEEP_TEST_LOGS
        is set; every test server used to leave its log in the temp dir, ~60 per `make test`."""
        try:
            self.stop()
            if not os.environ.get("LEADD_KEEP_TEST_LOGS"):
                os.remove(self.log_path)
        finally:
            if self.own_data_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)


class ServerTest(unittest.TestCase):
    """A test case with one server for the whole class."""
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = Server(cls.server_args)

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertIs(body["success"], False, body)
        self.assertEqual(body["code"], code, body)
        self.assertIsInstance(body["error"], str)
        self.assertTrue(body["error"])
        self.assertIn("requestId", body)
        return body
