"""Integration tests of the lead endpoints (API.md and the seed page of PUT /api/v1/leads/{id}).

Every test talks to a real leadd over a real socket. One server process serves every class of
this module except BodyLimitTest, which needs its own `--max-body-bytes`. Tests that count leads
use a fresh workspace (harness `new_workspace`) so the counts are exact.
"""

import json
import re
import unittest
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

from harness import Server, ServerTest

LEAD_KEYS = {"id", "name", "email", "phone", "source", "status", "metadata", "createdAt",
             "updatedAt", "workspaceId"}
PAGINATION_KEYS = {"page", "limit", "total", "totalPages", "hasNext", "hasPrev"}
ERROR_KEYS = {"success", "error", "code", "details", "requestId"}
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEAD_ID_RE = re.compile(r"^lead_[0-9a-f]{16}$")
WS_ID_RE = re.compile(r"^ws_[0-9a-f]{16}$")
ETAG_RE = re.compile(r'^"[^"]+"$')
STATUSES = ["new", "contacted", "qualified", "converted", "lost", "follow_up"]
STATUS_MESSAGE = "Status must be one of: new, contacted, qualified, converted, lost, follow_up"
DUPLICATE_MESSAGE = "A different lead with this email already exists in your workspace"
UNKNOWN_LEAD_ID = "lead_0000000000000000"
MALFORMED_LEAD_IDS = ["garbage", "lead_123", "lead_0123456789ABCDEF", "lead_0123456789abcdef0",
                      "lead_0123456789abcdeg", "0123456789abcdef"]
UNKNOWN_KEY = "sk-workspace_" + "Q" * 51

_ANY = object()


def unique_email(tag="lead"):
    return f"{tag}.{uuid.uuid4().hex[:12]}@example.com"


def nested(depth):
    """A JSON object whose own depth is `depth` (a flat object has depth 1)."""
    obj = {}
    for _ in range(depth - 1):
        obj = {"n": obj}
    return obj


def newest_first(leads):
    return sorted(leads, key=lambda lead: (lead["createdAt"], lead["id"]), reverse=True)


def ids(leads):
    return [lead["id"] for lead in leads]


def json_dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def parse_ts(ts):
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


_shared_server = None


def shared_server():
    global _shared_server
    if _shared_server is None or _shared_server.proc.poll() is not None:
        if _shared_server is not None:
            _shared_server.close()
        _shared_server = Server()
    return _shared_server


def tearDownModule():
    global _shared_server
    if _shared_server is not None:
        _shared_server.close()
        _shared_server = None


class LeadApiTest(ServerTest):
    """Base class: shares one server across the classes of this module, plus assertions."""

    @classmethod
    def setUpClass(cls):
        cls.server = shared_server()

    @classmethod
    def tearDownClass(cls):
        pass  # the shared server is closed by tearDownModule

    # --- requests -------------------------------------------------------------------------

    def req(self, method, path, body=None, **kw):
        return self.server.request(method, path, body, **kw)

    def create(self, key="default", **fields):
        """Creates a lead (201 asserted) and returns its data."""
        body = {"name": "Ada Lovelace", "email": unique_email()}
        body.update(fields)
        r = self.req("POST", "/api/v1/leads", body, auth=key)
        return self.lead_of(r, 201)

    def get_lead(self, lead_id, key="default"):
        r = self.req("GET", f"/api/v1/leads/{lead_id}", auth=key)
        return self.lead_of(r), r.headers["etag"]

    def update(self, lead_id, body, method="PUT", key="default"):
        return self.req(method, f"/api/v1/leads/{lead_id}", body, auth=key)

    def list_leads(self, query="", key="default"):
        """GET /api/v1/leads?query; asserts the envelope and returns (leads, pagination)."""
        path = "/api/v1/leads" + ("?" + query if query else "")
        r = self.req("GET", path, auth=key)
        self.assertEqual(r.status, 200, (path, r))
        self.assertJsonContentType(r)
        body = r.json()
        self.assertEqual(set(body), {"success", "data"}, body)
        self.assertIs(body["success"], True)
        self.assertEqual(set(body["data"]), {"leads", "pagination"}, body)
        p = body["data"]["pagination"]
        keys = set(p)
        if p.get("hasNext") is True:
            keys.discard("nextCursor")  # API.md's cursor extension, present only with more results
        self.assertEqual(keys, PAGINATION_KEYS, p)
        for name in ("page", "limit", "total", "totalPages"):
            self.assertIs(type(p[name]), int, p)
        for name in ("hasNext", "hasPrev"):
            self.assertIs(type(p[name]), bool, p)
        self.assertIsInstance(body["data"]["leads"], list)
        for lead in body["data"]["leads"]:
            self.assertLead(lead)
        # The pagination of page numbers, as API.md shows it (test_list checks the cursors).
        return body["data"]["leads"], {k: v for k, v in p.items() if k != "nextCursor"}

    # --- assertions -----------------------------------------------------------------------

    def assertJsonContentType(self, r):
        ct = r.headers.get("content-type", "")
        self.assertTrue(ct.startswith("application/json"), (ct, r))

    def assertError(self, r, status, code):
        body = super().assertError(r, status, code)
        self.assertJsonContentType(r)
        self.assertLessEqual(set(body), ERROR_KEYS, body)
        self.assertIsInstance(body["requestId"], str, body)
        self.assertTrue(body["requestId"], body)
        return body

    def assertValidation(self, r, field, value=_ANY, message=None):
        body = self.assertError(r, 400, "VALIDATION_ERROR")
        self.assertEqual(body["error"], "Validation failed", body)
        details = body.get("details")
        self.assertIsInstance(details, dict, body)
        self.assertEqual(details.get("field"), field, body)
        self.assertIsInstance(details.get("message"), str, body)
        self.assertTrue(details["message"].strip(), body)
        if value is not _ANY:
            self.assertIn("value", details, body)
            self.assertEqual(details["value"], value, body)
        if message is not None:
            self.assertEqual(details["message"], message, body)
        return body

    def assertLead(self, lead, workspace_id=None):
        self.assertIsInstance(lead, dict)
        self.assertEqual(set(lead), LEAD_KEYS, lead)
        self.assertRegex(lead["id"], LEAD_ID_RE)
        self.assertRegex(lead["workspaceId"], WS_ID_RE)
        self.assertRegex(lead["createdAt"], TS_RE)
        self.assertRegex(lead["updatedAt"], TS_RE)
        self.assertGreaterEqual(lead["updatedAt"], lead["createdAt"], lead)
        self.assertIsInstance(lead["name"], str)
        self.assertIsInstance(lead["email"], str)
        self.assertTrue(lead["phone"] is None or isinstance(lead["phone"], str), lead)
        self.assertTrue(lead["source"] is None or isinstance(lead["source"], str), lead)
        self.assertIn(lead["status"], STATUSES)
        self.assertIsInstance(lead["metadata"], dict)
        if workspace_id is not None:
            self.assertEqual(lead["workspaceId"], workspace_id, lead)

    def lead_of(self, r, status=200):
        """Asserts a one-lead success response (envelope, ETag) and returns the lead."""
        self.assertEqual(r.status, status, r)
        self.assertJsonContentType(r)
        body = r.json()
        self.assertEqual(set(body), {"success", "data"}, body)
        self.assertIs(body["success"], True, body)
        self.assertLead(body["data"])
        self.assertRegex(r.headers.get("etag", ""), ETAG_RE, r.headers)
        return body["data"]

    def assertUnchanged(self, lead, etag, key="default"):
        now, now_etag = self.get_lead(lead["id"], key)
        self.assertEqual(now, lead)
        self.assertEqual(now_etag, etag)

    def assertLeadNotFound(self, r):
        return self.assertError(r, 404, "LEAD_NOT_FOUND")


# =============================================================================================
class CreateLeadTest(LeadApiTest):

    def test_create_returns_201_with_lead_location_and_etag(self):
        email = unique_email("full")
        body = {"name": "John Smith", "email": email, "phone": "+1-555-456-7890",
                "source": "webinar", "status": "qualified",
                "metadata": {"company": "New Tech Corp", "interests": ["a", "b"], "score": 85}}
        r = self.req("POST", "/api/v1/leads", body)
        lead = self.lead_of(r, 201)
        for k, v in body.items():
            self.assertEqual(lead[k], v, k)
        self.assertEqual(lead["createdAt"], lead["updatedAt"])
        self.assertEqual(r.headers.get("location"), f"/api/v1/leads/{lead['id']}")
        created = parse_ts(lead["createdAt"])
        now = datetime.now(timezone.utc)
        self.assertLess(abs(now - created), timedelta(minutes=5), "createdAt is not UTC now")
        got, etag = self.get_lead(lead["id"])
        self.assertEqual(got, lead)
        self.assertEqual(etag, r.headers["etag"])

    def test_create_defaults(self):
        lead = self.create()
        self.assertIsNone(lead["phone"])
        self.assertIsNone(lead["source"])
        self.assertEqual(lead["status"], "new")
        self.assertEqual(lead["metadata"], {})
        explicit_nulls = self.create(phone=None, source=None)
        self.assertIsNone(explicit_nulls["phone"])
        self.assertIsNone(explicit_nulls["source"])

    def test_leads_of_one_key_share_its_workspace_and_get_distinct_ids(self):
        a, b = self.create(), self.create()
        self.assertEqual(a["workspaceId"], b["workspaceId"])
        self.assertNotEqual(a["id"], b["id"])

    def test_name_is_trimmed_and_counted_in_code_points(self):
        self.assertEqual(self.create(name="  Ada Lovelace  ")["name"], "Ada Lovelace")
        for name in ["A", "a" * 200, "é" * 200, "日" * 200, "😀" * 200, "  " + "b" * 200 + "  "]:
            with self.subTest(name=name[:5], length=len(name)):
                self.assertEqual(self.create(name=name)["name"], name.strip())

    def test_invalid_name(self):
        cases = [("missing", _ANY), ("", ""), ("   ", _ANY), ("a" * 201, _ANY),
                 ("é" * 201, _ANY), ("😀" * 201, _ANY), (123, 123), (None, _ANY), (["x"], _ANY)]
        for name, value in cases:
            with self.subTest(name=repr(name)[:20]):
                body = {"email": unique_email()}
                if name != "missing":
                    body["name"] = name
                r = self.req("POST", "/api/v1/leads", body)
                self.assertValidation(r, "name", value)

    def test_email_stored_as_given(self):
        email = f"Mixed.Case+Tag.{uuid.uuid4().hex[:8]}@Example.COM"
        self.assertEqual(self.create(email=email)["email"], email)
        u = uuid.uuid4().hex[:8]
        for email in [f"first.last-{u}@sub.example.co.uk", f"o'brien_{u}@example.io"]:
            with self.subTest(email=email):
                self.assertEqual(self.create(email=email)["email"], email)

    def test_email_max_length_254(self):
        def address(total):
            local = uuid.uuid4().hex + "a" * 32  # 64 characters, unique
            filler = total - 64 - 1 - 64 - 64 - 4
            domain = "b" * 63 + "." + "c" * 63 + "." + "d" * filler + ".com"
            e = f"{local}@{domain}"
            self.assertEqual(len(e), total)
            return e
        ok = address(254)
        self.assertEqual(self.create(email=ok)["email"], ok)
        r = self.req("POST", "/api/v1/leads", {"name": "Long", "email": address(255)})
        self.assertValidation(r, "email")

    def test_invalid_email(self):
        cases = ["missing", "", "plainaddress", "with space@example.com", "@example.com",
                 "user@", "user@example", "a@b@example.com", "user@@example.com", 123, None]
        for email in cases:
            with self.subTest(email=email):
                body = {"name": "Bad Email"}
                if email != "missing":
                    body["email"] = email
                r = self.req("POST", "/api/v1/leads", body)
                self.assertValidation(r, "email", _ANY if email in ("missing", None) else email)

    def test_duplicate_email_is_case_insensitive(self):
        u = uuid.uuid4().hex[:10]
        first = self.create(email=f"dup.{u}@example.com")
        for sent in [f"dup.{u}@example.com", f"DUP.{u}@Example.COM"]:
            with self.subTest(sent=sent):
                r = self.req("POST", "/api/v1/leads", {"name": "Second", "email": sent})
                body = self.assertError(r, 409, "DUPLICATE_EMAIL")
                self.assertEqual(body["error"], "Email already exists")
                self.assertEqual(body["details"], {"email": sent, "existingLeadId": first["id"],
                                                   "message": DUPLICATE_MESSAGE})
        self.assertUnchanged(first, self.get_lead(first["id"])[1])

    def test_phone_rules(self):
        for phone in ["+1-555-456-7890", "(555) 123.4567", "5551234", "555 1234",
                      "+" + "1" * 20, "1-2-3-4-5-6-7"]:
            with self.subTest(phone=phone):
                self.assertEqual(self.create(phone=phone)["phone"], phone)
        for phone in ["555123", "+1 (55) 5-1", "1" * 21, "555-CALL-NOW", "555 123 4567 x12",
                      "555_123_4567", "", "+1/555/123/4567", 5551234567]:
            with self.subTest(phone=phone):
                r = self.req("POST", "/api/v1/leads",
                             {"name": "P", "email": unique_email(), "phone": phone})
                self.assertValidation(r, "phone", phone)

    def test_source_rules(self):
        for source in ["website", "x", "s" * 100, "Google Ads"]:
            with self.subTest(source=source):
                self.assertEqual(self.create(source=source)["source"], source)
        for source in ["", "s" * 101, 42, ["webinar"]]:
            with self.subTest(source=repr(source)[:20]):
                r = self.req("POST", "/api/v1/leads",
                             {"name": "S", "email": unique_email(), "source": source})
                self.assertValidation(r, "source")

    def test_status_rules(self):
        for status in STATUSES:
            with self.subTest(status=status):
                self.assertEqual(self.create(status=status)["status"], status)
        r = self.req("POST", "/api/v1/leads",
                     {"name": "S", "email": unique_email(), "status": "invalid_status"})
        self.assertValidation(r, "status", "invalid_status", STATUS_MESSAGE)
        for status in ["New", "QUALIFIED", "", "follow-up", 1]:
            with self.subTest(status=status):
                r = self.req("POST", "/api/v1/leads",
                             {"name": "S", "email": unique_email(), "status": status})
                self.assertValidation(r, "status")

    def test_metadata_stored_as_given_with_nulls(self):
        metadata = {"company": "Acme", "nothing": None, "list": [1, None, {"x": None}],
                    "nested": {"deep": {"k": None, "v": True}}, "n": 1.5, "neg": -3, "b": False,
                    "unicode": "日本 😀"}
        self.assertEqual(self.create(metadata=metadata)["metadata"], metadata)

    def test_metadata_depth_16_allowed_17_rejected(self):
        self.assertEqual(self.create(metadata=nested(16))["metadata"], nested(16))
        r = self.req("POST", "/api/v1/leads",
                     {"name": "Deep", "email": unique_email(), "metadata": nested(17)})
        self.assertValidation(r, "metadata")

    def test_metadata_size_limit_64_kib(self):
        small = {"pad": "x" * 60000}
        self.assertEqual(self.create(metadata=small)["metadata"], small)
        for metadata in [{"pad": "x" * 65536}, {f"k{i}": "y" * 100 for i in range(700)}]:
            with self.subTest(keys=len(metadata)):
                r = self.req("POST", "/api/v1/leads",
                             {"name": "Big", "email": unique_email(), "metadata": metadata})
                self.assertValidation(r, "metadata")

    def test_metadata_must_be_an_object(self):
        for metadata in [[], ["a"], "text", 42, True]:
            with self.subTest(metadata=metadata):
                r = self.req("POST", "/api/v1/leads",
                             {"name": "M", "email": unique_email(), "metadata": metadata})
                self.assertValidation(r, "metadata")

    def test_unknown_top_level_field_rejected_and_nothing_created(self):
        email = unique_email()
        for field in ["company", "Name", "emails"]:
            with self.subTest(field=field):
                r = self.req("POST", "/api/v1/leads",
                             {"name": "U", "email": email, field: "x"})
                self.assertValidation(r, field)
        # The rejected requests created nothing: the email is still free.
        self.assertEqual(self.create(email=email)["email"], email)


# =============================================================================================
class GetAndDeleteLeadTest(LeadApiTest):

    def test_get_returns_the_lead_with_etag(self):
        lead = self.create(phone="555-1234", source="referral", metadata={"a": 1})
        r = self.req("GET", f"/api/v1/leads/{lead['id']}")
        self.assertEqual(self.lead_of(r), lead)
        r2 = self.req("GET", f"/api/v1/leads/{lead['id']}")
        self.assertEqual(r2.headers["etag"], r.headers["etag"])

    def test_get_unknown_or_malformed_id_is_404(self):
        for lead_id in [UNKNOWN_LEAD_ID] + MALFORMED_LEAD_IDS:
            with self.subTest(lead_id=lead_id):
                self.assertLeadNotFound(self.req("GET", f"/api/v1/leads/{lead_id}"))

    def test_delete_returns_exact_body_then_lead_is_gone(self):
        lead = self.create()
        r = self.req("DELETE", f"/api/v1/leads/{lead['id']}")
        self.assertEqual(r.status, 200, r)
        self.assertJsonContentType(r)
        body = r.json()
        self.assertEqual(set(body), {"success", "message", "data"}, body)
        self.assertIs(body["success"], True)
        self.assertEqual(body["message"], "Lead deleted successfully")
        self.assertEqual(set(body["data"]), {"id", "deletedAt"}, body)
        self.assertEqual(body["data"]["id"], lead["id"])
        self.assertRegex(body["data"]["deletedAt"], TS_RE)
        self.assertGreaterEqual(body["data"]["deletedAt"], lead["createdAt"])
        path = f"/api/v1/leads/{lead['id']}"
        self.assertLeadNotFound(self.req("GET", path))
        self.assertLeadNotFound(self.req("PUT", path, {"name": "Ghost"}))
        self.assertLeadNotFound(self.req("PATCH", path, {"name": "Ghost"}))
        self.assertLeadNotFound(self.req("DELETE", path))

    def test_delete_frees_the_email_and_the_id_is_never_reused(self):
        ws, key = self.server.new_workspace("delete-reuse")
        email = unique_email("reuse")
        lead = self.create(key=key, email=email)
        self.assertEqual(self.req("DELETE", f"/api/v1/leads/{lead['id']}", auth=key).status, 200)
        again = self.create(key=key, email=email.upper())
        self.assertNotEqual(again["id"], lead["id"])
        new_ids = {again["id"]} | {self.create(key=key)["id"] for _ in range(20)}
        self.assertNotIn(lead["id"], new_ids)
        leads, p = self.list_leads("limit=100", key=key)
        self.assertNotIn(lead["id"], ids(leads))
        self.assertEqual(p["total"], 21)

    def test_delete_unknown_or_malformed_id_is_404(self):
        for lead_id in [UNKNOWN_LEAD_ID] + MALFORMED_LEAD_IDS:
            with self.subTest(lead_id=lead_id):
                self.assertLeadNotFound(self.req("DELETE", f"/api/v1/leads/{lead_id}"))


# =============================================================================================
class UpdateLeadTest(LeadApiTest):
    METHODS = ("PUT", "PATCH")

    def full_lead(self, **fields):
        body = {"name": "Jon Smith", "email": unique_email("john.doe"), "phone": "+1-555-000-1111",
                "source": "website", "status": "new", "metadata": {"utm_source": "google"}}
        body.update(fields)
        lead = self.create(**body)
        return self.get_lead(lead["id"])

    def assertChanged(self, before, before_etag, r, expected_changes):
        """The response is `before` with exactly `expected_changes` applied, a strictly later
        updatedAt, a new ETag, and GET agrees with it."""
        after = self.lead_of(r)
        expected = dict(before, **expected_changes)
        self.assertEqual({k: v for k, v in after.items() if k != "updatedAt"},
                         {k: v for k, v in expected.items() if k != "updatedAt"})
        self.assertGreater(after["updatedAt"], before["updatedAt"])
        self.assertGreaterEqual(after["updatedAt"], after["createdAt"])
        self.assertNotEqual(r.headers["etag"], before_etag)
        got, etag = self.get_lead(after["id"])
        self.assertEqual(got, after)
        self.assertEqual(etag, r.headers["etag"])
        return after

    def test_only_sent_fields_change(self):
        for method in self.METHODS:
            with self.subTest(method=method):
                lead, etag = self.full_lead()
                r = self.update(lead["id"], {"status": "contacted", "phone": "+1-555-123-9999"},
                                method)
                self.assertChanged(lead, etag, r, {"status": "contacted",
                                                   "phone": "+1-555-123-9999"})

    def test_every_field_can_be_updated(self):
        for method in self.METHODS:
            with self.subTest(method=method):
                lead, etag = self.full_lead()
                changes = {"name": "Grace Hopper", "email": unique_email("grace"),
                           "phone": "(555) 987.6543", "source": "referral", "status": "follow_up"}
                r = self.update(lead["id"], dict(changes, name="  Grace Hopper  "), method)
                self.assertChanged(lead, etag, r, changes)

    def test_seed_example_merges_metadata(self):
        for method in self.METHODS:
            with self.subTest(method=method):
                lead, etag = self.full_lead(
                    metadata={"utm_source": "google", "utm_campaign": "spring_2024"})
                patch = {"name": "John Smith", "phone": "+1-555-456-7890", "status": "qualified",
                         "source": "webinar",
                         "metadata": {"company": "New Tech Corp", "job_title": "Senior Manager",
                                      "budget": "$50k-100k", "timeline": "Q2 2024",
                                      "interests": ["enterprise_solution", "support_package"]}}
                r = self.update(lead["id"], patch, method)
                self.assertChanged(lead, etag, r, {
                    "name": "John Smith", "phone": "+1-555-456-7890", "status": "qualified",
                    "source": "webinar",
                    "metadata": {"utm_source": "google", "utm_campaign": "spring_2024",
                                 "company": "New Tech Corp", "job_title": "Senior Manager",
                                 "budget": "$50k-100k", "timeline": "Q2 2024",
                                 "interests": ["enterprise_solution", "support_package"]}})

    def test_metadata_is_a_json_merge_patch(self):
        original = {"keep": 1, "drop": "x", "nested": {"a": 1, "b": {"c": 2, "d": 3}},
                    "list": [1, 2, 3], "obj_to_scalar": {"x": 1}, "scalar_to_obj": 5,
                    "was_null": None}
        patch = {"drop": None, "nested": {"b": {"c": None, "e": 4}, "f": [9]},
                 "list": [4, {"k": None}], "obj_to_scalar": "s", "scalar_to_obj": {"y": 2},
                 "new": {"z": None, "w": 1}, "absent": None, "was_null": None}
        merged = {"keep": 1, "nested": {"a": 1, "b": {"d": 3, "e": 4}, "f": [9]},
                  "list": [4, {"k": None}], "obj_to_scalar": "s", "scalar_to_obj": {"y": 2},
                  "new": {"w": 1}}
        for method in self.METHODS:
            with self.subTest(method=method):
                lead, etag = self.full_lead(metadata=original)
                self.assertEqual(lead["metadata"], original)
                r = self.update(lead["id"], {"metadata": patch}, method)
                self.assertChanged(lead, etag, r, {"metadata": merged})

    def test_invalid_metadata_rejected_and_nothing_changed(self):
        lead, etag = self.full_lead(metadata={"a": {"b": 1}})
        for method in self.METHODS:
            for metadata in [None, [], ["x"], "text", 7, nested(17), {"a": nested(16)},
                             {"pad": "x" * 65536}]:
                with self.subTest(method=method, metadata=repr(metadata)[:30]):
                    r = self.update(lead["id"], {"metadata": metadata, "status": "lost"}, method)
                    self.assertValidation(r, "metadata")
        self.assertUnchanged(lead, etag)

    def test_null_name_email_status_rejected(self):
        lead, etag = self.full_lead()
        for method in self.METHODS:
            for field in ["name", "email", "status"]:
                with self.subTest(method=method, field=field):
                    self.assertValidation(self.update(lead["id"], {field: None}, method), field)
        self.assertUnchanged(lead, etag)

    def test_null_phone_and_source_clear_them(self):
        for method in self.METHODS:
            with self.subTest(method=method):
                lead, etag = self.full_lead()
                r = self.update(lead["id"], {"phone": None, "source": None}, method)
                self.assertChanged(lead, etag, r, {"phone": None, "source": None})

    def test_invalid_values_rejected_and_nothing_changed(self):
        lead, etag = self.full_lead()
        cases = [("name", ""), ("name", "   "), ("name", "n" * 201), ("name", 5),
                 ("email", "not-an-email"), ("email", "a b@example.com"), ("email", 5),
                 ("phone", "12"), ("phone", "call-me-maybe"), ("phone", "1" * 21),
                 ("source", ""), ("source", "s" * 101), ("status", "New"), ("status", 3)]
        for method in self.METHODS:
            for field, value in cases:
                with self.subTest(method=method, field=field, value=repr(value)[:20]):
                    r = self.update(lead["id"], {field: value}, method)
                    self.assertValidation(r, field)
            with self.subTest(method=method, field="status", value="invalid_status"):
                r = self.update(lead["id"], {"status": "invalid_status"}, method)
                self.assertValidation(r, "status", "invalid_status", STATUS_MESSAGE)
            with self.subTest(method=method, field="unknown"):
                r = self.update(lead["id"], {"status": "lost", "company": "Acme"}, method)
                self.assertValidation(r, "company")
        self.assertUnchanged(lead, etag)

    def test_read_only_fields_with_different_values_rejected(self):
        lead, etag = self.full_lead()
        other = self.create()
        ws_other, _ = self.server.new_workspace("readonly-other")
        different = {"id": other["id"], "createdAt": "2020-01-01T00:00:00.000Z",
                     "workspaceId": ws_other}
        for method in self.METHODS:
            for field, value in different.items():
                with self.subTest(method=method, field=field):
                    r = self.update(lead["id"], {field: value, "name": "Changed"}, method)
                    self.assertValidation(r, field, message=f"{field} cannot be modified")
        self.assertUnchanged(lead, etag)

    def test_read_only_fields_with_current_values_accepted(self):
        for method in self.METHODS:
            with self.subTest(method=method):
                lead, etag = self.full_lead()
                body = {"id": lead["id"], "createdAt": lead["createdAt"],
                        "workspaceId": lead["workspaceId"], "status": "converted"}
                r = self.update(lead["id"], body, method)
                self.assertChanged(lead, etag, r, {"status": "converted"})

    def test_echoing_the_whole_lead_back_is_a_no_op(self):
        for fields in [{}, {"phone": None, "source": None, "metadata": {}}]:
            for method in self.METHODS:
                with self.subTest(method=method, fields=fields):
                    lead, etag = self.full_lead(**fields)
                    r = self.update(lead["id"], lead, method)
                    self.assertEqual(self.lead_of(r), lead)
                    self.assertEqual(r.headers["etag"], etag)
                    self.assertUnchanged(lead, etag)

    def test_sent_updated_at_is_ignored(self):
        lead, etag = self.full_lead()
        for stamp in ["2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z", "junk"]:
            with self.subTest(stamp=stamp):
                r = self.update(lead["id"], {"updatedAt": stamp})
                self.assertEqual(self.lead_of(r), lead)
                self.assertEqual(r.headers["etag"], etag)
        echoed = dict(lead, name="Renamed", updatedAt="2000-01-01T00:00:00.000Z")
        self.assertChanged(lead, etag, self.update(lead["id"], echoed), {"name": "Renamed"})

    def test_update_that_changes_nothing_keeps_updated_at_and_etag(self):
        lead, etag = self.full_lead(metadata={"k": {"v": 1}, "list": [1, 2]})
        no_ops = [{}, {"name": lead["name"]}, {"name": f"  {lead['name']} "},
                  {"email": lead["email"], "status": lead["status"], "phone": lead["phone"],
                   "source": lead["source"]},
                  {"metadata": {}}, {"metadata": {"k": {"v": 1}}}, {"metadata": {"list": [1, 2]}},
                  {"metadata": {"absent": None}}, {"metadata": {"k": {"absent": None}}}]
        for method in self.METHODS:
            for body in no_ops:
                with self.subTest(method=method, body=body):
                    r = self.update(lead["id"], body, method)
                    self.assertEqual(self.lead_of(r), lead)
                    self.assertEqual(r.headers["etag"], etag)
        self.assertUnchanged(lead, etag)

    def test_updated_at_strictly_increases_and_etag_changes_on_every_change(self):
        lead, etag = self.full_lead()
        stamps, etags = [lead["updatedAt"]], [etag]
        for i in range(8):
            method = self.METHODS[i % 2]
            r = self.update(lead["id"], {"status": STATUSES[(i + 1) % len(STATUSES)],
                                         "metadata": {"i": i}}, method)
            after = self.lead_of(r)
            self.assertEqual(after["createdAt"], lead["createdAt"])
            self.assertEqual(after["id"], lead["id"])
            stamps.append(after["updatedAt"])
            etags.append(r.headers["etag"])
        self.assertEqual(stamps, sorted(set(stamps)), "updatedAt not strictly increasing")
        self.assertEqual(len(set(etags)), len(etags), etags)

    def test_email_change_to_another_leads_email_is_409(self):
        u = uuid.uuid4().hex[:10]
        taken = self.create(email=f"taken.{u}@example.com")
        for method in self.METHODS:
            lead, etag = self.full_lead()
            for sent in [f"taken.{u}@example.com", f"Taken.{u}@EXAMPLE.com"]:
                with self.subTest(method=method, sent=sent):
                    r = self.update(lead["id"], {"email": sent, "status": "lost"}, method)
                    body = self.assertError(r, 409, "DUPLICATE_EMAIL")
                    self.assertEqual(body["error"], "Email already exists")
                    self.assertEqual(body["details"],
                                     {"email": sent, "existingLeadId": taken["id"],
                                      "message": DUPLICATE_MESSAGE})
            self.assertUnchanged(lead, etag)

    def test_email_case_change_of_own_email_is_allowed(self):
        for method in self.METHODS:
            with self.subTest(method=method):
                u = uuid.uuid4().hex[:10]
                lead, etag = self.full_lead(email=f"case.{u}@example.com")
                r = self.update(lead["id"], {"email": f"CASE.{u}@Example.com"}, method)
                self.assertChanged(lead, etag, r, {"email": f"CASE.{u}@Example.com"})

    def test_email_change_frees_the_old_email(self):
        lead, _ = self.full_lead()
        old, new = lead["email"], unique_email("moved")
        self.assertEqual(self.lead_of(self.update(lead["id"], {"email": new}))["email"], new)
        self.assertEqual(self.create(email=old)["email"], old)
        r = self.req("POST", "/api/v1/leads", {"name": "N", "email": new.upper()})
        self.assertEqual(self.assertError(r, 409, "DUPLICATE_EMAIL")["details"]["existingLeadId"],
                         lead["id"])

    def test_update_unknown_or_malformed_id_is_404(self):
        for method in self.METHODS:
            for lead_id in [UNKNOWN_LEAD_ID] + MALFORMED_LEAD_IDS:
                with self.subTest(method=method, lead_id=lead_id):
                    self.assertLeadNotFound(self.update(lead_id, {"status": "lost"}, method))


# =============================================================================================
class ListLeadsTest(LeadApiTest):

    def test_empty_workspace(self):
        _, key = self.server.new_workspace("list-empty")
        leads, p = self.list_leads(key=key)
        self.assertEqual(leads, [])
        self.assertEqual(p, {"page": 1, "limit": 10, "total": 0, "totalPages": 0,
                             "hasNext": False, "hasPrev": False})
        leads, p = self.list_leads("page=3&limit=5", key=key)
        self.assertEqual(leads, [])
        self.assertEqual((p["page"], p["limit"], p["total"], p["totalPages"], p["hasNext"]),
                         (3, 5, 0, 0, False), p)

    def test_pagination_and_newest_first_order(self):
        ws, key = self.server.new_workspace("list-pages")
        created = [self.create(key=key, name=f"Lead {i:02d}") for i in range(25)]
        stamps = [lead["createdAt"] for lead in created]
        self.assertEqual(stamps, sorted(stamps), "a later create got an older createdAt")
        expected = ids(newest_first(created))

        leads, p = self.list_leads(key=key)
        self.assertEqual(ids(leads), expected[:10])
        self.assertEqual(p, {"page": 1, "limit": 10, "total": 25, "totalPages": 3,
                             "hasNext": True, "hasPrev": False})
        self.assertEqual(leads, newest_first(created)[:10])
        for lead in leads:
            self.assertEqual(lead["workspaceId"], ws)

        leads, p = self.list_leads("page=2", key=key)
        self.assertEqual(ids(leads), expected[10:20])
        self.assertEqual(p, {"page": 2, "limit": 10, "total": 25, "totalPages": 3,
                             "hasNext": True, "hasPrev": True})

        leads, p = self.list_leads("page=3", key=key)
        self.assertEqual(ids(leads), expected[20:])
        self.assertEqual(p, {"page": 3, "limit": 10, "total": 25, "totalPages": 3,
                             "hasNext": False, "hasPrev": True})

        leads, p = self.list_leads("page=4", key=key)
        self.assertEqual(leads, [])
        self.assertEqual(p, {"page": 4, "limit": 10, "total": 25, "totalPages": 3,
                             "hasNext": False, "hasPrev": True})

        leads, p = self.list_leads("limit=100", key=key)
        self.assertEqual(ids(leads), expected)
        self.assertEqual(p, {"page": 1, "limit": 100, "total": 25, "totalPages": 1,
                             "hasNext": False, "hasPrev": False})

        leads, p = self.list_leads("limit=5&page=5", key=key)
        self.assertEqual(ids(leads), expected[20:25])
        self.assertEqual(p, {"page": 5, "limit": 5, "total": 25, "totalPages": 5,
                             "hasNext": False, "hasPrev": True})

        paged = []
        for page in range(1, 10):
            leads, p = self.list_leads(f"limit=3&page={page}", key=key)
            paged += ids(leads)
            self.assertEqual(p["totalPages"], 9)
            self.assertEqual(p["hasNext"], page < 9)
            self.assertEqual(p["hasPrev"], page > 1)
        self.assertEqual(paged, expected)

        leads, p = self.list_leads("limit=1", key=key)
        self.assertEqual(ids(leads), expected[:1])
        self.assertEqual(p["totalPages"], 25)

    def test_list_reflects_updates_and_deletes(self):
        _, key = self.server.new_workspace("list-changes")
        a, b, c = (self.create(key=key) for _ in range(3))
        r = self.update(b["id"], {"status": "qualified", "name": "Renamed"}, key=key)
        b = self.lead_of(r)
        leads, p = self.list_leads(key=key)
        self.assertEqual(ids(leads), ids(newest_first([a, b, c])))  # updates do not reorder
        self.assertIn(b, leads)
        leads, p = self.list_leads("status=qualified", key=key)
        self.assertEqual(ids(leads), [b["id"]])
        self.assertEqual(self.req("DELETE", f"/api/v1/leads/{c['id']}", auth=key).status, 200)
        leads, p = self.list_leads(key=key)
        self.assertEqual(ids(leads), ids(newest_first([a, b])))
        self.assertEqual(p["total"], 2)

    def test_invalid_query_parameters(self):
        cases = [("page", "0"), ("page", "-1"), ("page", "abc"), ("page", "1.5"),
                 ("page", "2x"), ("limit", "0"), ("limit", "101"), ("limit", "-5"),
                 ("limit", "ten"), ("limit", "10abc"), ("limit", "2.5"),
                 ("limit", "99999999999999999999"), ("status", "bogus"),
                 ("status", "Qualified"), ("status", "invalid_status")]
        for name, value in cases:
            with self.subTest(param=name, value=value):
                r = self.req("GET", f"/api/v1/leads?{name}={value}")
                body = self.assertValidation(r, name)
                if "value" in body["details"]:
                    self.assertEqual(str(body["details"]["value"]), value, body)
        r = self.req("GET", "/api/v1/leads?status=invalid_status")
        self.assertValidation(r, "status", "invalid_status", STATUS_MESSAGE)

    def test_unknown_query_parameters_are_ignored(self):
        _, key = self.server.new_workspace("list-unknown-params")
        lead = self.create(key=key)
        leads, p = self.list_leads("foo=bar&page=1&x=&limit=10", key=key)
        self.assertEqual(ids(leads), [lead["id"]])
        self.assertEqual(p["total"], 1)

    def test_filters(self):
        _, key = self.server.new_workspace("list-filters")  # fresh: emails need no suffix
        specs = {
            "ada": dict(name="Ada Lovelace", email="ada@analytical.org", source="webinar",
                        status="qualified"),
            "grace": dict(name="Grace Hopper", email="grace+navy@cobol.example.com",
                          source="Webinar", status="qualified"),
            "alan": dict(name="Alan Turing", email="alan@bletchley.example.com",
                         source="referral", status="new"),
            "yonath": dict(name="Ada Yonath", email="yonath@weizmann.example.com",
                           source="webinar", status="contacted"),
            "kj": dict(name="Katherine Johnson", email="KJ@NASA.example.com",
                       source="google ads", status="follow_up"),
            "linus": dict(name="Linus", email="linus@kernel.org", status="qualified",
                          phone="555-1234", metadata={"note": "ada"}),
        }
        leads = {k: self.create(key=key, **v) for k, v in specs.items()}
        cases = {
            "": list(specs),
            "status=qualified": ["ada", "grace", "linus"],
            "status=follow_up": ["kj"],
            "status=lost": [],
            "source=webinar": ["ada", "yonath"],
            "source=Webinar": ["grace"],
            "source=web": [],
            "source=WEBINAR": [],
            "source=google+ads": ["kj"],
            "source=google%20ads": ["kj"],
            "search=ada": ["ada", "yonath"],
            "search=ADA": ["ada", "yonath"],
            "search=lovelace": ["ada"],
            "search=ada+lovelace": ["ada"],
            "search=Ada%20Lovelace": ["ada"],
            "search=%40nasa": ["kj"],
            "search=%40NaSa.EXAMPLE": ["kj"],
            "search=%40": list(specs),
            "search=grace%2Bnavy": ["grace"],
            "search=grace+navy": [],
            "search=example.com": ["grace", "alan", "yonath", "kj"],
            "search=referral": [],
            "search=555": [],
            "search=nothing-matches": [],
            "status=qualified&source=webinar": ["ada"],
            "status=qualified&search=ada": ["ada"],
            "source=webinar&search=yonath": ["yonath"],
            "status=new&source=webinar": [],
            "status=qualified&source=webinar&search=LOVE": ["ada"],
        }
        for query, names in cases.items():
            with self.subTest(query=query):
                got, p = self.list_leads(query, key=key)
                self.assertEqual(ids(got), ids(newest_first([leads[n] for n in names])))
                self.assertEqual(p["total"], len(names))
                self.assertEqual(p["totalPages"], (len(names) + 9) // 10)

        qualified = ids(newest_first([leads[n] for n in ["ada", "grace", "linus"]]))
        got, p = self.list_leads("status=qualified&limit=2", key=key)
        self.assertEqual(ids(got), qualified[:2])
        self.assertEqual(p, {"page": 1, "limit": 2, "total": 3, "totalPages": 2,
                             "hasNext": True, "hasPrev": False})
        got, p = self.list_leads("status=qualified&search=%40&limit=2&page=2", key=key)
        self.assertEqual(ids(got), qualified[2:])
        self.assertEqual(p, {"page": 2, "limit": 2, "total": 3, "totalPages": 2,
                             "hasNext": False, "hasPrev": True})


# =============================================================================================
class WorkspaceScopingTest(LeadApiTest):

    def test_lead_of_another_workspace_is_not_found(self):
        ws_a, key_a = self.server.new_workspace("scope-a")
        ws_b, key_b = self.server.new_workspace("scope-b")
        lead = self.create(key=key_a, metadata={"secret": 1})
        self.assertEqual(lead["workspaceId"], ws_a)
        _, etag = self.get_lead(lead["id"], key_a)
        path = f"/api/v1/leads/{lead['id']}"
        self.assertLeadNotFound(self.req("GET", path, auth=key_b))
        self.assertLeadNotFound(self.req("PUT", path, {"name": "Stolen"}, auth=key_b))
        self.assertLeadNotFound(self.req("PATCH", path, {"name": "Stolen"}, auth=key_b))
        self.assertLeadNotFound(self.req("DELETE", path, auth=key_b))
        self.assertLeadNotFound(self.req("GET", path))  # the default workspace's key
        leads, p = self.list_leads("limit=100", key=key_b)
        self.assertEqual(leads, [])
        self.assertEqual(p["total"], 0)
        leads, _ = self.list_leads("search=" + urllib.parse.quote(lead["email"]), key="default")
        self.assertEqual(leads, [])
        self.assertUnchanged(lead, etag, key_a)

    def test_same_email_in_two_workspaces(self):
        ws_a, key_a = self.server.new_workspace("email-a")
        ws_b, key_b = self.server.new_workspace("email-b")
        email = unique_email("shared")
        a = self.create(key=key_a, email=email)
        b = self.create(key=key_b, email=email.upper())
        self.assertEqual(a["workspaceId"], ws_a)
        self.assertEqual(b["workspaceId"], ws_b)
        self.assertNotEqual(a["id"], b["id"])
        # A duplicate within B names B's lead, not A's.
        r = self.req("POST", "/api/v1/leads", {"name": "Again", "email": email}, auth=key_b)
        self.assertEqual(self.assertError(r, 409, "DUPLICATE_EMAIL")["details"]["existingLeadId"],
                         b["id"])
        # Changing B's other lead to that email conflicts in B only; in a third workspace it is free.
        other_b = self.create(key=key_b)
        r = self.update(other_b["id"], {"email": email}, key=key_b)
        self.assertEqual(self.assertError(r, 409, "DUPLICATE_EMAIL")["details"]["existingLeadId"],
                         b["id"])
        _, key_c = self.server.new_workspace("email-c")
        c = self.create(key=key_c)
        self.assertEqual(self.lead_of(self.update(c["id"], {"email": email}, key=key_c))["email"],
                         email)
        # Deleting A's lead does not free the email in B.
        self.assertEqual(self.req("DELETE", f"/api/v1/leads/{a['id']}", auth=key_a).status, 200)
        r = self.req("POST", "/api/v1/leads", {"name": "Again", "email": email}, auth=key_b)
        self.assertError(r, 409, "DUPLICATE_EMAIL")


# =============================================================================================
class AuthAndProtocolTest(LeadApiTest):

    def lead_routes(self):
        lead = self.create()
        p = f"/api/v1/leads/{lead['id']}"
        return [("GET", "/api/v1/leads", None), ("POST", "/api/v1/leads", {"name": "A",
                 "email": unique_email()}), ("GET", p, None), ("PUT", p, {"name": "B"}),
                ("PATCH", p, {"name": "B"}), ("DELETE", p, None)]

    def test_missing_or_non_bearer_authorization_is_401(self):
        routes = self.lead_routes()
        for header in [None, "Basic dXNlcjpwYXNz", f"Token {self.server.api_key}",
                       self.server.api_key, "Bearer"]:
            for method, path, body in routes:
                with self.subTest(header=header, method=method, path=path):
                    headers = {"Authorization": header} if header is not None else {}
                    r = self.req(method, path, body, auth=None, headers=headers)
                    self.assertError(r, 401, "MISSING_AUTH_HEADER")

    def test_unknown_key_is_401_invalid_api_key(self):
        routes = self.lead_routes()
        for key in [UNKNOWN_KEY, "not-a-key", self.server.api_key + "x",
                    self.server.api_key[:-1] + ("a" if self.server.api_key[-1] != "a" else "b")]:
            for method, path, body in routes:
                with self.subTest(key=key, method=method, path=path):
                    self.assertError(self.req(method, path, body, auth=key), 401,
                                     "INVALID_API_KEY")

    def test_revoked_key_is_401_invalid_api_key(self):
        ws, key = self.server.new_workspace("revoked")
        r = self.server.admin("POST", f"/api/v1/admin/workspaces/{ws}/keys")
        self.assertEqual(r.status, 201, r)
        second = r.json()["data"]
        lead = self.create(key=second["apiKey"])
        r = self.server.admin("DELETE", f"/api/v1/admin/keys/{second['keyId']}")
        self.assertEqual(r.status, 200, r)
        path = f"/api/v1/leads/{lead['id']}"
        for method, p, body in [("GET", "/api/v1/leads", None), ("GET", path, None),
                                ("PUT", path, {"name": "X"}), ("DELETE", path, None),
                                ("POST", "/api/v1/leads", {"name": "Y", "email": unique_email()})]:
            with self.subTest(method=method, path=p):
                self.assertError(self.req(method, p, body, auth=second["apiKey"]), 401,
                                 "INVALID_API_KEY")
        # The workspace's other key still works and the lead is untouched.
        got, _ = self.get_lead(lead["id"], key)
        self.assertEqual(got, lead)

    def test_unknown_routes_are_404_not_found(self):
        paths = ["/api/v1/nothing", "/api/v2/leads", "/api/v1/leadz", "/api/v1/lead",
                 f"/api/v1/leads/{UNKNOWN_LEAD_ID}/notes", "/nope"]
        for path in paths:
            for auth in ["default", None]:
                for method in ["GET", "POST"]:
                    with self.subTest(path=path, auth=auth, method=method):
                        r = self.req(method, path, auth=auth)
                        self.assertError(r, 404, "NOT_FOUND")

    def test_wrong_method_is_405_with_allow(self):
        lead_path = f"/api/v1/leads/{UNKNOWN_LEAD_ID}"
        cases = [("DELETE", "/api/v1/leads", {"GET", "POST"}),
                 ("PUT", "/api/v1/leads", {"GET", "POST"}),
                 ("PATCH", "/api/v1/leads", {"GET", "POST"}),
                 ("POST", lead_path, {"GET", "PUT", "PATCH", "DELETE"})]
        for method, path, allowed in cases:
            for auth in ["default", None]:
                with self.subTest(method=method, path=path, auth=auth):
                    r = self.req(method, path, auth=auth)
                    self.assertError(r, 405, "METHOD_NOT_ALLOWED")
                    allow = {m.strip().upper() for m in r.headers.get("allow", "").split(",")}
                    self.assertLessEqual(allowed, allow, r.headers)
                    self.assertNotIn(method, allow, r.headers)

    def test_body_without_json_content_type_is_415(self):
        lead, etag = self.get_lead(self.create()["id"])
        email = unique_email()
        raw = '{"name": "Typed", "email": "%s"}' % email
        for ctype in ["text/plain", "application/x-www-form-urlencoded", None]:
            headers = {"Content-Type": ctype} if ctype else {}
            for method, path in [("POST", "/api/v1/leads"),
                                 ("PUT", f"/api/v1/leads/{lead['id']}"),
                                 ("PATCH", f"/api/v1/leads/{lead['id']}")]:
                with self.subTest(ctype=ctype, method=method):
                    r = self.req(method, path, raw_body=raw, headers=headers)
                    self.assertError(r, 415, "UNSUPPORTED_MEDIA_TYPE")
        self.assertUnchanged(lead, etag)
        r = self.req("POST", "/api/v1/leads", raw_body=raw,
                     headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(self.lead_of(r, 201)["email"], email)

    def test_invalid_json_is_400(self):
        lead, etag = self.get_lead(self.create()["id"])
        bodies = ['{"name": "x",', "{'name': 'x'}", "[]", '[{"name": "x"}]', "null", "42",
                  '"text"', '{"name": "x", "email": "x@example.com"} trailing', "{", "\xff"]
        for method, path in [("POST", "/api/v1/leads"), ("PUT", f"/api/v1/leads/{lead['id']}"),
                             ("PATCH", f"/api/v1/leads/{lead['id']}")]:
            for raw in bodies:
                with self.subTest(method=method, body=raw):
                    r = self.req(method, path, raw_body=raw.encode("latin-1"),
                                 headers={"Content-Type": "application/json"})
                    self.assertError(r, 400, "INVALID_JSON")
        with self.subTest(body="empty POST"):
            r = self.req("POST", "/api/v1/leads", raw_body=b"",
                         headers={"Content-Type": "application/json"})
            self.assertError(r, 400, "INVALID_JSON")
        self.assertUnchanged(lead, etag)

    def test_order_of_checks(self):
        json_ct = {"Content-Type": "application/json"}
        unknown = f"/api/v1/leads/{UNKNOWN_LEAD_ID}"
        cases = [
            # routing beats authentication
            ("GET", "/api/v1/nothing", None, None, {}, 404, "NOT_FOUND"),
            ("DELETE", "/api/v1/leads", None, None, {}, 405, "METHOD_NOT_ALLOWED"),
            ("POST", unknown, "{bad", UNKNOWN_KEY, json_ct, 405, "METHOD_NOT_ALLOWED"),
            # authentication beats the body
            ("POST", "/api/v1/leads", "{bad", None, json_ct, 401, "MISSING_AUTH_HEADER"),
            ("POST", "/api/v1/leads", "{bad", UNKNOWN_KEY, json_ct, 401, "INVALID_API_KEY"),
            ("POST", "/api/v1/leads", '{"x":1}', None, {"Content-Type": "text/plain"}, 401,
             "MISSING_AUTH_HEADER"),
            ("GET", "/api/v1/leads?limit=0", None, None, {}, 401, "MISSING_AUTH_HEADER"),
            # authentication beats the store
            ("GET", unknown, None, None, {}, 401, "MISSING_AUTH_HEADER"),
            ("DELETE", unknown, None, UNKNOWN_KEY, {}, 401, "INVALID_API_KEY"),
            ("GET", "/api/v1/leads/garbage", None, None, {}, 401, "MISSING_AUTH_HEADER"),
            # the body beats the store
            ("PUT", unknown, "{bad", "default", json_ct, 400, "INVALID_JSON"),
            ("PATCH", unknown, "[]", "default", json_ct, 400, "INVALID_JSON"),
            ("PUT", unknown, '{"status": "bogus"}', "default", json_ct, 400, "VALIDATION_ERROR"),
            ("PUT", unknown, '{"unknownField": 1}', "default", json_ct, 400, "VALIDATION_ERROR"),
            ("PUT", unknown, '{"status": "lost"}', "default", {"Content-Type": "text/plain"},
             415, "UNSUPPORTED_MEDIA_TYPE"),
        ]
        for method, path, raw, auth, headers, status, code in cases:
            with self.subTest(method=method, path=path, body=raw, auth=auth, code=code):
                r = self.req(method, path, raw_body=raw, auth=auth, headers=headers)
                self.assertError(r, status, code)

    def test_validation_beats_duplicate_email(self):
        existing = self.create()
        r = self.req("POST", "/api/v1/leads", {"name": "", "email": existing["email"]})
        self.assertValidation(r, "name")

    def test_request_id_is_echoed(self):
        rid = "it-" + uuid.uuid4().hex
        r = self.req("GET", f"/api/v1/leads/{UNKNOWN_LEAD_ID}", headers={"X-Request-Id": rid})
        body = self.assertLeadNotFound(r)
        self.assertEqual(body["requestId"], rid)
        self.assertEqual(r.headers.get("x-request-id"), rid)
        rid2 = "it-" + uuid.uuid4().hex
        r = self.req("GET", "/api/v1/leads", auth=None, headers={"X-Request-Id": rid2})
        self.assertEqual(self.assertError(r, 401, "MISSING_AUTH_HEADER")["requestId"], rid2)
        self.assertEqual(r.headers.get("x-request-id"), rid2)
        rid3 = "it-" + uuid.uuid4().hex
        r = self.req("GET", "/api/v1/nothing", headers={"X-Request-Id": rid3})
        self.assertEqual(self.assertError(r, 404, "NOT_FOUND")["requestId"], rid3)
        rid4 = "it-" + uuid.uuid4().hex
        r = self.req("GET", "/api/v1/leads", headers={"X-Request-Id": rid4})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("x-request-id"), rid4)

    def test_generated_request_ids_are_distinct(self):
        seen = set()
        for _ in range(5):
            body = self.assertLeadNotFound(self.req("GET", f"/api/v1/leads/{UNKNOWN_LEAD_ID}"))
            seen.add(body["requestId"])
        self.assertEqual(len(seen), 5, seen)

    def test_keep_alive_connection_serves_several_requests(self):
        conn = self.server.connection()
        try:
            lead = self.lead_of(self.server.request(
                "POST", "/api/v1/leads", {"name": "KA", "email": unique_email()}, conn=conn), 201)
            self.assertLeadNotFound(self.server.request(
                "GET", f"/api/v1/leads/{UNKNOWN_LEAD_ID}", conn=conn))
            self.assertEqual(self.lead_of(self.server.request(
                "GET", f"/api/v1/leads/{lead['id']}", conn=conn)), lead)
        finally:
            conn.close()


# =============================================================================================
class BodyLimitTest(LeadApiTest):
    """A server of its own, started with --max-body-bytes 1024."""
    LIMIT = 1024

    @classmethod
    def setUpClass(cls):
        cls.server = Server(("--max-body-bytes", str(cls.LIMIT)))

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def body_of_size(self, size, **fields):
        body = {"name": "Sized", "email": unique_email(), "metadata": {"pad": ""}}
        body.update(fields)
        raw = json_dumps(body)
        body["metadata"]["pad"] = "p" * (size - len(raw))
        raw = json_dumps(body)
        self.assertEqual(len(raw), size)
        return raw

    def test_body_over_the_limit_is_413(self):
        raw = self.body_of_size(self.LIMIT + 1)
        r = self.req("POST", "/api/v1/leads", raw_body=raw,
                     headers={"Content-Type": "application/json"})
        self.assertError(r, 413, "PAYLOAD_TOO_LARGE")
        r = self.req("POST", "/api/v1/leads", raw_body=self.body_of_size(4000),
                     headers={"Content-Type": "application/json"})
        self.assertError(r, 413, "PAYLOAD_TOO_LARGE")

    def test_body_at_the_limit_is_accepted(self):
        raw = self.body_of_size(self.LIMIT)
        r = self.req("POST", "/api/v1/leads", raw_body=raw,
                     headers={"Content-Type": "application/json"})
        self.lead_of(r, 201)

    def test_update_over_the_limit_is_413_and_changes_nothing(self):
        lead, etag = self.get_lead(self.create()["id"])
        for method in ("PUT", "PATCH"):
            with self.subTest(method=method):
                r = self.update(lead["id"], {"metadata": {"pad": "x" * 2000}}, method)
                self.assertError(r, 413, "PAYLOAD_TOO_LARGE")
        self.assertUnchanged(lead, etag)

    def test_authentication_beats_payload_too_large(self):
        raw = self.body_of_size(2000)
        r = self.req("POST", "/api/v1/leads", raw_body=raw, auth=None,
                     headers={"Content-Type": "application/json"})
        self.assertError(r, 401, "MISSING_AUTH_HEADER")


if __name__ == "__main__":
    unittest.main()
