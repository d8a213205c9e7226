"""Idempotency-Key on POST /api/v1/leads and POST /api/v1/leads/batch over real sockets: a retry
gets the first answer and creates nothing, a different request with the key is refused, a
running one is not run twice, errors are not stored, and a stored answer survives kill -9 and a
clean restart."""

import json
import signal
import threading
import unittest

from harness import Server, ServerTest

LEADS = "/api/v1/leads"
BATCH = "/api/v1/leads/batch"


def total(server, key, query=""):
    r = server.request("GET", f"{LEADS}?limit=1{query}", auth=key)
    assert r.status == 200, r
    return r.json()["data"]["pagination"]["total"]


def post(server, key, path, body, idem, raw=False):
    headers = {"Idempotency-Key": idem}
    if raw:  # body already JSON text: lets a test reorder members and change whitespace
        headers["Content-Type"] = "application/json"
        return server.request("POST", path, raw_body=body, auth=key, headers=headers)
    return server.request("POST", path, body, auth=key, headers=headers)


class IdempotencyTest(ServerTest):
    def setUp(self):
        _, self.key = self.server.new_workspace("idem")

    def test_a_retry_gets_the_first_answer_and_creates_nothing(self):
        body = {"name": "Ada", "email": "ada@idem.test", "metadata": {"a": 1, "b": [1, 2]}}
        first = post(self.server, self.key, LEADS, body, "create-1")
        self.assertEqual(first.status, 201, first)
        self.assertNotIn("idempotent-replayed", first.headers)
        # The same JSON with members reordered and other whitespace is the same request.
        same = '{ "metadata": {"b": [1,2], "a": 1},\n "email": "ada@idem.test", "name": "Ada" }'
        for _ in range(3):
            retry = post(self.server, self.key, LEADS, same, "create-1", raw=True)
            self.assertEqual(retry.status, 201, retry)
            self.assertEqual(retry.body, first.body)
            self.assertEqual(retry.headers["location"], first.headers["location"])
            self.assertEqual(retry.headers["etag"], first.headers["etag"])
            self.assertEqual(retry.headers["idempotent-replayed"], "true")
        self.assertEqual(total(self.server, self.key), 1)

    def test_the_first_answer_is_replayed_even_after_the_lead_changed(self):
        first = post(self.server, self.key, LEADS, {"name": "Bo", "email": "bo@idem.test"}, "create-2")
        lead_id = first.json()["data"]["id"]
        r = self.server.request("PUT", f"{LEADS}/{lead_id}", {"status": "contacted"}, auth=self.key)
        self.assertEqual(r.status, 200, r)
        retry = post(self.server, self.key, LEADS, {"name": "Bo", "email": "bo@idem.test"}, "create-2")
        self.assertEqual(retry.body, first.body)
        self.assertEqual(retry.json()["data"]["status"], "new")

    def test_a_different_request_with_the_key_is_refused(self):
        first = post(self.server, self.key, LEADS, {"name": "Cy", "email": "cy@idem.test"}, "create-3")
        self.assertEqual(first.status, 201, first)
        for path, body in [(LEADS, {"name": "Cy", "email": "cy2@idem.test"}),
                           (LEADS, {"name": "Cy", "email": "cy@idem.test", "phone": "+1 555 0100"}),
                           (BATCH, {"leads": [{"name": "Cy", "email": "cy3@idem.test"}]})]:
            r = post(self.server, self.key, path, body, "create-3")
            self.assertError(r, 409, "IDEMPOTENCY_KEY_REUSED")
        self.assertEqual(total(self.server, self.key), 1)

    def test_keys_belong_to_a_workspace(self):
        _, other = self.server.new_workspace("idem-other")
        body = {"name": "Di", "email": "di@idem.test"}
        a = post(self.server, self.key, LEADS, body, "shared-key")
        b = post(self.server, other, LEADS, body, "shared-key")
        self.assertEqual((a.status, b.status), (201, 201))
        self.assertNotEqual(a.json()["data"]["id"], b.json()["data"]["id"])
        self.assertNotIn("idempotent-replayed", b.headers)

    def test_malformed_keys_are_400_and_change_nothing(self):
        for bad in ["", " ", "has space", "x" * 256, "caf\u00e9".encode().decode("latin-1")]:
            r = post(self.server, self.key, LEADS, {"name": "Ed", "email": "ed@idem.test"}, bad)
            self.assertError(r, 400, "VALIDATION_ERROR")
            self.assertEqual(r.json()["details"]["field"], "Idempotency-Key")
        self.assertEqual(post(self.server, self.key, LEADS, {"name": "Ed", "email": "ed@idem.test"},
                              "x" * 255).status, 201)
        self.assertEqual(total(self.server, self.key), 1)

    def test_errors_are_not_stored_so_a_retry_runs_again(self):
        taken = self.server.request("POST", LEADS, {"name": "Fa", "email": "fa@idem.test"}, auth=self.key)
        body = {"name": "Fa Two", "email": "FA@idem.test"}
        r = post(self.server, self.key, LEADS, body, "create-4")
        self.assertError(r, 409, "DUPLICATE_EMAIL")
        r = post(self.server, self.key, LEADS, body, "create-4")
        self.assertError(r, 409, "DUPLICATE_EMAIL")
        self.server.request("DELETE", f"{LEADS}/{taken.json()['data']['id']}", auth=self.key)
        r = post(self.server, self.key, LEADS, body, "create-4")
        self.assertEqual(r.status, 201, r)
        # A validation error frees the key for a corrected body.
        bad = post(self.server, self.key, LEADS, {"name": "Ga", "email": "not-an-email"}, "create-5")
        self.assertError(bad, 400, "VALIDATION_ERROR")
        good = post(self.server, self.key, LEADS, {"name": "Ga", "email": "ga@idem.test"}, "create-5")
        self.assertEqual(good.status, 201, good)

    def test_a_batch_retry_gets_the_first_answer(self):
        items = [{"name": f"H{i}", "email": f"h{i}@idem.test"} for i in range(50)]
        items.append({"name": "H dup", "email": "H3@idem.test"})
        items.append({"name": "H bad", "email": "nope"})
        first = post(self.server, self.key, BATCH, {"leads": items}, "batch-1")
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.json()["data"]["succeeded"], 50)
        retry = post(self.server, self.key, BATCH, {"leads": items}, "batch-1")
        self.assertEqual(retry.body, first.body)
        self.assertEqual(total(self.server, self.key), 50)
        # ?atomic=true is part of the request.
        r = post(self.server, self.key, BATCH + "?atomic=true", {"leads": items}, "batch-1")
        self.assertError(r, 409, "IDEMPOTENCY_KEY_REUSED")

    def test_concurrent_requests_with_one_key_create_once(self):
        body = {"leads": [{"name": f"J{i}", "email": f"j{i}@idem.test"} for i in range(200)]}
        answers = []
        start = threading.Barrier(8)

        def send():
            start.wait()
            answers.append(post(self.server, self.key, BATCH, body, "race-1"))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(a.status for a in answers)
        self.assertTrue(all(s in (200, 409) for s in statuses), statuses)
        ok = [a for a in answers if a.status == 200]
        self.assertGreaterEqual(len(ok), 1)
        self.assertEqual(len({a.body for a in ok}), 1)
        for a in answers:
            if a.status == 409:
                self.assertError(a, 409, "IDEMPOTENCY_KEY_IN_PROGRESS")
                self.assertEqual(a.headers["retry-after"], "1")
        self.assertEqual(sum("idempotent-replayed" not in a.headers for a in ok), 1)
        self.assertEqual(total(self.server, self.key), 200)


class IdempotencyDurabilityTest(unittest.TestCase):
    def restart_and_retry(self, stop_signal):
        server = Server(("--fsync", "always"))
        restarted = None
        try:
            single = {"name": "Ka", "email": "ka@idem.test"}
            batch = {"leads": [{"name": f"L{i}", "email": f"l{i}@idem.test"} for i in range(20)]}
            first = post(server, server.api_key, LEADS, single, "durable-1")
            first_batch = post(server, server.api_key, BATCH, batch, "durable-2")
            self.assertEqual((first.status, first_batch.status), (201, 200))
            server.proc.send_signal(stop_signal)
            server.proc.wait()
            restarted = Server(data_dir=server.data_dir)
            retry = post(restarted, server.api_key, LEADS, single, "durable-1")
            retry_batch = post(restarted, server.api_key, BATCH, batch, "durable-2")
            self.assertEqual((retry.status, retry.body), (201, first.body))
            self.assertEqual((retry_batch.status, retry_batch.body), (200, first_batch.body))
            self.assertEqual(retry.headers["idempotent-replayed"], "true")
            r = post(restarted, server.api_key, LEADS, {"name": "Ka", "email": "other@idem.test"}, "durable-1")
            self.assertEqual(r.status, 409, r)
            self.assertEqual(r.json()["code"], "IDEMPOTENCY_KEY_REUSED")
            self.assertEqual(total(restarted, server.api_key), 21)
        finally:
            if restarted:
                restarted.close()
            server.close()

    def test_a_retry_after_kill_9_gets_the_first_answer(self):
        self.restart_and_retry(signal.SIGKILL)  # replayed from the log

    def test_a_retry_after_a_clean_restart_gets_the_first_answer(self):
        self.restart_and_retry(signal.SIGTERM)  # from the final snapshot


if __name__ == "__main__":
    unittest.main()
