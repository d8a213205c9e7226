#!/usr/bin/python3
"""Listing at scale: leadd against PostgreSQL 15 on the same 1 000 000 leads and the same queries.

  load/scale_bench.py [--leads 1000000 | --quick] [--repeat 200] [--seed 6] [--keep]
                      [--binary PATH] [--baseline-binary PATH [--baseline-queries]]

What one run does:
  1. generates --leads realistic leads for one workspace, deterministic from --seed: names from
     lists of first and last names (skewed), emails derived from them + numbers on a handful of
     domains, phones, a source out of 10 and a status (both skewed), metadata sized so that each
     lead's JSON as leadd renders it is 300-600 bytes;
  2. builds Release leadd (build/release, as load/bench.py does) unless --binary is given, starts it
     (--threads 1 --fsync none, pinned to --server-cpus) on a fresh data dir, creates a workspace
     through the admin API and loads the leads through POST /api/v1/leads/batch (--batch per
     request, --connections connections); the server's VmRSS before and after the load gives
     bytes per lead. With --baseline-binary, another leadd (e.g. the build before the list
     indexes) loads the same leads first, for the same memory figure;
  3. starts a throwaway PostgreSQL 15 (initdb + pg_ctl as the postgres user, a temp data dir, a
     unix socket in a temp dir, pinned to --server-cpus like leadd; stopped and removed at the end
     even on error), COPYs the same leads with leadd's ids and timestamps, creates the indexes a
     DBA would (below), VACUUM ANALYZE, pg_prewarm;
  4. checks every query class on both against a brute-force answer computed here (same ids, same
     order, same total) and fails loudly where one differs;
  5. times each class on both from one keep-alive client (http.client; psycopg2 with PREPAREd
     statements), pinned to --client-cpus: warm-up, then --repeat calls (or --max-seconds),
     p50/p99 of the wall time of request + whole answer;
  6. prints the markdown tables and writes load/results/scale.json (and a dated copy).

Exit status 1 when any leadd answer was wrong or a class could not run on the current leadd.
"""
import argparse
import datetime
import http.client
import json
import math
import os
import queue
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no load/__pycache__ from the import below
import bench  # noqa: E402  (Leadd, http_call, rss_kib, cpu_ticks, children, machine, build, log)

log = bench.log
PG_BIN = "/usr/lib/postgresql/15/bin"
MIN_SAMPLES = 20

# ---------------------------------------------------------------------------------------------
# the leads

FIRST = """James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard
Susan Joseph Jessica Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy Matthew Betty Anthony Sandra
Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin
Amanda Brian Melissa George Deborah Timothy Stephanie Ronald Dorothy Jason Rebecca Edward Sharon Jeffrey
Laura Ryan Cynthia Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley Jonathan Brenda Stephen Emma Larry
Anna Justin Pamela Scott Nicole Brandon Samantha Benjamin Katherine Samuel Christine Gregory Debra
Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Olivia Dennis Heather Jerry Helen Tyler
Catherine Aaron Diane Jose Julie Adam Victoria Nathan Joyce Henry Lauren Zachary Kelly Douglas Christina
Peter Ruth Kyle Joan Noah Virginia Ethan Judith Jeremy Evelyn Christian Hannah Walter Andrea Keith Megan
Austin Cheryl Roger Jacqueline Terry Madison Sean Teresa Gerald Abigail Carl Sophia Dylan Martha Harold
Sara Jordan Gloria Jesse Janice Bryan Kathryn Lawrence Ann Arthur Isabella Gabriel Judy Bruce Charlotte
Logan Julia Billy Grace Joe Amber Alan Alice Juan Jean Elijah Denise Willie Frances Albert Danielle Wayne
Marilyn Randy Natalie Mason Beverly Vincent Diana Liam Brittany Roy Theresa Bobby Kayla Caleb Alexis
Bradley Doris Russell Lori Lucas Tiffany Priya Wei Mohammed Fatima Hiroshi Yuki Carlos Lucia Olga Sven""".split()
LAST = """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez
Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall
Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes
Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard
Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price
Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell
Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander
Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina
Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy
Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon
Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose
Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver
Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart
Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray
Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence""".split()
# One lead in RARE_EVERY gets one of these: the rare search finds a handful among a million.
RARE_LAST = ["Przybylski", "Oyelaran", "Vandermeulen"]
RARE_EVERY = 20_000
DOMAINS = [("gmail.com", 34), ("yahoo.com", 14), ("outlook.com", 14), ("hotmail.com", 10), ("icloud.com", 8),
           ("aol.com", 4), ("protonmail.com", 4), ("acmecorp.com", 6), ("globex.io", 6)]
SOURCES = [("website", 28), ("google_ads", 17), ("referral", 12), ("linkedin", 10), ("webinar", 8),
           ("facebook", 7), ("trade_show", 6), ("cold_call", 5), ("partner", 4), ("newsletter", 3)]
STATUSES = [("new", 38), ("contacted", 24), ("qualified", 15), ("follow_up", 9), ("converted", 8), ("lost", 6)]
COMPANY_A = """Blue Red Green Silver North South East West Bright Clear Rapid Smart Prime Apex Summit Core
Urban Pacific Atlantic Golden Iron Stone River Lake Pine Oak Maple Cedar Harbor Metro""".split()
COMPANY_B = """Tech Systems Logistics Health Foods Media Energy Capital Labs Works Solutions Dynamics Retail
Builders Analytics Networks Motors Foods Studios Consulting""".split()
COMPANY_SUFFIX = ["Inc", "LLC", "Ltd", "GmbH", "Corp", "Group", "Partners", "Co"]
TITLES = ["CEO", "CTO", "VP Sales", "Head of Marketing", "Marketing Manager", "Sales Director", "Founder",
          "Operations Manager", "Product Manager", "Procurement Lead", "IT Director", "Office Manager"]
INDUSTRIES = ["Software", "Healthcare", "Retail", "Manufacturing", "Financial Services", "Education",
              "Real Estate", "Logistics", "Hospitality", "Construction", "Media", "Energy"]
PLACES = [("US", "New York"), ("US", "Austin"), ("US", "Chicago"), ("US", "Seattle"), ("GB", "London"),
          ("DE", "Berlin"), ("FR", "Paris"), ("CA", "Toronto"), ("AU", "Sydney"), ("NL", "Amsterdam"),
          ("ES", "Madrid"), ("IN", "Bangalore"), ("BR", "Sao Paulo"), ("JP", "Tokyo")]
TAGS = ["enterprise", "smb", "hot", "cold", "demo-requested", "trial", "newsletter", "partner", "priority",
        "q4", "renewal", "upsell"]
MEDIUMS = ["cpc", "email", "social", "organic", "referral", "display"]
NOTES = ("Asked for pricing for the team plan. Prefers email over calls. Budget approved for next quarter. "
         "Evaluating two other vendors, decision expected after the trade show. Needs SSO and an audit log. "
         "Call back on Tuesday morning, their time. Interested in the annual contract with onboarding. ")
NOTE_STARTS = [0] + [i + 1 for i, ch in enumerate(NOTES) if ch == " "]
# What leadd adds to a create body when it renders the lead: "id", "createdAt", "updatedAt" and
# "workspaceId" with their values (141 bytes), and "phone":null when there is no phone.
RENDER_OVERHEAD = len('"id":"lead_0123456789abcdef",') + 2 * len(',"createdAt":"2026-11-27T04:41:02.123Z"') \
    + len(',"workspaceId":"ws_0123456789abcdef"')
NULL_PHONE = len(',"phone":null')


def zipf_cum(n, s=1.0, offset=2.0):
    acc, out = 0.0, []
    for i in range(n):
        acc += 1.0 / (i + offset) ** s
        out.append(acc)
    return out


def cum(weights):
    acc, out = 0, []
    for w in weights:
        acc += w
        out.append(acc)
    return out


class Dataset:
    """Column lists, one entry per lead; `meta` is each lead's metadata as compact JSON."""

    def __init__(self, n, seed):
        t = time.monotonic()
        rng = random.Random(seed)
        self.n = n
        firsts = rng.choices(FIRST, cum_weights=zipf_cum(len(FIRST), 0.8, 5), k=n)
        lasts = rng.choices(LAST, cum_weights=zipf_cum(len(LAST), 0.9, 3), k=n)
        for i in range(n):
            if rng.randrange(RARE_EVERY) == 0:
                lasts[i] = rng.choice(RARE_LAST)
        domains = rng.choices([d for d, _ in DOMAINS], cum_weights=cum(w for _, w in DOMAINS), k=n)
        self.source = rng.choices([s for s, _ in SOURCES], cum_weights=cum(w for _, w in SOURCES), k=n)
        self.status = rng.choices([s for s, _ in STATUSES], cum_weights=cum(w for _, w in STATUSES), k=n)
        self.name, self.email, self.phone, self.meta = [], [], [], []
        seen = set()
        for i in range(n):
            first, last = firsts[i], lasts[i]
            name = f"{first} {last}"
            f, l = first.lower(), last.lower()
            pattern = rng.randrange(5)
            local = (f"{f}.{l}", f"{f}{l}", f"{f[0]}{l}", f"{l}.{f}", f"{f}_{l}")[pattern]
            number = "" if rng.random() < 0.15 else str(rng.randrange(1, 10_000))
            email = f"{local}{number}@{domains[i]}"
            while email in seen:
                email = f"{local}{rng.randrange(10_000, 10_000_000)}@{domains[i]}"
            seen.add(email)
            if rng.random() < 0.05:  # some clients send capitals; uniqueness ignores case
                email = email[0].upper() + email[1:]
            phone = None if rng.random() < 0.1 else \
                f"+1-{rng.randrange(200, 1000)}-{rng.randrange(200, 1000)}-{rng.randrange(10_000):04d}"
            self.name.append(name)
            self.email.append(email)
            self.phone.append(phone)
            self.meta.append(self._metadata(rng, i, name, email, phone))
        self.seconds = time.monotonic() - t

    def _metadata(self, rng, i, name, email, phone):
        target = rng.randint(300, 600)
        size = len(self._render(i, name, email, phone, "{}")) + RENDER_OVERHEAD + (NULL_PHONE if phone is None else 0)
        country, city = rng.choice(PLACES)
        fields = [
            ("company", f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)} {rng.choice(COMPANY_SUFFIX)}"),
            ("title", rng.choice(TITLES)),
            ("industry", rng.choice(INDUSTRIES)),
            ("country", country), ("city", city),
            ("employees", rng.choice([5, 12, 25, 50, 120, 250, 800, 2500, 10_000])),
            ("score", rng.randrange(101)),
            ("tags", rng.sample(TAGS, rng.randint(1, 3))),
            ("utm", {"source": self.source[i], "medium": rng.choice(MEDIUMS),
                     "campaign": f"{rng.choice(['spring', 'summer', 'fall', 'winter'])}-{rng.choice([2025, 2026])}"}),
            ("budget", rng.randrange(1000, 500_000, 500)),
        ]
        meta = {}
        meta_len = 2  # "{}"
        for key, value in fields:
            extra = len(json.dumps({key: value}, separators=(",", ":"))) - 2 + (1 if meta else 0)
            if size + meta_len + extra - 2 > target - 24:  # leave room for some notes
                break
            meta[key] = value
            meta_len += extra
        now = size - 2 + meta_len
        if now < target:  # notes fill the rest (at least one character: a few bytes over at worst)
            room = max(1, target - now - len('"notes":""') - (1 if meta else 0))
            start = rng.choice(NOTE_STARTS)
            notes = (NOTES * 3)[start:start + room].rstrip()
            meta["notes"] = notes + "." * (room - len(notes))
        return json.dumps(meta, separators=(",", ":"))

    def body(self, i):
        """Lead i's create body, compact JSON."""
        return self._render(i, self.name[i], self.email[i], self.phone[i], self.meta[i])

    def _render(self, i, name, email, phone, meta):
        # Every string here is plain ASCII without quotes or backslashes: nothing to escape.
        ph = f'"phone":"{phone}",' if phone is not None else ""
        return (f'{{"name":"{name}","email":"{email}",{ph}"source":"{self.source[i]}",'
                f'"status":"{self.status[i]}","metadata":{meta}}}')


# ---------------------------------------------------------------------------------------------
# leadd

def start_leadd(binary, data_dir, args, workdir):
    bench.BIN = binary  # bench.Leadd starts whatever bench.BIN names
    return bench.Leadd(data_dir, "none", args.server_cpus, 1, workdir)


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


def settle_rss(pid, seconds=20):
    """VmRSS once it stops moving (a snapshot may still be written right after a load)."""
    last = status_kib(pid, "VmRSS")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(1)
        now = status_kib(pid, "VmRSS")
        if abs(now - last) <= last * 0.002:
            return now
        last = now
    return last


def load_leadd(server, key, ds, args):
    """Loads every lead through POST /api/v1/leads/batch; returns ids, createdAt, updatedAt per lead."""
    n = ds.n
    ids, created, updated = [None] * n, [None] * n, [None] * n
    work = queue.Queue()
    for lo in range(0, n, args.batch):
        work.put(lo)
    errors = []

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        try:
            while not errors:
                try:
                    lo = work.get_nowait()
                except queue.Empty:
                    return
                hi = min(n, lo + args.batch)
                body = ('{"leads":[' + ",".join(ds.body(i) for i in range(lo, hi)) + "]}").encode()
                conn.request("POST", "/api/v1/leads/batch", body=body, headers=headers)
                r = conn.getresponse()
                raw = r.read()
                if r.status != 200:
                    errors.append(f"batch at {lo}: HTTP {r.status} {raw[:300]!r}")
                    return
                results = json.loads(raw)["data"]["results"]
                for res in results:
                    if res["status"] != 201:
                        errors.append(f"lead {lo + res['index']}: {json.dumps(res)[:300]}")
                        return
                    lead = res["data"]
                    i = lo + res["index"]
                    ids[i], created[i], updated[i] = lead["id"], lead["createdAt"], lead["updatedAt"]
        except Exception as e:  # noqa: BLE001 - reported below, with the batch it happened in
            errors.append(f"{type(e).__name__}: {e}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        died = "" if server.alive() else f"\nleadd exited with status {server.proc.poll()}; its log ends:\n{server.tail()}"
        raise RuntimeError("loading leadd failed: " + "; ".join(errors[:3]) + died)
    return ids, created, updated


def built_from(binary):
    """The commit of the checkout a binary sits in (a build dir inside a work tree), '+' if that
    work tree has uncommitted changes to tracked files; '?' outside any."""
    def git(*a):
        out = subprocess.run(["git", "-C", os.path.dirname(binary), *a], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else None
    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "?"
    return commit + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")


def load_into(label, binary, ds, args, workdir):
    """A fresh leadd on `binary`: load every lead, measure RSS. Returns (server, key, ws, load info)."""
    data_dir = os.path.join(workdir, f"data-{label}")
    server = start_leadd(binary, data_dir, args, workdir)
    try:
        key = server.create_workspace("scale")
        st, _, body = bench.http_call(server.port, "GET", "/api/v1/leads?limit=1", {"Authorization": f"Bearer {key}"})
        if st != 200:
            raise RuntimeError(f"{label}: list answered {st}: {body[:200]!r}")
        time.sleep(0.5)
        pid = server.proc.pid
        rss_before = status_kib(pid, "VmRSS")
        t = time.monotonic()
        ids, created, updated = load_leadd(server, key, ds, args)
        load_s = time.monotonic() - t
        rss_after = settle_rss(pid)
        peak = status_kib(pid, "VmHWM")
        st, _, body = bench.http_call(server.port, "GET", "/api/v1/leads?limit=1", {"Authorization": f"Bearer {key}"})
        total = json.loads(body)["data"]["pagination"]["total"]
        if total != ds.n:
            raise RuntimeError(f"{label}: {total} leads listed after loading {ds.n}")
        ws = json.loads(body)["data"]["leads"][0]["workspaceId"]
        info = {"label": label, "binary": binary, "built_from": built_from(binary), "leads": ds.n, "load_seconds": load_s,
                "leads_per_second": ds.n / load_s, "rss_before_kib": rss_before, "rss_after_kib": rss_after,
                "peak_rss_kib": peak, "bytes_per_lead": rss_after * 1024 / ds.n,
                "growth_bytes_per_lead": (rss_after - rss_before) * 1024 / ds.n}
        log(f"{label}: loaded {ds.n} leads in {load_s:.1f} s ({ds.n / load_s:,.0f}/s); RSS "
            f"{rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MiB (peak {peak / 1024:.0f}): "
            f"{info['bytes_per_lead']:.0f} B/lead")
        return server, key, ws, (ids, created, updated), info
    except BaseException:
        server.stop()
        raise


def lead_sizes(server, key):
    """Bytes of each lead's JSON in leadd's answers (three pages of 100 from the middle)."""
    sizes = []
    for page in (1, 4000, 8000):
        st, _, body = bench.http_call(server.port, "GET", f"/api/v1/leads?limit=100&page={page}",
                                      {"Authorization": f"Bearer {key}"})
        if st == 200:
            sizes += [len(json.dumps(lead, separators=(",", ":"))) for lead in json.loads(body)["data"]["leads"]]
    return {"min": min(sizes), "mean": sum(sizes) / len(sizes), "max": max(sizes), "sampled": len(sizes)} if sizes else {}


# ---------------------------------------------------------------------------------------------
# the expected answers, by brute force

class Truth:
    def __init__(self, ds, ids, created, updated):
        self.ds, self.ids, self.created, self.updated = ds, ids, created, updated
        # ISO timestamps of one fixed format order as the times do; ids are fixed-width hex.
        self.newest_first = sorted(range(ds.n), key=lambda i: (created[i], ids[i]), reverse=True)
        self._by_name = None

    def by_name(self):
        if self._by_name is None:
            names = self.ds.name
            self._by_name = sorted(range(self.ds.n), key=lambda i: (names[i].lower(), self.ids[i]))
        return self._by_name

    def answer(self, match=None, offset=0, limit=10, order=None):
        order = self.newest_first if order is None else order
        if match is None:
            return [self.ids[i] for i in order[offset:offset + limit]], len(order)
        total, page = 0, []
        for i in order:
            if match(i):
                if offset <= total < offset + limit:
                    page.append(self.ids[i])
                total += 1
        return page, total

    def search_match(self, text):
        text = text.lower()
        names, emails = self.ds.name, self.ds.email
        return lambda i: text in names[i].lower() or text in emails[i].lower()


def pg_literal(value):
    return "'" + str(value).replace("'", "''") + "'"


def like_pattern(text):
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def query_classes(truth, ws, args, deep_page, rare, common):
    """Every timed query: its leadd path, its SQL pieces and its expected answer."""
    ds = truth.ds
    ws_sql = f"workspace_id = {pg_literal(ws)}"
    newest = "created_at DESC, id DESC"
    offset = (deep_page - 1) * 10
    classes = []

    def add(key, title, path, where, order=newest, pg_offset=0, expected=None, count_where=None, needs=None):
        classes.append({"key": key, "title": title, "path": path, "where": f"{ws_sql}{where}",
                        "count_where": f"{ws_sql}{where if count_where is None else count_where}",
                        "order": order, "offset": pg_offset, "expected_ids": expected[0],
                        "expected_total": expected[1], "needs": needs})

    add("page1", "page 1 (newest first, limit 10)", "/api/v1/leads?limit=10", "", expected=truth.answer())
    add("deep", f"page {num(deep_page)} (offset {num(offset)})",
        f"/api/v1/leads?limit=10&page={deep_page}", "", pg_offset=offset, expected=truth.answer(offset=offset))
    # The cursor of the page before the deep one: its step must return exactly the deep page.
    last = truth.newest_first[offset - 1]
    add("cursor", f"cursor step (the page after lead {num(offset)})", None,
        f" AND (created_at, id) < ({pg_literal(truth.created[last])}::timestamptz, {pg_literal(truth.ids[last])})",
        count_where="", expected=truth.answer(offset=offset), needs="cursor")
    classes[-1]["cursor_from"] = f"/api/v1/leads?limit=10&page={deep_page - 1}"
    status = "contacted"
    add("status", f"status={status}", f"/api/v1/leads?limit=10&status={status}",
        f" AND status = {pg_literal(status)}", expected=truth.answer(lambda i: ds.status[i] == status))
    st2, src = "qualified", "webinar"
    add("status_source", f"status={st2}&source={src}", f"/api/v1/leads?limit=10&status={st2}&source={src}",
        f" AND status = {pg_literal(st2)} AND source = {pg_literal(src)}",
        expected=truth.answer(lambda i: ds.status[i] == st2 and ds.source[i] == src))
    for key, text in (("search_rare", rare), ("search_common", common)):
        pat = pg_literal(like_pattern(text))
        add(key, f"search={text} ({'rare' if key == 'search_rare' else 'common'})",
            f"/api/v1/leads?limit=10&search={urllib.parse.quote(text)}",
            f" AND (name ILIKE {pat} OR email ILIKE {pat})", expected=truth.answer(truth.search_match(text)))
    add("name", "sort=name&order=asc (page 1)", "/api/v1/leads?limit=10&sort=name&order=asc", "",
        order="lower(name), id", expected=truth.answer(order=truth.by_name()), needs="sort=name")
    return classes


# ---------------------------------------------------------------------------------------------
# PostgreSQL

PG_CONF = """
listen_addresses = ''
unix_socket_directories = '{sock}'
port = 5432
shared_buffers = '{shared_buffers}'
work_mem = '64MB'
maintenance_work_mem = '1GB'
effective_cache_size = '8GB'
random_page_cost = 1.1
# Pinned to one core like leadd: parallel workers would only share it; JIT is for analytics.
max_parallel_workers_per_gather = 0
max_parallel_maintenance_workers = 0
jit = off
# A throwaway copy: no durability while loading (leadd loads with --fsync none too).
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = '8GB'
checkpoint_timeout = '1h'
"""

PG_TABLE = """
CREATE TABLE leads (
    id           text        NOT NULL,
    workspace_id text        NOT NULL,
    name         text        NOT NULL,
    email        text        NOT NULL,
    phone        text,
    source       text,
    status       text        NOT NULL,
    metadata     jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
)"""

# What a DBA would create for the API's queries (every order ends in id, as the API's does), and
# the uniqueness leadd enforces. B-trees serve DESC by scanning backwards.
PG_INDEXES = [
    ("leads_pkey", "ALTER TABLE leads ADD CONSTRAINT leads_pkey PRIMARY KEY (id)"),
    ("leads_ws_email_key", "CREATE UNIQUE INDEX leads_ws_email_key ON leads (workspace_id, lower(email))"),
    ("leads_ws_created", "CREATE INDEX leads_ws_created ON leads (workspace_id, created_at, id)"),
    ("leads_ws_status_created", "CREATE INDEX leads_ws_status_created ON leads (workspace_id, status, created_at, id)"),
    ("leads_ws_status_source_created",
     "CREATE INDEX leads_ws_status_source_created ON leads (workspace_id, status, source, created_at, id)"),
    ("leads_ws_name", "CREATE INDEX leads_ws_name ON leads (workspace_id, lower(name), id)"),
    ("leads_ws_updated", "CREATE INDEX leads_ws_updated ON leads (workspace_id, updated_at, id)"),
    ("leads_name_trgm", "CREATE INDEX leads_name_trgm ON leads USING gin (name gin_trgm_ops)"),
    ("leads_email_trgm", "CREATE INDEX leads_email_trgm ON leads USING gin (email gin_trgm_ops)"),
]
PG_COLUMNS = "id, name, email, phone, source, status, metadata, created_at, updated_at, workspace_id"


class Postgres:
    """A throwaway PostgreSQL 15: its own data dir and socket dir, run as the postgres user."""

    def __init__(self, cpus, shared_buffers, keep):
        self.keep = keep
        self.pid = None
        self.dir = tempfile.mkdtemp(prefix="leadd-scale-pg-")
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "postgres.log")
        self.runas = []
        try:
            if os.geteuid() == 0:  # postgres refuses to run as root
                import pwd
                pw = pwd.getpwnam("postgres")
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
                self.runas = ["runuser", "-u", "postgres", "--"]
            self._run([*self.runas, f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--locale=C",
                       "--encoding=UTF8", "-N"])
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write(PG_CONF.format(sock=self.dir, shared_buffers=shared_buffers))
            self._run(["taskset", "-c", cpus, *self.runas, f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.logfile,
                       "-w", "-t", "120", "start"])
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                self.pid = int(f.readline())
        except BaseException:
            self.stop()
            raise

    def _run(self, cmd):
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {out.returncode}\n{out.stdout[-2000:]}{out.stderr[-2000:]}"
                               + self.log_tail())

    def log_tail(self):
        try:
            with open(self.logfile) as f:
                return "\n" + f.read()[-2000:]
        except OSError:
            return ""

    def connect(self):
        import psycopg2
        import psycopg2.extras
        conn = psycopg2.connect(host=self.dir, port=5432, user="postgres", dbname="postgres")
        conn.autocommit = True
        psycopg2.extras.register_default_jsonb(conn_or_curs=conn, loads=lambda text: text)
        return conn

    def pids(self):
        return [self.pid] + bench.children(self.pid) if self.pid else []

    def stop(self):
        pid_file = os.path.join(self.data, "postmaster.pid")
        if self.pid or os.path.exists(pid_file):
            subprocess.run([*self.runas, f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"],
                           capture_output=True)
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)  # still there: pg_ctl could not stop it
            except OSError:
                pass
            self.pid = None
        if self.keep:
            log(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class CopySource:
    """A file-like object for COPY FROM STDIN: the leads as text-format rows, made as read."""

    def __init__(self, ds, ids, created, updated, ws, chunk=5000):
        self.rows = iter(range(ds.n))
        self.ds, self.ids, self.created, self.updated, self.ws, self.chunk = ds, ids, created, updated, ws, chunk

    @staticmethod
    def field(value):
        if value is None:
            return "\\N"
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    def read(self, _size=-1):
        ds, f, out = self.ds, self.field, []
        for i in self.rows:
            out.append("\t".join((self.ids[i], self.ws, f(ds.name[i]), f(ds.email[i]), f(ds.phone[i]),
                                  f(ds.source[i]), ds.status[i], f(ds.meta[i]), self.created[i], self.updated[i])))
            if len(out) >= self.chunk:
                break
        return "\n".join(out) + "\n" if out else ""


def load_postgres(pg, ds, ids, created, updated, ws):
    conn = pg.connect()
    cur = conn.cursor()
    info = {"phases": {}}
    t = time.monotonic()
    cur.execute("CREATE EXTENSION pg_trgm")
    cur.execute("CREATE EXTENSION pg_prewarm")
    cur.execute(PG_TABLE)
    cur.copy_expert("COPY leads (id, workspace_id, name, email, phone, source, status, metadata, created_at, "
                    "updated_at) FROM STDIN", CopySource(ds, ids, created, updated, ws), size=1 << 20)
    info["phases"]["copy"] = time.monotonic() - t
    log(f"postgres: COPY of {ds.n} leads in {info['phases']['copy']:.1f} s")
    for name, sql in PG_INDEXES:
        t = time.monotonic()
        cur.execute(sql)
        info["phases"][name] = time.monotonic() - t
        log(f"postgres: {name} in {info['phases'][name]:.1f} s")
    t = time.monotonic()
    cur.execute("VACUUM (ANALYZE) leads")
    info["phases"]["vacuum_analyze"] = time.monotonic() - t
    cur.execute("SELECT sum(pg_prewarm(c.oid)) FROM pg_class c WHERE c.oid = 'leads'::regclass "
                "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'leads'::regclass) "
                "OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'leads'::regclass)")
    cur.execute("SELECT pg_relation_size('leads'), pg_total_relation_size('leads'), pg_indexes_size('leads')")
    table, total, indexes = cur.fetchone()
    cur.execute("SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE i.indrelid = 'leads'::regclass ORDER BY 1")
    info["index_bytes"] = dict(cur.fetchall())
    cur.execute("SELECT version()")
    info["version"] = cur.fetchone()[0]
    info.update(table_bytes=table, total_bytes=total, indexes_bytes=indexes,
                bytes_per_lead_disk=total / ds.n, server_rss_kib=status_kib(pg.pid, "VmRSS"))
    conn.close()
    return info


def pg_statements(c):
    page = (f"SELECT {PG_COLUMNS} FROM leads WHERE {c['where']} ORDER BY {c['order']} "
            f"LIMIT 10 OFFSET {c['offset']}")
    same = (f"SELECT c.total, p.* FROM (SELECT count(*) FROM leads WHERE {c['count_where']}) c(total) "
            f"LEFT JOIN LATERAL ({page}) p ON true")
    return same, page


# ---------------------------------------------------------------------------------------------
# measuring

def percentile(sorted_samples, p):
    return sorted_samples[max(0, math.ceil(p / 100 * len(sorted_samples)) - 1)]


def machine_busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[7]


def self_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def cpu_ns(pids):
    """CPU time the processes' threads have run, in ns (schedstat: finer than /proc/<pid>/stat's ticks)."""
    total = 0
    for pid in pids:
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
        except OSError:
            pass  # gone meanwhile
    return total


def timed(call, args, server_pids):
    """Warm-up, then up to --repeat calls (at least MIN_SAMPLES, at most --max-seconds once
    MIN_SAMPLES are in): p50/p99 in ms, the server's CPU time per call, and the CPU that neither
    the server nor this client used (other work on the machine: the noise)."""
    warm_deadline = time.monotonic() + args.max_seconds / 4
    for _ in range(args.warmup):
        call()
        if time.monotonic() > warm_deadline:
            break
    samples = []
    pids = server_pids()
    busy0, self0, srv0, wall0 = machine_busy_ticks(), self_cpu_seconds(), cpu_ns(pids), time.monotonic()
    deadline = wall0 + args.max_seconds
    while len(samples) < args.repeat:
        t = time.perf_counter()
        call()
        samples.append((time.perf_counter() - t) * 1000)
        if len(samples) >= MIN_SAMPLES and time.monotonic() > deadline:
            break
    wall = time.monotonic() - wall0
    server_s = (cpu_ns(pids) - srv0) / 1e9
    other = (machine_busy_ticks() - busy0) / bench.CLK_TCK - server_s - (self_cpu_seconds() - self0)
    samples.sort()
    return {"p50_ms": percentile(samples, 50), "p99_ms": percentile(samples, 99), "max_ms": samples[-1],
            "mean_ms": sum(samples) / len(samples), "n": len(samples),
            "server_cpu_us_per_call": server_s * 1e6 / len(samples),
            "other_cpu_pct": max(0.0, 100 * other / wall)}


class LeaddClient:
    def __init__(self, server, key):
        self.server = server
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.headers = {"Authorization": f"Bearer {key}"}

    def get(self, path):
        self.conn.request("GET", path, headers=self.headers)
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {r.status} {body[:300]!r}")
        return body

    def pids(self):
        return [self.server.proc.pid]


def check(what, ids, total, c):
    """None when the answer is the expected one, else why not."""
    if ids == c["expected_ids"] and total == c["expected_total"]:
        return None
    return (f"{what}: total {total} (expected {c['expected_total']}), ids {ids[:3]}... "
            f"(expected {c['expected_ids'][:3]}...)")


def leadd_path(client, c):
    """The request path of class `c` on this server, or raises with what is missing."""
    if c["key"] != "cursor":
        return c["path"]
    prev = json.loads(client.get(c["cursor_from"]))["data"]["pagination"]
    cursor = prev.get("nextCursor")
    if not cursor:
        raise LookupError(f"no pagination.nextCursor on {c['cursor_from']} (pagination: {json.dumps(prev)})")
    return f"/api/v1/leads?limit=10&cursor={urllib.parse.quote(cursor, safe='')}"


def measure_leadd(label, server, key, classes, args):
    client = LeaddClient(server, key)
    # What a request costs this client and the server's HTTP layer with no listing in it.
    rows = {"floor": timed(lambda: client.get("/healthz"), args, client.pids)}
    for c in classes:
        row = rows[c["key"]] = {}
        try:
            path = leadd_path(client, c)
            data = json.loads(client.get(path))["data"]
            problem = check(f"{label} GET {path}", [lead["id"] for lead in data["leads"]],
                            data["pagination"]["total"], c)
        except (LookupError, RuntimeError, KeyError, ValueError) as e:
            problem = f"{label}: {type(e).__name__}: {e}"
        if problem:
            row["error"] = problem
            log(f"!! {c['key']}: {problem}")
            continue
        row["path"] = path
        row["bytes"] = len(client.get(path))
        row.update(timed(lambda: client.get(path), args, client.pids))
        log(f"{label:9} {c['key']:14} p50 {row['p50_ms']:8.3f} ms  p99 {row['p99_ms']:8.3f} ms  (n={row['n']}, "
            f"other CPU {row['other_cpu_pct']:.0f}%)")
    client.conn.close()
    return rows


def measure_pg(pg, classes, args):
    conn = pg.connect()
    cur = conn.cursor()
    cur.execute("PREPARE floor AS SELECT 1")

    def floor():
        cur.execute("EXECUTE floor")
        cur.fetchall()
    rows = {"floor": {"page": timed(floor, args, pg.pids)}}
    for c in classes:
        same, page = pg_statements(c)
        row = rows[c["key"]] = {"sql_same": same, "sql_page": page}
        cur.execute(f"PREPARE same_{c['key']} AS {same}")
        cur.execute(f"PREPARE page_{c['key']} AS {page}")
        cur.execute(f"EXECUTE same_{c['key']}")
        result = cur.fetchall()
        problems = [check("postgres (page + total)", [r[1] for r in result if r[1] is not None],
                          result[0][0] if result else None, c)]
        cur.execute(f"EXECUTE page_{c['key']}")
        problems.append(check("postgres (page only)", [r[0] for r in cur.fetchall()], c["expected_total"], c))
        problems = [p for p in problems if p]
        if problems:
            row["error"] = "; ".join(problems)
            log(f"!! {c['key']}: {row['error']}")
            continue
        for mode in ("same", "page"):
            cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {mode}_{c['key']}")
            row[f"plan_{mode}"] = "\n".join(r[0] for r in cur.fetchall())

            def call(stmt=f"EXECUTE {mode}_{c['key']}"):
                cur.execute(stmt)
                cur.fetchall()
            row[mode] = timed(call, args, pg.pids)
        log(f"postgres  {c['key']:14} p50 {row['same']['p50_ms']:8.3f} ms  p99 {row['same']['p99_ms']:8.3f} ms "
            f"(page + total); page only p50 {row['page']['p50_ms']:.3f} p99 {row['page']['p99_ms']:.3f} ms")
    conn.close()
    return rows


# ---------------------------------------------------------------------------------------------
# report

def num(x):
    return f"{x:,.0f}".replace(",", " ")


def times(r):
    return f"{r:.0f}×" if r >= 10 else f"{r:.1f}×" if r >= 1 else f"{r:.2f}×"


def cpu(r):
    us = r["server_cpu_us_per_call"]
    return f"{us:.0f}" if us >= 10 else f"{us:.1f}"


def ms(r):
    return f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}"


def render(res):
    out = []
    m, a = res["machine"], res["args"]
    built = ", ".join(f"{r['label']} leadd built from {r['built_from']}" for r in res["memory"])
    out.append(f"- Command: `{res['command']}`, {res['started'][:16].replace('T', ' ')} UTC, script at commit "
               f"{m['commit']}{' (with uncommitted changes)' if m['dirty'] else ''}; {built}"
               f"{' (+: with uncommitted changes)' if '+' in built else ''}; run took {res['run_seconds']:.0f} s.")
    out.append(f"- Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']:.0f} GiB, Linux {m['kernel']}, Debian "
               f"{m['debian']}; load average {m['loadavg_start']:.2f} before the run.")
    d = res["data"]
    sizes = res.get("lead_json_bytes") or {}
    out.append(f"- Data: {num(a['leads'])} leads in one workspace (seed {a['seed']}), lead JSON as leadd renders it "
               f"{sizes.get('min', 0)}-{sizes.get('max', 0)} B (mean {sizes.get('mean', 0):.0f}); "
               f"search `{d['rare']}` matches {num(d['rare_matches'])}, `{d['common']}` {num(d['common_matches'])}.")
    if res.get("postgres"):
        out.append(f"- leadd `--threads 1 --fsync none` and PostgreSQL {res['postgres']['version'].split()[1]} "
                   f"(`shared_buffers` {a['pg_shared_buffers']}, no parallel workers, JIT off, prepared statements, "
                   f"everything prewarmed) both pinned to CPU {a['server_cpus']}; one keep-alive client for each "
                   f"(Python http.client / psycopg2) on CPU {a['client_cpus']}; per class {a['warmup']} warm-up calls, "
                   f"then up to {a['repeat']} calls or {a['max_seconds']} s; ms = wall time of request + whole answer"
                   + (f"; everything at nice {a['nice']}." if a.get("nice") else "."))
    out.append("")
    base = res.get("baseline")

    def base_cell(k):
        if not base:
            return ""
        r = base.get(k, {})
        return "| n/a (not in that build) " if "error" in r else f"| {ms(r)} " if r else "| – "
    out.append("| query class | matching | leadd p50 / p99 ms "
               + ("| baseline leadd p50 / p99 ms " if base else "")
               + "| PG p50 / p99 ms (same answer: page + exact total) "
               "| PG page only p50 / p99 ms | PG same answer ÷ leadd (p50 / p99) "
               "| server CPU µs per call: leadd / PG same answer / PG page only |")
    out.append("| --- | ---: | ---: " + ("| ---: " if base else "") + "| ---: | ---: | ---: | ---: |")
    lf, pf = res["leadd"].get("floor"), (res.get("pg") or {}).get("floor")
    if lf:
        out.append(f"| round trip, no listing: leadd `GET /healthz`, PG `SELECT 1` | – | {ms(lf)} {base_cell('floor')}| – "
                   f"| {ms(pf['page']) if pf else '–'} | – | {cpu(lf)} / – / {cpu(pf['page']) if pf else '–'} |")
    for c in res["classes"]:
        k = c["key"]
        lr = res["leadd"].get(k, {})
        pr = (res.get("pg") or {}).get(k, {})
        lcell = "**failed**" if "error" in lr else ms(lr) if lr else "–"
        scell = "failed" if "error" in pr else ms(pr["same"]) if pr else "–"
        pcell = "failed" if "error" in pr else ms(pr["page"]) if pr else "–"
        ratio = "–"
        if lr and pr and "error" not in lr and "error" not in pr:
            ratio = f"{times(pr['same']['p50_ms'] / lr['p50_ms'])} / {times(pr['same']['p99_ms'] / lr['p99_ms'])}"
        cpus = " / ".join((cpu(lr) if lr and "error" not in lr else "–",
                           cpu(pr["same"]) if pr and "error" not in pr else "–",
                           cpu(pr["page"]) if pr and "error" not in pr else "–"))
        out.append(f"| {c['title']} | {num(c['expected_total'])} | {lcell} {base_cell(k)}| {scell} | {pcell} | {ratio} "
                   f"| {cpus} |")
    out.append("")
    mem = res["memory"]
    out.append("| leadd | leads | RSS before load MiB | RSS after load MiB | peak RSS MiB | bytes per lead (RSS after ÷ leads) "
               "| growth per lead (after − before) | load s (leads/s) |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in mem:
        out.append(f"| {r['label']} | {num(r['leads'])} | {r['rss_before_kib'] / 1024:.0f} | {r['rss_after_kib'] / 1024:.0f} "
                   f"| {r['peak_rss_kib'] / 1024:.0f} | {r['bytes_per_lead']:.0f} | {r['growth_bytes_per_lead']:.0f} "
                   f"| {r['load_seconds']:.1f} ({num(r['leads_per_second'])}) |")
    if res.get("postgres"):
        p = res["postgres"]
        out.append("")
        out.append(f"PostgreSQL holds the same leads in {p['total_bytes'] / 2**20:.0f} MiB on disk (table "
                   f"{p['table_bytes'] / 2**20:.0f} MiB + TOAST, indexes {p['indexes_bytes'] / 2**20:.0f} MiB): "
                   f"{p['bytes_per_lead_disk']:.0f} B per lead.")
    goals = res.get("goals")
    if goals:
        out.append("")
        out.append(f"Goals of issue 6: leadd p99 ≤ 5 ms in every class: {goals['p99_le_5ms']}; "
                   f"≥ 10× faster than PostgreSQL's same answer at p50: {goals['ten_x_p50']}, at p99: "
                   f"{goals['ten_x_p99']}; page {num(res['data']['deep_page'])} ÷ page 1 (p50): "
                   f"{goals['deep_over_page1']}.")
    noise = res.get("noise")
    if noise:
        out.append("")
        out.append(f"Other processes used {noise['mean']:.0f}% of a core on average during the timed calls "
                   f"(max {noise['max']:.0f}%)" + (": **a busy machine, numbers are indicative**" if noise['mean'] > 10
                                                   else "") + ".")
    failures = res.get("failures")
    if failures:
        out.append("")
        out.append("**Wrong or missing answers:**")
        out += [f"- {f}" for f in failures]
    return "\n".join(out) + "\n"


def goals(res):
    ok_rows = [(c, res["leadd"].get(c["key"], {}), (res.get("pg") or {}).get(c["key"], {})) for c in res["classes"]]
    ok_rows = [(c, lr, pr) for c, lr, pr in ok_rows if lr and "error" not in lr]
    if not ok_rows:
        return None

    def verdict(bad):
        return "yes" if not bad else "no (" + ", ".join(bad) + ")"
    slow = [c["key"] for c, lr, _ in ok_rows if lr["p99_ms"] > 5]
    full = [(c, lr, pr) for c, lr, pr in ok_rows if pr and "error" not in pr]
    g = {"p99_le_5ms": verdict(slow)
         + ("" if len(ok_rows) == len(res["classes"]) else " (of the classes that ran)"),
         "ten_x_p50": verdict([f"{c['key']} {times(pr['same']['p50_ms'] / lr['p50_ms'])}" for c, lr, pr in full
                               if pr['same']['p50_ms'] < 10 * lr['p50_ms']]) if full else "n/a",
         "ten_x_p99": verdict([f"{c['key']} {times(pr['same']['p99_ms'] / lr['p99_ms'])}" for c, lr, pr in full
                               if pr['same']['p99_ms'] < 10 * lr['p99_ms']]) if full else "n/a"}
    p1, deep = res["leadd"].get("page1", {}), res["leadd"].get("deep", {})
    if p1 and deep and "error" not in p1 and "error" not in deep:
        r = deep["p50_ms"] / p1["p50_ms"]
        g["deep_over_page1"] = f"{r:.2f}× ({'ok' if r <= 2 else 'over 2×'})"
    else:
        g["deep_over_page1"] = "n/a"
    return g


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, help="leads in the workspace (1000000; --quick 100000)")
    ap.add_argument("--quick", action="store_true", help="100 000 leads, fewer calls: about 2 minutes")
    ap.add_argument("--repeat", type=int, help="timed calls per class and system (1000; quick 300)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed calls first (10)")
    ap.add_argument("--max-seconds", type=float, help="stop a class's timing after this long once "
                    f"{MIN_SAMPLES} calls are in (6; quick 2)")
    ap.add_argument("--seed", type=int, default=6, help="data generator seed (6)")
    ap.add_argument("--binary", help="leadd binary to measure (default: build build/release and use it)")
    ap.add_argument("--baseline-binary", help="another leadd binary: loads the same leads first, for its RSS")
    ap.add_argument("--baseline-queries", action="store_true", help="also time the query classes on the baseline")
    ap.add_argument("--no-pg", action="store_true", help="skip PostgreSQL")
    ap.add_argument("--pg-shared-buffers", default="3GB", help="PostgreSQL shared_buffers (3GB)")
    ap.add_argument("--connections", type=int, default=4, help="connections loading batches (4)")
    ap.add_argument("--batch", type=int, default=1000, help="leads per batch request (1000)")
    ap.add_argument("--server-cpus", default="0", help="taskset CPU list of leadd and PostgreSQL (0)")
    ap.add_argument("--client-cpus", default="1", help="CPU list of this client while timing (1)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness of this script and of the servers it starts (0; e.g. -5 on a shared machine)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (leadd data, PostgreSQL data, logs)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory (load/results)")
    args = ap.parse_args()
    q = args.quick
    args.leads = args.leads or (100_000 if q else 1_000_000)
    args.repeat = args.repeat or (300 if q else 1000)
    args.max_seconds = args.max_seconds or (2.0 if q else 6.0)
    if args.leads < 20:
        ap.error("--leads must be at least 20")
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by leadd, PostgreSQL and the threads here
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the finally blocks stop the servers

    started = time.monotonic()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    command = "load/scale_bench.py" + ("".join(" " + a for a in sys.argv[1:]))
    if not args.no_pg:
        import psycopg2  # noqa: F401 - fail before the long part: python3-psycopg2, load/debian-packages.txt
        if not os.path.exists(f"{PG_BIN}/pg_ctl"):
            raise SystemExit("PostgreSQL 15 missing: apt-get install postgresql-15 (load/debian-packages.txt)")
    binary = args.binary
    if not binary:
        t = time.monotonic()
        bench.build(False)
        log(f"build: {time.monotonic() - t:.1f} s")
        binary = os.path.join(bench.BUILD_DIR, "leadd")
    binary = os.path.abspath(binary)

    log(f"generating {args.leads} leads (seed {args.seed})")
    ds = Dataset(args.leads, args.seed)
    log(f"generated in {ds.seconds:.1f} s")
    deep_page = min(10_000, max(2, args.leads // 10))
    rare, common = "Przyb", "son"

    res = {"command": command, "started": started_at.isoformat(timespec="seconds"), "machine": bench.machine(),
           "args": {**vars(args), "binary": binary}, "phases": {"generate": ds.seconds}, "memory": [],
           "leadd": {}, "failures": []}
    workdir = tempfile.mkdtemp(prefix="leadd-scale-")
    server = pg = None
    try:
        if args.baseline_binary:
            base, bkey, _, bloaded, binfo = load_into("baseline", os.path.abspath(args.baseline_binary), ds, args,
                                                      workdir)
            res["memory"].append(binfo)
            try:
                if args.baseline_queries:
                    btruth = Truth(ds, *bloaded)
                    bclasses = query_classes(btruth, "", args, deep_page, rare, common)
                    os.sched_setaffinity(0, {int(x) for x in args.client_cpus.split(",")})
                    res["baseline"] = measure_leadd("baseline", base, bkey, bclasses, args)
                    os.sched_setaffinity(0, set(range(os.cpu_count())))
            finally:
                base.stop()
                shutil.rmtree(os.path.join(workdir, "data-baseline"), ignore_errors=True)
            del bloaded

        t = time.monotonic()
        server, key, ws, loaded, info = load_into("current", binary, ds, args, workdir)
        res["memory"].append(info)
        res["phases"]["leadd_load"] = time.monotonic() - t
        res["lead_json_bytes"] = lead_sizes(server, key)
        truth = Truth(ds, *loaded)
        classes = query_classes(truth, ws, args, deep_page, rare, common)
        res["classes"] = [{k: v for k, v in c.items() if k != "expected_ids"} for c in classes]
        res["data"] = {"deep_page": deep_page, "rare": rare, "common": common,
                       "rare_matches": next(c["expected_total"] for c in classes if c["key"] == "search_rare"),
                       "common_matches": next(c["expected_total"] for c in classes if c["key"] == "search_common")}

        if not args.no_pg:
            t = time.monotonic()
            pg = Postgres(args.server_cpus, args.pg_shared_buffers, args.keep)
            res["postgres"] = load_postgres(pg, ds, *loaded, ws)
            res["phases"]["pg_load"] = time.monotonic() - t
            log(f"postgres: ready in {res['phases']['pg_load']:.1f} s, {res['postgres']['total_bytes'] / 2**20:.0f} MiB")

        os.sched_setaffinity(0, {int(x) for x in args.client_cpus.split(",")})
        t = time.monotonic()
        res["leadd"] = measure_leadd("leadd", server, key, classes, args)
        res["phases"]["leadd_queries"] = time.monotonic() - t
        if pg:
            t = time.monotonic()
            res["pg"] = measure_pg(pg, classes, args)
            res["phases"]["pg_queries"] = time.monotonic() - t
        res["failures"] = [r["error"] for r in res["leadd"].values() if "error" in r] + \
                          [f"postgres {k}: {r['error']}" for k, r in (res.get("pg") or {}).items() if "error" in r]
    finally:
        for s in (server, pg):
            if s:
                try:
                    s.stop()
                except Exception as e:  # noqa: BLE001 - the other one must stop too
                    log(f"stopping {type(s).__name__}: {e}")
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    res["goals"] = goals(res)
    others = [r["other_cpu_pct"] for r in res["leadd"].values() if "other_cpu_pct" in r] + \
             [r[m]["other_cpu_pct"] for r in (res.get("pg") or {}).values() for m in ("same", "page") if m in r]
    res["noise"] = {"mean": sum(others) / len(others), "max": max(others)} if others else None
    res["run_seconds"] = time.monotonic() - started
    md = render(res)
    os.makedirs(args.out, exist_ok=True)
    stamp = started_at.strftime("%Y%m%d-%H%M%S") + ("-quick" if q else "")
    for name in (f"scale-{stamp}.json", "scale.json"):
        with open(os.path.join(args.out, name), "w") as f:
            json.dump(res, f, indent=2)
    with open(os.path.join(args.out, f"scale-{stamp}.md"), "w") as f:
        f.write(md)
    print(md)
    print(f"results: {os.path.relpath(args.out, ROOT)}/scale-{stamp}.json (and scale.json, scale-{stamp}.md); "
          f"run time {res['run_seconds']:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in res["phases"].items()) + ")")
    if res["failures"]:
        print(f"\nFAILED: {len(res['failures'])} wrong or missing answers (above)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
