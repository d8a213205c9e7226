#!/usr/bin/python3
"""Two leadd builds side by side: which one serves a script for less CPU per request.

  load/ab_bench.py A_BINARY B_BINARY [--leads 1000000] [--rounds 4] [--seconds 4]
                   [--scripts update,mixed,get] [--connections 64] [--out DIR]

Why not two bench.py runs and --compare: on a shared machine runs a few minutes apart differ by
5-20 % (load/README.md, "Comparing two builds"), more than most changes this is meant to judge.
So both builds run at once, and what changes between their measurements is the build, not the
minute:
  1. starts both leadd binaries (--threads 1, --fsync none, each on a fresh data dir in a temp
     dir, both pinned to the same server CPU), creates a workspace in each and seeds each with
     --leads leads (wrk + seed.lua, as bench.py does), then waits until both are idle (a seeded
     store may be writing a snapshot);
  2. for each of --rounds rounds, runs every script of --scripts once against each build (wrk
     pinned to the client CPU), A first in even rounds and B first in odd ones; the build not
     being measured is idle, and its CPU during the other's run is reported;
  3. prints, per script, leadd's CPU per request (from /proc, as bench.py measures it) in each
     round and its mean, in how many rounds B cost less than A, and the mean p99 and req/s; the
     runs also go to DIR/ab-<date>-<time>.json.

Both builds must be Release builds of leadd (a second checkout's `cmake -S . -B build/release
-DCMAKE_BUILD_TYPE=Release && cmake --build build/release --target leadd`, or `git worktree`).
"""
import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
import types

sys.dont_write_bytecode = True  # no load/__pycache__ from the import below
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def wait_idle(servers, most_pct=2.0, timeout=120):
    """Until every server used under `most_pct` % of a core over a second: a freshly seeded store
    may be writing a snapshot, which would land in the other build's first runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = [s.sample()[0] for s in servers]
        time.sleep(1)
        used = [100.0 * (s.sample()[0] - b) / bench.CLK_TCK for s, b in zip(servers, before)]
        if max(used) < most_pct:
            return
    bench.log("ab_bench: the servers did not go idle; measuring anyway")


def summarize(runs, scripts):
    rows = []
    for script in scripts:
        a = [r for r in runs if r["script"] == script and r["build"] == "A"]
        b = [r for r in runs if r["script"] == script and r["build"] == "B"]
        b_lower = sum(1 for x, y in zip(a, b) if y["cpu_us_per_request"] < x["cpu_us_per_request"])
        mean = lambda rs, k: statistics.mean(r[k] for r in rs)  # noqa: E731
        rows.append({
            "script": script,
            "a_cpu": [r["cpu_us_per_request"] for r in a], "b_cpu": [r["cpu_us_per_request"] for r in b],
            "a_cpu_mean": mean(a, "cpu_us_per_request"), "b_cpu_mean": mean(b, "cpu_us_per_request"),
            "b_lower_rounds": b_lower, "rounds": len(a),
            "a_p99_mean": mean(a, "p99_ms"), "b_p99_mean": mean(b, "p99_ms"),
            "a_rps_mean": mean(a, "rps"), "b_rps_mean": mean(b, "rps"),
            "idle_peer_cpu_pct_max": max(r["idle_peer_cpu_pct"] for r in a + b),
        })
    return rows


def table(rows):
    out = ["| script | A µs/request (rounds) | B µs/request (rounds) | Δ means | B lower | p99 ms A / B | req/s A / B |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        delta = 100.0 * (r["b_cpu_mean"] / r["a_cpu_mean"] - 1)
        out.append(
            f"| {r['script']} | {r['a_cpu_mean']:.2f} ({' '.join(f'{x:.2f}' for x in r['a_cpu'])}) "
            f"| {r['b_cpu_mean']:.2f} ({' '.join(f'{x:.2f}' for x in r['b_cpu'])}) | {delta:+.1f} % "
            f"| {r['b_lower_rounds']} of {r['rounds']} | {r['a_p99_mean']:.2f} / {r['b_p99_mean']:.2f} "
            f"| {bench.fmt_int(r['a_rps_mean'])} / {bench.fmt_int(r['b_rps_mean'])} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", metavar="A_BINARY", help="leadd binary A (the reference)")
    ap.add_argument("b", metavar="B_BINARY", help="leadd binary B (the change)")
    ap.add_argument("--leads", type=int, default=1_000_000, help="leads seeded in each store (1000000)")
    ap.add_argument("--rounds", type=int, default=4, help="rounds; each runs every script once per build (4)")
    ap.add_argument("--seconds", type=int, default=4, help="wrk duration of each run (4)")
    ap.add_argument("--scripts", default="update,mixed,get",
                    help="load/ scripts without .lua: get, list, update, mixed, create (update,mixed,get)")
    ap.add_argument("--connections", type=int, default=64, help="wrk -c (64)")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk -t (1)")
    ap.add_argument("--server-cpus", default="0", help="taskset CPU list of both leadd processes (0)")
    ap.add_argument("--client-cpus", default="1", help="taskset CPU list of wrk (1)")
    ap.add_argument("--out", default=os.path.join(bench.HERE, "results"), help="where the JSON goes (load/results)")
    args = ap.parse_args()
    scripts = [s for s in args.scripts.split(",") if s]
    for s in scripts:
        if not os.path.exists(os.path.join(bench.HERE, f"{s}.lua")):
            ap.error(f"no load/{s}.lua")
    binaries = {"A": os.path.abspath(args.a), "B": os.path.abspath(args.b)}
    for name, path in binaries.items():
        if not os.access(path, os.X_OK):
            ap.error(f"{name}: {path} is not an executable")
    bench.ensure_tools()
    wrk_args = types.SimpleNamespace(wrk_threads=args.wrk_threads, client_cpus=args.client_cpus,
                                     connections=args.connections)
    started_at = datetime.datetime.now(datetime.timezone.utc)
    runs = []
    servers = {}
    with tempfile.TemporaryDirectory(prefix="leadd-ab-") as workdir:
        try:
            envs = {}
            for name, path in binaries.items():
                work = os.path.join(workdir, name)
                os.makedirs(work)
                t = time.monotonic()
                server = bench.Leadd(os.path.join(work, "data"), "none", args.server_cpus, 1, work, binary=path)
                servers[name] = server
                key = server.create_workspace("ab")
                ids = bench.seed(server, key, args.leads, wrk_args, work)
                envs[name] = {"LEADD_KEY": key, "LEADD_IDS": bench.write_ids(ids, work)}
                bench.log(f"{name}: {path}, {args.leads} leads seeded in {time.monotonic() - t:.1f} s")
            wait_idle(list(servers.values()))
            for round_ in range(args.rounds):
                for name in ("AB" if round_ % 2 == 0 else "BA"):
                    peer = servers["B" if name == "A" else "A"]
                    for script in scripts:
                        peer_ticks = peer.sample()[0]
                        t = time.monotonic()
                        m = bench.measure(servers[name], os.path.join(bench.HERE, f"{script}.lua"), args.connections,
                                          args.seconds, wrk_args, envs[name], f"ab{round_}{name}{script}")
                        peer_pct = 100.0 * (peer.sample()[0] - peer_ticks) / bench.CLK_TCK / (time.monotonic() - t)
                        runs.append({"round": round_, "build": name, "script": script, "rps": m["rps"],
                                     "cpu_us_per_request": m["cpu_us_per_request"], "p99_ms": m["p99_ms"],
                                     "errors": m["errors"], "other_cpu_pct": m["other_cpu_pct"],
                                     "idle_peer_cpu_pct": peer_pct, "snapshots": m.get("snapshots", 0)})
                        bench.log(f"round {round_} {name} {script}: {m['rps']:.0f} req/s, "
                                  f"{m['cpu_us_per_request']:.2f} µs/request, p99 {m['p99_ms']:.2f} ms")
        finally:
            for server in servers.values():
                server.stop()
    rows = summarize(runs, scripts)
    errors = sum(r["errors"] for r in runs)
    snapshots = sum(r["snapshots"] for r in runs)
    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, "ab-" + started_at.strftime("%Y%m%d-%H%M%S") + ".json")
    with open(out, "w") as f:
        json.dump({"command": "load/ab_bench.py " + " ".join(sys.argv[1:]),
                   "started": started_at.isoformat(timespec="seconds"), "machine": bench.machine(),
                   "binaries": binaries, "args": vars(args), "runs": runs, "summary": rows}, f, indent=1)
    print(f"\nA = {binaries['A']}\nB = {binaries['B']}\n{args.leads} leads each, {args.rounds} rounds of "
          f"{args.seconds} s runs, wrk -t{args.wrk_threads} -c{args.connections}; errors {errors}, "
          f"snapshots during measured runs {snapshots}, the idle build's CPU during the other's runs "
          f"at most {max(r['idle_peer_cpu_pct'] for r in runs):.1f} %\n")
    print(table(rows))
    print(f"\nruns: {out}")


if __name__ == "__main__":
    main()
