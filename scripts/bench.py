"""Benchmark `governance run` against pyarrow's raw read of the same files (the floor).

Generates 1,000,000 CRM, 200,000 HR and 300,000 recruitment rows once (cached under
build/bench/), then runs, each in a fresh process so its peak memory is its own:
  - floor: pyarrow.csv.read_csv of the three files (best of three);
  - read:  the readers alone (parse, map, normalise into canonical records);
  - run:   the whole `governance run` (read, evaluate, validate, write every output);
and reports the data-quality validation's share of the run (timed inside a separate
process that reads, decides and validates the same files).

Then the scale runs: a CRM export of 1,000,000 and of 10,000,000 rows decided in parts of
500,000 rows (`governance run --partition-rows`), with rows per second and peak memory,
and the same export decided in one pass, whose decisions must be the same bytes.
Usage: python scripts/bench.py [--rows N] [--seed S] [--as-of YYYY-MM-DD]
                               [--scale 1000000,10000000] [--no-single-pass]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 5.0
TARGET_PEAK_MB = 3 * 1024
SCALE_PEAK_MB = 4 * 1024
PART_ROWS = 500_000

FLOOR = """
import sys
import pyarrow.csv as pacsv
opts = pacsv.ParseOptions(newlines_in_values=True)
print(sum(pacsv.read_csv(p, parse_options=opts).num_rows for p in sys.argv[1:]))
"""

READ = """
import sys
from governance.sources.config import default_config
from governance.sources.reader import read_export
print(sum(read_export(p, default_config(p.rsplit("/", 1)[-1].split(".")[0])).rows
          for p in sys.argv[1:]))
"""


VALIDATE = """
import sys, time
from datetime import date
from governance.policy.engine import evaluate
from governance.policy.model import load_policy
from governance.quality.config import load_quality_config
from governance.quality.expectations import validate_export, warm_up
from governance.sources.config import default_config
from governance.sources.reader import read_export
t = time.perf_counter()
warm_up()
imported = time.perf_counter() - t
policy, config, total = load_policy().policy, load_quality_config(), 0.0
for p in sys.argv[2:]:
    source = p.rsplit("/", 1)[-1].split(".")[0]
    export = read_export(p, default_config(source))
    ev = evaluate(export.frame, source, policy, date.fromisoformat(sys.argv[1]))
    t = time.perf_counter()
    validate_export(ev, export.frame, config)
    total += time.perf_counter() - t
print(f"{imported:.3f} {total:.3f}")
"""


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise SystemExit(f"benchmark step failed: {' '.join(argv[:4])} ...")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2026-11-30")
    parser.add_argument("--scale", default="1000000,10000000", help="CRM rows, comma-separated")
    parser.add_argument("--no-single-pass", action="store_true", help="skip the comparison")
    args = parser.parse_args()

    headline(args)
    for rows in (int(r) for r in args.scale.split(",") if r):
        scale(rows, args)


def exports(rows: int, seed: int, as_of: str) -> list[Path]:
    """The sample exports of `rows` CRM rows, generated once and cached under build/bench/."""
    data = ROOT / "build" / "bench" / f"rows{rows}-seed{seed}"
    files = [data / f"{s}.csv" for s in ("crm", "hr", "recruitment")]
    if not all(f.exists() for f in files):
        print(f"generating sample exports into {data} (cached for later runs) ...", flush=True)
        seconds, _ = measure(
            [
                sys.executable,
                "-m",
                "governance.cli",
                "sample-data",
                "--out",
                str(data),
                "--rows",
                str(rows),
                "--seed",
                str(seed),
                "--as-of",
                as_of,
            ]
        )
        print(f"  generated in {seconds:.1f} s", flush=True)
    return files


def run_crm(crm: Path, out: Path, as_of: str, *extra: str) -> tuple[float, float]:
    """`governance run` of one CRM export into `out`, on a fresh store."""
    shutil.rmtree(out, ignore_errors=True)
    home = out.with_name(out.name + "-home")
    shutil.rmtree(home, ignore_errors=True)
    os.environ["GOVERNANCE_HOME"] = str(home)
    argv = [sys.executable, "-m", "governance.cli", "run", "--crm", str(crm)]
    return measure([*argv, "--as-of", as_of, "--out", str(out), *extra])


def scale(rows: int, args: argparse.Namespace) -> None:
    crm = exports(rows, args.seed, args.as_of)[0]
    base = ROOT / "build" / "bench"
    parts_out = base / f"scale-{rows}-parts"
    seconds, peak = run_crm(crm, parts_out, args.as_of, "--partition-rows", str(PART_ROWS))
    verdict = "within" if peak <= SCALE_PEAK_MB else "OUTSIDE"
    print(
        f"CRM {rows:,} rows in parts of {PART_ROWS:,}: {seconds:.1f} s, "
        f"{rows / seconds:,.0f} rows/s, peak {peak:,.0f} MB "
        f"(target <= {SCALE_PEAK_MB:,} MB: {verdict})",
        flush=True,
    )
    if args.no_single_pass:
        return
    single_out = base / f"scale-{rows}-single"
    seconds, peak = run_crm(crm, single_out, args.as_of)
    same = all(
        (parts_out / name).read_bytes() == (single_out / name).read_bytes()
        for name in ("decisions.csv", "deletion_manifest.csv", "review_queue.csv")
    )
    print(
        f"CRM {rows:,} rows in one pass:      {seconds:.1f} s, "
        f"{rows / seconds:,.0f} rows/s, peak {peak:,.0f} MB; decisions, manifest and "
        f"review queue {'identical' if same else 'DIFFERENT'}",
        flush=True,
    )
    shutil.rmtree(single_out, ignore_errors=True)
    shutil.rmtree(parts_out, ignore_errors=True)


def headline(args: argparse.Namespace) -> None:
    files = exports(args.rows, args.seed, args.as_of)
    out = ROOT / "build" / "bench" / "run-output"
    shutil.rmtree(out, ignore_errors=True)
    # A fresh governance store each time, so the run is recorded as a new one.
    home = ROOT / "build" / "bench" / "governance-home"
    shutil.rmtree(home, ignore_errors=True)
    os.environ["GOVERNANCE_HOME"] = str(home)
    paths = [str(f) for f in files]
    floor = min(
        (measure([sys.executable, "-c", FLOOR, *paths]) for _ in range(3)), key=lambda m: m[0]
    )
    read = measure([sys.executable, "-c", READ, *paths])
    run = measure(
        [
            sys.executable,
            "-m",
            "governance.cli",
            "run",
            "--crm",
            paths[0],
            "--hr",
            paths[1],
            "--recruitment",
            paths[2],
            "--as-of",
            args.as_of,
            "--out",
            str(out),
        ]
    )
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    with open(out / "decisions.csv", "rb") as fh:
        decisions = sum(1 for _ in fh) - 1
    print(
        f"inputs: {size_mb:,.0f} MB; crm {args.rows:,}, hr {args.rows // 5:,}, "
        f"recruitment {args.rows * 3 // 10:,} rows; {decisions:,} decisions written"
    )
    print(f"{'step':<34}{'wall s':>8}{'peak MB':>10}{'x floor':>9}")
    for name, (seconds, peak) in (
        ("pyarrow read (floor)", floor),
        ("read + normalise", read),
        ("governance run (everything)", run),
    ):
        print(f"{name:<34}{seconds:>8.2f}{peak:>10,.0f}{seconds / floor[0]:>9.1f}")
    timing = subprocess.run(
        [sys.executable, "-c", VALIDATE, args.as_of, *paths],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    gx_import, gx_run = float(timing[0]), float(timing[1])
    print(
        f"data-quality validation: {gx_import:.2f} s importing Great Expectations + "
        f"{gx_run:.2f} s running the suites = {(gx_import + gx_run) / run[0]:.0%} of the run"
    )
    ratio, peak = run[0] / floor[0], run[1]
    verdict = "within" if ratio <= TARGET_RATIO and peak <= TARGET_PEAK_MB else "OUTSIDE"
    print(
        f"target: run <= {TARGET_RATIO:.0f}x floor and <= {TARGET_PEAK_MB:,} MB peak: "
        f"{verdict} ({ratio:.1f}x, {peak:,.0f} MB)"
    )


if __name__ == "__main__":
    main()
