"""Integration tests of the admin API (workspaces and keys), of how the admin token is configured,
and of the initial API key written on first start (API.md "Admin API" and "Command line")."""

import os
import re
import signal
import stat
import subprocess
import tempfile
import unittest
import uuid

from harness import ADMIN_TOKEN, Server, ServerTest

WS_ID_RE = re.compile(r"^ws_[0-9a-f]{16}$")
KEY_ID_RE = re.compile(r"^key_[0-9a-f]{16}$")
API_KEY_RE = re.compile(r"^sk-workspace_[A-Za-z0-9]{51}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ERROR_KEYS = {"success", "error", "code", "details", "requestId"}
UNKNOWN_WS = "ws_0000000000000000"
UNKNOWN_KEY_ID = "key_0000000000000000"


def unique_email(tag="lead"):
    return f"{tag}.{uuid.uuid4().hex[:12]}@example.com"


def admin_routes(ws_id=UNKNOWN_WS, key_id=UNKNOWN_KEY_ID):
    return [("POST", "/api/v1/admin/workspaces", {"name": "x"}),
            ("GET", "/api/v1/admin/workspaces", None),
            ("POST", f"/api/v1/admin/workspaces/{ws_id}/keys", None),
            ("DELETE", f"/api/v1/admin/keys/{key_id}", None)]


class AdminAssertions:
    """Mixed into the test cases below."""

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertIs(body["success"], False, body)
        self.assertEqual(body["code"], code, body)
        self.assertIsInstance(body["error"], str)
        self.assertTrue(body["error"])
        self.assertLessEqual(set(body), ERROR_KEYS, body)
        self.assertIsInstance(body.get("requestId"), str, body)
        self.assertTrue(body["requestId"])
        return body

    def success_data(self, r, status):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r)
        body = r.json()
        self.assertEqual(set(body), {"success", "data"}, body)
        self.assertIs(body["success"], True)
        return body["data"]

    def create_workspace(self, server, name, token=None):
        r = server.request("POST", "/api/v1/admin/workspaces", {"name": name},
                           auth=token or server.admin_token)
        d = self.success_data(r, 201)
        self.assertEqual(set(d), {"workspaceId", "name", "keyId", "apiKey", "createdAt"}, d)
        return d

    def assertKeyWorks(self, server, key, workspace_id):
        r = server.request("POST", "/api/v1/leads", {"name": "K", "email": unique_email()},
                           auth=key)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json()["data"]["workspaceId"], workspace_id)
        return r.json()["data"]


# =============================================================================================
class AdminApiTest(AdminAssertions, ServerTest):
    """A server with LEADD_ADMIN_TOKEN set (the harness default)."""

    def workspaces(self):
        d = self.success_data(self.server.admin("GET", "/api/v1/admin/workspaces"), 200)
        self.assertEqual(set(d), {"workspaces"}, d)
        for ws in d["workspaces"]:
            self.assertEqual(set(ws), {"workspaceId", "name", "createdAt", "leadCount"}, ws)
            self.assertRegex(ws["workspaceId"], WS_ID_RE)
            self.assertRegex(ws["createdAt"], TS_RE)
            self.assertIs(type(ws["leadCount"]), int)
        by_id = {ws["workspaceId"]: ws for ws in d["workspaces"]}
        self.assertEqual(len(by_id), len(d["workspaces"]), "a workspace is listed twice")
        return by_id

    def test_create_workspace_returns_exact_body_and_a_working_key(self):
        d = self.create_workspace(self.server, "Acme")
        self.assertEqual(d["name"], "Acme")
        self.assertRegex(d["workspaceId"], WS_ID_RE)
        self.assertRegex(d["keyId"], KEY_ID_RE)
        self.assertRegex(d["apiKey"], API_KEY_RE)
        self.assertEqual(len(d["apiKey"]), 64)
        self.assertRegex(d["createdAt"], TS_RE)
        self.assertKeyWorks(self.server, d["apiKey"], d["workspaceId"])
        other = self.create_workspace(self.server, "Acme")  # names need not be unique
        self.assertNotEqual(other["workspaceId"], d["workspaceId"])
        self.assertNotEqual(other["keyId"], d["keyId"])
        self.assertNotEqual(other["apiKey"], d["apiKey"])

    def test_list_workspaces_with_lead_counts(self):
        a = self.create_workspace(self.server, "count-a")
        b = self.create_workspace(self.server, "count-b")
        listed = self.workspaces()
        self.assertEqual(listed[a["workspaceId"]],
                         {"workspaceId": a["workspaceId"], "name": "count-a",
                          "createdAt": a["createdAt"], "leadCount": 0})
        self.assertEqual(listed[b["workspaceId"]]["leadCount"], 0)
        leads = [self.assertKeyWorks(self.server, a["apiKey"], a["workspaceId"])
                 for _ in range(3)]
        # A rejected create does not count.
        r = self.server.request("POST", "/api/v1/leads",
                                {"name": "Dup", "email": leads[0]["email"]}, auth=a["apiKey"])
        self.assertEqual(r.status, 409, r)
        listed = self.workspaces()
        self.assertEqual(listed[a["workspaceId"]]["leadCount"], 3)
        self.assertEqual(listed[b["workspaceId"]]["leadCount"], 0)
        r = self.server.request("DELETE", f"/api/v1/leads/{leads[1]['id']}", auth=a["apiKey"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.workspaces()[a["workspaceId"]]["leadCount"], 2)

    def test_default_workspace_is_listed_and_owns_the_initial_key(self):
        defaults = [ws for ws in self.workspaces().values() if ws["name"] == "default"]
        self.assertEqual(len(defaults), 1, defaults)
        default = defaults[0]
        before = default["leadCount"]
        self.assertKeyWorks(self.server, self.server.api_key, default["workspaceId"])
        self.assertEqual(self.workspaces()[default["workspaceId"]]["leadCount"], before + 1)

    def test_create_key_for_a_workspace(self):
        ws = self.create_workspace(self.server, "more-keys")
        lead = self.assertKeyWorks(self.server, ws["apiKey"], ws["workspaceId"])
        r = self.server.admin("POST", f"/api/v1/admin/workspaces/{ws['workspaceId']}/keys")
        d = self.success_data(r, 201)
        self.assertEqual(set(d), {"workspaceId", "keyId", "apiKey", "createdAt"}, d)
        self.assertEqual(d["workspaceId"], ws["workspaceId"])
        self.assertRegex(d["keyId"], KEY_ID_RE)
        self.assertRegex(d["apiKey"], API_KEY_RE)
        self.assertRegex(d["createdAt"], TS_RE)
        self.assertNotEqual(d["keyId"], ws["keyId"])
        self.assertNotEqual(d["apiKey"], ws["apiKey"])
        # The new key sees the workspace's existing leads; both keys keep working.
        r = self.server.request("GET", f"/api/v1/leads/{lead['id']}", auth=d["apiKey"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"], lead)
        r = self.server.request("GET", "/api/v1/leads", auth=d["apiKey"])
        self.assertEqual([x["id"] for x in r.json()["data"]["leads"]], [lead["id"]])
        self.assertKeyWorks(self.server, ws["apiKey"], ws["workspaceId"])
        self.assertKeyWorks(self.server, d["apiKey"], ws["workspaceId"])

    def test_create_key_for_unknown_workspace_is_404(self):
        for ws_id in [UNKNOWN_WS, "nonsense"]:
            with self.subTest(ws_id=ws_id):
                r = self.server.admin("POST", f"/api/v1/admin/workspaces/{ws_id}/keys")
                self.assertError(r, 404, "WORKSPACE_NOT_FOUND")

    def test_revoke_key(self):
        ws = self.create_workspace(self.server, "revoke")
        r = self.server.admin("POST", f"/api/v1/admin/workspaces/{ws['workspaceId']}/keys")
        second = self.success_data(r, 201)
        lead = self.assertKeyWorks(self.server, ws["apiKey"], ws["workspaceId"])
        r = self.server.admin("DELETE", f"/api/v1/admin/keys/{ws['keyId']}")
        d = self.success_data(r, 200)
        self.assertEqual(set(d), {"keyId", "revokedAt"}, d)
        self.assertEqual(d["keyId"], ws["keyId"])
        self.assertRegex(d["revokedAt"], TS_RE)
        for method, path, body in [
                ("GET", "/api/v1/leads", None), ("GET", f"/api/v1/leads/{lead['id']}", None),
                ("POST", "/api/v1/leads", {"name": "R", "email": unique_email()}),
                ("PATCH", f"/api/v1/leads/{lead['id']}", {"name": "R"}),
                ("DELETE", f"/api/v1/leads/{lead['id']}", None)]:
            with self.subTest(method=method, path=path):
                r = self.server.request(method, path, body, auth=ws["apiKey"])
                self.assertError(r, 401, "INVALID_API_KEY")
        # The workspace's other key, and other workspaces' keys, still work; nothing changed.
        r = self.server.request("GET", f"/api/v1/leads/{lead['id']}", auth=second["apiKey"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"], lead)
        self.assertKeyWorks(self.server, second["apiKey"], ws["workspaceId"])
        r = self.server.request("GET", "/api/v1/leads")
        self.assertEqual(r.status, 200, r)

    def test_revoke_unknown_key_is_404(self):
        for key_id in [UNKNOWN_KEY_ID, "nonsense"]:
            with self.subTest(key_id=key_id):
                r = self.server.admin("DELETE", f"/api/v1/admin/keys/{key_id}")
                self.assertError(r, 404, "KEY_NOT_FOUND")

    def test_admin_authentication(self):
        ws = self.create_workspace(self.server, "auth")
        for method, path, body in admin_routes(ws["workspaceId"], ws["keyId"]):
            with self.subTest(method=method, path=path, case="no header"):
                r = self.server.request(method, path, body, auth=None)
                self.assertError(r, 401, "MISSING_AUTH_HEADER")
            with self.subTest(method=method, path=path, case="not bearer"):
                r = self.server.request(method, path, body, auth=None,
                                        headers={"Authorization": f"Basic {ADMIN_TOKEN}"})
                self.assertError(r, 401, "MISSING_AUTH_HEADER")
            for token in ["wrong-token", ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1],
                          ws["apiKey"], self.server.api_key]:
                with self.subTest(method=method, path=path, token=token[:20]):
                    r = self.server.request(method, path, body, auth=token)
                    self.assertError(r, 401, "INVALID_API_KEY")
        # None of the refused requests revoked the key or created anything.
        self.assertKeyWorks(self.server, ws["apiKey"], ws["workspaceId"])
        names = [w["name"] for w in self.workspaces().values()]
        self.assertNotIn("x", names)

    def test_admin_token_is_not_an_api_key(self):
        for method, path, body in [("GET", "/api/v1/leads", None),
                                   ("POST", "/api/v1/leads", {"name": "A",
                                                              "email": unique_email()}),
                                   ("GET", "/api/v1/leads/lead_0000000000000000", None)]:
            with self.subTest(method=method, path=path):
                r = self.server.request(method, path, body, auth=ADMIN_TOKEN)
                self.assertError(r, 401, "INVALID_API_KEY")

    def test_workspace_name_validation(self):
        before = len(self.workspaces())
        for body in [{}, {"name": ""}, {"name": 42}, {"name": None}, {"name": ["Acme"]},
                     {"name": {"n": "Acme"}}]:
            with self.subTest(body=body):
                r = self.server.admin("POST", "/api/v1/admin/workspaces", body)
                body = self.assertError(r, 400, "VALIDATION_ERROR")
                self.assertEqual(body["details"]["field"], "name", body)
                self.assertIsInstance(body["details"].get("message"), str)
                self.assertTrue(body["details"]["message"])
        self.assertEqual(len(self.workspaces()), before)

    def test_invalid_json_on_create_workspace(self):
        for raw in ["{", "[]", '"Acme"']:
            with self.subTest(body=raw):
                r = self.server.request("POST", "/api/v1/admin/workspaces", raw_body=raw,
                                        auth=ADMIN_TOKEN,
                                        headers={"Content-Type": "application/json"})
                self.assertError(r, 400, "INVALID_JSON")

    def test_wrong_method_on_admin_route_is_405(self):
        r = self.server.admin("DELETE", "/api/v1/admin/workspaces")
        self.assertError(r, 405, "METHOD_NOT_ALLOWED")
        allow = {m.strip().upper() for m in r.headers.get("allow", "").split(",")}
        self.assertLessEqual({"GET", "POST"}, allow, r.headers)


# =============================================================================================
class AdminDisabledTest(AdminAssertions, ServerTest):
    """No LEADD_ADMIN_TOKEN and no --admin-token-file: the admin API does not exist."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(admin_token=None)

    def test_every_admin_path_is_404(self):
        routes = admin_routes() + [("GET", "/api/v1/admin/keys/key_0000000000000000", None),
                                   ("GET", "/api/v1/admin", None),
                                   ("PUT", "/api/v1/admin/workspaces", {"name": "x"})]
        for method, path, body in routes:
            for token in [None, ADMIN_TOKEN, self.server.api_key]:
                with self.subTest(method=method, path=path, token=(token or "")[:12]):
                    r = self.server.request(method, path, body, auth=token)
                    self.assertError(r, 404, "NOT_FOUND")

    def test_initial_key_is_created_without_an_admin_token(self):
        self.assertIsNotNone(self.server.api_key, "no initial-api-key file")
        self.assertRegex(self.server.api_key, API_KEY_RE)
        r = self.server.request("GET", "/api/v1/leads")
        self.assertEqual(r.status, 200, r)


# =============================================================================================
class AdminTokenFileTest(AdminAssertions, ServerTest):
    """The admin token is read from --admin-token-file (no LEADD_ADMIN_TOKEN)."""
    TOKEN = "file-admin-token-" + uuid.uuid4().hex

    @classmethod
    def setUpClass(cls):
        fd, cls.token_path = tempfile.mkstemp(prefix="leadd-admin-token-")
        os.write(fd, cls.TOKEN.encode())
        os.close(fd)
        os.chmod(cls.token_path, 0o600)
        cls.server = Server(("--admin-token-file", cls.token_path), admin_token=None)
        cls.server.admin_token = cls.TOKEN

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        os.unlink(cls.token_path)

    def test_token_from_file_works(self):
        d = self.create_workspace(self.server, "from-file", token=self.TOKEN)
        self.assertKeyWorks(self.server, d["apiKey"], d["workspaceId"])
        r = self.server.request("GET", "/api/v1/admin/workspaces", auth=self.TOKEN)
        self.assertEqual(r.status, 200, r)
        self.assertIn(d["workspaceId"], [w["workspaceId"] for w in r.json()["data"]["workspaces"]])

    def test_other_tokens_are_refused(self):
        for token in [ADMIN_TOKEN, self.TOKEN + "x", self.token_path]:
            with self.subTest(token=token):
                r = self.server.request("GET", "/api/v1/admin/workspaces", auth=token)
                self.assertError(r, 401, "INVALID_API_KEY")


# =============================================================================================
class FirstStartTest(AdminAssertions, unittest.TestCase):
    """One server started on an empty data dir, used with several keys, then stopped; the tests
    look at the initial-api-key file, at stdout and at the log (stderr)."""

    @classmethod
    def setUpClass(cls):
        server = Server()
        cls.data_dir = server.data_dir
        key_file = os.path.join(server.data_dir, "initial-api-key")
        cls.key_file_exists = os.path.exists(key_file)
        cls.key_file_mode = stat.S_IMODE(os.stat(key_file).st_mode) if cls.key_file_exists else None
        cls.initial_key = server.api_key
        cls.statuses = {}
        cls.secrets = [ADMIN_TOKEN]
        try:
            cls.statuses["initial key list"] = server.request("GET", "/api/v1/leads").status
            cls.statuses["initial key create"] = server.request(
                "POST", "/api/v1/leads", {"name": "A", "email": unique_email()}).status
            r = server.admin("POST", "/api/v1/admin/workspaces", {"name": "secrets"})
            cls.statuses["create workspace"] = r.status
            if r.status == 201:
                d = r.json()["data"]
                cls.secrets.append(d["apiKey"])
                cls.statuses["new key list"] = server.request(
                    "GET", "/api/v1/leads", auth=d["apiKey"]).status
                r = server.admin("POST", f"/api/v1/admin/workspaces/{d['workspaceId']}/keys")
                if r.status == 201:
                    k = r.json()["data"]
                    cls.secrets.append(k["apiKey"])
                    server.request("GET", "/api/v1/leads", auth=k["apiKey"])
                    server.admin("DELETE", f"/api/v1/admin/keys/{k['keyId']}")
                    server.request("GET", "/api/v1/leads", auth=k["apiKey"])  # revoked: 401
            server.request("GET", "/api/v1/leads/lead_0000000000000000",
                           headers={"X-Request-Id": "first-start"})
            server.request("GET", "/api/v1/admin/workspaces", auth=ADMIN_TOKEN)
        finally:
            # Stop ourselves so that stdout can be read before the harness closes it.
            server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(15)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()
            cls.exit_code = server.proc.returncode
            cls.stdout = server.proc.stdout.read().decode(errors="replace")
            server.log.flush()
            with open(server.log_path, errors="replace") as f:
                cls.log = f.read()
            cls.data_files = {}
            for root, _, files in os.walk(server.data_dir):
                for name in files:
                    path = os.path.join(root, name)
                    with open(path, "rb") as f:
                        cls.data_files[os.path.relpath(path, server.data_dir)] = f.read()
            server.close()
        if cls.initial_key:
            cls.secrets.append(cls.initial_key)

    def test_initial_api_key_file(self):
        self.assertTrue(self.key_file_exists, "initial-api-key was not written")
        self.assertEqual(self.key_file_mode, 0o600, oct(self.key_file_mode or 0))
        self.assertRegex(self.initial_key, API_KEY_RE)

    def test_initial_key_works(self):
        self.assertEqual(self.statuses.get("initial key list"), 200, self.statuses)
        self.assertEqual(self.statuses.get("initial key create"), 201, self.statuses)
        self.assertEqual(self.statuses.get("new key list"), 200, self.statuses)

    def test_initial_key_is_printed_once_on_stdout_and_nothing_else_secret(self):
        self.assertTrue(self.initial_key)
        self.assertEqual(self.stdout.count(self.initial_key), 1, self.stdout)
        for secret in self.secrets:
            if secret != self.initial_key:
                self.assertNotIn(secret, self.stdout)

    def test_keys_and_admin_token_never_logged(self):
        self.assertGreaterEqual(len(self.secrets), 4, "the setup did not create keys")
        for secret in self.secrets:
            self.assertNotIn(secret, self.log, f"secret {secret[:16]}... appears in the log")
            # Nor its random tail (e.g. a key logged without its prefix).
            self.assertNotIn(secret[-24:], self.log)

    def test_no_key_in_plaintext_in_the_data_dir_but_the_initial_key_file(self):
        self.assertIn("initial-api-key", self.data_files)
        for name, content in self.data_files.items():
            for secret in self.secrets:
                if name == "initial-api-key" and secret == self.initial_key:
                    continue
                self.assertNotIn(secret.encode(), content, f"{secret[:16]}... in {name}")

    def test_sigterm_exits_zero(self):
        self.assertEqual(self.exit_code, 0, self.log[-2000:])


if __name__ == "__main__":
    unittest.main()
