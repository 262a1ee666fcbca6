"""The DAG files import cleanly, cheaply, and follow the project's conventions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("airflow_home")
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}


def test_one_ingest_dag_per_source(dagbag) -> None:  # type: ignore[no-untyped-def]
    ids = set(dagbag.dag_ids)
    assert {"governance_ingest_crm", "governance_ingest_hr", "governance_ingest_recruitment"} <= ids


def test_dags_have_tags_docs_and_retries(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, dag_id
        assert dag.catchup is False, dag_id
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id}"


def test_dag_files_do_not_import_heavy_libraries_at_parse_time() -> None:
    heavy = (
        "pandas",
        "pyarrow",
        "great_expectations",
        "sqlalchemy",
        "matplotlib",
        "governance.sources",
        "governance.policy",
        "governance.quality",
        "governance.run",
    )
    # airflow.sdk itself may bring some of these in; only what the DAG files add counts.
    code = (
        "import sys, runpy, airflow.sdk, pendulum\n"
        f"before = {{m for m in {heavy!r} if m in sys.modules}}\n"
        f"for f in {sorted(str(p) for p in DAGS.glob('*.py'))!r}:\n"
        "    runpy.run_path(f)\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules and m not in before))\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert proc.stdout.strip().splitlines()[-1:] in ([], [""])


def test_dags_have_an_owner(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id, dag in dagbag.dags.items():
        assert {task.owner for task in dag.tasks} == {"data-governance"}, dag_id


@pytest.mark.parametrize("path", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_each_dag_file_parses_in_under_half_a_second(path: Path) -> None:
    code = (
        "import runpy, sys, time, airflow.sdk, pendulum\n"
        "t = time.perf_counter()\n"
        f"runpy.run_path({str(path)!r})\n"
        "print(time.perf_counter() - t)\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert float(proc.stdout.strip().splitlines()[-1]) < 0.5
