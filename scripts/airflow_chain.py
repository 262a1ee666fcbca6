"""Run the governance DAGs through Airflow itself (`dag.test()`), on a throwaway
AIRFLOW_HOME with SQLite: ingestion of every source, the retention evaluation, the monthly
report, and optionally the ad hoc review with its parameters. Prints where the outputs are.

Usage: python scripts/airflow_chain.py [--home DIR] [--as-of YYYY-MM-DD] [--landing DIR]
                                       [--adhoc REQUESTER REASON]
Exit 0 when every DAG run succeeded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=ROOT / "build" / "airflow-demo")
    parser.add_argument("--as-of", default="2026-11-30")
    parser.add_argument("--landing", type=Path, help="folder with crm.csv, hr.csv, ...")
    parser.add_argument("--adhoc", nargs=2, metavar=("REQUESTER", "REASON"))
    args = parser.parse_args()

    home = args.home.resolve()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get(
            "AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"
        ),
        "GOVERNANCE_HOME": str(home / "governance_home"),
        "GOVERNANCE_OUTPUT_DIR": str(home / "outputs"),
        "GX_ANALYTICS_ENABLED": "false",
    }
    if args.landing:
        env["GOVERNANCE_LANDING_DIR"] = str(args.landing.resolve())
    os.environ.update(env)
    print(f"airflow home: {home} (SQLite)", flush=True)
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    import pendulum
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        print(f"DAG import errors: {sorted(bag.import_errors)}", file=sys.stderr)
        return 1
    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]
    sync_bag_to_db(bag, bundle_name="dags-folder", bundle_version=None)

    day = date.fromisoformat(args.as_of)
    when = pendulum.datetime(day.year, day.month, day.day, 6, tz="Europe/London")
    ok = True
    ingest_ids = sorted(d for d in bag.dag_ids if d.startswith("governance_ingest_"))
    for dag_id in ingest_ids:
        run = bag.get_dag(dag_id).test(logical_date=when)
        print(f"{dag_id}: {run.state}", flush=True)
        ok &= str(run.state) == "success"
    if not ok:
        print("an export was blocked at ingestion: no retention evaluation", flush=True)
        return 1
    run = bag.get_dag("governance_retention").test(logical_date=when)
    print(f"governance_retention: {run.state}", flush=True)
    ok &= str(run.state) == "success"
    # The monthly report, for the month of the run just made.
    month = f"{day:%Y-%m}"
    run = bag.get_dag("governance_monthly_report").test(
        logical_date=when, run_conf={"month": month}
    )
    print(f"governance_monthly_report: {run.state}", flush=True)
    ok &= str(run.state) == "success"
    if args.adhoc:
        conf = {
            "as_of": args.as_of,
            "requested_by": args.adhoc[0],
            "reason": args.adhoc[1],
            "dry_run": True,
        }
        run = bag.get_dag("governance_adhoc_review").test(logical_date=None, run_conf=conf)
        print(f"governance_adhoc_review: {run.state}", flush=True)
        ok &= str(run.state) == "success"
    outputs = home / "outputs"
    print(f"scheduled outputs: {outputs / 'scheduled' / args.as_of}")
    print(f"monthly report:    {outputs / 'monthly' / month / f'governance_report_{month}.html'}")
    if args.adhoc:
        print(f"ad hoc outputs:    {outputs / 'adhoc'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
