"""The user's page for the update endpoint (shared/seed/000_5981234cd7950b8a.txt) ships client
code in three languages. Each snippet runs here against a live leadd, unchanged except for the
base URL, the API key and the lead id (plain string replacement of the placeholders).

The snippets below are copied from the seed page. The curl command and the JavaScript are
byte-for-byte the page's text. The page lost the Python snippet's indentation (every line starts
at column 0), which Python cannot run, so that snippet is re-indented and otherwise identical;
`test_snippets_match_the_seed_page` checks all three against the page when it is reachable.

Run: cd tests/integration && LEADD_BIN=/path/to/leadd python3 -m unittest -v test_seed_clients
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from harness import ServerTest

SEED_NAME = "000_5981234cd7950b8a.txt"
PLACEHOLDER_URL = "https://your-domain.com"
PLACEHOLDER_KEY = "sk-workspace_your_api_key"
PLACEHOLDER_LEAD = "lead_1234567890abcdef"
LEAD_KEYS = {"id", "name", "email", "phone", "source", "status", "metadata", "createdAt",
             "updatedAt", "workspaceId"}

# ---------------------------------------------------------------- verbatim from the seed page

SEED_CURL = """curl -X PUT "https://your-domain.com/api/v1/leads/lead_1234567890abcdef" \\
-H "Authorization: Bearer sk-workspace_your_api_key" \\
-H "Content-Type: application/json" \\
-d '{
"status": "contacted",
"metadata": {
"notes": "Follow up scheduled for next week",
"last_interaction": "2024-01-16T14:30:00.000Z"
}
}'"""

SEED_JS = """const updateLead = async (leadId, updates) => {
try {
const response = await fetch(`https://your-domain.com/api/v1/leads/${leadId}`, {
method: 'PUT',
headers: {
'Authorization': 'Bearer sk-workspace_your_api_key',
'Content-Type': 'application/json'
},
body: JSON.stringify(updates)
});
if (!response.ok) {
if (response.status === 404) {
throw new Error('Lead not found');
}
throw new Error(`HTTP error! status: ${response.status}`);
}
const result = await response.json();
return result.data;
} catch (error) {
console.error('Error updating lead:', error);
throw error;
}
};
// Usage examples
const leadId = "lead_1234567890abcdef";
// Simple status update
updateLead(leadId, {
status: "contacted"
});
// Add notes and metadata
updateLead(leadId, {
metadata: {
notes: "Very interested in our services",
lead_score: 90,
follow_up_date: "2024-01-25"
}
});
// Multiple field update
updateLead(leadId, {
phone: "+1-555-999-8888",
status: "qualified",
source: "referral",
metadata: {
referrer: "Jane Smith",
budget_range: "$10k-25k"
}
});"""

SEED_PY = '''import requests
from typing import Dict, Any
def update_lead(api_key: str, lead_id: str, updates: Dict[str, Any]) -> Dict[str, Any]:
    """
    Update a lead with partial data.
    Args:
        api_key: Your API key
        lead_id: The lead's unique identifier
        updates: Dictionary of fields to update
    Returns:
        dict: The updated lead data
    """
    url = f"https://your-domain.com/api/v1/leads/{lead_id}"
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json"
    }
    try:
        response = requests.put(url, headers=headers, json=updates)
        if response.status_code == 404:
            raise ValueError(f"Lead with ID '{lead_id}' not found")
        response.raise_for_status()
        result = response.json()
        print(f"Updated lead: {result['data']['name']} - Status: {result['data']['status']}")
        return result['data']
    except requests.exceptions.RequestException as e:
        print(f"Error updating lead: {e}")
        raise
# Usage examples
api_key = "sk-workspace_your_api_key"
lead_id = "lead_1234567890abcdef"
# Simple status update
try:
    updated_lead = update_lead(api_key, lead_id, {
        "status": "contacted"
    })
    print(f"Status updated to: {updated_lead['status']}")
except Exception as e:
    print(f"Update failed: {e}")
# Add metadata
update_lead(api_key, lead_id, {
    "metadata": {
        "notes": "Interested in enterprise solution",
        "follow_up_date": "2024-01-25",
        "priority": "high"
    }
})
# Helper function for common updates
def update_lead_status(api_key: str, lead_id: str, status: str, notes: str = None):
    """Update lead status with optional notes."""
    updates = {"status": status}
    if notes:
        updates["metadata"] = {"notes": notes}
    return update_lead(api_key, lead_id, updates)
# Usage
update_lead_status(api_key, lead_id, "qualified", "Ready for sales team")'''

# The page's request-body examples, its documented response and its two error examples.
SEED_EXAMPLE_BODIES = [
    {"status": "contacted", "phone": "+1-555-123-9999"},
    {"metadata": {"last_interaction": "2024-01-16T14:30:00.000Z",
                  "notes": "Interested in premium package",
                  "follow_up_date": "2024-01-20", "lead_score": 85}},
    {"name": "John Smith", "phone": "+1-555-456-7890", "status": "qualified", "source": "webinar",
     "metadata": {"company": "New Tech Corp", "job_title": "Senior Manager",
                  "budget": "$50k-100k", "timeline": "Q2 2024",
                  "interests": ["enterprise_solution", "support_package"]}},
]
SEED_RESPONSE_DATA = {
    "id": "lead_1234567890abcdef", "name": "John Smith", "email": "john.doe@example.com",
    "phone": "+1-555-456-7890", "source": "webinar", "status": "qualified",
    "metadata": {"utm_source": "google", "utm_campaign": "spring_2024",
                 "company": "New Tech Corp", "job_title": "Senior Manager",
                 "budget": "$50k-100k", "timeline": "Q2 2024",
                 "interests": ["enterprise_solution", "support_package"]},
    "createdAt": "2024-01-15T10:30:00.000Z", "updatedAt": "2024-01-16T14:30:00.000Z",
    "workspaceId": "ws_your_workspace_id"}
SEED_INVALID_STATUS = {
    "success": False, "error": "Validation failed", "code": "VALIDATION_ERROR",
    "details": {"field": "status", "value": "invalid_status",
                "message": "Status must be one of: new, contacted, qualified, converted, lost, "
                           "follow_up"}}
SEED_DUPLICATE = {
    "success": False, "error": "Email already exists", "code": "DUPLICATE_EMAIL",
    "details": {"email": "existing@example.com", "existingLeadId": "lead_another123",
                "message": "A different lead with this email already exists in your workspace"}}

# Instrumentation around the JavaScript (not part of the seed's code): records the fetch
# promises and parsed bodies so the script can wait for the seed's un-awaited calls. With
# SEED_SERIAL=1 the fetches are also issued one after another in call order, which makes
# the final state deterministic (the seed fires its three calls concurrently).
JS_BEFORE = """// ---- test instrumentation, not from the seed ----
const __fetches = [];
const __bodies = [];
const __serial = process.env.SEED_SERIAL === "1";
const __realFetch = globalThis.fetch;
let __chain = Promise.resolve();
globalThis.fetch = (...args) => {
  const p = __serial ? __chain.then(() => __realFetch(...args)) : __realFetch(...args);
  __chain = p.catch(() => {});
  __fetches.push(p);
  return p;
};
const __realJson = Response.prototype.json;
Response.prototype.json = function () {
  const p = __realJson.call(this);
  const status = this.status;
  __bodies.push(p.then((body) => ({ status, body })));
  return p;
};
// ---- the seed's code ----
"""
JS_AFTER = """
// ---- test collection, not from the seed ----
await Promise.allSettled(__fetches);
for (let i = 0; i < 200 && __bodies.length < __fetches.length; i++) {
  await new Promise((r) => setTimeout(r, 10));
}
const __results = await Promise.all(__bodies);
await new Promise((r) => setTimeout(r, 20)); // let the seed's own continuations finish
console.log("RESULTS " + JSON.stringify({ fetches: __fetches.length, results: __results }));
"""


def find_seed_page():
    here = Path(__file__).resolve()
    # The team's shared folder sits beside the checkout; LEADD_SEED_DIR names it elsewhere.
    candidates = [here.parents[3] / "shared" / "seed" / SEED_NAME,
                  here.parents[2] / "shared" / "seed" / SEED_NAME]
    if os.environ.get("LEADD_SEED_DIR"):
        candidates.insert(0, Path(os.environ["LEADD_SEED_DIR"]) / SEED_NAME)
    for c in candidates:
        if c.is_file():
            return c
    return None


def client_env():
    """The environment for the client processes: no proxies, so 127.0.0.1 is reached directly."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def python_with_requests():
    for exe in ("/usr/bin/python3", sys.executable):
        if exe and os.path.exists(exe):
            r = subprocess.run([exe, "-c", "import requests"], capture_output=True, timeout=30)
            if r.returncode == 0:
                return exe
    return None


def node_with_fetch():
    node = shutil.which("node")
    if not node:
        return None
    r = subprocess.run([node, "-e", "process.exit(typeof fetch === 'function' ? 0 : 1)"],
                       capture_output=True, timeout=30)
    return node if r.returncode == 0 else None


class SeedClientsTest(ServerTest):

    def setUp(self):
        self.ws, self.key = self.server.new_workspace("seed")
        self.base = f"http://127.0.0.1:{self.server.port}"
        self.tmp = tempfile.mkdtemp(prefix="leadd-seed-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def substitute(self, code, lead_id):
        self.assertIn(PLACEHOLDER_URL, code)
        self.assertIn(PLACEHOLDER_KEY, code)
        self.assertIn(PLACEHOLDER_LEAD, code)
        return (code.replace(PLACEHOLDER_URL, self.base)
                .replace(PLACEHOLDER_KEY, self.key)
                .replace(PLACEHOLDER_LEAD, lead_id))

    def new_lead(self, **fields):
        body = {"name": "John Doe", "email": f"john.{time.time_ns()}@example.com",
                "source": "website",
                "metadata": {"utm_source": "google", "utm_campaign": "spring_2024"}}
        body.update(fields)
        r = self.server.request("POST", "/api/v1/leads", body, auth=self.key)
        self.assertEqual(r.status, 201, r)
        return r.json()["data"]

    def get(self, lead_id):
        r = self.server.request("GET", f"/api/v1/leads/{lead_id}", auth=self.key)
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]

    def assertUnchangedIdentity(self, before, after):
        for k in ("id", "email", "createdAt", "workspaceId"):
            self.assertEqual(after[k], before[k], k)
        self.assertEqual(set(after), LEAD_KEYS)

    # ------------------------------------------------------------ the snippets vs. the page

    def test_snippets_match_the_seed_page(self):
        page = find_seed_page()
        if page is None:
            self.skipTest("shared/seed page not found next to the repository")
        text = page.read_text()
        self.assertIn(SEED_CURL, text, "SEED_CURL is not the page's curl command")
        self.assertIn(SEED_JS, text, "SEED_JS is not the page's JavaScript")
        start = text.index("import requests")
        end = text.index('update_lead_status(api_key, lead_id, "qualified", "Ready for sales team")')
        page_py = text[start:end].splitlines() + \
            ['update_lead_status(api_key, lead_id, "qualified", "Ready for sales team")']
        ours = [line.lstrip() for line in SEED_PY.splitlines()]
        self.assertEqual(ours, [line.lstrip() for line in page_py if line.strip()],
                         "SEED_PY differs from the page's Python beyond indentation")

    # ------------------------------------------------------------ (a) curl

    def test_curl_command(self):
        if not shutil.which("curl"):
            self.skipTest("curl is not installed")
        lead = self.new_lead(status="new")
        out = os.path.join(self.tmp, "body.json")
        cmd = self.substitute(SEED_CURL, lead["id"]) + \
            f" -sS --max-time 20 -o '{out}' -w '%{{http_code}}'"
        p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60,
                           env=client_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "200", open(out).read() if os.path.exists(out) else "")
        body = json.load(open(out))
        self.assertIs(body["success"], True, body)
        self.assertEqual(set(body), {"success", "data"})
        data = body["data"]
        self.assertUnchangedIdentity(lead, data)
        self.assertEqual(data["status"], "contacted")
        self.assertEqual(data["metadata"], {
            "utm_source": "google", "utm_campaign": "spring_2024",
            "notes": "Follow up scheduled for next week",
            "last_interaction": "2024-01-16T14:30:00.000Z"})
        self.assertEqual((data["name"], data["phone"], data["source"]),
                         (lead["name"], lead["phone"], lead["source"]))
        self.assertGreater(data["updatedAt"], lead["updatedAt"])
        self.assertEqual(self.get(lead["id"]), data)

    # ------------------------------------------------------------ (b) JavaScript

    def run_js(self, lead_id, serial):
        node = node_with_fetch()
        if not node:
            self.skipTest("node (18+, with global fetch) is not installed")
        path = os.path.join(self.tmp, "seed_update_lead.mjs")
        with open(path, "w") as f:
            f.write(JS_BEFORE + self.substitute(SEED_JS, lead_id) + JS_AFTER)
        env = client_env()
        env["SEED_SERIAL"] = "1" if serial else "0"
        p = subprocess.run([node, path], capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(p.returncode, 0, f"node failed:\nstdout: {p.stdout}\nstderr: {p.stderr}")
        self.assertNotIn("Error updating lead", p.stderr)
        lines = [l for l in p.stdout.splitlines() if l.startswith("RESULTS ")]
        self.assertEqual(len(lines), 1, p.stdout)
        out = json.loads(lines[0][len("RESULTS "):])
        self.assertEqual(out["fetches"], 3, out)
        self.assertEqual(len(out["results"]), 3, out)
        for res in out["results"]:
            self.assertEqual(res["status"], 200, res)
            self.assertIs(res["body"]["success"], True, res)
            self.assertEqual(set(res["body"]["data"]), LEAD_KEYS, res)
        return [res["body"]["data"] for res in out["results"]]

    JS_METADATA = {"notes": "Very interested in our services", "lead_score": 90,
                   "follow_up_date": "2024-01-25", "referrer": "Jane Smith",
                   "budget_range": "$10k-25k"}

    def test_javascript_update_lead_in_call_order(self):
        lead = self.new_lead(status="new")
        datas = self.run_js(lead["id"], serial=True)
        self.assertEqual([d["status"] for d in datas], ["contacted", "contacted", "qualified"])
        final = self.get(lead["id"])
        self.assertUnchangedIdentity(lead, final)
        self.assertEqual(final["status"], "qualified")
        self.assertEqual(final["phone"], "+1-555-999-8888")
        self.assertEqual(final["source"], "referral")
        self.assertEqual(final["name"], lead["name"])
        self.assertEqual(final["metadata"], dict(lead["metadata"], **self.JS_METADATA))
        self.assertEqual(final, datas[-1])
        stamps = [lead["updatedAt"]] + [d["updatedAt"] for d in datas]
        self.assertEqual(stamps, sorted(set(stamps)), "updatedAt not strictly increasing")

    def test_javascript_update_lead_concurrent_as_written(self):
        # The seed does not await its three calls, so they reach the server concurrently:
        # each must apply, and the final state is that of the last one applied.
        lead = self.new_lead(status="new")
        datas = self.run_js(lead["id"], serial=False)
        final = self.get(lead["id"])
        self.assertUnchangedIdentity(lead, final)
        self.assertEqual(final["phone"], "+1-555-999-8888")
        self.assertEqual(final["source"], "referral")
        self.assertEqual(final["metadata"], dict(lead["metadata"], **self.JS_METADATA))
        last = max(datas, key=lambda d: d["updatedAt"])
        self.assertEqual(len({d["updatedAt"] for d in datas}), 3, datas)
        self.assertEqual(final, last, "final state is not the last update's response")
        self.assertIn(final["status"], ("contacted", "qualified"))

    # ------------------------------------------------------------ (c) Python + requests

    def test_python_update_lead_and_update_lead_status(self):
        exe = python_with_requests()
        if not exe:
            self.skipTest("python3-requests is not installed")
        lead = self.new_lead(name="John Smith", status="new")
        path = os.path.join(self.tmp, "seed_update_lead.py")
        with open(path, "w") as f:
            f.write(self.substitute(SEED_PY, lead["id"]) + "\n")
        p = subprocess.run([exe, path], capture_output=True, text=True, timeout=60,
                           env=client_env())
        self.assertEqual(p.returncode, 0, f"stdout: {p.stdout}\nstderr: {p.stderr}")
        self.assertEqual(p.stdout.splitlines(), [
            "Updated lead: John Smith - Status: contacted",
            "Status updated to: contacted",
            "Updated lead: John Smith - Status: contacted",
            "Updated lead: John Smith - Status: qualified",
        ], p.stderr)
        final = self.get(lead["id"])
        self.assertUnchangedIdentity(lead, final)
        self.assertEqual(final["status"], "qualified")
        self.assertEqual(final["metadata"], dict(lead["metadata"], **{
            "notes": "Ready for sales team", "follow_up_date": "2024-01-25",
            "priority": "high"}))
        self.assertEqual((final["name"], final["phone"], final["source"]),
                         (lead["name"], lead["phone"], lead["source"]))
        self.assertGreater(final["updatedAt"], lead["updatedAt"])

    def test_python_update_lead_unknown_id_raises_value_error(self):
        exe = python_with_requests()
        if not exe:
            self.skipTest("python3-requests is not installed")
        # the seed's first call catches the error and prints it; the second one raises
        path = os.path.join(self.tmp, "seed_update_missing.py")
        with open(path, "w") as f:
            f.write(self.substitute(SEED_PY, "lead_00000000000000ff") + "\n")
        p = subprocess.run([exe, path], capture_output=True, text=True, timeout=60,
                           env=client_env())
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout.splitlines()[0],
                         "Update failed: Lead with ID 'lead_00000000000000ff' not found", p.stdout)
        self.assertIn("ValueError: Lead with ID 'lead_00000000000000ff' not found", p.stderr)

    # ------------------------------------------------------------ the page's examples

    def put(self, lead_id, body):
        return self.server.request("PUT", f"/api/v1/leads/{lead_id}", body, auth=self.key)

    def test_page_request_examples_and_documented_response(self):
        lead = self.new_lead(email="john.doe@example.com")
        r = self.put(lead["id"], SEED_EXAMPLE_BODIES[2])
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(set(body), {"success", "data"})
        data = body["data"]
        expected = dict(SEED_RESPONSE_DATA, id=lead["id"], createdAt=lead["createdAt"],
                        workspaceId=self.ws, updatedAt=data["updatedAt"])
        self.assertEqual(data, expected)
        self.assertGreater(data["updatedAt"], lead["createdAt"])

        other = self.new_lead()
        r = self.put(other["id"], SEED_EXAMPLE_BODIES[0])
        self.assertEqual(r.status, 200, r)
        d = r.json()["data"]
        self.assertEqual((d["status"], d["phone"], d["name"], d["source"], d["metadata"]),
                         ("contacted", "+1-555-123-9999", other["name"], other["source"],
                          other["metadata"]))
        r = self.put(other["id"], SEED_EXAMPLE_BODIES[1])
        self.assertEqual(r.status, 200, r)
        d2 = r.json()["data"]
        self.assertEqual(d2["metadata"], dict(other["metadata"], **SEED_EXAMPLE_BODIES[1]["metadata"]))
        self.assertEqual((d2["status"], d2["phone"]), ("contacted", "+1-555-123-9999"))
        self.assertGreater(d2["updatedAt"], d["updatedAt"])

    def test_page_error_examples(self):
        lead = self.new_lead()
        r = self.put(lead["id"], {"status": "invalid_status"})
        self.assertEqual(r.status, 400, r)
        body = r.json()
        self.assertIn("requestId", body)
        self.assertEqual({k: body.get(k) for k in SEED_INVALID_STATUS}, SEED_INVALID_STATUS)

        existing = self.new_lead(email="existing@example.com")
        r = self.put(lead["id"], {"email": "existing@example.com"})
        self.assertEqual(r.status, 409, r)
        body = r.json()
        self.assertIn("requestId", body)
        expected = json.loads(json.dumps(SEED_DUPLICATE))
        expected["details"]["existingLeadId"] = existing["id"]
        self.assertEqual({k: body.get(k) for k in expected}, expected)
        self.assertEqual(self.get(lead["id"]), lead, "a refused PUT changed the lead")


if __name__ == "__main__":
    unittest.main()
