#!/usr/bin/python3
"""Import speed: leads/s through 1000-item batches against single POSTs, both --fsync always.

  load/batch_bench.py [--seconds 10] [--connections 16] [--batch 1000] [--rounds 2]
                      [--binary LEADD] [--baseline-binary OTHER_LEADD]

Each mode gets a fresh leadd (Release, pinned to core 0, --threads 1) and wrk (pinned to core 1,
-t1) for --seconds: single POST /api/v1/leads (load/create.lua), POST /api/v1/leads/batch
(load/batch_create.lua) and the same with ?atomic=true. Leads/s is what the server holds at the
end over the seconds of load (so it counts only leads really created). Modes alternate for
--rounds rounds; the table shows each round and the median, and the batch ÷ single ratio.
With --baseline-binary, every mode also runs on that build, alternating with the measured one
within each round, so two builds are compared side by side on the same machine state.
Results also go to load/results/batch.json.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from durability_bench import BIN, HERE, ROOT, Leadd, wrk_create

MODES = [("single POST", "create.lua", {}),
         ("batch", "batch_create.lua", {}),
         ("batch atomic", "batch_create.lua", {"LEADD_ATOMIC": "1"})]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--binary", default=BIN, help="leadd to measure (build/release/leadd, built if missing)")
    ap.add_argument("--baseline-binary", help="another leadd build, measured alternately in each round")
    args = ap.parse_args()
    if args.binary == BIN and not os.path.exists(BIN):
        subprocess.run(["make", "-C", ROOT, "build"], check=True)
    builds = [("", args.binary)] + ([("baseline ", args.baseline_binary)] if args.baseline_binary else [])
    # Each run's data dir is deleted when its server stops: a 10 s batch run writes ~0.5 GB, and
    # a run of the defaults ~9 GB in all.
    work = tempfile.mkdtemp(prefix="leadd-batch-bench-")
    rates = {label + name: [] for label, _ in builds for name, _, _ in MODES}
    try:
        for _ in range(args.rounds):
            for name, script, env in MODES:
                for label, binary in builds:
                    data = tempfile.mkdtemp(dir=work)
                    server = Leadd(data, "--fsync", "always", binary=binary)
                    try:
                        r = wrk_create(server, args.connections, args.seconds, script,
                                       {**env, "LEADD_BATCH": str(args.batch)})
                        leads = server.total()
                    finally:
                        server.stop()
                        shutil.rmtree(data, ignore_errors=True)
                    rate = leads / args.seconds
                    rates[label + name].append(rate)
                    print(f"{label + name:22} c={args.connections}: {rate:9.0f} leads/s ({r['rps']:.1f} req/s, "
                          f"p99 {r['p99_ms']} ms, non-2xx {r['non2xx']})", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n`load/batch_bench.py --seconds {args.seconds} --connections {args.connections} "
          f"--batch {args.batch} --rounds {args.rounds}` (--fsync always, leadd on 1 core)\n")
    print("| build | mode | leads/s per round | median | ÷ single POST of the build |")
    print("| --- | --- | --- | ---: | ---: |")
    for label, binary in builds:
        single = statistics.median(rates[label + "single POST"])
        for name, _, _ in MODES:
            runs = rates[label + name]
            median = statistics.median(runs)
            print(f"| {label or 'measured '}({os.path.basename(binary)}) | {name} | "
                  f"{' / '.join(f'{x:,.0f}' for x in runs)} | {median:,.0f} | {median / single:.1f}× |")
    with open(os.path.join(HERE, "results", "batch.json"), "w") as f:
        json.dump({"args": vars(args), "leads_per_second": rates}, f, indent=2)


if __name__ == "__main__":
    main()
