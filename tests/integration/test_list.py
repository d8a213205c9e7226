"""GET /api/v1/leads beyond page numbers (API.md, issue 6) against a real server: every sort and
order, the time bounds (createdAfter, createdBefore, updatedAfter), cursor pagination (a walk
by `pagination.nextCursor` equals the whole sorted list, and a walk while other clients create
and delete leads never skips or repeats a lead that existed throughout), the 400s of each new
parameter, and the export's time bounds.

Expected orders are computed here from the leads' JSON: times compare as their ISO texts (same
width, UTC), ids as their hex texts, names ASCII-lower-cased as UTF-8 (code point order), ties
broken by id in the sort's direction."""

import json
import random
import threading
import unittest
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

from harness import ServerTest

PAGINATION_KEYS = {"page", "limit", "total", "totalPages", "hasNext", "hasPrev"}
SORTS = ["createdAt", "updatedAt", "name"]
ORDERS = ["desc", "asc"]


def ascii_lower(s):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def sort_key(sort):
    if sort == "name":
        return lambda lead: (ascii_lower(lead["name"]), lead["id"])
    return lambda lead: (lead[sort], lead["id"])


def in_order(leads, sort="createdAt", order="desc"):
    return sorted(leads, key=sort_key(sort), reverse=order == "desc")


def ids(leads):
    return [lead["id"] for lead in leads]


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(ts):
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


class ListTest(ServerTest):

    # --- requests -------------------------------------------------------------------------

    def list_page(self, key, **params):
        """GET /api/v1/leads with `params`; asserts a 200 with the documented keys and returns
        (leads, pagination)."""
        path = "/api/v1/leads?" + urllib.parse.urlencode(params)
        r = self.server.request("GET", path, auth=key)
        self.assertEqual(r.status, 200, (path, r))
        body = r.json()
        self.assertEqual(set(body), {"success", "data"}, body)
        self.assertEqual(set(body["data"]), {"leads", "pagination"}, body)
        p = body["data"]["pagination"]
        if "nextCursor" in p:
            self.assertIsInstance(p["nextCursor"], str)
            self.assertRegex(p["nextCursor"], r"^[A-Za-z0-9_-]+$")  # base64url, no padding
        self.assertEqual(set(p) - {"nextCursor"}, PAGINATION_KEYS, p)
        return body["data"]["leads"], p

    def walk(self, key, limit, between_pages=lambda: None, **params):
        """Every page from the first, each next one by `nextCursor` until it is absent, calling
        `between_pages()` before each next one. Returns the leads in the order received, and
        each page's pagination."""
        leads, p = self.list_page(key, limit=limit, **params)
        walked, pages = list(leads), [p]
        while "nextCursor" in p:
            self.assertLess(len(pages), 10_000, "the walk does not end")
            between_pages()
            leads, p = self.list_page(key, limit=limit, cursor=p["nextCursor"], **params)
            walked += leads
            pages.append(p)
        return walked, pages

    def list_error(self, key, field, **params):
        path = "/api/v1/leads?" + urllib.parse.urlencode(params)
        body = self.assertError(self.server.request("GET", path, auth=key), 400, "VALIDATION_ERROR")
        self.assertEqual(body["details"]["field"], field, body)
        return body

    def create_all(self, key, leads):
        created = []
        for lead in leads:
            r = self.server.request("POST", "/api/v1/leads", lead, auth=key)
            self.assertEqual(r.status, 201, r)
            created.append(r.json()["data"])
        return created

    def update(self, key, lead_id, body):
        r = self.server.request("PUT", f"/api/v1/leads/{lead_id}", body, auth=key)
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]

    def workspace_with_leads(self, name):
        """A fresh workspace of 40 leads: names with mixed case, repeats (ties broken by id) and
        UTF-8; statuses and sources mixed; a few updated so updatedAt order differs from
        createdAt order. Returns (key, every lead as it is now)."""
        _, key = self.server.new_workspace(name)
        names = ["ada", "Ada", "ADA", "Bob", "bob", "Zoe", "zed", "Émile", "Ömer", "alan turing",
                 "Alan Turing", "grace", "Grace Hopper", "linus", "Linus", "_under", "0zero", "~tilde"]
        leads = self.create_all(key, [
            {"name": names[i % len(names)] + ("" if i % 3 else f" {i}"),
             "email": f"l{i}.{uuid.uuid4().hex[:8]}@example.com",
             "status": ["new", "contacted", "qualified"][i % 3],
             "source": ["web", "webinar"][i % 2]} for i in range(40)])
        by_id = {lead["id"]: lead for lead in leads}
        for lead in random.Random(6).sample(leads, 8):
            by_id[lead["id"]] = self.update(key, lead["id"], {"status": "lost"})
        return key, list(by_id.values())

    # --- sorting --------------------------------------------------------------------------

    def test_each_sort_and_order_in_one_page_and_by_page_numbers(self):
        key, leads = self.workspace_with_leads("sorts")
        for sort in SORTS:
            for order in ORDERS:
                with self.subTest(sort=sort, order=order):
                    expected = ids(in_order(leads, sort, order))
                    got, p = self.list_page(key, sort=sort, order=order, limit=100)
                    self.assertEqual(ids(got), expected)
                    self.assertEqual(p, {"page": 1, "limit": 100, "total": 40, "totalPages": 1,
                                         "hasNext": False, "hasPrev": False})
                    paged = []
                    for page in range(1, 7):
                        got, p = self.list_page(key, sort=sort, order=order, limit=7, page=page)
                        paged += ids(got)
                        self.assertEqual((p["page"], p["total"], p["totalPages"], p["hasNext"], p["hasPrev"]),
                                         (page, 40, 6, page < 6, page > 1), p)
                        # Page numbers offer a cursor too, whenever more results exist.
                        self.assertEqual("nextCursor" in p, page < 6, p)
                    self.assertEqual(paged, expected)

    def test_defaults_are_newest_first_and_order_alone_sorts_by_created_at(self):
        key, leads = self.workspace_with_leads("defaults")
        newest_first = ids(in_order(leads, "createdAt", "desc"))
        self.assertEqual(ids(self.list_page(key, limit=100)[0]), newest_first)
        self.assertEqual(ids(self.list_page(key, limit=100, sort="createdAt")[0]), newest_first)
        self.assertEqual(ids(self.list_page(key, limit=100, order="desc")[0]), newest_first)
        self.assertEqual(ids(self.list_page(key, limit=100, order="asc")[0]), newest_first[::-1])
        self.assertEqual(ids(self.list_page(key, limit=100, sort="name")[0]), ids(in_order(leads, "name", "desc")))

    def test_sorts_apply_within_filters(self):
        key, leads = self.workspace_with_leads("sorted-filters")
        for params, keep in [({"status": "lost"}, lambda l: l["status"] == "lost"),
                             ({"source": "webinar"}, lambda l: l["source"] == "webinar"),
                             ({"search": "ADA"}, lambda l: "ada" in l["name"].lower() or "ada" in l["email"]),
                             ({"status": "new", "source": "web"}, lambda l: l["status"] == "new" and l["source"] == "web")]:
            matching = [lead for lead in leads if keep(lead)]
            self.assertTrue(matching, params)
            for sort in SORTS:
                for order in ORDERS:
                    with self.subTest(params=params, sort=sort, order=order):
                        got, p = self.list_page(key, sort=sort, order=order, limit=100, **params)
                        self.assertEqual(ids(got), ids(in_order(matching, sort, order)))
                        self.assertEqual(p["total"], len(matching))

    # --- time bounds ----------------------------------------------------------------------

    def test_time_bounds_are_exclusive_and_combine_with_filters(self):
        key, leads = self.workspace_with_leads("bounds")
        created = sorted({lead["createdAt"] for lead in leads})
        updated = sorted({lead["updatedAt"] for lead in leads})
        self.assertGreaterEqual(len(created), 3, "40 creates were stamped in two milliseconds")
        first, middle, last = created[0], created[len(created) // 2], created[-1]
        cases = [
            ({"createdAfter": first}, lambda l: l["createdAt"] > first),
            ({"createdAfter": middle}, lambda l: l["createdAt"] > middle),
            ({"createdAfter": last}, lambda l: l["createdAt"] > last),
            ({"createdBefore": middle}, lambda l: l["createdAt"] < middle),
            ({"createdBefore": first}, lambda l: l["createdAt"] < first),
            ({"createdAfter": first, "createdBefore": last}, lambda l: first < l["createdAt"] < last),
            ({"updatedAfter": middle}, lambda l: l["updatedAt"] > middle),
            ({"updatedAfter": updated[-2]}, lambda l: l["updatedAt"] > updated[-2]),
            ({"createdAfter": "1970-01-01T00:00:00Z"}, lambda l: True),
            ({"createdBefore": "2999-01-01T00:00:00Z", "status": "lost"}, lambda l: l["status"] == "lost"),
            ({"createdAfter": middle, "source": "webinar"}, lambda l: l["createdAt"] > middle and l["source"] == "webinar"),
            ({"updatedAfter": "2999-01-01T00:00:00.000Z"}, lambda l: False),
            ({"createdAfter": last, "createdBefore": first}, lambda l: False),
        ]
        for params, keep in cases:
            for sort in ("createdAt", "updatedAt"):
                with self.subTest(params=params, sort=sort):
                    matching = [lead for lead in leads if keep(lead)]
                    got, p = self.list_page(key, sort=sort, limit=100, **params)
                    self.assertEqual(ids(got), ids(in_order(matching, sort)))
                    self.assertEqual(p["total"], len(matching))

    def test_a_bound_without_milliseconds_means_dot_000(self):
        key, leads = self.workspace_with_leads("bound-seconds")
        newest = max(parse_iso(lead["createdAt"]) for lead in leads)
        whole_second = newest.replace(microsecond=0)
        for bound in (whole_second, whole_second - timedelta(seconds=1), whole_second + timedelta(seconds=1)):
            with self.subTest(bound=bound):
                short = bound.strftime("%Y-%m-%dT%H:%M:%SZ")
                expected = [lead for lead in leads if lead["createdAt"] > iso(bound)]
                got, p = self.list_page(key, createdAfter=short, limit=100)
                self.assertEqual(ids(got), ids(in_order(expected)))

    # --- cursors --------------------------------------------------------------------------

    def test_a_cursor_walk_equals_the_sorted_list(self):
        key, leads = self.workspace_with_leads("walk")
        for sort in SORTS:
            for order in ORDERS:
                for params, keep in [({}, lambda l: True), ({"status": "lost"}, lambda l: l["status"] == "lost"),
                                     ({"search": "an", "createdAfter": "1970-01-01T00:00:00.000Z"},
                                      lambda l: "an" in l["name"].lower() or "an" in l["email"])]:
                    with self.subTest(sort=sort, order=order, params=params):
                        expected = ids(in_order([l for l in leads if keep(l)], sort, order))
                        walked, pages = self.walk(key, 3, sort=sort, order=order, **params)
                        self.assertEqual(ids(walked), expected)
                        self.assertEqual(len(pages), max(1, (len(expected) + 2) // 3))
                        for n, p in enumerate(pages, start=1):
                            # A cursor page is numbered as page numbers would number it.
                            self.assertEqual(p, {**p, "page": n, "limit": 3, "total": len(expected),
                                                 "totalPages": (len(expected) + 2) // 3,
                                                 "hasNext": n < len(pages), "hasPrev": n > 1})
                            self.assertEqual("nextCursor" in p, n < len(pages))

    def test_a_cursor_from_any_page_number_continues_from_there(self):
        key, leads = self.workspace_with_leads("switch")
        expected = ids(in_order(leads, "name", "asc"))
        got, p = self.list_page(key, sort="name", order="asc", limit=6, page=3)
        self.assertEqual(ids(got), expected[12:18])
        # With a cursor, page is ignored.
        got, p = self.list_page(key, sort="name", order="asc", limit=5, page=1, cursor=p["nextCursor"])
        self.assertEqual(ids(got), expected[18:23])
        self.assertEqual((p["page"], p["hasPrev"], p["hasNext"]), (18 // 5 + 1, True, True))
        # The last page offers no cursor; a page past the end neither.
        got, p = self.list_page(key, sort="name", order="asc", limit=10, page=4)
        self.assertEqual(ids(got), expected[30:])
        self.assertNotIn("nextCursor", p)
        self.assertNotIn("nextCursor", self.list_page(key, limit=10, page=5)[1])

    def test_a_cursor_past_deleted_leads_still_resumes_after_its_position(self):
        key, leads = self.workspace_with_leads("resume")
        expected = ids(in_order(leads))
        got, p = self.list_page(key, limit=10)
        # The last lead shown and the first two after it go; the cursor still knows its place.
        for lead_id in expected[9:12]:
            self.assertEqual(self.server.request("DELETE", f"/api/v1/leads/{lead_id}", auth=key).status, 200)
        got, p = self.list_page(key, limit=10, cursor=p["nextCursor"])
        self.assertEqual(ids(got), expected[12:22])
        self.assertEqual((p["page"], p["total"], p["hasPrev"]), (1 + 9 // 10, 37, True))

    def test_a_cursor_walk_under_concurrent_creates_and_deletes(self):
        """Writers create and delete leads (their own, and some of the originals) while a reader
        walks by cursor: every original that no writer deletes appears exactly once, no lead
        appears twice, and the walk is in order."""
        _, key = self.server.new_workspace("walk-under-writes")
        originals = self.create_all(key, [{"name": f"Orig {random.random():.6f}",
                                           "email": f"o{i}.{uuid.uuid4().hex[:8]}@example.com"} for i in range(600)])
        doomed = sorted(lead["id"] for lead in random.Random(7).sample(originals, 200))
        throughout = {lead["id"] for lead in originals} - set(doomed)
        wrote = threading.Condition()
        errors, writes = [], [0]

        def writer(seed, stop):
            rng = random.Random(seed)
            mine = []
            try:
                while not stop.is_set():
                    r = self.server.create_lead(key=key, name=f"New {rng.random():.6f}",
                                                email=f"n.{uuid.uuid4().hex}@example.com")
                    assert r.status == 201, r
                    mine.append(r.json()["data"]["id"])
                    with wrote:
                        victim = doomed.pop(rng.randrange(len(doomed))) if doomed and rng.random() < 0.5 else None
                    if victim is None and len(mine) > 3:
                        victim = mine.pop(rng.randrange(len(mine)))
                    if victim is not None:
                        r = self.server.request("DELETE", f"/api/v1/leads/{victim}", auth=key)
                        assert r.status == 200, r
                    with wrote:
                        writes[0] += 1
                        wrote.notify_all()
            except Exception as e:  # reported by the test, with the writer's exception
                errors.append(e)
                with wrote:
                    wrote.notify_all()

        def after_a_write():
            """Lets a writer finish a create and a delete before the next page, so every step of
            the walk has the order change under it."""
            with wrote:
                seen = writes[0]
                self.assertTrue(wrote.wait_for(lambda: writes[0] > seen or errors, timeout=10), "no write")

        for sort, order in [("createdAt", "desc"), ("createdAt", "asc"), ("name", "asc"), ("name", "desc")]:
            with self.subTest(sort=sort, order=order):
                stop = threading.Event()
                threads = [threading.Thread(target=writer, args=(seed, stop)) for seed in (1, 2)]
                for t in threads:
                    t.start()
                try:
                    walked, _ = self.walk(key, 5, between_pages=after_a_write, sort=sort, order=order)
                finally:
                    stop.set()
                    for t in threads:
                        t.join()
                self.assertEqual(errors, [])
                walked_ids = ids(walked)
                self.assertEqual(len(walked_ids), len(set(walked_ids)), "a lead was repeated")
                self.assertEqual(throughout - set(walked_ids), set(), "leads that existed throughout were skipped")
                keys = [sort_key(sort)(lead) for lead in walked]
                self.assertEqual(keys, sorted(keys, reverse=order == "desc"), "the walk is out of order")

    # --- errors ---------------------------------------------------------------------------

    def test_bad_values_of_the_new_parameters_are_400_naming_them(self):
        _, key = self.server.new_workspace("bad-params")
        for field, value in [("sort", "email"), ("sort", ""), ("sort", "createdat"), ("order", "ascending"),
                             ("order", "ASC"), ("createdAfter", "yesterday"), ("createdAfter", "2024-01-15"),
                             ("createdBefore", "2024-01-15T10:30:00+01:00"), ("updatedAfter", "1705314600000"),
                             ("updatedAfter", "2024-02-30T00:00:00Z"), ("cursor", ""), ("cursor", "junk"),
                             ("cursor", "A" * 5000)]:
            with self.subTest(field=field, value=value):
                body = self.list_error(key, field, **{field: value})
                self.assertEqual(body["details"]["value"], value)

    def test_a_cursor_is_refused_with_another_query_or_when_edited(self):
        key, _ = self.workspace_with_leads("cursor-mismatch")
        _, p = self.list_page(key, sort="updatedAt", order="asc", status="new", limit=2)
        cursor = p["nextCursor"]
        same = {"sort": "updatedAt", "order": "asc", "status": "new"}
        self.list_page(key, cursor=cursor, **same)  # accepted
        for changed in [{"sort": "createdAt"}, {"order": "desc"}, {"status": "lost"}, {"status": None},
                        {"source": "web"}, {"search": "ada"}, {"createdAfter": "2000-01-01T00:00:00Z"},
                        {"createdBefore": "2999-01-01T00:00:00Z"}, {"updatedAfter": "2000-01-01T00:00:00Z"}]:
            with self.subTest(changed=changed):
                params = {k: v for k, v in {**same, **changed}.items() if v is not None}
                body = self.list_error(key, "cursor", cursor=cursor, **params)
                self.assertIn("does not match", body["details"]["message"])
        for edited in [cursor[:-1], cursor + "A", cursor + "=", "+" + cursor[1:],
                       cursor[:10] + ("B" if cursor[10] != "B" else "C") + cursor[11:]]:
            with self.subTest(edited=edited):
                body = self.list_error(key, "cursor", cursor=edited, **same)
                self.assertNotIn("does not match", body["details"]["message"])

    # --- export ---------------------------------------------------------------------------

    def test_the_export_applies_the_time_bounds(self):
        key, leads = self.workspace_with_leads("export-bounds")
        created = sorted({lead["createdAt"] for lead in leads})
        for params, keep in [({"createdAfter": created[0]}, lambda l: l["createdAt"] > created[0]),
                             ({"createdBefore": created[-1]}, lambda l: l["createdAt"] < created[-1]),
                             ({"updatedAfter": created[-1], "status": "lost"},
                              lambda l: l["updatedAt"] > created[-1] and l["status"] == "lost"),
                             ({"createdAfter": "2999-01-01T00:00:00Z"}, lambda l: False)]:
            with self.subTest(params=params):
                r = self.server.request("GET", "/api/v1/leads/export?" + urllib.parse.urlencode(params), auth=key)
                self.assertEqual(r.status, 200, r)
                exported = [json.loads(line) for line in r.body.decode().splitlines()]
                self.assertEqual(ids(exported), ids(in_order([l for l in leads if keep(l)])))
        for field in ("createdAfter", "createdBefore", "updatedAfter"):
            r = self.server.request("GET", f"/api/v1/leads/export?{field}=soon", auth=key)
            self.assertEqual(self.assertError(r, 400, "VALIDATION_ERROR")["details"]["field"], field)


if __name__ == "__main__":
    unittest.main()
