"""Benchmark: reading exports into canonical records against pyarrow's raw read (the floor).

Generates 1,000,000 CRM, 200,000 HR and 300,000 recruitment rows once (cached under
build/bench/), then times, each in a fresh process so peak memory is its own:
  - raw:  pyarrow.csv.read_csv of the three files (the floor),
  - read: governance's read_export of the three files (parse, map, normalise).
Usage: python scripts/bench_read.py [--rows N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RAW = """
import json, resource, sys, time
import pyarrow.csv as pacsv
t = time.perf_counter()
rows = 0
for path in sys.argv[1:]:
    opts = pacsv.ParseOptions(newlines_in_values=True)
    rows += pacsv.read_csv(path, parse_options=opts).num_rows
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

READ = """
import json, resource, sys, time
from governance.sources.config import default_config
from governance.sources.reader import read_export
t = time.perf_counter()
rows = 0
for path in sys.argv[1:]:
    source = path.rsplit("/", 1)[-1].split(".")[0]
    rows += read_export(path, default_config(source)).rows
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(code: str, files: list[Path]) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, files)], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    out = ROOT / "build" / "bench" / f"rows{args.rows}-seed{args.seed}"
    files = [out / f"{s}.csv" for s in ("crm", "hr", "recruitment")]
    if not all(f.exists() for f in files):
        t = time.perf_counter()
        print(f"generating sample exports into {out} ...", flush=True)
        # In a child process: on Linux a child's peak RSS starts from its parent's.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "governance.cli",
                "sample-data",
                "--out",
                str(out),
                "--rows",
                str(args.rows),
                "--seed",
                str(args.seed),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"  generated in {time.perf_counter() - t:.1f} s", flush=True)
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    raw = measure(RAW, files)
    read = measure(READ, files)
    print(f"files: {size_mb:,.0f} MB, {int(raw['rows']):,} rows")
    print(f"{'step':<26}{'wall s':>8}{'peak MB':>10}{'x floor':>9}")
    for name, r in (("pyarrow raw read (floor)", raw), ("read + map + normalise", read)):
        ratio = r["seconds"] / raw["seconds"]
        print(f"{name:<26}{r['seconds']:>8.2f}{r['peak_mb']:>10,.0f}{ratio:>9.1f}")


if __name__ == "__main__":
    main()
