"""POST and PUT /api/v1/leads/batch over real sockets: per-item outcomes inside one 200, the
atomic mode (all or nothing, surviving kill -9), limits and errors in the envelope."""

import json
import signal
import time
import unittest

from harness import Server, ServerTest

BATCH = "/api/v1/leads/batch"


def all_leads(server, key):
    leads, page = [], 1
    while True:
        r = server.request("GET", f"/api/v1/leads?limit=100&page={page}", auth=key)
        assert r.status == 200, r
        d = r.json()["data"]
        leads += d["leads"]
        if not d["pagination"]["hasNext"]:
            return {l["id"]: l for l in leads}
        page += 1


class BatchTest(ServerTest):
    def setUp(self):
        _, self.key = self.server.new_workspace("batch")

    def post(self, items, query="", key=None):
        return self.server.request("POST", BATCH + query, {"leads": items}, auth=key or self.key)

    def put(self, items, query=""):
        return self.server.request("PUT", BATCH + query, {"updates": items}, auth=self.key)

    def results(self, r):
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertIs(body["success"], True)
        data = body["data"]
        self.assertEqual(set(data), {"results", "succeeded", "failed"})
        self.assertEqual([x["index"] for x in data["results"]], list(range(len(data["results"]))))
        self.assertEqual(data["succeeded"], sum(1 for x in data["results"] if "data" in x))
        self.assertEqual(data["failed"], sum(1 for x in data["results"] if "error" in x))
        return data["results"]

    def test_1000_items_mixing_valid_invalid_and_duplicates(self):
        items, expected = [], []
        existing = self.server.create_lead(key=self.key, email="existing@batch.test").json()["data"]
        for i in range(1000):
            if i % 10 == 3:
                items.append({"name": "", "email": f"bad{i}@batch.test"})
                expected.append((400, "VALIDATION_ERROR"))
            elif i % 10 == 7:
                items.append({"name": f"Dup {i}", "email": f"LEAD{i - 1}@batch.test"})  # item i-1's email
                expected.append((409, "DUPLICATE_EMAIL"))
            elif i == 500:
                items.append({"name": "Old", "email": "Existing@batch.test"})
                expected.append((409, "DUPLICATE_EMAIL"))
            else:
                items.append({"name": f"Lead {i}", "email": f"lead{i}@batch.test", "status": "contacted",
                              "metadata": {"i": i}})
                expected.append((201, None))
        results = self.results(self.post(items))
        self.assertEqual([(x["status"], x.get("code")) for x in results], expected)
        stored = all_leads(self.server, self.key)
        created = [x["data"] for x in results if x["status"] == 201]
        self.assertEqual(len(stored), len(created) + 1)
        for lead in created:
            self.assertEqual(stored[lead["id"]], lead)  # the item's data is the stored lead
        for i, x in enumerate(results):
            if i % 10 == 7:
                self.assertEqual(x["details"]["duplicateOfIndex"], i - 1)
                self.assertEqual(x["details"]["existingLeadId"], results[i - 1]["data"]["id"])
            if i == 500:
                self.assertEqual(x["details"]["existingLeadId"], existing["id"])
                self.assertNotIn("duplicateOfIndex", x["details"])
            if x["status"] == 400:
                self.assertEqual(x["details"]["field"], "name")
            if "error" in x:
                self.assertEqual(set(x) - {"details"}, {"index", "status", "error", "code"})

    def test_atomic_batch_with_one_bad_item_changes_nothing(self):
        before = all_leads(self.server, self.key)
        for bad, code in [({"name": "X", "email": "not-an-email"}, "VALIDATION_ERROR"),
                          ({"name": "X", "email": "ATOMIC1@batch.test"}, "DUPLICATE_EMAIL")]:
            items = [{"name": f"A{i}", "email": f"atomic{i}@batch.test"} for i in range(50)] + [bad]
            results = self.results(self.post(items, "?atomic=true"))
            self.assertEqual(results[-1]["code"], code)
            if code == "DUPLICATE_EMAIL":  # of item 1, whose lead was never created: no id to name
                self.assertEqual(results[-1]["details"]["duplicateOfIndex"], 1)
                self.assertNotIn("existingLeadId", results[-1]["details"])
            for x in results[:-1]:
                self.assertEqual((x["status"], x["code"], x["details"]["failedIndex"]), (424, "BATCH_ABORTED", 50))
            self.assertEqual(all_leads(self.server, self.key), before)
        # And the same batch without the bad item goes through whole.
        results = self.results(self.post([{"name": f"A{i}", "email": f"atomic{i}@batch.test"} for i in range(50)],
                                         "?atomic=true"))
        self.assertEqual({x["status"] for x in results}, {201})
        self.assertEqual(len(all_leads(self.server, self.key)), len(before) + 50)

    def test_put_batch_per_item_and_atomic(self):
        made = self.results(self.post([{"name": f"U{i}", "email": f"u{i}@batch.test"} for i in range(3)]))
        ids = [x["data"]["id"] for x in made]
        results = self.results(self.put([
            {"id": ids[0], "status": "qualified", "metadata": {"score": 5}},
            {"id": ids[1], "email": "u0@batch.test"},      # taken by ids[0]
            {"id": "lead_0000000000000000", "name": "Ghost"},
            {"id": ids[2], "status": "won"},               # invalid status
            {"name": "no id"},
            {"id": ids[0], "metadata": {"score": None, "tier": "a"}},  # sees item 0's change
        ]))
        self.assertEqual([(x["status"], x.get("code")) for x in results],
                         [(200, None), (409, "DUPLICATE_EMAIL"), (404, "LEAD_NOT_FOUND"), (400, "VALIDATION_ERROR"),
                          (400, "VALIDATION_ERROR"), (200, None)])
        self.assertEqual(results[5]["data"]["metadata"], {"tier": "a"})
        self.assertEqual(results[5]["data"]["status"], "qualified")
        got = self.server.request("GET", f"/api/v1/leads/{ids[0]}", auth=self.key).json()["data"]
        self.assertEqual(got, results[5]["data"])

        before = all_leads(self.server, self.key)
        results = self.results(self.put([{"id": ids[1], "status": "lost"}, {"id": ids[2], "email": "u0@batch.test"}],
                                        "?atomic=true"))
        self.assertEqual([(x["status"], x["code"]) for x in results], [(424, "BATCH_ABORTED"), (409, "DUPLICATE_EMAIL")])
        self.assertEqual(all_leads(self.server, self.key), before)

    def test_batch_level_errors_in_the_envelope(self):
        def check(r, status, code, field=None):
            body = self.assertError(r, status, code)
            if field:
                self.assertEqual(body["details"]["field"], field)
        item = {"name": "A", "email": "a@batch.test"}
        check(self.post([]), 400, "VALIDATION_ERROR", "leads")
        check(self.post([item] * 1001), 400, "VALIDATION_ERROR", "leads")
        check(self.server.request("POST", BATCH, {"leads": item}, auth=self.key), 400, "VALIDATION_ERROR", "leads")
        check(self.server.request("POST", BATCH, {"leads": [item], "extra": 1}, auth=self.key), 400,
              "VALIDATION_ERROR", "extra")
        check(self.server.request("POST", BATCH, {"updates": [item]}, auth=self.key), 400, "VALIDATION_ERROR")
        check(self.post([item], "?atomic=maybe"), 400, "VALIDATION_ERROR", "atomic")
        check(self.server.request("POST", BATCH, raw_body="[1,2", auth=self.key,
                                  headers={"Content-Type": "application/json"}), 400, "INVALID_JSON")
        check(self.server.request("POST", BATCH, {"leads": [item]}, auth=None), 401, "MISSING_AUTH_HEADER")
        check(self.server.request("DELETE", BATCH, auth=self.key), 405, "METHOD_NOT_ALLOWED")
        results = self.results(self.post([item, 7]))
        self.assertEqual((results[1]["status"], results[1]["details"]["field"]), (400, "leads[1]"))
        self.assertEqual(len(all_leads(self.server, self.key)), 1)


class AtomicBatchSurvivesKill9Test(unittest.TestCase):
    def test_acknowledged_atomic_batch_is_all_there_after_kill_9(self):
        server = Server()
        restarted = None
        try:
            items = [{"name": f"K{i}", "email": f"k{i}@batch.test", "metadata": {"i": i}} for i in range(300)]
            results = server.request("POST", BATCH + "?atomic=true", {"leads": items}).json()["data"]["results"]
            ids = {x["data"]["id"] for x in results}
            self.assertEqual(len(ids), 300)
            updates = [{"id": x["data"]["id"], "status": "contacted"} for x in results[:100]]
            self.assertEqual(server.request("PUT", BATCH + "?atomic=true", {"updates": updates}).status, 200)
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait()
            restarted = Server(data_dir=server.data_dir)
            stored = all_leads(restarted, server.api_key)
            self.assertEqual(set(stored), ids)
            self.assertEqual(sum(1 for l in stored.values() if l["status"] == "contacted"), 100)
        finally:
            if restarted:
                restarted.close()
            server.close()


class RateLimitedBatchTest(ServerTest):
    server_args = ("--rate-limit-per-hour", "2")

    def test_a_batch_is_one_request(self):
        items = [{"name": f"R{i}", "email": f"r{i}@batch.test"} for i in range(100)]
        r = self.server.request("POST", BATCH, {"leads": items})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["x-ratelimit-used"], "1")


if __name__ == "__main__":
    unittest.main()
