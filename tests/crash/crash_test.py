#!/usr/bin/env python3
"""Crash consistency of leadd: kill -9 under concurrent load, restart on the same data dir, and
check the recovered state against a model built only from what the server acknowledged.

Run:  LEADD_BIN=/path/to/leadd python3 tests/crash/crash_test.py     (CTest: ctest -L crash)
Env:  CRASH_ROUNDS (kill -9 rounds, default 20), CRASH_THREADS (client threads, 8..32, default 16),
      CRASH_SEED (random seed, printed), CRASH_TIME_BUDGET (seconds, default 600: rounds not
      started by then count as failed), CRASH_KEEP=1 (keep data dir and server logs even on success).
Takes about 30 s on 2 cores. Prints one line per round, then "N passed, M failed"; exit 1 if any
round failed.

Schedule (one data dir for the whole run; the model and the data accumulate):
  - CRASH_ROUNDS rounds "kill9" under --fsync always; rounds alternate plain, --snapshot-every-bytes
    65536, --segment-bytes 16384 and both, so snapshots, segment rotation and the deletion of
    covered segments happen during the load. Each round:
      * before the load, through the admin API (LEADD_ADMIN_TOKEN): issue one key; every third
        round revoke one;
      * load: THREADS threads, each with one keep-alive http.client connection to 127.0.0.1, in
        the default workspace and three admin-made ones: creates (optional fields, metadata with
        null values, sometimes the email of a deleted lead or of a lead of another workspace),
        PUT/PATCH updates (RFC 7396 metadata merges with null removals, nested objects and arrays;
        status, phone/source set and cleared, rename), email changes (fresh; same address in
        another case; another lead's address in another case -> 409 unless it moved; three-step
        swaps A->tmp, B->A's, A->B's), deletes and a few reads. Leads are picked with a bias to
        the newest, so several requests often hit one lead at once. An admin thread issues keys,
        makes workspaces and (every other round) revokes a key the load does not use. WATCHERS
        separate processes (fork, outside the GIL) keep listing the newest leads of each workspace;
      * after a random 0.2-1.5 s of load: SIGKILL, with requests in flight; restart; verify.
    Every 5th round the freshly recovered server is killed once more while idle, restarted, and
    must show exactly the same state again (replaying log + snapshot twice gives the same state).
  - one "batch" round half-way (--fsync batch, killed after 1.0-1.5 s) and one "none" round a
    quarter of the way (--fsync none), held to exactly the same rules as under --fsync always:
    every policy acknowledges a write only once it is written to the file (in the page cache),
    so kill -9 loses nothing acknowledged; the policies differ only on power loss, which this
    test does not simulate.
  - one "clean" round at the end: SIGTERM under load (exit code must be 0), restart (recovery must
    replay 0 log records: the clean stop wrote a snapshot), verify - stricter: SIGTERM finishes
    the requests it started, so a request left without an answer must have had no effect -, then
    SIGTERM the last server (exit code 0).

The model and the in-flight rule
  Per lead: its state observed after the previous restart (plus its ETag). During a round every
  request is recorded with its outcome: "acked" (2xx: the lead or deletion returned, and the ETag),
  "failed" (4xx: no effect), "unknown" (no response - the connection died with the server -, a 5xx,
  a timeout: it may or may not have taken effect) or "not sent" (a connection error on a request
  started after the server was already dead: no effect). After the restart:
  - A lead's expected state is the acknowledged state with the greatest updatedAt (updatedAt is
    strictly increasing per lead in the order the changes took effect, so this is the last
    acknowledged change even when concurrent responses arrived out of order), or its state from
    the previous restart if nothing was acknowledged. The recovered lead must equal it exactly
    (every field; and the same ETag) - unless requests to that lead were in flight: then it may
    also be any state reachable from it by applying some of those in-flight patches in some order
    (enumerated, with the merge patch simulated here), with a greater updatedAt and a new ETag.
    Nothing else: an older acknowledged state is a lost write.
  - A lead with an acknowledged delete must be absent from the list, and GET gives 404. A lead may
    be absent otherwise only if a delete of it was in flight. A deleted lead never comes back.
  - A listed lead the model does not know must come from an in-flight create: same (unique) name,
    content exactly that create's body, createdAt == updatedAt, and an id never seen before.
  Then the observed state becomes the model for the next round.
  Other checks: email unique per workspace over the full list, case-insensitively; list total ==
  leads listed == the admin API's leadCount; GET of each touched lead equals its list entry;
  updatedAt never below any updatedAt acknowledged or observed before; createdAt <= updatedAt; no
  id reused: every id ever acknowledged, listed after a restart, or seen by a read during a load
  (the watchers see creates before they are durable) is remembered, and a create returning one of
  them, or an unknown lead carrying one, fails the round (API.md: an id is never reused, even
  after delete and restart - so an id a client saw in a list may not name another lead later);
  every workspace and acknowledged key survives and works (a key never gets 401 during the load);
  every acknowledged revocation stays 401 INVALID_API_KEY; <data-dir>/initial-api-key is
  unchanged and its key works; the first start printed that key on stdout and no later start
  printed any key.

Every loop is bounded in count and time. Failures print the request ids (sent as X-Request-Id)
and the matching server log lines; the data dir and logs are kept when anything fails.
"""

import copy
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback

MP = multiprocessing.get_context("fork")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "20"))
THREADS = max(8, min(32, int(os.environ.get("CRASH_THREADS", "16"))))
SEED = int(os.environ.get("CRASH_SEED", str(random.randrange(1 << 30))))
TIME_BUDGET = float(os.environ.get("CRASH_TIME_BUDGET", "600"))
KEEP = os.environ.get("CRASH_KEEP") == "1"

KILL_DELAY = (0.2, 1.5)     # seconds of load before the kill
BATCH_KILL_DELAY = (1.0, 1.5)  # the batch round runs longer: several fsync intervals pass
WATCHERS = 4                # processes that keep listing the newest leads of each workspace
MAX_OPS_PER_THREAD = 5000
LOAD_HARD_LIMIT = 15.0      # seconds: a load thread never runs longer than this
REQUEST_TIMEOUT = 10.0
TARGET_LEADS_PER_WS = 220   # deletes get likelier above this, to keep verification fast
ENUM_BUDGET = 200000        # states explored when enumerating in-flight outcomes
MAX_PAGES = 500
STATUSES = ["new", "contacted", "qualified", "converted", "lost", "follow_up"]
SOURCES = ["website", "webinar", "referral", "ads", "Partner", "cold call"]
META_KEYS = ["score", "notes", "tags", "company", "utm", "nested", "flag", "x"]
KEY_RE = re.compile(rb"sk-workspace_[A-Za-z0-9]{51}")
RID_RE = re.compile(r"crash-r\d+-[tw]\d+-\d+")
LEAD_FIELDS = {"id", "name", "email", "phone", "source", "status", "metadata", "createdAt",
               "updatedAt", "workspaceId"}


class Fatal(Exception):
    """The run cannot go on (the server does not come back)."""


# --------------------------------------------------------------------------- small helpers

def canon(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def content(lead):
    """Everything but updatedAt (which an in-flight change restamps to an unknown value)."""
    return canon({k: v for k, v in lead.items() if k != "updatedAt"})


def short(value, n=400):
    s = value if isinstance(value, str) else canon(value)
    return s if len(s) <= n else s[:n] + "..."


def random_case(s, rng):
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in s)


def merge_patch(target, patch):
    """RFC 7396."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def apply_update(lead, patch):
    new = dict(lead)
    for f in ("name", "email", "status", "phone", "source"):
        if f in patch:
            new[f] = patch[f]
    if "metadata" in patch:
        new["metadata"] = merge_patch(lead.get("metadata") or {}, patch["metadata"])
    return new


def reachable_contents(base, patches):
    """Contents reachable from `base` by applying a non-empty sequence of distinct patches (each
    one may also have failed, e.g. 409, which is the same as leaving it out). Returns (set,
    truncated)."""
    start = (0, content(base))
    seen = {start}
    frontier = [(0, base)]
    results = set()
    steps = 0
    while frontier:
        mask, state = frontier.pop()
        for i, patch in enumerate(patches):
            if mask & (1 << i):
                continue
            steps += 1
            if steps > ENUM_BUDGET:
                return results, True
            nxt = apply_update(state, patch)
            key = (mask | (1 << i), content(nxt))
            if key in seen:
                continue
            seen.add(key)
            results.add(key[1])
            frontier.append((key[0], nxt))
    return results, False


class Conn:
    """One keep-alive connection; reopened after any error."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def call(self, method, path, key=None, body=None, rid=None):
        headers = {}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if rid is not None:
            headers["X-Request-Id"] = rid
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.c is None:
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        try:
            self.c.request(method, path, body=data, headers=headers)
            r = self.c.getresponse()
            raw = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        except Exception:
            self.close()
            raise
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = {"unparsed": raw[:300].decode(errors="replace")}
        return r.status, hdrs, parsed

    def close(self):
        if self.c is not None:
            try:
                self.c.close()
            except Exception:
                pass
        self.c = None


# --------------------------------------------------------------------------- the model

class Workspace:
    def __init__(self, ws_id, name, load):
        self.id = ws_id
        self.name = name
        self.load = load        # lead traffic goes to it
        self.keys = {}          # keyId (or "initial") -> api key, acknowledged and not revoked
        self.revoked = {}       # keyId -> api key, revocation acknowledged
        self.key_ops = {}       # keyId -> the op that issued it during a load (for batch rounds)
        self.created_by = None  # the op that made it during a load


class Model:
    def __init__(self):
        self.workspaces = {}     # ws id -> Workspace
        self.initial_key = None
        self.initial_key_file = None
        self.leads = {}          # lead id -> {"lead": dict, "etag": str or None}
        self.deleted = {}        # lead id -> where the deletion was established
        self.seen = {}           # lead id -> (category, description); category in
                                 # "durable" (acked or listed after a restart), "read" (seen in a
                                 # read during a load only)
        self.read_names = {}     # lead id -> name, for ids seen only in reads during a load
        self.max_updated = {}    # lead id -> greatest updatedAt acknowledged or observed

    def see(self, lead_id, category, desc):
        old = self.seen.get(lead_id)
        if old is None or old[0] != "durable":
            self.seen[lead_id] = (category, desc)

    def bump_updated(self, lead_id, updated_at):
        if updated_at > self.max_updated.get(lead_id, ""):
            self.max_updated[lead_id] = updated_at

    def load_workspaces(self):
        return [w for w in self.workspaces.values() if w.load]


class Op:
    __slots__ = ("kind", "ws", "lead_id", "method", "path", "body", "key", "rid", "started",
                 "finished", "status", "resp", "etag", "outcome", "error", "extra")

    def __init__(self, kind, ws, method, path, key, body=None, lead_id=None, extra=None):
        self.kind = kind          # create update delete read | admin_key admin_ws admin_revoke
        self.ws = ws
        self.lead_id = lead_id
        self.method = method
        self.path = path
        self.body = body
        self.key = key
        self.extra = extra
        self.rid = None
        self.started = self.finished = None
        self.status = None
        self.resp = None
        self.etag = None
        self.outcome = None       # acked | failed | unknown | not_sent
        self.error = None

    def describe(self):
        return (f"{self.rid} {self.method} {self.path} body={short(self.body, 300) if self.body is not None else '-'}"
                f" -> {self.status if self.status is not None else self.error} [{self.outcome}]")


class Failure:
    def __init__(self, msg, rids=()):
        self.msg = msg
        self.rids = list(rids)


class Round:
    """State of one round's load, shared by the client threads (lock guards everything)."""

    def __init__(self, index, label, mode, model, port, rng):
        self.index = index
        self.label = label
        self.mode = mode
        self.model = model
        self.port = port
        self.lock = threading.Lock()
        self.ops = []
        self.failures = []
        self.stop = threading.Event()
        self.kill_sent = threading.Event()
        self.killed_at = None
        self.rid_counter = 0
        self.deadline = time.monotonic() + LOAD_HARD_LIMIT
        self.alive = {}          # ws -> list of lead ids believed alive
        self.alive_pos = {}      # ws -> {lead id: index in alive list}
        self.current = {}        # lead id -> lead with the greatest acked updatedAt
        self.freed_emails = {}   # ws -> emails of leads whose delete was acknowledged
        self.created = {}        # lead id -> op (acked creates of this round)
        self.read_seen = {}      # lead id -> (name, rid): leads seen by reads during this load
        self.rejected_keys = 0   # load requests answered 401
        self.kill_time = None
        self.load_ws = [w.id for w in model.load_workspaces()]
        self.keys = {}           # ws -> api keys the load uses
        self.new_keys = []       # (ws, keyId, apiKey, op) acked during the load
        self.new_ws = []         # (ws id, name, keyId, apiKey, op)
        self.revoke_target = None  # (ws, keyId, apiKey): revoked by the admin thread, unused by the load
        for w in model.workspaces.values():
            self.freed_emails[w.id] = []
        for ws in self.load_ws:
            self.alive[ws] = []
            self.alive_pos[ws] = {}
        for lead_id, entry in model.leads.items():
            ws = entry["lead"]["workspaceId"]
            if ws in self.alive:
                self.alive_add(ws, lead_id)
            self.current[lead_id] = entry["lead"]
        candidates = [(w.id, kid, k) for w in model.load_workspaces() for kid, k in w.keys.items()
                      if kid != "initial" and len(w.keys) >= 3]
        if mode != "clean" and candidates and index % 2 == 1:
            self.revoke_target = rng.choice(sorted(candidates))
        for w in model.load_workspaces():
            self.keys[w.id] = [k for kid, k in sorted(w.keys.items())
                               if not (self.revoke_target and kid == self.revoke_target[1])]

    def alive_add(self, ws, lead_id):
        pos = self.alive_pos[ws]
        if lead_id in pos:
            return
        pos[lead_id] = len(self.alive[ws])
        self.alive[ws].append(lead_id)

    def alive_remove(self, ws, lead_id):
        pos = self.alive_pos.get(ws)
        if pos is None or lead_id not in pos:
            return
        i = pos.pop(lead_id)
        lst = self.alive[ws]
        last = lst.pop()
        if i < len(lst):
            lst[i] = last
            pos[last] = i

    def fail(self, msg, rids=()):
        with self.lock:
            self.failures.append(Failure(msg, rids))

    def next_rid(self, tid):
        with self.lock:
            self.rid_counter += 1
            return f"crash-r{self.index:02d}-t{tid:02d}-{self.rid_counter:06d}"


# --------------------------------------------------------------------------- load generation

def rand_meta_value(rng, depth, allow_null):
    x = rng.random()
    if x < 0.25:
        return rng.randint(-5, 100000)
    if x < 0.45:
        return rng.choice(["v", "Zoë", "naïve café", "x" * rng.randint(1, 40), "2024-01-16"])
    if x < 0.55:
        return [rng.randint(0, 9) for _ in range(rng.randint(0, 3))]
    if x < 0.62:
        return rng.choice([True, False])
    if x < 0.85 and depth < 3:
        return {k: rand_meta_value(rng, depth + 1, allow_null)
                for k in rng.sample(["a", "b", "c", "d"], rng.randint(1, 3))}
    return None if allow_null else "n"


def rand_metadata(rng, for_create):
    keys = rng.sample(META_KEYS, rng.randint(1, 4))
    out = {}
    for k in keys:
        # on create a null value is stored as given; in a patch it removes the key
        out[k] = rand_meta_value(rng, 1, allow_null=True) if (for_create or rng.random() < 0.7) else None
    return out


def rand_phone(rng):
    return f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"


def pick_lead(rnd, ws, rng, exclude=None):
    lst = rnd.alive[ws]
    if not lst:
        return None
    for _ in range(4):
        lead_id = rng.choice(lst[-10:]) if rng.random() < 0.4 else rng.choice(lst)
        if lead_id != exclude:
            return lead_id
    return None


def gen_ops(rnd, rng, tid, n):
    """A list of ops to run in order (a swap is three); later ones run only if the earlier ones
    were acknowledged. Bodies of a swap's later steps are filled from the state at plan time."""
    model = rnd.model
    with rnd.lock:
        ws = rng.choice(rnd.load_ws)
        key = rng.choice(rnd.keys[ws])
        alive = rnd.alive[ws]
        x = rng.random()
        uid = f"{rnd.index}x{tid}x{n}x{rng.randrange(1 << 24):06x}"
        if len(alive) < 12 or x < 0.24:
            body = {"name": f"Lead {uid}"}
            freed = rnd.freed_emails.get(ws) or []
            y = rng.random()
            if freed and y < 0.12:
                body["email"] = random_case(freed.pop(rng.randrange(len(freed))), rng)
            elif y < 0.17:
                other_ws = [w for w in rnd.load_ws if w != ws and rnd.alive[w]]
                if other_ws:
                    other = rnd.current[rng.choice(rnd.alive[rng.choice(other_ws)])]
                    body["email"] = other["email"]
            if "email" not in body:
                body["email"] = random_case(f"c{uid}@example{len(ws) % 7}.com", rng)
            if rng.random() < 0.5:
                body["phone"] = rand_phone(rng)
            if rng.random() < 0.5:
                body["source"] = rng.choice(SOURCES)
            if rng.random() < 0.5:
                body["status"] = rng.choice(STATUSES)
            if rng.random() < 0.7:
                body["metadata"] = rand_metadata(rng, for_create=True)
            return [Op("create", ws, "POST", "/api/v1/leads", key, body)]
        x = rng.random()
        p_delete = 0.06 if len(alive) < TARGET_LEADS_PER_WS else 0.4
        if x < 0.07:
            if rng.random() < 0.7:
                q = "?limit=20" if rng.random() < 0.7 else f"?limit=50&status={rng.choice(STATUSES)}"
                return [Op("read", ws, "GET", "/api/v1/leads" + q, key)]
            lead_id = pick_lead(rnd, ws, rng)
            return [Op("read", ws, "GET", f"/api/v1/leads/{lead_id}", key, lead_id=lead_id)]
        if x < 0.07 + p_delete:
            lead_id = pick_lead(rnd, ws, rng)
            return [Op("delete", ws, "DELETE", f"/api/v1/leads/{lead_id}", key, lead_id=lead_id)]
        method = "PUT" if rng.random() < 0.7 else "PATCH"
        lead_id = pick_lead(rnd, ws, rng)
        path = f"/api/v1/leads/{lead_id}"
        if x < 0.07 + p_delete + 0.18:
            cur = rnd.current[lead_id]
            y = rng.random()
            if y < 0.3:
                return [Op("update", ws, method, path, key, {"email": random_case(f"e{uid}@mail.example.org", rng)},
                           lead_id=lead_id)]
            if y < 0.45:
                return [Op("update", ws, method, path, key, {"email": random_case(cur["email"], rng)},
                           lead_id=lead_id)]
            other_id = pick_lead(rnd, ws, rng, exclude=lead_id)
            if other_id is None:
                return []
            other = rnd.current[other_id]
            if y < 0.7:  # take another lead's email, in another case: 409 unless it moved away
                return [Op("update", ws, method, path, key, {"email": random_case(other["email"], rng)},
                           lead_id=lead_id)]
            # swap: A -> temporary, B -> A's old email, A -> B's old email
            return [Op("update", ws, method, path, key, {"email": f"tmp{uid}@swap.example.net"}, lead_id=lead_id),
                    Op("update", ws, method, f"/api/v1/leads/{other_id}", key, {"email": cur["email"]},
                       lead_id=other_id),
                    Op("update", ws, method, path, key, {"email": other["email"]}, lead_id=lead_id)]
        patch = {}
        if rng.random() < 0.8:
            patch["metadata"] = rand_metadata(rng, for_create=False)
        if rng.random() < 0.3:
            patch["status"] = rng.choice(STATUSES)
        if rng.random() < 0.2:
            patch["phone"] = rand_phone(rng) if rng.random() < 0.6 else None
        if rng.random() < 0.2:
            patch["source"] = rng.choice(SOURCES) if rng.random() < 0.6 else None
        if rng.random() < 0.1 or not patch:
            patch["name"] = f"Renamed {uid}"
        return [Op("update", ws, method, path, key, patch, lead_id=lead_id)]


def run_op(rnd, conn, op, tid):
    op.rid = rnd.next_rid(tid)
    op.started = time.monotonic()
    try:
        status, hdrs, parsed = conn.call(op.method, op.path, key=op.key, body=op.body, rid=op.rid)
    except Exception as e:  # the server died (or a timeout): outcome unknown
        op.finished = time.monotonic()
        op.error = type(e).__name__
        op.outcome = "unknown"
        with rnd.lock:
            rnd.ops.append(op)
        return
    op.finished = time.monotonic()
    op.status = status
    op.resp = parsed
    op.etag = hdrs.get("etag")
    if 200 <= status < 300:
        op.outcome = "acked"
    elif 400 <= status < 500:
        op.outcome = "failed"
    else:
        op.outcome = "unknown"  # 5xx: e.g. 503 "may or may not be applied"
    with rnd.lock:
        rnd.ops.append(op)
        on_response(rnd, op)


def on_response(rnd, op):
    """Caller holds rnd.lock."""
    model = rnd.model
    if op.status == 401 and op.kind in ("create", "update", "delete", "read"):
        rnd.rejected_keys += 1
        if rnd.rejected_keys <= 3:
            rnd.failures.append(Failure(f"a valid API key of {op.ws} got 401 during the load: {op.describe()}"
                                        f" {short(op.resp)}", [op.rid]))
        elif rnd.rejected_keys == 4:
            rnd.failures.append(Failure("more valid API keys got 401 during the load (not listed)"))
        return
    if op.outcome != "acked":
        return
    data = (op.resp or {}).get("data")
    if op.kind == "create":
        lead_id = data["id"]
        if lead_id in rnd.read_seen and rnd.read_seen[lead_id][0] != op.body["name"]:
            rnd.failures.append(Failure(f"ID REUSE: create {op.rid} returned {lead_id}, which a read "
                                        f"({rnd.read_seen[lead_id][1]}) saw as {rnd.read_seen[lead_id][0]!r}",
                                        [op.rid, rnd.read_seen[lead_id][1]]))
        if lead_id in model.seen or lead_id in rnd.created:
            where = model.seen.get(lead_id) or ("durable", f"acked create {rnd.created[lead_id].rid}")
            msg = (f"ID REUSE: create {op.rid} returned {lead_id}, which was {where[1]}"
                   + ("" if where[0] != "read" else f" (then named {model.read_names.get(lead_id)!r})"))
            rnd.failures.append(Failure(msg, [op.rid]))
        if lead_id in model.deleted:
            rnd.failures.append(Failure(f"create {op.rid} returned {lead_id}, an id deleted earlier", [op.rid]))
        expect = {"name": op.body["name"], "email": op.body["email"], "phone": op.body.get("phone"),
                  "source": op.body.get("source"), "status": op.body.get("status", "new"),
                  "metadata": op.body.get("metadata", {}), "workspaceId": op.ws}
        got = {k: data.get(k) for k in expect}
        if got != expect or set(data) != LEAD_FIELDS or data["createdAt"] != data["updatedAt"]:
            rnd.failures.append(Failure(f"create {op.rid} answered {short(data)} for body {short(op.body)}",
                                        [op.rid]))
        rnd.created[lead_id] = op
        op.lead_id = lead_id
        rnd.current[lead_id] = data
        rnd.alive_add(op.ws, lead_id)
    elif op.kind == "update":
        cur = rnd.current.get(op.lead_id)
        if cur is None or data["updatedAt"] > cur["updatedAt"]:
            rnd.current[op.lead_id] = data
    elif op.kind == "delete":
        cur = rnd.current.get(op.lead_id)
        rnd.alive_remove(op.ws, op.lead_id)
        if cur is not None:
            rnd.freed_emails.setdefault(op.ws, []).append(cur["email"])
    elif op.kind == "read":
        leads = data.get("leads") if isinstance(data, dict) and "leads" in data else [data]
        for lead in leads:
            if isinstance(lead, dict) and "id" in lead and lead["id"] not in rnd.read_seen:
                if lead["id"] not in model.seen and lead["id"] not in rnd.created:
                    rnd.read_seen[lead["id"]] = (lead.get("name"), op.rid)


def load_worker(rnd, tid, seed):
    rng = random.Random(seed)
    conn = Conn(rnd.port)
    n = 0
    try:
        while n < MAX_OPS_PER_THREAD and not rnd.stop.is_set() and time.monotonic() < rnd.deadline:
            n += 1
            plan = gen_ops(rnd, rng, tid, n)
            for op in plan:
                if rnd.stop.is_set():
                    break
                run_op(rnd, conn, op, tid)
                if op.outcome != "acked":
                    break
            if any(op.outcome == "unknown" for op in plan) and rnd.kill_sent.is_set():
                break
    except Exception:
        rnd.fail(f"load thread {tid} crashed: {traceback.format_exc()}")
    finally:
        conn.close()


def watcher_process(port, index, wid, ws_keys, known, deadline, kill, out_q):
    """A separate process (no GIL shared with the load) that keeps listing the newest leads of
    each load workspace. Reads see creates before they are durable: the ids it saw go back to the
    parent, which remembers those of creates lost in the crash (handing one out again is a bug)."""
    seen = {}
    conn = Conn(port)
    try:
        for n in range(MAX_OPS_PER_THREAD * 4):
            if kill["evt"].is_set() or time.monotonic() > deadline:
                break
            ws, key = ws_keys[(n + wid) % len(ws_keys)]
            rid = f"crash-r{index:02d}-w{wid}-{n:06d}"
            try:
                status, _, body = conn.call("GET", "/api/v1/leads?limit=5", key=key, rid=rid)
            except Exception:
                continue
            if status != 200:
                continue
            for lead in body["data"]["leads"]:
                if lead["id"] not in seen and lead["id"] not in known:
                    seen[lead["id"]] = (lead["name"], rid)
    finally:
        conn.close()
        out_q.put((wid, seen))


def admin_worker(rnd, token, seed):
    """Issues keys, makes a workspace, revokes rnd.revoke_target, during the load."""
    rng = random.Random(seed)
    conn = Conn(rnd.port)
    model = rnd.model
    revoked = False
    try:
        for i in range(12):
            if rnd.stop.is_set() or time.monotonic() > rnd.deadline:
                break
            time.sleep(rng.uniform(0.03, 0.15))
            x = rng.random()
            if rnd.revoke_target and not revoked and x < 0.3:
                ws, kid, k = rnd.revoke_target
                op = Op("admin_revoke", ws, "DELETE", f"/api/v1/admin/keys/{kid}", token, extra=(kid, k))
                revoked = True
            elif x < 0.45 and rnd.mode != "clean":
                name = f"crash-ws-{rnd.index}-{i}-{rng.randrange(1 << 20):05x}"
                op = Op("admin_ws", None, "POST", "/api/v1/admin/workspaces", token, {"name": name})
            else:
                ws = rng.choice(sorted(model.workspaces))
                op = Op("admin_key", ws, "POST", f"/api/v1/admin/workspaces/{ws}/keys", token)
            run_op(rnd, conn, op, 99)
            with rnd.lock:
                if op.outcome == "acked":
                    d = op.resp["data"]
                    if op.kind == "admin_key":
                        rnd.new_keys.append((op.ws, d["keyId"], d["apiKey"], op))
                    elif op.kind == "admin_ws":
                        rnd.new_ws.append((d["workspaceId"], d["name"], d["keyId"], d["apiKey"], op))
                elif op.outcome == "failed":
                    rnd.failures.append(Failure(f"admin request refused during the load: {op.describe()} "
                                                f"{short(op.resp)}", [op.rid]))
            if op.outcome == "unknown" and rnd.kill_sent.is_set():
                break
    except Exception:
        rnd.fail(f"admin thread crashed: {traceback.format_exc()}")
    finally:
        conn.close()


# --------------------------------------------------------------------------- server control

class Servers:
    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.logs = []
        self.starts = 0

    def start(self, args):
        try:
            srv = harness.Server(list(args), data_dir=self.data_dir)
        except Exception as e:
            raise Fatal(f"leadd did not come back on {self.data_dir} with {args}: {e}")
        self.logs.append(srv.log_path)
        self.starts += 1
        srv.args = list(args)
        srv.first = self.starts == 1
        return srv

    @staticmethod
    def kill9(srv):
        srv.proc.send_signal(signal.SIGKILL)
        return Servers.reap(srv)

    @staticmethod
    def reap(srv):
        srv.proc.wait(timeout=30)
        killed_at = time.monotonic()
        out = srv.proc.stdout.read()
        srv.stop()
        return killed_at, out, srv.proc.returncode

    @staticmethod
    def term(srv, timeout=30):
        srv.proc.send_signal(signal.SIGTERM)
        try:
            srv.proc.wait(timeout=timeout)
        except Exception:
            srv.proc.kill()
            srv.proc.wait()
        stopped_at = time.monotonic()
        out = srv.proc.stdout.read()
        srv.stop()
        return stopped_at, out, srv.proc.returncode


def check_stdout(model, srv, out, failures):
    keys = KEY_RE.findall(out or b"")
    if srv.first:
        if [k.decode() for k in keys] != [model.initial_key]:
            failures.append(Failure(f"first start should print the initial key once; stdout was {out[:500]!r}"))
    elif keys:
        failures.append(Failure(f"a later start (log {srv.log_path}) printed a key on stdout: {out[:500]!r}"))


def log_lines(path, needles, context=2, limit=40):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for i, line in enumerate(lines):
        if any(n in line for n in needles):
            out.extend(f"    {path}:{j + 1}: {lines[j]}" for j in range(max(0, i - context), min(len(lines), i + context + 1)))
            if len(out) >= limit:
                break
    return out


# --------------------------------------------------------------------------- verification

def list_all(conn, key, failures, ws):
    leads = []
    total = None
    for page in range(1, MAX_PAGES + 1):
        status, _, body = conn.call("GET", f"/api/v1/leads?page={page}&limit=100", key=key)
        if status != 200:
            failures.append(Failure(f"listing {ws} page {page} -> {status} {short(body)}"))
            return None
        data = body["data"]
        total = data["pagination"]["total"]
        leads.extend(data["leads"])
        if not data["leads"] or not data["pagination"]["hasNext"]:
            break
    ids = [l["id"] for l in leads]
    if len(set(ids)) != len(ids):
        failures.append(Failure(f"listing of {ws} returned an id twice"))
    if total != len(leads):
        failures.append(Failure(f"listing of {ws}: pagination.total {total} but {len(leads)} leads listed"))
    return leads


def verify(model, srv, rnd, failures, stats=None, graceful=False):
    """Checks the recovered server against the model (+ the round's ops, if any), then adopts
    the observed state as the model. Every acknowledged op must have survived."""
    conn = Conn(srv.port)
    ops = rnd.ops if rnd else []
    try:
        _verify(model, srv, conn, rnd, ops, failures, stats if stats is not None else {}, graceful)
    finally:
        conn.close()


def _verify(model, srv, conn, rnd, ops, failures, stats, graceful):
    """graceful: the server was stopped with SIGTERM, which finishes every request it started:
    a request left without an answer must have had no effect."""
    token = harness.ADMIN_TOKEN
    # ---- the initial key
    key_file = os.path.join(srv.data_dir, "initial-api-key")
    with open(key_file) as f:
        if f.read() != model.initial_key_file:
            failures.append(Failure("initial-api-key file changed"))
    status, _, body = conn.call("GET", "/api/v1/leads?limit=1", key=model.initial_key)
    if status != 200:
        failures.append(Failure(f"the initial key no longer works: {status} {short(body)}"))

    # ---- workspaces (and the ones made during the load)
    for ws_id, name, kid, k, op in (rnd.new_ws if rnd else []):
        w = Workspace(ws_id, name, load=False)
        w.keys[kid] = k
        w.created_by = op
        model.workspaces[ws_id] = w
    for ws, kid, k, op in (rnd.new_keys if rnd else []):
        model.workspaces[ws].keys[kid] = k
        model.workspaces[ws].key_ops[kid] = op
    status, _, body = conn.call("GET", "/api/v1/admin/workspaces", key=token)
    if status != 200:
        failures.append(Failure(f"admin list of workspaces -> {status} {short(body)}"))
        return
    listed_ws = {w["workspaceId"]: w for w in body["data"]["workspaces"]}
    for ws_id, w in list(model.workspaces.items()):
        if ws_id not in listed_ws:
            op = w.created_by
            failures.append(Failure(f"workspace {ws_id} ({w.name!r}) lost", [op.rid] if op else []))
        elif listed_ws[ws_id]["name"] != w.name:
            failures.append(Failure(f"workspace {ws_id} renamed: {w.name!r} -> {listed_ws[ws_id]['name']!r}"))
    for ws_id, lw in listed_ws.items():
        if ws_id in model.workspaces:
            continue
        unknown = [op for op in ops if op.kind == "admin_ws" and op.outcome == "unknown"
                   and op.body["name"] == lw["name"]]
        if unknown:
            model.workspaces[ws_id] = Workspace(ws_id, lw["name"], load=False)
        else:
            failures.append(Failure(f"unexpected workspace {ws_id} {lw!r} (no in-flight create of that name)"))

    # ---- keys
    unknown_revokes = {op.extra[0]: op for op in ops if op.kind == "admin_revoke"
                       and op.outcome == "unknown"}
    for op in ops:
        if op.kind == "admin_revoke" and op.outcome == "acked":
            w = model.workspaces[op.ws]
            kid, k = op.extra
            w.keys.pop(kid, None)
            w.revoked[kid] = k
    for w in model.workspaces.values():
        for kid, k in sorted(w.keys.items()):
            status, _, body = conn.call("GET", "/api/v1/leads?limit=1", key=k)
            if kid in unknown_revokes:
                if status == 401:
                    w.keys.pop(kid)
                    w.revoked[kid] = k
                elif status != 200:
                    failures.append(Failure(f"key {kid} of {w.id} -> {status} {short(body)}"))
                continue
            if status != 200:
                op = w.key_ops.get(kid)
                failures.append(Failure(f"KEY LOST: acknowledged key {kid} of {w.id} -> {status} {short(body)}",
                                        [op.rid] if op else []))
                if status == 401:  # reported once; later rounds go on without it
                    w.keys.pop(kid)
            elif body["data"]["leads"] and body["data"]["leads"][0]["workspaceId"] != w.id:
                failures.append(Failure(f"key {kid} of {w.id} sees workspace {body['data']['leads'][0]['workspaceId']}"))
        for kid, k in sorted(w.revoked.items()):
            status, _, body = conn.call("GET", "/api/v1/leads?limit=1", key=k)
            if status != 401 or (body or {}).get("code") != "INVALID_API_KEY":
                failures.append(Failure(f"REVOKED KEY WORKS AGAIN: {kid} of {w.id} -> {status} {short(body)}"))

    # ---- leads
    by_lead = {}
    for op in ops:
        if op.kind in ("update", "delete", "create") and op.lead_id is not None:
            by_lead.setdefault(op.lead_id, []).append(op)
    unknown_creates = {}
    for op in ops:
        if op.kind == "create" and op.outcome == "unknown":
            unknown_creates[(op.ws, op.body["name"])] = op
    touched = set(by_lead)
    observed = {}
    for w in sorted(model.workspaces.values(), key=lambda w: w.id):
        if not w.keys:
            continue
        key = sorted(w.keys.values())[0]
        leads = list_all(conn, key, failures, w.id)
        if leads is None:
            return
        if listed_ws.get(w.id, {}).get("leadCount") != len(leads):
            failures.append(Failure(f"admin leadCount of {w.id} is {listed_ws.get(w.id, {}).get('leadCount')}"
                                    f" but {len(leads)} leads are listed"))
        emails = {}
        for lead in leads:
            if lead.get("workspaceId") != w.id:
                failures.append(Failure(f"{w.id}'s listing has {lead['id']} of {lead.get('workspaceId')}"))
            if set(lead) != LEAD_FIELDS:
                failures.append(Failure(f"lead {lead['id']} has fields {sorted(lead)}"))
            if not (lead["createdAt"] <= lead["updatedAt"]):
                failures.append(Failure(f"lead {lead['id']} updatedAt {lead['updatedAt']} < createdAt {lead['createdAt']}"))
            folded = lead["email"].lower()
            if folded in emails:
                failures.append(Failure(f"EMAIL NOT UNIQUE in {w.id}: {emails[folded]['id']} "
                                        f"({emails[folded]['email']}) and {lead['id']} ({lead['email']})",
                                        [o.rid for o in by_lead.get(lead["id"], []) + by_lead.get(emails[folded]["id"], [])][-8:]))
            emails[folded] = lead
            observed[lead["id"]] = lead
    etags = {}
    for lead_id in sorted(touched & set(observed)):
        status, hdrs, body = conn.call("GET", f"/api/v1/leads/{lead_id}",
                                       key=sorted(model.workspaces[observed[lead_id]["workspaceId"]].keys.values())[0])
        if status != 200 or body["data"] != observed[lead_id]:
            failures.append(Failure(f"GET {lead_id} -> {status} {short(body)} but the list has {short(observed[lead_id])}"))
            continue
        etags[lead_id] = hdrs.get("etag")
    sample = sorted(set(observed) - touched)
    random.Random(len(sample)).shuffle(sample)
    for lead_id in sample[:25]:
        entry = model.leads.get(lead_id)
        if not entry or not entry["etag"]:
            continue
        status, hdrs, body = conn.call("GET", f"/api/v1/leads/{lead_id}",
                                       key=sorted(model.workspaces[observed[lead_id]["workspaceId"]].keys.values())[0])
        if status == 200:
            etags[lead_id] = hdrs.get("etag")

    new_leads = {}
    known = set(model.leads) | set(rnd.created if rnd else ()) | set(by_lead)
    for lead_id in sorted(known | set(observed)):
        obs = observed.get(lead_id)
        hist = by_lead.get(lead_id, [])
        rids = [o.rid for o in hist][-10:]
        if lead_id in model.deleted:
            if obs is not None:
                failures.append(Failure(f"RESURRECTED: {lead_id} was deleted ({model.deleted[lead_id]}) and is back: "
                                        f"{short(obs)}", rids))
            for o in hist:
                if o.outcome == "acked":
                    failures.append(Failure(f"{o.describe()} acknowledged on a lead deleted earlier "
                                            f"({model.deleted[lead_id]})", [o.rid]))
            continue
        if lead_id not in known:
            op = check_unknown_lead(model, obs, unknown_creates, failures)
            stats["in-flight creates kept"] = stats.get("in-flight creates kept", 0) + 1
            if graceful and op is not None:
                failures.append(Failure(f"SIGTERM: {op.describe()} never got an answer but created {lead_id}",
                                        [op.rid]))
            new_leads[lead_id] = {"lead": obs, "etag": etags.get(lead_id)}
            continue
        base = model.leads.get(lead_id)
        cands = []  # (lead, etag, source) firm states
        if base is not None:
            cands.append((base["lead"], base["etag"], "verified state after the previous restart"))
        for o in hist:
            if o.kind in ("create", "update") and o.outcome == "acked":
                cands.append((o.resp["data"], o.etag, f"ack of {o.rid}"))
        acked_delete = [o for o in hist if o.kind == "delete" and o.outcome == "acked"]
        maybe_delete = [o for o in hist if o.kind == "delete" and o.outcome == "unknown"]
        in_flight = [o for o in hist if o.kind == "update" and o.outcome == "unknown"]
        A = max(cands, key=lambda c: c[0]["updatedAt"]) if cands else None
        if acked_delete:
            if obs is not None:
                failures.append(Failure(f"RESURRECTED: {lead_id} is listed after the acknowledged delete "
                                        f"{acked_delete[0].rid}: {short(obs)}", rids))
            model.deleted[lead_id] = f"delete {acked_delete[0].rid} acknowledged in round {rnd.index if rnd else '?'}"
            if stats.get("_deleted_fetched", 0) < 60:  # GET must say 404 too, not only the list
                stats["_deleted_fetched"] = stats.get("_deleted_fetched", 0) + 1
                o = acked_delete[0]
                ws_keys = model.workspaces[o.ws].keys
                if ws_keys:
                    status, _, body = conn.call("GET", f"/api/v1/leads/{lead_id}", key=sorted(ws_keys.values())[0])
                    if status != 404 or (body or {}).get("code") != "LEAD_NOT_FOUND":
                        failures.append(Failure(f"RESURRECTED: GET {lead_id} after the acknowledged delete {o.rid} -> "
                                                f"{status} {short(body)}", rids))
            continue
        if obs is None:
            if maybe_delete:
                stats["in-flight deletes applied"] = stats.get("in-flight deletes applied", 0) + 1
                if graceful:
                    failures.append(Failure(f"SIGTERM: {maybe_delete[0].describe()} never got an answer but "
                                            f"deleted {lead_id}", [maybe_delete[0].rid]))
                model.deleted[lead_id] = f"absent after in-flight delete {maybe_delete[0].rid}"
                continue
            if A is None:  # nothing about it was acknowledged: it may be gone
                continue
            failures.append(Failure(f"LOST: {lead_id} is gone; last acknowledged state ({A[2]}): {short(A[0])}"
                                    + (f"; in flight: {[o.describe() for o in in_flight]}" if in_flight else ""),
                                    rids))
            continue
        bases = [A] if A else []
        ok = False
        for b in bases:
            if obs == b[0]:
                ok = True
                if b[1] and etags.get(lead_id) and etags[lead_id] != b[1]:
                    failures.append(Failure(f"ETAG CHANGED across the restart for {lead_id}: {b[1]} ({b[2]}) -> "
                                            f"{etags[lead_id]}, state unchanged", rids))
                break
        if not ok and in_flight:
            for b in bases:
                if obs["updatedAt"] <= b[0]["updatedAt"]:
                    continue
                reach, truncated = reachable_contents(b[0], [o.body for o in in_flight])
                if truncated:
                    print(f"  note: {len(in_flight)} in-flight requests on {lead_id}: enumeration truncated")
                if content(obs) in reach:
                    ok = True
                    stats["in-flight updates applied"] = stats.get("in-flight updates applied", 0) + 1
                    if graceful:
                        failures.append(Failure(f"SIGTERM: an update of {lead_id} never got an answer but took "
                                                f"effect: {[o.describe() for o in in_flight]}",
                                                [o.rid for o in in_flight]))
                    if b[1] and etags.get(lead_id) == b[1]:
                        failures.append(Failure(f"ETAG NOT CHANGED for {lead_id}: the state moved past {b[2]} but "
                                                f"the ETag is still {b[1]}", rids))
                    break
        if not ok:
            lines = [f"WRONG STATE of {lead_id}:",
                     f"expected ({A[2] if A else 'nothing firm'}): {short(A[0], 2000) if A else '-'}"]
            for o in in_flight:
                lines.append(f"in flight: {o.describe()}")
            lines.append(f"observed: {short(obs, 2000)}")
            failures.append(Failure("\n      ".join(lines), rids))
        prev = model.max_updated.get(lead_id, "")
        if obs["updatedAt"] < prev:
            failures.append(Failure(f"UPDATEDAT WENT BACKWARDS for {lead_id}: {prev} -> {obs['updatedAt']}", rids))
        if A and obs["createdAt"] != A[0]["createdAt"]:
            failures.append(Failure(f"createdAt of {lead_id} changed: {A[0]['createdAt']} -> {obs['createdAt']}", rids))
        etag = etags.get(lead_id)
        if etag is None and base is not None and obs == base["lead"]:
            etag = base["etag"]
        if etag is None:
            for b in bases:
                if obs == b[0]:
                    etag = b[1]
        new_leads[lead_id] = {"lead": obs, "etag": etag}

    if unknown_creates:
        stats["in-flight creates lost"] = len(unknown_creates)

    # ---- adopt the observed state
    for o in ops:
        if o.kind in ("create", "update") and o.outcome == "acked":
            model.bump_updated(o.lead_id, o.resp["data"]["updatedAt"])
    for lead_id, entry in new_leads.items():
        model.bump_updated(lead_id, entry["lead"]["updatedAt"])
        model.see(lead_id, "durable", f"listed after the restart of round {rnd.index if rnd else '-'}")
    if rnd:
        for lead_id, o in rnd.created.items():
            model.see(lead_id, "durable", f"acked create {o.rid} (round {rnd.index})")
        creates = {o.body["name"]: o for o in ops if o.kind == "create"}
        for lead_id, (name, rid) in rnd.read_seen.items():
            if lead_id not in model.seen:  # a create nobody acknowledged, seen by a read, then lost
                model.read_names[lead_id] = name
                c = creates.get(name)
                model.see(lead_id, "read", f"listed by read {rid} during round {rnd.index} as the result of "
                          f"create {c.rid if c else '?'} ({c.outcome if c else '?'}), absent after the restart")
                stats["lost creates seen by reads"] = stats.get("lost creates seen by reads", 0) + 1
    model.leads = new_leads


def check_unknown_lead(model, obs, unknown_creates, failures):
    lead_id = obs["id"]
    op = unknown_creates.pop((obs["workspaceId"], obs["name"]), None)
    if op is None:
        seen = model.seen.get(lead_id)
        failures.append(Failure(f"PHANTOM LEAD {lead_id}: {short(obs)} matches no in-flight create"
                                + (f"; the id was {seen[1]}" if seen else "")))
        return
    b = op.body
    expect = {"id": lead_id, "name": b["name"], "email": b["email"], "phone": b.get("phone"),
              "source": b.get("source"), "status": b.get("status", "new"), "metadata": b.get("metadata", {}),
              "createdAt": obs["createdAt"], "updatedAt": obs["createdAt"], "workspaceId": op.ws}
    if obs != expect:
        failures.append(Failure(f"lead {lead_id} from in-flight create {op.rid} is {short(obs)}, expected "
                                f"{short(expect)}", [op.rid]))
    seen = model.seen.get(lead_id)
    if seen is not None and not (seen[0] == "read" and model.read_names.get(lead_id) == obs["name"]):
        msg = (f"ID REUSE: {lead_id} (in-flight create {op.rid}, {obs['name']!r}) was {seen[1]}"
               + (f" named {model.read_names.get(lead_id)!r}" if seen[0] == "read" else ""))
        failures.append(Failure(msg, [op.rid]))
    return op


# --------------------------------------------------------------------------- rounds

def admin_call(conn, method, path, body=None):
    return conn.call(method, path, key=harness.ADMIN_TOKEN, body=body)


def setup(model, srv):
    model.initial_key = srv.api_key
    with open(os.path.join(srv.data_dir, "initial-api-key")) as f:
        model.initial_key_file = f.read()
    if not model.initial_key:
        raise Fatal("no initial-api-key after the first start")
    conn = Conn(srv.port)
    try:
        status, _, body = conn.call("GET", "/api/v1/leads?limit=1", key=model.initial_key)
        if status != 200:
            raise Fatal(f"initial key does not work: {status} {body}")
        status, _, body = admin_call(conn, "GET", "/api/v1/admin/workspaces")
        (default,) = body["data"]["workspaces"]
        w = Workspace(default["workspaceId"], default["name"], load=True)
        w.keys["initial"] = model.initial_key
        model.workspaces[w.id] = w
        for i in range(3):
            status, _, body = admin_call(conn, "POST", "/api/v1/admin/workspaces", {"name": f"crash-load-{i}"})
            if status != 201:
                raise Fatal(f"cannot create a workspace: {status} {body}")
            d = body["data"]
            w = Workspace(d["workspaceId"], d["name"], load=True)
            w.keys[d["keyId"]] = d["apiKey"]
            model.workspaces[w.id] = w
            status, _, body = admin_call(conn, "POST", f"/api/v1/admin/workspaces/{w.id}/keys")
            w.keys[body["data"]["keyId"]] = body["data"]["apiKey"]
    finally:
        conn.close()


def pre_round_admin(model, srv, index, rng, failures):
    """Before the load: one new key for a load workspace; every third round one revocation."""
    conn = Conn(srv.port)
    try:
        w = rng.choice(sorted(model.load_workspaces(), key=lambda w: w.id))
        status, _, body = admin_call(conn, "POST", f"/api/v1/admin/workspaces/{w.id}/keys")
        if status != 201:
            failures.append(Failure(f"issuing a key -> {status} {short(body)}"))
        else:
            w.keys[body["data"]["keyId"]] = body["data"]["apiKey"]
        if index % 3 == 0:
            cands = [(w, kid) for w in model.load_workspaces() for kid in w.keys
                     if kid != "initial" and len(w.keys) >= 2]
            if cands:
                w, kid = rng.choice(sorted(cands, key=lambda c: (c[0].id, c[1])))
                status, _, body = admin_call(conn, "DELETE", f"/api/v1/admin/keys/{kid}")
                if status != 200:
                    failures.append(Failure(f"revoking {kid} -> {status} {short(body)}"))
                else:
                    w.revoked[kid] = w.keys.pop(kid)
                    status, _, body = conn.call("GET", "/api/v1/leads?limit=1", key=w.revoked[kid])
                    if status != 401:
                        failures.append(Failure(f"revoked key {kid} still works right after revocation: {status}"))
    finally:
        conn.close()


def run_round(index, label, mode, model, servers, srv, next_args, rng, replay_twice):
    """Returns (failures, info, next server). `srv` is running and verified."""
    failures = []
    pre_round_admin(model, srv, index, rng, failures)
    rnd = Round(index, label, mode, model, srv.port, rng)
    threads = [threading.Thread(target=load_worker, args=(rnd, t, rng.randrange(1 << 30)), daemon=True)
               for t in range(THREADS)]
    threads.append(threading.Thread(target=admin_worker, args=(rnd, harness.ADMIN_TOKEN, rng.randrange(1 << 30)),
                                    daemon=True))
    kill = {"evt": MP.Event()}
    delay = rng.uniform(*(BATCH_KILL_DELAY if mode == "batch" else KILL_DELAY))
    load_started = time.monotonic()
    ws_keys = [(ws, rnd.keys[ws][0]) for ws in rnd.load_ws]
    known = frozenset(model.seen)
    out_q = MP.Queue()
    # Forked before any thread of this round runs.
    watchers = [MP.Process(target=watcher_process, daemon=True,
                           args=(srv.port, index, w, ws_keys, known, load_started + LOAD_HARD_LIMIT, kill, out_q))
                for w in range(WATCHERS)]
    for w in watchers:
        w.start()
    for t in threads:
        t.start()
    time.sleep(delay)
    rnd.kill_sent.set()
    rnd.kill_time = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM if mode == "clean" else signal.SIGKILL)
    kill["evt"].set()  # the watchers stop
    load_log = srv.log_path
    if mode == "clean":
        try:
            stopped_at, out, code = servers.reap(srv)
        except Exception:
            stopped_at, out, code = servers.kill9(srv)
        if code != 0:
            failures.append(Failure(f"SIGTERM: leadd exited with {code}, not 0"))
    else:
        stopped_at, out, code = servers.reap(srv)
    rnd.killed_at = stopped_at
    rnd.stop.set()
    for t in threads:
        t.join(timeout=LOAD_HARD_LIMIT + 2 * REQUEST_TIMEOUT)
        if t.is_alive():
            failures.append(Failure("a client thread did not stop"))
    got = 0
    for _ in watchers:
        try:
            wid, seen = out_q.get(timeout=LOAD_HARD_LIMIT + 2 * REQUEST_TIMEOUT)
        except Exception:
            break
        got += 1
        for lead_id, (name, rid) in seen.items():
            # only creates nobody acknowledged matter here (an acked lead may have been renamed)
            if lead_id not in rnd.created and lead_id not in rnd.read_seen and lead_id not in model.seen:
                rnd.read_seen[lead_id] = (name, rid)
    if got != len(watchers):
        failures.append(Failure(f"only {got} of {len(watchers)} watcher processes reported"))
    for w in watchers:
        w.join(timeout=5)
        if w.is_alive():
            w.kill()
            w.join(timeout=5)
    check_stdout(model, srv, out, failures)
    for op in rnd.ops:
        if op.outcome == "unknown" and op.error is not None and op.started > stopped_at:
            op.outcome = "not_sent"
    failures.extend(rnd.failures)

    new_srv = servers.start(next_args)
    verify_logs = [new_srv.log_path]
    if mode == "clean":
        with open(new_srv.log_path, errors="replace") as f:
            m = re.search(r"recovered \d+ leads .*then (\d+) log records", f.read())
        if not m or m.group(1) != "0":
            failures.append(Failure(f"after a clean stop the restart replayed log records: {m.group(0) if m else 'no recovery line'}"))
    stats = {}
    verify(model, new_srv, rnd, failures, stats, graceful=(mode == "clean"))
    if replay_twice:
        _, out2, _ = servers.kill9(new_srv)
        check_stdout(model, new_srv, out2, failures)
        new_srv = servers.start(next_args)
        verify_logs.append(new_srv.log_path)
        verify(model, new_srv, None, failures)  # nothing in flight: exactly the same state

    counts = {}
    for op in rnd.ops:
        counts[op.outcome] = counts.get(op.outcome, 0) + 1
    files = sorted(os.listdir(servers.data_dir))
    info = (f"{'term' if mode == 'clean' else 'kill'}@{rnd.kill_time - load_started:.2f}s ops={len(rnd.ops)} acked={counts.get('acked', 0)} "
            f"refused={counts.get('failed', 0)} inflight={counts.get('unknown', 0)} "
            f"leads={len(model.leads)} segs={sum(f.startswith('wal-') for f in files)} "
            f"snaps={sum(f.startswith('snapshot-') for f in files)}"
            + "".join(f" {k.replace(' ', '-')}={v}" for k, v in sorted(stats.items()) if not k.startswith("_")))
    details = []
    for f in failures[:30]:
        details.append("    - " + f.msg)
        rids = list(dict.fromkeys(f.rids + RID_RE.findall(f.msg)))[:6]
        if rids:  # this round's load server first, then every earlier server
            found = log_lines(load_log, rids, context=1, limit=30)
            if len(found) < 3 * len(rids):
                for path in servers.logs:
                    if path != load_log:
                        found.extend(log_lines(path, rids, context=1, limit=12))
            details.extend(found[:60])
    if failures:
        for path in verify_logs:
            details.extend(l for l in log_lines(path, ["recover", "snapshot", "warn", "error", "critical"], 0, 20))
    return failures, info, details, new_srv


def args_for(i, mode):
    args = ["--fsync", mode if mode in ("batch", "none") else "always"]
    if i % 4 in (1, 3) or mode != "kill9":
        args += ["--snapshot-every-bytes", "65536"]
    if i % 4 in (2, 3):
        args += ["--segment-bytes", "16384"]
    return args


def main():
    if not os.environ.get("LEADD_BIN"):
        print("LEADD_BIN is not set")
        return 2
    started = time.monotonic()
    rng = random.Random(SEED)
    schedule = []
    for i in range(1, ROUNDS + 1):
        schedule.append(("kill9", i))
        if i == ROUNDS // 4:
            schedule.append(("none", i))
        if i == ROUNDS // 2:
            schedule.append(("batch", i))
    schedule.append(("clean", ROUNDS + 1))
    print(f"crash test: seed {SEED}, {ROUNDS} kill -9 rounds + 1 none + 1 batch + 1 clean, {THREADS} client threads",
          flush=True)

    data_dir = tempfile.mkdtemp(prefix="leadd-crash-")
    servers = Servers(data_dir)
    model = Model()
    results = []
    srv = None
    try:
        srv = servers.start(args_for(1, schedule[0][0]))
        setup(model, srv)
        fatal = None
        for n, (mode, i) in enumerate(schedule):
            label = f"{n + 1:2d} {mode}" + (" snap" if "--snapshot-every-bytes" in args_for(i, mode) else "") \
                + (" seg" if "--segment-bytes" in args_for(i, mode) else "")
            if fatal is not None:
                results.append(False)
                print(f"round {label}: FAILED (not run: {fatal})", flush=True)
                continue
            if time.monotonic() - started > TIME_BUDGET:
                fatal = f"time budget of {TIME_BUDGET:.0f}s used up"
                results.append(False)
                print(f"round {label}: FAILED (not run: {fatal})", flush=True)
                continue
            next_mode, next_i = schedule[n + 1] if n + 1 < len(schedule) else ("clean", i)
            try:
                t0 = time.monotonic()
                failures, info, details, srv = run_round(n + 1, label, mode, model, servers, srv,
                                                         args_for(next_i, next_mode), rng,
                                                         replay_twice=(n % 5 == 4))
                took = time.monotonic() - t0
            except Fatal as e:
                fatal = str(e)
                srv = None
                failures, info, details, took = [Failure(fatal)], "", [], 0.0
            except Exception:
                fatal = "test error"
                failures, info, details, took = [Failure(traceback.format_exc())], "", [], 0.0
            if mode == "clean" and srv is not None and fatal is None:
                _, out, code = servers.term(srv)
                check_stdout(model, srv, out, failures)
                if code != 0:
                    failures.append(Failure(f"final SIGTERM: leadd exited with {code}"))
                srv = None
            results.append(not failures)
            verdict = "ok" if not failures else f"FAILED ({len(failures)}): " + "; ".join(
                f.msg.splitlines()[0][:160] for f in failures[:3])
            print(f"round {label}: {verdict}  [{info} {took:.1f}s]", flush=True)
            for line in details:
                print(line)
            sys.stdout.flush()
    except Fatal as e:
        print(f"setup failed: {e}")
        results.append(False)
    finally:
        if srv is not None:
            try:
                servers.kill9(srv)
            except Exception:
                pass
    passed = sum(results)
    failed = len(results) - passed
    print(f"total {time.monotonic() - started:.1f}s; data dir {data_dir}")
    if failed or KEEP:
        print(f"kept: data dir {data_dir}, server logs {' '.join(servers.logs)}")
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        for path in servers.logs:
            try:
                os.unlink(path)
            except OSError:
                pass
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
