"""docs/openapi.json against a real server: GET /openapi.json serves that document; every
documented operation answers (not the router's 404 or 405) with a status the document lists
for it, headers it declares and a body that matches its schema; each documented path allows
exactly the documented methods; and a sample of documented error answers (400, 401, 404, 409,
412, 415, 429, 304) and an Idempotency-Key replay is what the server sends.

Response bodies are checked with the small JSON Schema checker below: it knows only the keywords
the document uses and refuses any other, so a schema it cannot read fails the test instead of
passing unchecked."""

import json
import os
import re
import unittest
import uuid

from harness import Server, ServerTest

DOC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.json")
METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]


def load_document():
    with open(DOC_PATH, encoding="utf-8") as f:
        return json.load(f)


def unique_email(tag="openapi"):
    return f"{tag}.{uuid.uuid4().hex[:12]}@example.com"


class SchemaChecker:
    """Validates JSON values against the document's schemas (the subset of JSON Schema 2020-12
    it uses). Unknown keywords raise, so the checker never silently ignores a rule."""

    ANNOTATIONS = {"description", "examples", "default", "title", "format"}
    TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}

    def __init__(self, doc):
        self.doc = doc

    def resolve(self, node):
        while isinstance(node, dict) and set(node) == {"$ref"}:
            node = self.at(node["$ref"])
        return node

    def at(self, ref):
        assert ref.startswith("#/"), ref
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def has_type(self, value, name):
        if name == "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        if name == "number":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        return isinstance(value, self.TYPES[name])

    def errors(self, schema, value, where="$"):
        if schema is True or schema == {}:
            return []
        out = []
        for keyword, rule in schema.items():
            if keyword in self.ANNOTATIONS:
                continue
            if keyword == "$ref":
                out += self.errors(self.at(rule), value, where)
            elif keyword == "type":
                names = rule if isinstance(rule, list) else [rule]
                if not any(self.has_type(value, n) for n in names):
                    out.append(f"{where}: {value!r} is not of type {rule}")
            elif keyword == "const":
                if value != rule or type(value) is not type(rule):
                    out.append(f"{where}: {value!r} is not {rule!r}")
            elif keyword == "enum":
                if value not in rule:
                    out.append(f"{where}: {value!r} is not one of {rule}")
            elif keyword in ("pattern", "minLength", "maxLength"):
                if not isinstance(value, str):
                    continue
                if keyword == "pattern" and not re.search(rule, value):
                    out.append(f"{where}: {value!r} does not match {rule}")
                if keyword == "minLength" and len(value) < rule:
                    out.append(f"{where}: {value!r} is shorter than {rule}")
                if keyword == "maxLength" and len(value) > rule:
                    out.append(f"{where}: {value!r} is longer than {rule}")
            elif keyword in ("minimum", "maximum"):
                if self.has_type(value, "number") and (value < rule if keyword == "minimum" else value > rule):
                    out.append(f"{where}: {value!r} is out of range ({keyword} {rule})")
            elif keyword == "required":
                if isinstance(value, dict):
                    out += [f"{where}: no {k!r}" for k in rule if k not in value]
            elif keyword == "properties":
                if isinstance(value, dict):
                    for k, sub in rule.items():
                        if k in value:
                            out += self.errors(sub, value[k], f"{where}.{k}")
            elif keyword == "additionalProperties":
                if isinstance(value, dict):
                    extra = [k for k in value if k not in schema.get("properties", {})]
                    if rule is False:
                        out += [f"{where}: undocumented key {k!r}" for k in extra]
                    elif isinstance(rule, dict):
                        for k in extra:
                            out += self.errors(rule, value[k], f"{where}.{k}")
            elif keyword == "items":
                if isinstance(value, list):
                    for i, item in enumerate(value):
                        out += self.errors(rule, item, f"{where}[{i}]")
            elif keyword == "oneOf":
                matching = [s for s in rule if not self.errors(s, value, where)]
                if len(matching) != 1:
                    out.append(f"{where}: {value!r} matches {len(matching)} of oneOf, not 1")
            else:
                raise AssertionError(f"the test's schema checker does not know {keyword!r} (at {where})")
        return out


class OpenApiAssertions:
    """Checks answers against the document; mixed into the test cases below."""

    @classmethod
    def setUpDocument(cls):
        cls.doc = load_document()
        cls.schemas = SchemaChecker(cls.doc)

    def operations(self):
        for path, item in self.doc["paths"].items():
            for method in METHODS:
                if method in item:
                    yield path, method.upper(), item[method]

    def operation(self, method, path):
        return self.doc["paths"][path][method.lower()]

    def assertAnswerDocumented(self, r, method, path):
        """`r` is an answer to (method, path): its status is listed for the operation, and its
        headers and body are what the document says for that status. Returns the body (parsed
        JSON, or None)."""
        what = f"{method} {path} -> {r.status}"
        if r.status in (404, 405) and r.body:
            self.assertNotIn(r.json().get("code"), ("NOT_FOUND", "METHOD_NOT_ALLOWED"),
                             f"{what}: the router does not know this documented operation: {r}")
        responses = self.operation(method, path)["responses"]
        self.assertIn(str(r.status), responses, f"{what}: status not documented: {r}")
        response = self.schemas.resolve(responses[str(r.status)])
        return self.assertMatchesResponse(r, response, what)

    def assertMatchesResponse(self, r, response, what):
        for name, header in response.get("headers", {}).items():
            header = self.schemas.resolve(header)
            value = r.headers.get(name.lower())
            if value is None:
                self.assertFalse(header.get("required"), f"{what}: required header {name} missing")
                continue
            schema = header["schema"]
            if self.schemas.resolve(schema).get("type") == "integer":
                self.assertRegex(value, r"^[0-9]+$", f"{what}: header {name}")
                value = int(value)
            self.assertEqual(self.schemas.errors(schema, value), [], f"{what}: header {name}")
        # Every rate-limit header sent is declared for this answer.
        declared = {n.lower() for n in response.get("headers", {})}
        for name in r.headers:
            if name.startswith("x-ratelimit-") or name in ("retry-after", "etag", "location", "allow"):
                self.assertIn(name, declared, f"{what}: header {name} sent but not documented")
        content = response.get("content")
        if not content:
            self.assertEqual(r.body, b"", f"{what}: a body where none is documented")
            return None
        content_type = r.headers.get("content-type", "")
        media = [m for m in content if content_type.startswith(m)]
        self.assertTrue(media, f"{what}: Content-Type {content_type!r} not among {list(content)}")
        if not media[0].startswith("application/json"):
            return None
        body = r.json()
        problems = self.schemas.errors(content[media[0]]["schema"], body)
        self.assertEqual(problems, [], f"{what}: body does not match the documented schema: {body}")
        return body


class OpenApiDocumentTest(OpenApiAssertions, ServerTest):
    # A limit no test reaches, so every API-key answer carries the X-RateLimit-* headers.
    server_args = ("--rate-limit-per-hour", "1000000")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setUpDocument()

    def auth_for(self, operation):
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        if "adminToken" in schemes:
            return self.server.admin_token
        if "apiKey" in schemes:
            return self.server.api_key
        return None

    def path_value(self, name):
        """A real id for a path parameter, made afresh for each operation (a DELETE spends it)."""
        if name == "leadId":
            r = self.server.create_lead(email=unique_email())
            self.assertEqual(r.status, 201, r)
            return r.json()["data"]["id"]
        if name == "workspaceId":
            return self.server.new_workspace("openapi")[0]
        if name == "keyId":
            ws, _ = self.server.new_workspace("openapi-keys")
            r = self.server.admin("POST", f"/api/v1/admin/workspaces/{ws}/keys")
            self.assertEqual(r.status, 201, r)
            return r.json()["data"]["keyId"]
        self.fail(f"no value for path parameter {name}: teach path_value about it")

    def request_body(self, operation):
        body = operation.get("requestBody")
        if not body:
            return None
        media = body["content"]["application/json"]
        if "example" in media:
            return media["example"]
        return next(iter(media["examples"].values()))["value"]

    def test_served_document_is_docs_openapi_json(self):
        r = self.server.request("GET", "/openapi.json", auth=None)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["content-type"].startswith("application/json"), r.headers)
        self.assertEqual(r.json(), self.doc)
        self.assertTrue(self.doc["openapi"].startswith("3.1."))
        self.assertAnswerDocumented(r, "GET", "/openapi.json")
        again = self.server.request("GET", "/openapi.json", auth=None,
                                    headers={"If-None-Match": r.headers["etag"]})
        self.assertEqual(again.status, 304, again)
        self.assertAnswerDocumented(again, "GET", "/openapi.json")

    def test_every_documented_operation_answers_as_documented(self):
        seen = []
        for path, method, operation in self.operations():
            with self.subTest(operation=f"{method} {path}"):
                concrete = re.sub(r"\{([^}]+)\}", lambda m: self.path_value(m.group(1)), path)
                r = self.server.request(method, concrete, body=self.request_body(operation),
                                        auth=self.auth_for(operation))
                self.assertAnswerDocumented(r, method, path)
                self.assertTrue(200 <= r.status < 300, f"{method} {concrete} with the documented example: {r}")
                seen.append((method, path))
        self.assertGreaterEqual(len(seen), 14, seen)

    def test_each_documented_path_allows_exactly_the_documented_methods(self):
        not_found = self.schemas.resolve(self.doc["components"]["responses"]["NotFound"])
        not_allowed = self.schemas.resolve(self.doc["components"]["responses"]["MethodNotAllowed"])
        for path, item in self.doc["paths"].items():
            with self.subTest(path=path):
                concrete = re.sub(r"\{[^}]+\}", "x", path)
                r = self.server.request("OPTIONS", concrete, auth=None)
                self.assertEqual(r.status, 405, r)
                self.assertMatchesResponse(r, not_allowed, f"OPTIONS {path}")
                allowed = {m.strip() for m in r.headers["allow"].split(",")}
                self.assertEqual(allowed, {m.upper() for m in METHODS if m in item})
        r = self.server.request("GET", "/api/v1/no-such-route", auth=None)
        self.assertEqual(r.status, 404, r)
        self.assertMatchesResponse(r, not_found, "GET /api/v1/no-such-route")

    def test_get_lead_body_has_exactly_the_documented_keys(self):
        lead_id = self.path_value("leadId")
        r = self.server.request("GET", f"/api/v1/leads/{lead_id}")
        body = self.assertAnswerDocumented(r, "GET", "/api/v1/leads/{leadId}")
        lead_schema = self.doc["components"]["schemas"]["Lead"]
        self.assertEqual(set(body["data"]), set(lead_schema["properties"]))
        self.assertEqual(set(body["data"]), set(lead_schema["required"]))
        listed = self.server.request("GET", "/api/v1/leads?page=1&limit=5&status=new&search=example")
        body = self.assertAnswerDocumented(listed, "GET", "/api/v1/leads")
        self.assertTrue(body["data"]["leads"], body)

    def test_documented_field_rules_agree_with_the_server(self):
        """The document's email and phone patterns accept exactly what the server accepts."""
        schemas = self.doc["components"]["schemas"]
        samples = {
            "email": ["a@b.co", "John.Doe+tag@mail.example.com", "a!#$%&'*+/=?^_`{|}~-z@x-y.io",
                      "l" * 64 + "@example.com", "a@" + "d" * 63 + ".com",
                      "a@b", "a@b.c", "a@b.c1", ".a@b.co", "a.@b.co", "a..b@c.co", "a@-b.co", "a@b-.co",
                      "a b@c.co", "a@b..co", "a@b_c.co", "\u00e9@b.co", "a@1.23", "l" * 65 + "@example.com",
                      "a@" + "d" * 64 + ".com", "a@b@c.co", "@b.co", "a@.co"],
            "phone": ["5551234", "+1 (555) 123-4567", "1.2.3.4.5.6.7", "1" * 20, "+" + "1" * 20 + "-",
                      "555123", "1" * 21, "555-1234x", "phone", "", "+-() ."],
        }
        field_schema = {"email": schemas["LeadEmail"], "phone": schemas["LeadPhone"]}
        for field, values in samples.items():
            for value in values:
                with self.subTest(field=field, value=value):
                    email = value if field == "email" else unique_email()
                    body = {"name": "Rules", "email": email}
                    if field == "phone":
                        body["phone"] = value
                    r = self.server.request("POST", "/api/v1/leads", body)
                    documented_valid = not self.schemas.errors(field_schema[field], value)
                    self.assertEqual(r.status == 201, documented_valid, r)
                    if r.status != 201:
                        self.assertError(r, 400, "VALIDATION_ERROR")
                        self.assertEqual(r.json()["details"]["field"], field)

    def test_documented_error_answers(self):
        taken = unique_email("taken")
        self.assertEqual(self.server.create_lead(email=taken).status, 201)
        lead_id = self.path_value("leadId")
        etag = self.server.request("GET", f"/api/v1/leads/{lead_id}").headers["etag"]
        lead_path = f"/api/v1/leads/{lead_id}"
        idem = {"Idempotency-Key": "openapi-" + uuid.uuid4().hex}
        keyed = {"name": "Keyed", "email": unique_email("keyed")}
        self.assertEqual(self.server.request("POST", "/api/v1/leads", keyed, headers=idem).status, 201)
        cases = [
            ("POST", "/api/v1/leads", "/api/v1/leads", dict(body=keyed, headers=idem), 201, None),
            ("POST", "/api/v1/leads", "/api/v1/leads", dict(body={"name": "Y", "email": unique_email()}, headers=idem),
             409, "IDEMPOTENCY_KEY_REUSED"),
            ("POST", "/api/v1/leads/batch", "/api/v1/leads/batch", dict(body={"leads": [keyed]}, headers=idem),
             409, "IDEMPOTENCY_KEY_REUSED"),
            ("POST", "/api/v1/leads", "/api/v1/leads",
             dict(body=keyed, headers={"Idempotency-Key": "two words"}), 400, "VALIDATION_ERROR"),
            # (method, documented path, concrete path, request arguments, expected status, code)
            ("POST", "/api/v1/leads", "/api/v1/leads", dict(body={"name": "X"}), 400, "VALIDATION_ERROR"),
            ("POST", "/api/v1/leads", "/api/v1/leads",
             dict(raw_body="{", headers={"Content-Type": "application/json"}), 400, "INVALID_JSON"),
            ("POST", "/api/v1/leads", "/api/v1/leads",
             dict(raw_body="name=X", headers={"Content-Type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE"),
            ("POST", "/api/v1/leads", "/api/v1/leads", dict(body={"name": "X", "email": taken}), 409,
             "DUPLICATE_EMAIL"),
            ("POST", "/api/v1/leads", "/api/v1/leads", dict(body={}, auth=None), 401, "MISSING_AUTH_HEADER"),
            ("GET", "/api/v1/leads", "/api/v1/leads?limit=101", {}, 400, "VALIDATION_ERROR"),
            ("GET", "/api/v1/leads", "/api/v1/leads", dict(auth="sk-workspace_" + "Q" * 51), 401,
             "INVALID_API_KEY"),
            ("GET", "/api/v1/leads/{leadId}", "/api/v1/leads/lead_0000000000000000", {}, 404, "LEAD_NOT_FOUND"),
            ("GET", "/api/v1/leads/{leadId}", lead_path, dict(headers={"If-None-Match": etag}), 304, None),
            ("PUT", "/api/v1/leads/{leadId}", lead_path, dict(body={"status": "bogus"}), 400, "VALIDATION_ERROR"),
            ("PATCH", "/api/v1/leads/{leadId}", lead_path, dict(body={"email": taken}), 409, "DUPLICATE_EMAIL"),
            ("PUT", "/api/v1/leads/{leadId}", lead_path,
             dict(body={"status": "lost"}, headers={"If-Match": '"999999"'}), 412, "PRECONDITION_FAILED"),
            ("DELETE", "/api/v1/leads/{leadId}", lead_path, dict(headers={"If-Match": '"999999"'}), 412,
             "PRECONDITION_FAILED"),
            ("POST", "/api/v1/admin/workspaces", "/api/v1/admin/workspaces",
             dict(body={"name": ""}, auth=self.server.admin_token), 400, "VALIDATION_ERROR"),
            ("GET", "/api/v1/admin/workspaces", "/api/v1/admin/workspaces", dict(auth="wrong"), 401,
             "INVALID_API_KEY"),
            ("POST", "/api/v1/admin/workspaces/{workspaceId}/keys", "/api/v1/admin/workspaces/ws_0000000000000000/keys",
             dict(auth=self.server.admin_token), 404, "WORKSPACE_NOT_FOUND"),
            ("DELETE", "/api/v1/admin/keys/{keyId}", "/api/v1/admin/keys/key_0000000000000000",
             dict(auth=self.server.admin_token), 404, "KEY_NOT_FOUND"),
        ]
        for method, path, concrete, kwargs, status, code in cases:
            with self.subTest(request=f"{method} {concrete} -> {status} {code}"):
                r = self.server.request(method, concrete, **kwargs)
                self.assertEqual(r.status, status, r)
                body = self.assertAnswerDocumented(r, method, path)
                if code:
                    self.assertEqual(body["code"], code)


class OpenApiRateLimitTest(OpenApiAssertions, unittest.TestCase):
    """429 RATE_LIMIT_EXCEEDED as documented, on every API-key operation."""

    @classmethod
    def setUpClass(cls):
        cls.setUpDocument()
        cls.server = Server(("--rate-limit-per-hour", "1"))

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_limited_answers_are_documented(self):
        for path, method, operation in self.operations():
            if not any("apiKey" in requirement for requirement in operation.get("security", [])):
                continue
            with self.subTest(operation=f"{method} {path}"):
                _, key = self.server.new_workspace("limited")  # one request left for this key
                concrete = path.replace("{leadId}", "lead_0000000000000000")
                first = self.server.request(method, concrete, auth=key, body={} if method != "GET" else None)
                self.assertNotEqual(first.status, 429, first)
                self.assertAnswerDocumented(first, method, path)
                r = self.server.request(method, concrete, auth=key)
                self.assertEqual(r.status, 429, r)
                body = self.assertAnswerDocumented(r, method, path)
                self.assertEqual(body["code"], "RATE_LIMIT_EXCEEDED")
                self.assertEqual(r.headers["x-ratelimit-remaining"], "0")


if __name__ == "__main__":
    unittest.main()
