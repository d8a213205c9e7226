#!/usr/bin/python3
"""Durability benchmark: what each --fsync policy costs, and how long a restart takes.

  load/durability_bench.py [--seconds 5] [--connections 1,16,64,256] [--leads 1000000]

For each policy (always, batch, none) and each connection count, a fresh leadd (Release,
pinned to core 0 with --threads 1) takes POST creates from wrk (pinned to core 1, -t1) for
--seconds; the table shows creates/s and latency. The raw fdatasync latency of the disk
under the data dir is measured in the same run. Then --leads leads are loaded (fsync none),
the server is stopped cleanly (it writes a snapshot) and restarted: time to /readyz 200; then
more leads are added, the server is killed with SIGKILL and restarted (snapshot + log tail).
Results are printed as markdown and written to load/results/durability.json.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "build", "release", "leadd")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Leadd:
    # `wrapper`: what runs leadd (by default pinned to core 0; instructions_bench.py runs it
    # under callgrind instead).
    def __init__(self, data_dir, *args, binary=BIN, wrapper=("taskset", "-c", "0")):
        self.port = free_port()
        self.data_dir = data_dir
        self.log = open(os.path.join(data_dir, "..", f"leadd-{self.port}.log"), "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [*wrapper, binary, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--data-dir", data_dir, "--threads", "1", "--log-level", "warn", *args],
            stdout=subprocess.DEVNULL, stderr=self.log)
        self.ready_after = self.wait_ready()
        with open(os.path.join(data_dir, "initial-api-key")) as f:
            self.key = f.read().strip()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url("/readyz"), timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError("leadd did not become ready")

    def total(self):
        req = urllib.request.Request(self.url("/api/v1/leads?limit=1"),
                                     headers={"Authorization": f"Bearer {self.key}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)["data"]["pagination"]["total"]

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(120)
        self.log.close()


def wrk_create(server, connections, seconds, script="create.lua", env=None):
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", os.path.join(HERE, script), server.url("/")],
        env={**os.environ, "LEADD_KEY": server.key, **(env or {})}, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else None
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non2xx": int(errors.group(1)) if errors else 0}


def fdatasync_latency(directory, rounds=200):
    path = os.path.join(directory, "fdatasync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    samples = []
    try:
        for _ in range(rounds):
            os.write(fd, b"x" * 512)
            t = time.perf_counter()
            os.fdatasync(fd)
            samples.append((time.perf_counter() - t) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    samples.sort()
    return {"p50_ms": samples[len(samples) // 2], "p99_ms": samples[int(len(samples) * 0.99)]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", default="1,16,64,256")
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--policies", default="always,batch,none")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["make", "-C", ROOT, "build"], check=True)
    work = tempfile.mkdtemp(prefix="leadd-bench-")
    try:
        results = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the data dirs: up to a few GB
    report(results)


def run(args, work):
    results = {"fdatasync": fdatasync_latency(work), "creates": [], "restart": {}}

    for policy in args.policies.split(","):
        for c in [int(x) for x in args.connections.split(",")]:
            data = tempfile.mkdtemp(dir=work)
            server = Leadd(data, "--fsync", policy)
            try:
                r = wrk_create(server, c, args.seconds)
            finally:
                server.stop()
            r.update(policy=policy, connections=c)
            results["creates"].append(r)
            print(f"fsync {policy:6} c={c:3}: {r['rps']:9.0f} creates/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms",
                  file=sys.stderr)

    if args.leads:
        data = tempfile.mkdtemp(dir=work)
        server = Leadd(data, "--fsync", "none")
        while server.total() < args.leads:
            wrk_create(server, 64, 10)
        loaded = server.total()
        server.stop()  # clean stop: final snapshot
        server = Leadd(data, "--fsync", "none")
        results["restart"]["from_snapshot"] = {"leads": server.total(), "ready_s": server.ready_after}
        wrk_create(server, 64, 3)  # a log tail after the snapshot
        tail_total = server.total()
        server.stop(signal.SIGKILL)
        server = Leadd(data, "--fsync", "none")
        results["restart"]["snapshot_plus_tail"] = {"leads": server.total(), "expected": tail_total,
                                                     "ready_s": server.ready_after}
        server.stop()
        results["restart"]["loaded"] = loaded
    return results


def report(results):
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "durability.json"), "w") as f:
        json.dump(results, f, indent=2)

    print(f"fdatasync on this disk: p50 {results['fdatasync']['p50_ms']:.3f} ms, "
          f"p99 {results['fdatasync']['p99_ms']:.3f} ms\n")
    print("| --fsync | connections | creates/s | p50 ms | p99 ms | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results["creates"]:
        print(f"| {r['policy']} | {r['connections']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non2xx']} |")
    for name, r in results["restart"].items():
        if isinstance(r, dict):
            print(f"\nrestart {name}: {r['leads']} leads ready in {r['ready_s']:.2f} s")


if __name__ == "__main__":
    main()
