#!/usr/bin/python3
"""leadd load benchmark: every scenario against leadd and against an nginx ceiling, side by side.

  load/bench.py [--quick] [--leads 10000] [--seconds 5] [--connections 64] [--publish] ...
  load/bench.py --compare OLD.json NEW.json

What one run does (`make bench` runs it with the defaults, `make bench QUICK=1` with --quick):
  1. builds Release (build/release, with -DLEADD_BUILD_BENCHMARKS=ON) if anything changed;
  2. starts leadd (--threads 1, --fsync none) on a fresh data dir, pinned with taskset to the
     server CPU, creates a workspace through the admin API and seeds --leads leads over HTTP
     (wrk + seed.lua), keeping their ids in a file for the scripts;
  3. measures the size of leadd's real answers (GET, PUT, POST, list page) and starts nginx
     (load/nginx-ceiling.conf.in: one worker, keep-alive, loopback, in a temp dir, on the same
     CPU) answering the same routes with fixed bodies of those sizes: the ceiling;
  4. for each scenario (get, list, update, mixed, create; writes under --fsync none, then again
     under --fsync always), at --connections and at each --sweep count: wrk
     (pinned to the client CPU) against the ceiling, then the same wrk against leadd (and, at
     --connections, against the ceiling again: the ratio uses the mean of both); server CPU
     and RSS come from /proc/<pid>/stat and /proc/<pid>/status around each run. Each --fsync
     policy runs on its own copy of the seeded data dir, so every pass starts from the same store;
  5. runs the Google Benchmark micro-benchmarks (load/micro) on the server CPU;
  6. writes results.json, table.md and the plots rps.png and p99.png (gnuplot) into
     load/results/<date>-<time>[-quick]/ (load/results/latest points at it), prints the table
     and the run's own duration. --publish also copies the table and plots into load/README.md,
     load/plots/ and the Benchmarks section of README.md.
"""
import argparse
import datetime
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no load/__pycache__ from the import below
from durability_bench import BIN, fdatasync_latency, free_port  # noqa: E402

BUILD_DIR = os.path.join(ROOT, "build", "release")
MICRO_BIN = os.path.join(BUILD_DIR, "load", "micro", "leadd_micro")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# name: (wrk script, title in the table, whether it writes: writes run under each --fsync policy)
SCENARIOS = {
    "get": ("get.lua", "GET /leads/{id}", False),
    "list": ("list.lua", "GET /leads?status=new&limit=10 (page 1)", False),
    "update": ("update.lua", "PUT /leads/{id} (status + metadata merge)", True),
    "create": ("create.lua", "POST /leads", True),
    "mixed": ("mixed.lua", "mixed 80% GET / 15% PUT / 5% POST", True),
}
# Writes grow the store and change statuses, so the read-only scenarios go first and creates
# last; the table shows them in this order.
RUN_ORDER = ["get", "list", "update", "mixed", "create"]
TABLE_ORDER = ["get", "list", "update", "create", "mixed"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# processes

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def thread_schedstats(pid):
    """{tid: (ns on a CPU, ns ready to run but waiting for one)} of the process's threads, from
    /proc/<pid>/task/<tid>/schedstat (empty where the kernel keeps no such counts)."""
    stats = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return stats
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ran, waited = f.read().split()[:2]
            stats[tid] = (int(ran), int(waited))
        except (OSError, ValueError):
            pass
    return stats


def busiest_thread_wait_ms(before, after):
    """How long the thread that ran the most between two thread_schedstats() samples (the one
    serving the requests) waited for a CPU in between, in ms. A background thread at a low
    priority may wait much longer and holds no request, so it is not counted."""
    ran = {tid: after[tid][0] - before[tid][0] for tid in after if tid in before}
    if not ran:
        return 0.0
    busiest = max(ran, key=ran.get)
    return (after[busiest][1] - before[busiest][1]) / 1e6


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1)) if m else 0


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                pass
    return out


class Server:
    """A process tree to measure: CPU ticks and RSS summed over it."""
    proc = None
    port = None

    def pids(self):
        return [self.proc.pid]

    def sample(self):
        ticks = rss = 0
        threads = {}
        for pid in self.pids():
            try:
                ticks += cpu_ticks(pid)
                rss += rss_kib(pid)
                threads.update(thread_schedstats(pid))
            except OSError:
                pass
        return ticks, rss, threads

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def http_call(port, method, path, headers=None, body=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


class Leadd(Server):
    name = "leadd"

    def __init__(self, data_dir, fsync, cpus, threads, workdir, binary=BIN):
        self.port = free_port()
        self.admin_token = secrets.token_urlsafe(24)
        self.log_path = os.path.join(workdir, f"leadd-{fsync}-{self.port}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["taskset", "-c", cpus, binary, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", data_dir, "--threads", str(threads), "--fsync", fsync,
             "--log-level", "warn"],
            env={**os.environ, "LEADD_ADMIN_TOKEN": self.admin_token},
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.wait_ready()

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"leadd exited; see {self.log_path}:\n{self.tail()}")
            try:
                if http_call(self.port, "GET", "/readyz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError("leadd did not become ready")

    def tail(self):
        with open(self.log_path, "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def create_workspace(self, name):
        status, _, body = http_call(self.port, "POST", "/api/v1/admin/workspaces",
                                    {"Authorization": f"Bearer {self.admin_token}"}, {"name": name})
        if status != 201:
            raise RuntimeError(f"admin API: {status} {body[:200]!r}")
        return json.loads(body)["data"]["apiKey"]

    def log_counters(self):
        """The write-ahead log's counters from /metrics: records appended, fdatasync calls and
        the seconds they took (what group commit amortizes), and snapshots written."""
        _, _, body = http_call(self.port, "GET", "/metrics")
        wanted = {"leadd_log_records_total": "records", "leadd_log_fsyncs_total": "fsyncs",
                  "leadd_log_fsync_duration_seconds_sum": "fsync_seconds",
                  "leadd_snapshots_written_total": "snapshots"}
        out = {}
        for line in body.decode().splitlines():
            name, _, value = line.partition(" ")
            if name in wanted:
                out[wanted[name]] = float(value)
        return out

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class NginxCeiling(Server):
    name = "nginx"

    def __init__(self, workdir, cpus, bodies, content_type, location, request_id):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        with open(os.path.join(HERE, "nginx-ceiling.conf.in")) as f:
            conf = f.read()

        def literal(text):
            # The body goes into a single-quoted nginx string, where $ starts a variable and
            # \ and ' escape: replace them, keeping the byte count (the size is what matters).
            return re.sub(r"[$\\']", "_", text)

        values = {
            "USER": "user root;" if os.geteuid() == 0 else "",
            "DIR": self.dir, "PORT": str(self.port), "CONTENT_TYPE": content_type,
            "LOCATION": literal(location), "REQUEST_ID": literal(request_id),
            "LEAD_BODY": literal(bodies["get"]), "UPDATE_BODY": literal(bodies["update"]),
            "CREATE_BODY": literal(bodies["create"]), "LIST_BODY": literal(bodies["list"]),
        }
        conf = re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], conf)
        self.conf_path = os.path.join(self.dir, "nginx.conf")
        with open(self.conf_path, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(
            ["taskset", "-c", cpus, "nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
             "-c", self.conf_path],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            if not self.alive():
                raise RuntimeError("nginx exited: " + self.proc.stderr.read().decode(errors="replace"))
            try:
                if http_call(self.port, "GET", "/api/v1/leads/x", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start")
            time.sleep(0.01)

    def pids(self):
        return [self.proc.pid] + children(self.proc.pid)

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)  # fast shutdown
            self.proc.wait(30)


# ---------------------------------------------------------------------------------------------
# wrk

def run_wrk(url, script, connections, seconds, threads, cpus, env, extra_env=None):
    cmd = ["taskset", "-c", cpus, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
           "-s", os.path.join(HERE, script), url + "/"]
    out = subprocess.run(cmd, env={**os.environ, **env, **(extra_env or {})},
                         capture_output=True, text=True)
    m = re.search(r"^wrk-json: (.*)$", out.stdout, re.M)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({' '.join(cmd)}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(m.group(1))
    secs = r["duration_us"] / 1e6
    errors = sum(r["errors"].values())
    lat = r["latency_us"]
    return {
        "rps": r["requests"] / secs if secs else 0.0,
        "requests": r["requests"], "seconds": secs,
        "bytes_per_response": r["bytes"] / r["requests"] if r["requests"] else 0,
        "p50_ms": lat["p50"] / 1000, "p90_ms": lat["p90"] / 1000, "p99_ms": lat["p99"] / 1000,
        "p99_9_ms": lat["p99_9"] / 1000, "max_ms": lat["max"] / 1000, "mean_ms": lat["mean"] / 1000,
        "errors": errors, "error_kinds": r["errors"],
    }


def machine_busy_seconds():
    """CPU time of the whole machine (user, nice, system, steal; all CPUs) so far."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[7]) / CLK_TCK


def children_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once waited for
    return ru.ru_utime + ru.ru_stime


def measure(server, script, connections, seconds, args, env, run_id):
    """One wrk run against `server`, with the server's CPU and RSS from /proc around it, and the
    CPU that neither the server nor wrk used (other work on the machine: the noise)."""
    log0 = server.log_counters() if isinstance(server, Leadd) else None
    ticks0, rss0, threads0 = server.sample()
    busy0, wrk0 = machine_busy_seconds(), children_cpu_seconds()
    t0 = time.monotonic()
    r = run_wrk(server.url(), script, connections, seconds, args.wrk_threads, args.client_cpus, env,
                {"LEADD_RUN_ID": run_id})
    wall = time.monotonic() - t0
    ticks1, rss1, threads1 = server.sample()
    busy1, wrk1 = machine_busy_seconds(), children_cpu_seconds()
    if not server.alive():
        raise RuntimeError(f"{server.name} died during {script}")
    server_s = (ticks1 - ticks0) / CLK_TCK
    # `wall` includes wrk's start, which reading 1 000 000 ids makes last over a second, and the
    # server idles through it: its CPU % is over wrk's own run (its duration), and the CPU per
    # request from CPU seconds and the request count. wrk's CPU % stays over `wall`: its start
    # is its own work.
    run_s = r["seconds"] or wall
    r.update(cpu_us_per_request=1e6 * server_s / r["requests"] if r["requests"] else 0.0,
             cpu_pct=100.0 * server_s / run_s, wrk_cpu_pct=100.0 * (wrk1 - wrk0) / wall,
             other_cpu_pct=max(0.0, 100.0 * ((busy1 - busy0) - server_s - (wrk1 - wrk0)) / wall),
             rss_mib_before=rss0 / 1024, rss_mib=rss1 / 1024, connections=connections,
             waited_ms=busiest_thread_wait_ms(threads0, threads1))
    if log0 is not None:
        log1 = server.log_counters()
        # A snapshot (one per 256 MiB of log, on a thread of its own) costs CPU in proportion to
        # the store, and the run it falls in pays all of it: at 1 000 000 leads one of 182 MB took
        # 4.2 s of wall time at nice 10 beside the request thread.
        r.update(snapshots=int(log1.get("snapshots", 0) - log0.get("snapshots", 0)))
        fsyncs = log1.get("fsyncs", 0) - log0.get("fsyncs", 0)
        if fsyncs > 0:  # group commit: how many records each fdatasync made durable, and its mean time
            r.update(records_per_fsync=(log1.get("records", 0) - log0.get("records", 0)) / fsyncs,
                     fsync_mean_ms=1e3 * (log1.get("fsync_seconds", 0) - log0.get("fsync_seconds", 0)) / fsyncs)
    return r


def seed(server, key, count, args, workdir):
    """Creates `count` leads through wrk + seed.lua; returns their ids."""
    prefix = os.path.join(workdir, "seed-ids")
    threads = args.wrk_threads
    env = {**os.environ, "LEADD_KEY": key, "LEADD_IDS_OUT": prefix, "LEADD_SEED_COUNT": str(count),
           "LEADD_SEED_THREADS": str(threads), "LEADD_RUN_ID": "seed"}
    files = [f"{prefix}.{t}" for t in range(threads)]
    proc = subprocess.Popen(
        ["taskset", "-c", args.client_cpus, "wrk", f"-t{threads}", f"-c{args.connections}", "-d600s",
         "-s", os.path.join(HERE, "seed.lua"), server.url() + "/"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def lines():
        n = 0
        for path in files:
            try:
                with open(path, "rb") as f:
                    n += f.read().count(b"\n")
            except OSError:
                pass
        return n

    deadline = time.monotonic() + 600
    while lines() < count and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    ids = []
    for path in files:
        with open(path) as f:
            ids += [line.strip() for line in f if line.strip().startswith("lead_")]
    if len(ids) < count:
        raise RuntimeError(f"seeding made {len(ids)} of {count} leads:\n{out}\n{err}")
    return ids[:count]


def write_ids(ids, directory):
    """The seeded ids, a line each, in `directory`/ids.txt (what the scripts read from LEADD_IDS);
    returns its path."""
    path = os.path.join(directory, "ids.txt")
    with open(path, "w") as f:
        f.write("\n".join(ids) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# environment

def ensure_tools():
    missing = [t for t in ("wrk", "nginx", "gnuplot", "taskset", "cmake") if not shutil.which(t)]
    if missing or not os.path.exists("/usr/include/benchmark/benchmark.h"):
        log(f"missing {missing or ['libbenchmark-dev']}: installing (scripts/install-deps.sh)")
        subprocess.run([os.path.join(ROOT, "scripts", "install-deps.sh")], check=True)
        subprocess.run([os.path.join(ROOT, "scripts", "install-deps.sh"),
                        os.path.join(HERE, "debian-packages.txt")], check=True)


def build(with_micro):
    cache = os.path.join(BUILD_DIR, "CMakeCache.txt")
    configured = os.path.exists(cache) and "LEADD_BUILD_BENCHMARKS:BOOL=ON" in open(cache).read()
    if with_micro and not configured or not os.path.exists(cache):
        subprocess.run(["cmake", "-S", ROOT, "-B", BUILD_DIR, "-DCMAKE_BUILD_TYPE=Release",
                        "-DLEADD_BUILD_TESTS=OFF", f"-DLEADD_BUILD_BENCHMARKS={'ON' if with_micro else 'OFF'}"],
                       check=True, stdout=subprocess.DEVNULL)
    targets = ["leadd"] + (["leadd_micro"] if with_micro else [])
    out = subprocess.run(["cmake", "--build", BUILD_DIR, "-j", str(os.cpu_count() or 2), "--target", *targets],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("build failed:\n" + out.stdout[-4000:] + out.stderr[-4000:])


def machine():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
        if m:
            cpu = m.group(1).strip()
    with open("/proc/meminfo") as f:
        mem_gib = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) / 1024 / 1024
    debian = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"

    def version(cmd, pattern):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True)
            m = re.search(pattern, out.stdout + out.stderr)
            return m.group(1) if m else "?"
        except OSError:
            return "?"

    def git(*a):
        out = subprocess.run(["git", "-C", ROOT, *a], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    return {
        "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_gib, 1),
        "kernel": platform.release(), "debian": debian,
        "loadavg_start": os.getloadavg()[0],
        "wrk": version(["wrk", "-v"], r"wrk (\S+)"), "nginx": version(["nginx", "-v"], r"nginx/(\S+)"),
        "commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


# ---------------------------------------------------------------------------------------------
# report

def fmt_int(x):
    return f"{x:,.0f}".replace(",", " ")


def describe_run(res):
    a, m, s = res["args"], res["machine"], res["sizes"]
    get_row = next((r for r in res["rows"] if r["scenario"] == "get"), None)
    wire = (f"{get_row['main']['leadd']['bytes_per_response']:.0f} B vs {get_row['main']['ceiling']['bytes_per_response']:.0f} B "
            "per GET response, headers included") if get_row else "a few dozen bytes more per response"
    lines = [
        f"Command: `{res['command']}`, {res['started'][:16].replace('T', ' ')} UTC, commit "
        f"{m['commit']}{' (with uncommitted changes)' if m['dirty'] else ''}; run took {res['run_seconds']:.0f} s.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']:.0f} GiB, Linux {m['kernel']}, Debian {m['debian']}; "
        f"load average {m['loadavg_start']:.2f} before the run; other processes used "
        f"{res['noise']['mean_other_cpu_pct']:.0f}% of a core on average during the measurements "
        f"(max {res['noise']['max_other_cpu_pct']:.0f}%)"
        + (": **a noisy machine, numbers are indicative only**" if res['noise']['mean_other_cpu_pct'] > 10 else "") + ".",
        f"Setup: leadd `--threads {a['leadd_threads']}` and nginx {m['nginx']} (1 worker) on CPU {a['server_cpus']}, "
        f"wrk {m['wrk']} `-t{a['wrk_threads']} -c{a['connections']} -d{a['seconds']}s` on CPU {a['client_cpus']}; "
        f"{fmt_int(a['leads'])} leads seeded; fdatasync on the data dir's disk p50 "
        f"{res['fdatasync']['p50_ms']:.3f} ms, p99 {res['fdatasync']['p99_ms']:.3f} ms.",
        f"Ceiling: nginx answering the same requests from memory with fixed bodies of leadd's sizes on each route "
        f"(GET lead {s['get']} B, PUT {s['update']} B, POST 201 {s['create']} B, list page {s['list']} B) and the same "
        f"extra headers (nginx adds Date, Server and Connection: {wire}); the mixed ceiling is the same mix "
        f"against it. leadd ÷ ceiling = leadd req/s ÷ nginx req/s at the same wrk settings; nginx runs right "
        f"before and right after leadd, and the ratio uses the mean of its two runs (both shown).",
        "Columns: latencies from wrk (p99.9 via its Lua done()); errors = socket errors + non-2xx; leadd CPU % and "
        "RSS from /proc/<pid>/stat and status around the run (CPU over wrk's own duration, which leaves out its start; 100 % = one core); other CPU % = CPU time used "
        "by processes other than the server and wrk during the leadd run and during the ceiling run (0 on a quiet "
        "machine; a row where it is high says little); server's worker waited for a CPU = how long the server's "
        "busiest thread (the one serving the requests) was ready to run but waited for a CPU during the run "
        "(/proc/<pid>/task/*/schedstat): other tasks' turns on its core hold every request in flight, so a row "
        "whose p99 stands out and whose wait is high met a busy core. Ceiling p99 ms and CPU %: the means of "
        "nginx's two runs; "
        "where nginx is well under 100 % while wrk is near it, the client, not the server's core, set that "
        "ceiling, and the ratio flatters leadd.",
    ]
    commits = [f"{r['title']} {r['main']['leadd']['records_per_fsync']:.1f} "
               f"(mean fdatasync {r['main']['leadd']['fsync_mean_ms']:.3f} ms)"
               for r in res["rows"] if r["main"]["leadd"].get("records_per_fsync")]
    if commits:
        lines.append("Group commit (leadd's /metrics around each `--fsync always` run): writes made durable "
                     "per fdatasync: " + "; ".join(commits) + ".")
    snapshots = [f"{r['title']} (--fsync {r['fsync']}) {r['main']['leadd']['snapshots']}"
                 for r in res["rows"] if r["main"]["leadd"].get("snapshots")]
    if snapshots:
        lines.append("Snapshots written during a run (leadd's /metrics; one per 256 MiB of log, on its own thread, "
                     "its CPU in that row's leadd CPU): " + "; ".join(snapshots) + ".")
    return lines


def ceiling_runs(point):
    return [point["ceiling"]] + ([point["ceiling_after"]] if "ceiling_after" in point else [])


def ceiling_rps(point):
    """The ceiling's req/s at a point: the mean of its runs before and after leadd's (results
    from before the second run existed have only the first)."""
    runs = ceiling_runs(point)
    return sum(r["rps"] for r in runs) / len(runs)


def ceiling_cell(point):
    if "ceiling_after" not in point:
        return fmt_int(point["ceiling"]["rps"])
    return (f"{fmt_int(ceiling_rps(point))} ({fmt_int(point['ceiling']['rps'])} / "
            f"{fmt_int(point['ceiling_after']['rps'])})")


def ceiling_load_cell(point):
    """nginx's and wrk's CPU % during the ceiling runs (means): a ceiling whose nginx is well
    under 100 % while wrk is near it was set by the client, not by the server's core."""
    runs = ceiling_runs(point)
    nginx = sum(r["cpu_pct"] for r in runs) / len(runs)
    if not all("wrk_cpu_pct" in r for r in runs):
        return f"{nginx:.0f}"
    return f"{nginx:.0f} / {sum(r['wrk_cpu_pct'] for r in runs) / len(runs):.0f}"


def main_table(res):
    out = ["| scenario | --fsync | req/s | p50 ms | p99 ms | p99.9 ms | errors | leadd CPU % | leadd RSS MiB "
           "| ceiling req/s (before / after) | leadd ÷ ceiling | ceiling p99 ms | ceiling CPU % (nginx / wrk) "
           "| other CPU % (leadd / ceiling run) | server's worker waited for a CPU, ms (leadd / ceiling run) |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in res["rows"]:
        l, c = row["main"]["leadd"], row["main"]["ceiling"]
        ceiling = ceiling_rps(row["main"])
        ratio = l["rps"] / ceiling if ceiling else 0
        runs = ceiling_runs(row["main"])
        ceiling_p99 = sum(r["p99_ms"] for r in runs) / len(runs)
        out.append(f"| {row['title']} | {row['fsync']} | {fmt_int(l['rps'])} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} "
                   f"| {l['p99_9_ms']:.2f} | {l['errors']} | {l['cpu_pct']:.0f} | {l['rss_mib']:.0f} "
                   f"| {ceiling_cell(row['main'])} | {ratio:.2f} | {ceiling_p99:.2f} | {ceiling_load_cell(row['main'])} "
                   f"| {l['other_cpu_pct']:.0f} / {c['other_cpu_pct']:.0f} "
                   f"| {l.get('waited_ms', 0):.0f} / {c.get('waited_ms', 0):.0f} |")
    return out


def micro_table(res):
    if not res.get("micro"):
        return []
    def duration(ns):
        for unit, scale in (("ms", 1e6), ("µs", 1e3)):
            if ns >= scale:
                return f"{ns / scale:.2f} {unit}"
        return f"{ns:.1f} ns"

    out = ["| micro-benchmark (load/micro) | per op, CPU | per op, wall |", "| --- | ---: | ---: |"]
    for b in res["micro"]:
        out.append(f"| {b['name']} | {duration(b['cpu_ns'])} | {duration(b['real_ns'])} |")
    return out


def render_markdown(res, plot_prefix=""):
    md = [f"- {line}" for line in describe_run(res)] + ["", *main_table(res), ""]
    if res.get("plots"):
        md += [f"![req/s by connections]({plot_prefix}rps.png)", "",
               f"![p99 by connections]({plot_prefix}p99.png)", ""]
    mt = micro_table(res)
    if mt:
        md += [*mt, ""]
    return "\n".join(md)


def plot(res, outdir):
    dat = os.path.join(outdir, "sweep.dat")
    rows = res["rows"]
    with open(dat, "w") as f:
        for row in rows:
            f.write(f"# {row['title']} --fsync {row['fsync']}\n# connections leadd_rps ceiling_rps leadd_p99_ms ceiling_p99_ms\n")
            for p in sorted(row["sweep"], key=lambda p: p["connections"]):
                f.write(f"{p['connections']} {p['leadd']['rps']:.1f} {p['ceiling']['rps']:.1f} "
                        f"{p['leadd']['p99_ms']:.3f} {p['ceiling']['p99_ms']:.3f}\n")
            f.write("\n\n")
    cols = 4
    nrows = (len(rows) + cols - 1) // cols
    conns = sorted({p["connections"] for row in rows for p in row["sweep"]})
    xtics = ", ".join(f'"{c}" {c}' for c in conns)
    for what, col_l, col_c, ylabel, logy in (("rps", 2, 3, "requests/s", False), ("p99", 4, 5, "p99 latency (ms)", True)):
        gp = [f'set terminal pngcairo size {cols * 420},{nrows * 330} font ",9"',
              f'set output "{os.path.join(outdir, what + ".png")}"',
              "set logscale x 2", f"set xtics ({xtics})", f"set xrange [{conns[0] / 1.4}:{conns[-1] * 1.4}]", "set grid", "set key top left",
              'set xlabel "connections"', f'set ylabel "{ylabel}"', "set format y '%.0s%c'" if not logy else "set logscale y",
              "set yrange [0:*]" if not logy else "",
              f'set multiplot layout {nrows},{cols} title "leadd vs nginx ceiling: {ylabel} ({res["command"]}, {res["started"][:10]})"']
        for i, row in enumerate(rows):
            gp.append(f'set title "{row["title"]} (fsync {row["fsync"]})" noenhanced')
            gp.append(f'plot "{dat}" index {i} using 1:{col_l} with linespoints lw 2 pt 7 title "leadd", '
                      f'"" index {i} using 1:{col_c} with linespoints lw 2 pt 5 dt 2 title "nginx ceiling"')
        gp.append("unset multiplot")
        script = os.path.join(outdir, what + ".gp")
        with open(script, "w") as f:
            f.write("\n".join(gp) + "\n")
        out = subprocess.run(["gnuplot", script], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"gnuplot {script}: {out.stderr}")
    return ["rps.png", "p99.png"]


def publish(res, outdir):
    """Copies this run's table and plots into load/README.md, load/plots/ and README.md."""
    plots_dir = os.path.join(HERE, "plots")
    os.makedirs(plots_dir, exist_ok=True)
    for name in res.get("plots", []):
        shutil.copy(os.path.join(outdir, name), os.path.join(plots_dir, name))

    def replace_block(path, text):
        with open(path) as f:
            content = f.read()
        pat = re.compile(r"(<!-- bench-results:begin[^>]*-->\n).*?(<!-- bench-results:end -->)", re.S)
        if not pat.search(content):
            raise RuntimeError(f"{path} has no <!-- bench-results:begin/end --> markers")
        with open(path, "w") as f:
            f.write(pat.sub(lambda m: m.group(1) + text + m.group(2), content, count=1))

    replace_block(os.path.join(HERE, "README.md"), render_markdown(res, "plots/"))
    lines = describe_run(res)
    short = "\n".join([f"- {lines[0]}", f"- {lines[1]}", f"- {lines[2]}", "", *main_table(res), "",
                       "Plots, micro-benchmarks and the full setup: [load/README.md](load/README.md).", ""])
    replace_block(os.path.join(ROOT, "README.md"), short)
    log("published to load/README.md, load/plots/ and README.md")


def compare(a_path, b_path):
    a, b = (json.load(open(p)) for p in (a_path, b_path))
    key = lambda r: (r["scenario"], r["fsync"])  # noqa: E731
    old = {key(r): r for r in a["rows"]}
    print(f"A = {a_path} ({a['started'][:16]}, {a['machine']['commit']})\n"
          f"B = {b_path} ({b['started'][:16]}, {b['machine']['commit']})\n")
    # leadd's CPU per request is the server's own cost: where wrk (near 100 %) or the ceiling
    # limits req/s, it still says whether leadd got cheaper or dearer (e.g. at 1 000 000 seeded
    # leads, where wrk's random pick from a million ids slows the client too). The ceiling's own
    # change says how much of a req/s change the client (or the machine) made: nginx does the
    # same work whatever the lead count.
    print("| scenario | --fsync | req/s A | req/s B | Δ | ceiling Δ | p99 ms A | p99 ms B | ÷ ceiling A | ÷ ceiling B "
          "| leadd CPU µs/request A | B | Δ | wrk CPU % A | B | other CPU % A | other CPU % B |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in b["rows"]:
        o = old.get(key(r))
        if not o:
            continue
        la, lb = o["main"]["leadd"], r["main"]["leadd"]
        cla, clb = ceiling_rps(o["main"]), ceiling_rps(r["main"])
        ra, rb = la["rps"] / cla, lb["rps"] / clb
        # Older results have no cpu_us_per_request: % of a core / (req/s), slightly low.
        ca, cb = (x.get("cpu_us_per_request", 1e4 * x["cpu_pct"] / x["rps"]) for x in (la, lb))
        print(f"| {r['title']} | {r['fsync']} | {fmt_int(la['rps'])} | {fmt_int(lb['rps'])} "
              f"| {100 * (lb['rps'] / la['rps'] - 1):+.1f}% | {100 * (clb / cla - 1):+.1f}% | {la['p99_ms']:.2f} | {lb['p99_ms']:.2f} | {ra:.2f} | {rb:.2f} "
              f"| {ca:.1f} | {cb:.1f} | {100 * (cb / ca - 1):+.1f}% "
              f"| {la.get('wrk_cpu_pct', 0):.0f} | {lb.get('wrk_cpu_pct', 0):.0f} "
              f"| {la.get('other_cpu_pct', 0):.0f} | {lb.get('other_cpu_pct', 0):.0f} |")
    for m in b.get("micro", []):
        om = next((x for x in a.get("micro", []) if x["name"] == m["name"]), None)
        if om:
            print(f"micro {m['name']}: {om['cpu_ns']:.1f} -> {m['cpu_ns']:.1f} ns ({100 * (m['cpu_ns'] / om['cpu_ns'] - 1):+.1f}%)")


# ---------------------------------------------------------------------------------------------

def run_micro(args, outdir):
    out_json = os.path.join(outdir, "micro.json")
    cmd = ["taskset", "-c", args.server_cpus, MICRO_BIN, f"--benchmark_min_time={args.micro_min_time}",
           f"--benchmark_out={out_json}", "--benchmark_out_format=json"]
    if args.micro_filter:
        cmd.append(f"--benchmark_filter={args.micro_filter}")
    log("micro-benchmarks: " + " ".join(cmd[3:4] + cmd[4:5]))
    subprocess.run(cmd, check=True, stdout=sys.stderr)
    scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}
    with open(out_json) as f:
        data = json.load(f)
    return [{"name": b["name"], "cpu_ns": b["cpu_time"] * scale[b["time_unit"]],
             "real_ns": b["real_time"] * scale[b["time_unit"]], "iterations": b["iterations"]}
            for b in data["benchmarks"] if b.get("run_type", "iteration") == "iteration"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="short runs (2 s per table row, 1 s per sweep point, short micro-benchmarks): under 2 minutes")
    ap.add_argument("--leads", type=int, default=10_000, help="leads seeded before the scenarios (10000)")
    ap.add_argument("--seconds", type=int, help="wrk duration of each table measurement (5; quick 2)")
    ap.add_argument("--sweep-seconds", type=int, help="wrk duration of each other sweep point (3; quick 1)")
    ap.add_argument("--warmup", type=int, help="seconds of unmeasured load on each server before each scenario (1; quick 0)")
    ap.add_argument("--connections", type=int, default=64, help="wrk -c of the table (64)")
    ap.add_argument("--sweep", default="1,16,64,256", help="connection counts of the plots ('' for none)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (1)")
    ap.add_argument("--leadd-threads", type=int, default=1, help="leadd --threads (1)")
    ap.add_argument("--server-cpus", default="0", help="taskset CPU list of leadd and nginx (0)")
    ap.add_argument("--client-cpus", default="1", help="taskset CPU list of wrk (1)")
    ap.add_argument("--scenarios", default=",".join(RUN_ORDER), help="subset of " + ",".join(RUN_ORDER))
    ap.add_argument("--write-fsync", default="none,always", help="--fsync policies of the write scenarios")
    ap.add_argument("--no-micro", action="store_true", help="skip the Google Benchmark micro-benchmarks")
    ap.add_argument("--micro-min-time", type=float, help="--benchmark_min_time (0.3; quick 0.02)")
    ap.add_argument("--micro-filter", default="", help="--benchmark_filter regex")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory (load/results)")
    ap.add_argument("--publish", action="store_true",
                    help="copy the table and plots into load/README.md, load/plots/ and README.md")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (data, logs, nginx config)")
    ap.add_argument("--publish-from", metavar="RESULTS", help="publish an earlier run (its directory or results.json) and exit")
    ap.add_argument("--compare", nargs=2, metavar=("OLD_JSON", "NEW_JSON"), help="compare two results.json and exit")
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    if args.publish_from:
        path = args.publish_from
        outdir = path if os.path.isdir(path) else os.path.dirname(path)
        with open(os.path.join(outdir, "results.json")) as f:
            publish(json.load(f), outdir)
        return
    q = args.quick
    args.seconds = args.seconds or (2 if q else 5)
    args.sweep_seconds = args.sweep_seconds or (1 if q else 3)
    args.warmup = args.warmup if args.warmup is not None else (0 if q else 1)
    args.micro_min_time = args.micro_min_time or (0.02 if q else 0.3)
    sweep = sorted({int(c) for c in args.sweep.split(",") if c.strip()} | {args.connections})
    scenarios = [s for s in RUN_ORDER if s in args.scenarios.split(",")]
    policies = [p for p in args.write_fsync.split(",") if p]

    started = time.monotonic()
    started_at = datetime.datetime.now(datetime.timezone.utc)
    command = "make bench" + (" QUICK=1" if q else "")
    if sys.argv[1:] and [a for a in sys.argv[1:] if a not in ("--quick", "--publish")]:
        command = "load/bench.py " + " ".join(sys.argv[1:])

    ensure_tools()
    t = time.monotonic()
    build(not args.no_micro)
    build_seconds = time.monotonic() - t
    log(f"build: {build_seconds:.1f} s")

    stamp = started_at.strftime("%Y%m%d-%H%M%S") + ("-quick" if q else "")
    outdir = os.path.join(args.out, stamp)
    os.makedirs(outdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="leadd-load-")
    data_dir = os.path.join(workdir, "data")
    res = {"command": command, "started": started_at.isoformat(timespec="seconds"), "machine": machine(),
           "args": {**vars(args), "sweep": sweep, "scenarios": scenarios, "write_fsync": policies},
           "build_seconds": build_seconds, "fdatasync": fdatasync_latency(workdir), "rows": [],
           "phases": {"build": build_seconds}}
    res["args"].pop("compare", None)

    leadd = nginx = None
    try:
        leadd = Leadd(data_dir, "none", args.server_cpus, args.leadd_threads, workdir)
        key = leadd.create_workspace("bench")
        t = time.monotonic()
        ids = seed(leadd, key, args.leads, args, workdir)
        ids_path = write_ids(ids, workdir)
        res["seed_seconds"] = res["phases"]["seed"] = time.monotonic() - t
        log(f"seeded {len(ids)} leads in {res['seed_seconds']:.1f} s")

        # The sizes of leadd's real answers, for the ceiling's bodies.
        auth = {"Authorization": f"Bearer {key}"}
        st, hdrs, get_body = http_call(leadd.port, "GET", f"/api/v1/leads/{ids[0]}", auth)
        assert st == 200, (st, get_body)
        st, _, list_body = http_call(leadd.port, "GET", "/api/v1/leads?status=new&page=1&limit=10", auth)
        assert st == 200, (st, list_body)
        st, _, update_body = http_call(leadd.port, "PUT", f"/api/v1/leads/{ids[-1]}", auth,
                                       {"status": "contacted", "metadata": {"notes": "Follow up scheduled for next week",
                                                                            "touches": 1}})
        assert st == 200, (st, update_body)
        st, create_hdrs, create_body = http_call(
            leadd.port, "POST", "/api/v1/leads", auth,
            {"name": "Load Test 1", "email": "probe-1@example.com", "phone": "+1-555-456-7890", "source": "wrk",
             "status": "new", "metadata": {"company": "New Tech Corp", "seq": 1}})
        assert st == 201, (st, create_body)
        bodies = {"get": get_body.decode(), "list": list_body.decode(), "update": update_body.decode(),
                  "create": create_body.decode()}
        res["sizes"] = {k: len(v.encode()) for k, v in bodies.items()}
        nginx = NginxCeiling(workdir, args.server_cpus, bodies, hdrs.get("Content-Type", "application/json"),
                             create_hdrs.get("Location", "/api/v1/leads/" + ids[0]),
                             hdrs.get("X-Request-Id", "0" * 24))
        env = {"LEADD_KEY": key, "LEADD_IDS": ids_path}

        # Every policy starts from the same seeded store: a clean stop writes a snapshot, and each
        # pass runs on its own copy of that data dir (so creates of one pass do not grow the next).
        leadd.stop()
        leadd = None
        run_n = 0
        t = time.monotonic()
        for policy in ["none"] + [p for p in policies if p != "none"]:
            pass_dir = os.path.join(workdir, f"data-{policy}")
            shutil.copytree(data_dir, pass_dir)
            leadd = Leadd(pass_dir, policy, args.server_cpus, args.leadd_threads, workdir)
            for name in scenarios:
                script, title, writes = SCENARIOS[name]
                if policy != "none" and not writes or writes and policy not in policies:
                    continue
                row = {"scenario": name, "title": title, "fsync": policy, "script": script, "sweep": []}
                if args.warmup:
                    for server in (nginx, leadd):
                        run_wrk(server.url(), script, args.connections, args.warmup, args.wrk_threads,
                                args.client_cpus, env, {"LEADD_RUN_ID": f"warm{run_n}-{server.name}"})
                for c in [args.connections] + [c for c in sweep if c != args.connections]:
                    secs = args.seconds if c == args.connections else args.sweep_seconds
                    point = {"connections": c}
                    # At the main connection count the ceiling runs before and after leadd: the
                    # machine's pace drifts within a run, and one ceiling run per scenario made
                    # the ratios move with it (nginx measured 90k to 156k req/s in one run).
                    runs = [("ceiling", nginx), ("leadd", leadd)]
                    if c == args.connections:
                        runs.append(("ceiling_after", nginx))
                    for label, server in runs:
                        run_n += 1
                        point[label] = measure(server, script, c, secs, args, env, f"r{run_n}-{os.getpid()}")
                    row["sweep"].append(point)
                    l, ce, ce_rps = point["leadd"], point["ceiling"], ceiling_rps(point)
                    log(f"{name:6} fsync {policy:6} c={c:3}: leadd {l['rps']:9.0f} req/s p99 {l['p99_ms']:7.2f} ms "
                        f"err {l['errors']} cpu {l['cpu_pct']:3.0f}% | ceiling {ce_rps:9.0f} req/s "
                        f"p99 {ce['p99_ms']:6.2f} ms -> {l['rps'] / ce_rps if ce_rps else 0:.2f}")
                    if c == args.connections:
                        row["main"] = point
                res["rows"].append(row)
            leadd.stop()
        res["phases"]["scenarios"] = time.monotonic() - t
    finally:
        for server in (nginx, leadd):
            if server:
                server.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    res["rows"].sort(key=lambda r: (TABLE_ORDER.index(r["scenario"]), policies.index(r["fsync"])
                                    if r["fsync"] in policies else -1))
    if not args.no_micro:
        t = time.monotonic()
        res["micro"] = run_micro(args, outdir)
        res["phases"]["micro"] = time.monotonic() - t
    if len(sweep) > 1:
        res["plots"] = plot(res, outdir)
    others = [p[k]["other_cpu_pct"] for row in res["rows"] for p in row["sweep"] for k in ("leadd", "ceiling")]
    res["noise"] = {"mean_other_cpu_pct": sum(others) / len(others) if others else 0.0,
                    "max_other_cpu_pct": max(others, default=0.0)}
    res["run_seconds"] = time.monotonic() - started

    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    md = render_markdown(res)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(md)
    latest = os.path.join(args.out, "latest")
    if os.path.islink(latest) or not os.path.exists(latest):
        if os.path.islink(latest):
            os.unlink(latest)
        os.symlink(stamp, latest)
    if args.publish:
        publish(res, outdir)
    print(md)
    print(f"results: {os.path.relpath(outdir, ROOT)}/ (results.json, table.md, rps.png, p99.png); "
          f"run time {res['run_seconds']:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in res["phases"].items()) + ")")


if __name__ == "__main__":
    main()
