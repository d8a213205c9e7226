"""Concurrency invariants of leadd, checked from many client threads against one server:
email uniqueness per workspace, no lost metadata merges, strictly increasing updatedAt, list
totals equal to what clients saw succeed, optimistic concurrency and idempotency under races.

Also run against a ThreadSanitizer build (LEADD_BIN pointing at it): the request count is kept
to a couple of thousand, and the last test and tearDownClass check the server's log for
sanitizer reports.

Run: cd tests/integration && LEADD_BIN=/path/to/leadd python3 -m unittest -v test_concurrency
"""

import concurrent.futures as cf
import random
import re
import threading
import time
import unittest

from harness import ServerTest

SANITIZER_REPORT = re.compile(
    r"ThreadSanitizer|AddressSanitizer|LeakSanitizer|"
    r"\.(?:c|cc|cpp|cxx|h|hpp|ipp):\d+:\d+: runtime error:")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WORKERS = 64
TIMEOUT = 60  # seconds for one request (a TSan server is slow)


def random_case(s, rng):
    return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in s)


class ConcurrencyTest(ServerTest):

    @classmethod
    def tearDownClass(cls):
        srv = cls.server
        alive = srv.proc.poll() is None
        code = srv.stop()
        with open(srv.log_path, errors="replace") as f:
            log = f.read()
        super().tearDownClass()
        if not alive:
            raise AssertionError("leadd died during the concurrency tests:\n" + log[-3000:])
        m = SANITIZER_REPORT.search(log)
        if m is not None:
            raise AssertionError("sanitizer report:\n" + log[max(0, m.start() - 200):m.start() + 4000])
        if code != 0:
            raise AssertionError(f"leadd exited with {code} on SIGTERM after the concurrency tests")

    # ----------------------------------------------------------------- helpers

    def call(self, method, path, key, body=None, headers=None):
        """One request on its own connection; returns (status, parsed body, headers)."""
        conn = self.server.connection(timeout=TIMEOUT)
        r = self.server.request(method, path, body=body, auth=key, headers=headers, conn=conn)
        conn.close()
        try:
            parsed = r.json() if r.body else None
        except ValueError:
            self.fail(f"{method} {path}: not JSON: {r!r}")
        return r.status, parsed, r.headers

    def run_parallel(self, fn, items, workers=WORKERS):
        with cf.ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(fn, items, timeout=300))

    def list_all(self, key, extra=""):
        leads, total = [], None
        for page in range(1, 1000):
            status, body, _ = self.call("GET", f"/api/v1/leads?limit=100&page={page}{extra}", key)
            self.assertEqual(status, 200, body)
            data = body["data"]
            total = data["pagination"]["total"]
            leads.extend(data["leads"])
            if not data["leads"] or len(leads) >= total:
                break
        return leads, total

    def create(self, key, email, **fields):
        status, body, _ = self.call("POST", "/api/v1/leads", key,
                                    dict({"name": "Concurrent", "email": email}, **fields))
        self.assertEqual(status, 201, body)
        return body["data"]

    def assertTimestamp(self, ts):
        self.assertRegex(ts, TIMESTAMP)

    # ----------------------------------------------------------------- (a)

    def test_a_parallel_creates_of_one_email(self):
        _, key = self.server.new_workspace("dup-create")
        n = 200
        base = f"race.{time.time_ns()}@Example.com"
        rng = random.Random(1)
        emails = [base] + [random_case(base, rng) for _ in range(n - 1)]
        barrier = threading.Barrier(n, timeout=60)

        def worker(i):
            conn = self.server.connection(timeout=TIMEOUT)
            try:
                conn.connect()
                barrier.wait()
                r = self.server.request("POST", "/api/v1/leads",
                                        {"name": f"Racer {i}", "email": emails[i]},
                                        auth=key, conn=conn)
                return i, r.status, r.json()
            except threading.BrokenBarrierError:
                return i, None, "barrier broken"
            except Exception as e:
                barrier.abort()
                return i, None, repr(e)
            finally:
                conn.close()

        results = self.run_parallel(worker, range(n), workers=n)
        errors = [r for r in results if r[1] is None]
        self.assertEqual(errors, [], "client-side failures")
        winners = [r for r in results if r[1] == 201]
        self.assertEqual(len(winners), 1, f"{len(winners)} creates of one email succeeded: "
                         f"{[w[2]['data']['id'] for w in winners]}")
        wi, _, wbody = winners[0]
        winner = wbody["data"]
        self.assertEqual(winner["email"], emails[wi], "email not stored as given")
        losers = [r for r in results if r[1] != 201]
        self.assertEqual(len(losers), n - 1)
        for i, status, body in losers:
            self.assertEqual(status, 409, body)
            self.assertEqual(body["code"], "DUPLICATE_EMAIL", body)
            self.assertEqual(body["details"]["existingLeadId"], winner["id"], body)
            self.assertEqual(body["details"]["email"], emails[i], body)
        leads, total = self.list_all(key)
        self.assertEqual(total, 1)
        self.assertEqual([l["id"] for l in leads], [winner["id"]])

    # ----------------------------------------------------------------- (b)

    def test_b_parallel_metadata_merges(self):
        _, key = self.server.new_workspace("merge")
        original = {"orig_a": "kept", "orig_b": {"x": 1, "y": [1, 2]}}
        lead = self.create(key, f"merge.{time.time_ns()}@example.com", metadata=original)
        n = 200

        def worker(i):
            return self.call("PUT", f"/api/v1/leads/{lead['id']}", key,
                             {"metadata": {f"k{i:03d}": i}})

        results = self.run_parallel(worker, range(n))
        for i, (status, body, _) in enumerate(results):
            self.assertEqual(status, 200, f"PUT {i}: {body}")
            self.assertIn(f"k{i:03d}", body["data"]["metadata"], f"PUT {i} lost its own key")
        status, final, _ = self.call("GET", f"/api/v1/leads/{lead['id']}", key)
        self.assertEqual(status, 200)
        final = final["data"]
        expected = dict(original, **{f"k{i:03d}": i for i in range(n)})
        self.assertEqual(final["metadata"], expected, "lost or corrupted metadata merges")

        stamps = [body["data"]["updatedAt"] for _, body, _ in results]
        for ts in stamps:
            self.assertTimestamp(ts)
        self.assertEqual(len(set(stamps)), n, "two updates got the same updatedAt")
        ordered = sorted(stamps)
        self.assertTrue(all(a < b for a, b in zip(ordered, ordered[1:])))
        self.assertGreater(ordered[0], lead["createdAt"], "an updatedAt is not after createdAt")
        self.assertEqual(final["updatedAt"], ordered[-1],
                         "the final updatedAt is not the latest one a PUT returned")
        etags = [h.get("etag") for _, _, h in results]
        self.assertNotIn(None, etags, "a PUT response without an ETag")
        self.assertEqual(len(set(etags)), n, "two different versions share an ETag")
        # every response shows the lead right after its own update: sorted by updatedAt,
        # the responses carry 1, 2, ..., 200 of the added keys
        by_time = sorted((body["data"]["updatedAt"], body["data"]["metadata"])
                         for _, body, _ in results)
        counts = [sum(1 for k in md if re.fullmatch(r"k\d{3}", k)) for _, md in by_time]
        self.assertEqual(counts, list(range(1, n + 1)),
                         "a PUT response does not show the state its own update produced")
        for ts, md in by_time:
            self.assertEqual({k: md[k] for k in original}, original, "original keys lost")
        self.assertEqual((final["id"], final["createdAt"], final["email"]),
                         (lead["id"], lead["createdAt"], lead["email"]))

    # ----------------------------------------------------------------- (c)

    def test_c_parallel_email_swaps_keep_emails_unique(self):
        _, key = self.server.new_workspace("swap")
        tag = time.time_ns()
        pool = [f"swap{c}.{tag}@example.com" for c in "abcde"]
        leads = [self.create(key, pool[i], name=f"Swap {i}") for i in range(3)]
        ids = [l["id"] for l in leads]
        history = {l["id"]: {l["email"].casefold()} for l in leads}
        updates = {l["id"]: [(l["updatedAt"], l["email"].casefold())] for l in leads}
        lock = threading.Lock()
        conflicts, bad = [], []
        threads, per_thread = 16, 50
        stop = threading.Event()
        samples = []

        def sampler():
            for _ in range(300):
                if stop.is_set():
                    return
                status, body, _ = self.call("GET", "/api/v1/leads?limit=100", key)
                if status != 200:
                    bad.append(("list", status, body))
                    return
                emails = [l["email"].casefold() for l in body["data"]["leads"]]
                samples.append(emails)
                time.sleep(0.02)

        def worker(t):
            rng = random.Random(1000 + t)
            for j in range(per_thread):
                target = rng.choice(ids)
                if rng.random() < 0.15:
                    email = f"fresh.{t}.{j}.{tag}@example.com"
                else:
                    email = rng.choice(pool)
                    local, domain = email.split("@")
                    email = random_case(local, rng) + "@" + domain
                status, body, _ = self.call("PUT", f"/api/v1/leads/{target}", key,
                                            {"email": email})
                if status == 200:
                    d = body["data"]
                    if d["email"].casefold() != email.casefold() or d["id"] != target:
                        bad.append(("wrong 200", target, email, body))
                    with lock:
                        history[target].add(email.casefold())
                        updates[target].append((d["updatedAt"], d["email"].casefold()))
                elif status == 409 and body.get("code") == "DUPLICATE_EMAIL":
                    conflicts.append((target, email, body["details"]))
                else:
                    bad.append(("unexpected", target, email, status, body))

        st = threading.Thread(target=sampler, daemon=True)
        st.start()
        try:
            self.run_parallel(worker, range(threads), workers=threads)
        finally:
            stop.set()
            st.join(TIMEOUT)
        self.assertEqual(bad, [])
        self.assertTrue(conflicts, "no 409 at all: the race was not exercised")
        for target, email, details in conflicts:
            other = details.get("existingLeadId")
            self.assertNotEqual(other, target, f"409 names the lead being updated: {details}")
            self.assertIn(other, history, f"409 names an unknown lead: {details}")
            self.assertIn(email.casefold(), history[other],
                          f"409 for {email} on {target} names {other}, which never had it")
            self.assertEqual(details.get("email"), email, details)
        for emails in samples:
            self.assertEqual(len(emails), len(set(emails)),
                             f"a list showed two leads with one email: {sorted(emails)}")
        self.assertGreater(len(samples), 0)
        final, total = self.list_all(key)
        self.assertEqual(total, 3)
        emails = [l["email"].casefold() for l in final]
        self.assertEqual(len(set(emails)), 3, f"duplicate emails at the end: {emails}")
        for l in final:
            self.assertIn(l["email"].casefold(), history[l["id"]])
            latest = max(updates[l["id"]])
            self.assertEqual(l["updatedAt"], latest[0],
                             f"{l['id']}: final updatedAt is not the latest a PUT returned")
            self.assertEqual(l["email"].casefold(), latest[1],
                             f"{l['id']}: final email differs from the latest successful PUT")

    # ----------------------------------------------------------------- (d)

    def test_d_mixed_creates_deletes_updates_across_workspaces(self):
        tag = time.time_ns()
        wss = [self.server.new_workspace(f"mixed{i}") for i in range(4)]
        keys = [k for _, k in wss]
        pool = {w: [self.create(keys[w], f"pool{j}.{w}.{tag}@example.com")["id"]
                    for j in range(8)] for w in range(4)}
        survivors = {w: [self.create(keys[w], f"surv{j}.{w}.{tag}@example.com")["id"]
                         for j in range(3)] for w in range(4)}
        tasks = []
        for w in range(4):
            for j in range(50):
                tasks.append(("chain", w, j))
            for lead_id in pool[w]:
                tasks += [("delete", w, lead_id)] * 3 + [("update", w, lead_id)] * 3
            for lead_id in survivors[w]:
                other = (w + 1) % 4  # another workspace's key must not see or touch it
                tasks += [("foreign_delete", other, lead_id), ("foreign_update", other, lead_id),
                          ("update", w, lead_id)]
        random.Random(4).shuffle(tasks)
        lock = threading.Lock()
        created = {w: set() for w in range(4)}
        deleted = {w: set() for w in range(4)}
        bad = []

        def worker(task):
            kind, w, arg = task
            key = keys[w]
            if kind == "chain":
                status, body, _ = self.call("POST", "/api/v1/leads", key, {
                    "name": f"Chain {arg}", "email": f"chain{arg}.{w}.{tag}@Example.com"})
                if status != 201:
                    bad.append((task, status, body))
                    return
                lead_id = body["data"]["id"]
                with lock:
                    created[w].add(lead_id)
                status, body, _ = self.call("PUT", f"/api/v1/leads/{lead_id}", key,
                                            {"status": "contacted", "metadata": {"step": 2}})
                if status != 200 or body["data"]["status"] != "contacted":
                    bad.append((task, "update", status, body))
                if arg % 3 == 0:
                    status, body, _ = self.call("DELETE", f"/api/v1/leads/{lead_id}", key)
                    if status != 200:
                        bad.append((task, "delete", status, body))
                    else:
                        with lock:
                            deleted[w].add(lead_id)
            elif kind == "delete":
                status, body, _ = self.call("DELETE", f"/api/v1/leads/{arg}", key)
                if status == 200:
                    with lock:
                        if arg in deleted[w]:
                            bad.append((task, "deleted twice", body))
                        deleted[w].add(arg)
                elif not (status == 404 and body["code"] == "LEAD_NOT_FOUND"):
                    bad.append((task, status, body))
            elif kind == "update":
                status, body, _ = self.call("PUT", f"/api/v1/leads/{arg}", key,
                                            {"metadata": {f"u{random.randrange(10**9)}": 1}})
                if status == 200:
                    if body["data"]["id"] != arg:
                        bad.append((task, body))
                elif not (status == 404 and body["code"] == "LEAD_NOT_FOUND"):
                    bad.append((task, status, body))
            elif kind in ("foreign_delete", "foreign_update"):
                method = "DELETE" if kind == "foreign_delete" else "PUT"
                status, body, _ = self.call(method, f"/api/v1/leads/{arg}", key,
                                            None if method == "DELETE" else {"status": "lost"})
                if not (status == 404 and body["code"] == "LEAD_NOT_FOUND"):
                    bad.append((task, "cross-workspace access", status, body))

        self.run_parallel(worker, tasks)
        self.assertEqual(bad, [])
        for w in range(4):
            with self.subTest(workspace=w):
                self.assertEqual(deleted[w] & set(pool[w]), set(pool[w]),
                                 "a pool lead was not deleted by any of its 3 DELETEs")
                expected = (created[w] | set(pool[w]) | set(survivors[w])) - deleted[w]
                leads, total = self.list_all(keys[w])
                self.assertEqual(total, len(expected), "list total != creates - deletes seen")
                self.assertEqual({l["id"] for l in leads}, expected)
                for l in leads:
                    self.assertEqual(l["workspaceId"], wss[w][0], l)
                    if l["id"] in survivors[w]:
                        self.assertNotEqual(l["status"], "lost", "a foreign key changed a lead")
                for lead_id in deleted[w]:
                    status, body, _ = self.call("GET", f"/api/v1/leads/{lead_id}", keys[w])
                    self.assertEqual(status, 404, body)

    # ----------------------------------------------------------------- (e), (f)

    def test_e_parallel_if_match_exactly_one_wins(self):
        _, key = self.server.new_workspace("ifmatch")
        lead = self.create(key, f"ifmatch.{time.time_ns()}@example.com")
        status, _, headers = self.call("GET", f"/api/v1/leads/{lead['id']}", key)
        etag = headers.get("etag")
        self.assertTrue(etag, "GET of a lead without an ETag")
        n = 50

        def worker(i):
            return self.call("PUT", f"/api/v1/leads/{lead['id']}", key,
                             {"metadata": {f"m{i}": i}}, headers={"If-Match": etag})

        results = self.run_parallel(worker, range(n))
        ok = [i for i, (s, _, _) in enumerate(results) if s == 200]
        self.assertEqual(len(ok), 1, f"{len(ok)} PUTs with one If-Match succeeded")
        for i, (status, body, _) in enumerate(results):
            if i != ok[0]:
                self.assertEqual((status, body["code"]), (412, "PRECONDITION_FAILED"), body)
        status, final, _ = self.call("GET", f"/api/v1/leads/{lead['id']}", key)
        self.assertEqual(final["data"]["metadata"], {f"m{ok[0]}": ok[0]})

    def test_z_server_alive_and_no_sanitizer_report(self):
        self.assertIsNone(self.server.proc.poll(), "leadd died during the concurrency tests")
        r = self.server.request("GET", "/healthz", auth=None)
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}))
        self.server.log.flush()
        with open(self.server.log_path, errors="replace") as f:
            log = f.read()
        m = SANITIZER_REPORT.search(log)
        self.assertIsNone(m, "sanitizer report in the server log:\n"
                          + (log[max(0, m.start() - 200):m.start() + 4000] if m else ""))


if __name__ == "__main__":
    unittest.main()
