#!/usr/bin/python3
"""Import speed: leads/s through 1000-item batches against single POSTs, both --fsync always.

  load/batch_bench.py [--seconds 10] [--connections 16] [--batch 1000] [--rounds 2]

Each mode gets a fresh leadd (Release, pinned to core 0, --threads 1) and wrk (pinned to core 1,
-t1) for --seconds: single POST /api/v1/leads (load/create.lua), POST /api/v1/leads/batch
(load/batch_create.lua) and the same with ?atomic=true. Leads/s is what the server holds at the
end over the seconds of load (so it counts only leads really created). Modes alternate for
--rounds rounds; the table shows each round and the median, and the batch ÷ single ratio.
Results also go to load/results/batch.json.
"""
import argparse
import json
import os
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
    args = ap.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["make", "-C", ROOT, "build"], check=True)
    work = tempfile.mkdtemp(prefix="leadd-batch-bench-")
    rates = {name: [] for name, _, _ in MODES}
    for _ in range(args.rounds):
        for name, script, env in MODES:
            server = Leadd(tempfile.mkdtemp(dir=work), "--fsync", "always")
            try:
                r = wrk_create(server, args.connections, args.seconds, script,
                               {**env, "LEADD_BATCH": str(args.batch)})
                leads = server.total()
            finally:
                server.stop()
            rate = leads / args.seconds
            rates[name].append(rate)
            print(f"{name:13} c={args.connections}: {rate:9.0f} leads/s ({r['rps']:.1f} req/s, "
                  f"p99 {r['p99_ms']} ms, non-2xx {r['non2xx']})", file=sys.stderr)
    single = statistics.median(rates["single POST"])
    print(f"\n`load/batch_bench.py --seconds {args.seconds} --connections {args.connections} "
          f"--batch {args.batch} --rounds {args.rounds}` (--fsync always, leadd on 1 core)\n")
    print("| mode | leads/s per round | median | ÷ single POST |")
    print("| --- | --- | ---: | ---: |")
    for name, _, _ in MODES:
        median = statistics.median(rates[name])
        print(f"| {name} | {' / '.join(f'{x:,.0f}' for x in rates[name])} | {median:,.0f} | {median / single:.1f}× |")
    with open(os.path.join(HERE, "results", "batch.json"), "w") as f:
        json.dump({"args": vars(args), "leads_per_second": rates}, f, indent=2)


if __name__ == "__main__":
    main()
