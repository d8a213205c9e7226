#!/usr/bin/python3
"""leadd's user-space instructions per request, counted by callgrind: a figure this shared,
noisy machine does not move, for comparing two builds whose req/s differ by less than the noise.

  load/instructions_bench.py [--scripts get,update,create] [--seconds 8] [--leads 2000]
                             [--binary LEADD] [--baseline-binary OTHER_LEADD]

For each script and build: leadd (--threads 1, --fsync none, a fresh data dir) runs under
valgrind --tool=callgrind; wrk seeds --leads leads (seed.lua), callgrind's counters are zeroed,
wrk -t1 -c16 runs the script for --seconds, the counters are dumped, and the dump's total is
divided by the requests wrk completed. What it counts: every instruction leadd's threads execute
in user space while serving them (parsing, handlers, store, log append, Asio), not the kernel's
work (syscalls, TCP), not cache misses, and not time: under callgrind leadd runs ~50x slower, so
its req/s mean nothing. Valgrind's CPU has no SHA extensions, so hashing costs more here than
on the machine.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

sys.dont_write_bytecode = True  # no load/__pycache__ from the imports below (as bench.py)
import bench  # noqa: E402
from durability_bench import BIN, HERE, ROOT, Leadd  # noqa: E402

CONNECTIONS = 16


def dump_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def measure(binary, script, seconds, leads, work):
    data = tempfile.mkdtemp(dir=work)
    out = os.path.join(work, "callgrind.%p")
    server = Leadd(data, "--fsync", "none", binary=binary,
                   wrapper=("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"))
    pid = server.proc.pid  # valgrind runs leadd in its own process
    try:
        # bench.py's seeding (wrk + seed.lua), with wrk settings of its own.
        seeding = tempfile.mkdtemp(dir=work)
        ids = bench.seed(types.SimpleNamespace(url=lambda: server.url("")), server.key, leads,
                         types.SimpleNamespace(wrk_threads=1, client_cpus="0-1", connections=8), seeding)
        ids_path = bench.write_ids(ids, seeding)
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
        run = subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "-s", os.path.join(HERE, script),
                              server.url("")],
                             env={**os.environ, "LEADD_KEY": server.key, "LEADD_IDS": ids_path},
                             capture_output=True, text=True, check=True).stdout
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
        requests = int(re.search(r"^\s+(\d+) requests in", run, re.M).group(1))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", run)
        if errors:
            raise RuntimeError(f"{script}: {errors.group(1)} answers were not 2xx")
        # The dump after the zeroing is the file numbered 1 (the one at exit comes later).
        dumps = sorted(glob.glob(os.path.join(work, f"callgrind.{pid}.*")))
        if not dumps:
            raise RuntimeError("callgrind wrote no dump")
        return dump_total(dumps[0]) / requests, requests
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
        for f in glob.glob(os.path.join(work, f"callgrind.{pid}*")):
            os.remove(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scripts", default="get,update,create", help="load/*.lua scripts, without .lua")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--leads", type=int, default=2000)
    ap.add_argument("--binary", default=BIN, help="leadd to measure (build/release/leadd, built if missing)")
    ap.add_argument("--baseline-binary", help="another leadd build, measured after each script's run")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: scripts/install-deps.sh load/debian-packages.txt installs it")
    if args.binary == BIN and not os.path.exists(BIN):
        subprocess.run(["make", "-C", ROOT, "build"], check=True)
    builds = [("leadd", args.binary)] + ([("baseline", args.baseline_binary)] if args.baseline_binary else [])
    work = tempfile.mkdtemp(prefix="leadd-instructions-")
    try:
        print(f"| script | {' | '.join(label + ' instructions/request' for label, _ in builds)} |"
              + (" change |" if len(builds) == 2 else ""))
        print("| --- |" + " ---: |" * (len(builds) + (1 if len(builds) == 2 else 0)))
        for name in args.scripts.split(","):
            counts = []
            for label, binary in builds:
                per_request, requests = measure(binary, name + ".lua", args.seconds, args.leads, work)
                print(f"{name}: {label} {per_request:,.0f} instructions/request over {requests} requests",
                      file=sys.stderr)
                counts.append(per_request)
            cells = " | ".join(f"{c:,.0f}" for c in counts)
            change = f" {100 * (counts[0] / counts[1] - 1):+.1f} % |" if len(counts) == 2 else ""
            print(f"| {name} | {cells} |{change}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
