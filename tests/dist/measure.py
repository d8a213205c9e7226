"""Not a test: the measurement behind README's "Single binary" numbers. Compares leadd builds
side by side in one run, alternating them round-robin so that drift of a shared machine hits
each build alike:
  - size once stripped (strip --strip-all into a temporary file);
  - start-up: process start to the first /readyz 200 on an empty data dir (median of --starts);
  - GET /api/v1/leads/{id} req/s: leadd on CPU 0 with --threads 1, wrk on CPU 1
    (`taskset -c 1 wrk -t1 -c64 -d5s`), every build serving a copy of the same seeded data dir
    (same lead, same key), --fsync none --log-level warn, a 1 s wrk warm-up first. A run during
    which other processes took more than --max-foreign % of the two CPUs (read from /proc/stat
    minus leadd's and wrk's own CPU time) is thrown away and run again, up to 8 times; a run never
    clean is left out of the median (shown as "-");
  - with --instructions: instructions per GET under callgrind (valgrind), from the totals of a
    run with 11 000 GETs minus one with 1 000 on one keep-alive connection: start-up and
    shutdown cancel out. Deterministic to ~0.1%, unlike req/s on a shared machine.

Usage: measure.py [--rounds 2] [--starts 10] [--seconds 5] LABEL=BINARY...
Needs wrk (load/debian-packages.txt) and two CPUs."""

import argparse
import http.client
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distlib  # noqa: E402


def stripped_size(binary):
    with tempfile.NamedTemporaryFile() as tmp:
        subprocess.run(["strip", "--strip-all", "-o", tmp.name, binary], check=True)
        return os.path.getsize(tmp.name)


def start(binary, data_dir, port, cpu=None, log=subprocess.DEVNULL):
    cmd = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
           "--threads", "1", "--fsync", "none", "--log-level", "warn"]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)


def startup_seconds(binary, scratch):
    data_dir = tempfile.mkdtemp(dir=scratch)
    port = distlib.free_port()
    t0 = time.perf_counter()
    proc = start(binary, data_dir, port, cpu=0)
    try:
        while True:
            try:
                if distlib.request(port, "GET", "/readyz", timeout=2)[0] == 200:
                    return time.perf_counter() - t0
            except OSError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"{binary} exited with {proc.returncode}")
            time.sleep(0.0005)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def seed(binary, scratch):
    """A data dir holding one workspace, its key and one lead: (dir, key, lead id)."""
    data_dir = os.path.join(scratch, "seed")
    port = distlib.free_port()
    proc = start(binary, data_dir, port)
    try:
        distlib.wait_ready(proc, port, "/dev/null")
        with open(os.path.join(data_dir, "initial-api-key")) as f:
            key = f.read().strip()
        lead_id = distlib.create_and_read_lead(port, key)
    finally:
        assert distlib.stop(proc) == 0
    return data_dir, key, lead_id


def busy_ticks():
    """CPU time of the whole machine, in clock ticks, not idle or iowait."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def process_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def children_ticks():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * os.sysconf("SC_CLK_TCK")


def get_rps(binary, seeded, key, lead_id, seconds, scratch, max_foreign):
    """(req/s, % of the two CPUs that other processes used meanwhile)."""
    data_dir = tempfile.mkdtemp(dir=scratch)
    shutil.rmtree(data_dir)
    shutil.copytree(seeded, data_dir)
    port = distlib.free_port()
    proc = start(binary, data_dir, port, cpu=0)
    try:
        distlib.wait_ready(proc, port, "/dev/null")
        url = f"http://127.0.0.1:{port}/api/v1/leads/{lead_id}"
        wrk = ["taskset", "-c", "1", "wrk", "-t1", "-c64", "-H", f"Authorization: Bearer {key}"]
        subprocess.run([*wrk, "-d1s", url], check=True, capture_output=True)
        for _ in range(8):
            before = busy_ticks(), process_ticks(proc.pid), children_ticks()
            t0 = time.perf_counter()
            out = subprocess.run([*wrk, f"-d{seconds}s", url], check=True, capture_output=True, text=True).stdout
            elapsed = time.perf_counter() - t0
            after = busy_ticks(), process_ticks(proc.pid), children_ticks()
            ours = (after[1] - before[1]) + (after[2] - before[2])
            foreign = 100 * max(0, (after[0] - before[0]) - ours) / (2 * elapsed * os.sysconf("SC_CLK_TCK"))
            if "Non-2xx" in out:
                raise SystemExit(f"non-2xx answers from {binary}:\n{out}")
            if foreign <= max_foreign:
                break
            print(f"  (run again: other processes used {foreign:.0f}% of the CPUs)", flush=True)
        else:
            return None, foreign
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), foreign
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def instructions_per_get(binary, seeded, key, lead_id, scratch):
    def total(requests):
        data_dir = tempfile.mkdtemp(dir=scratch)
        shutil.rmtree(data_dir)
        shutil.copytree(seeded, data_dir)
        out = os.path.join(scratch, "callgrind.out")
        port = distlib.free_port()
        proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve",
                                 "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir, "--threads", "1",
                                 "--fsync", "none", "--log-level", "warn"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        distlib.wait_ready(proc, port, "/dev/null", timeout=120)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(requests):
            conn.request("GET", f"/api/v1/leads/{lead_id}", headers={"Authorization": f"Bearer {key}"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
        conn.close()
        assert distlib.stop(proc, timeout=120) == 0
        with open(out) as f:
            value = int(re.search(r"^(?:summary|totals):\s+(\d+)", f.read(), re.M).group(1))
        os.unlink(out)
        shutil.rmtree(data_dir, ignore_errors=True)
        return value

    return (total(11_000) - total(1_000)) / 10_000


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--starts", type=int, default=10)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--max-foreign", type=float, default=5.0)
    p.add_argument("--instructions", action="store_true")
    p.add_argument("builds", nargs="+", metavar="LABEL=BINARY")
    args = p.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    scratch = tempfile.mkdtemp(prefix="leadd-measure-")
    try:
        seeded, key, lead_id = seed(builds[0][1], scratch)
        starts = {label: [] for label, _ in builds}
        rps = {label: [] for label, _ in builds}
        for r in range(args.rounds):
            for label, binary in builds:
                for _ in range(args.starts // args.rounds or 1):
                    starts[label].append(startup_seconds(binary, scratch))
                value, foreign = get_rps(binary, seeded, key, lead_id, args.seconds, scratch, args.max_foreign)
                rps[label].append(value)
                shown = "left out" if value is None else f"{value:.0f} req/s"
                print(f"round {r + 1} {label}: {shown} (others: {foreign:.1f}% CPU)", flush=True)
        instructions = {label: instructions_per_get(binary, seeded, key, lead_id, scratch)
                        for label, binary in builds} if args.instructions else {}
        print()
        print("| build | stripped bytes | start to /readyz, median ms | GET by id req/s, each run | median |"
              + (" instructions per GET |" if instructions else ""))
        print("| --- | ---: | ---: | --- | ---: |" + (" ---: |" if instructions else ""))
        for label, binary in builds:
            runs = " / ".join("-" if v is None else f"{v:.0f}" for v in rps[label])
            clean = [v for v in rps[label] if v is not None]
            print(f"| {label} | {stripped_size(binary)} | {statistics.median(starts[label]) * 1000:.1f} "
                  f"| {runs} | {statistics.median(clean) if clean else float('nan'):.0f} |"
                  + (f" {instructions[label]:.0f} |" if instructions else ""))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
