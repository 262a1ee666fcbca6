"""The Airflow UI in a real browser: Airflow standalone (`scripts/airflow_standalone.sh` on
a throwaway AIRFLOW_HOME and a free port) driven by Debian's Chromium through Playwright.

Log in, see the governance DAGs, trigger the ad hoc review through its form, wait for the
run to succeed, open the Governance page from the navigation and find the run there.
Screenshots of every step are kept in build/test-artifacts/browser/ (with Airflow's log).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "airflow_standalone.sh"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "build" / "test-artifacts" / "browser"
GOVERNANCE_DAGS = (
    "governance_adhoc_review",
    "governance_ingest_crm",
    "governance_ingest_hr",
    "governance_ingest_recruitment",
    "governance_retention",
)
REQUESTER = "Browser Test Requester"
REASON = "BROWSER-TEST-1"
START_TIMEOUT = 120  # s, until the API server, scheduler and DAG processor are healthy
RUN_TIMEOUT = 120  # s, from the trigger to a successful run
UI_TIMEOUT = 30_000  # ms, for any one element to show up


@dataclass
class Airflow:
    url: str
    home: Path
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response:
            health: dict[str, Any] = json.load(response)
    except (OSError, ValueError):
        return False
    parts = ("metadatabase", "scheduler", "dag_processor")
    return all(health.get(p, {}).get("status") == "healthy" for p in parts)


def stop(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """End Airflow standalone and everything it started: its process group (it runs in a
    session of its own) and any descendant that left the group; SIGKILL what lingers.
    Returns the processes still alive afterwards (none, or the test fails)."""
    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.NoSuchProcess:
        family = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(family, timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    return [p for p in family if _alive(p)]


def _alive(p: psutil.Process) -> bool:
    try:
        return bool(p.is_running() and p.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def standalone_airflow(home: Path, artifacts: Path) -> Iterator[Airflow]:
    """`scripts/airflow_standalone.sh` on `home` and a free port, until healthy; always
    stopped on the way out, whatever happened."""
    port = free_port()
    url = f"http://localhost:{port}"
    # Nothing of this process's Airflow or governance settings leaks in: the script sets
    # its own (home, landing area, outputs, store).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GOVERNANCE_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        }
    )
    log = artifacts / "airflow.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", str(SCRIPT)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Airflow(url, home, log, process)
    leftover: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not healthy(url):
            if process.poll() is not None:
                pytest.fail(f"Airflow exited ({process.returncode}):\n{server.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"Airflow not healthy after {START_TIMEOUT} s:\n{server.log_tail()}")
            time.sleep(1)
        yield server
    finally:
        leftover = stop(process)
    assert not leftover, f"Airflow processes survived the stop: {[p.pid for p in leftover]}"


@pytest.fixture
def artifacts() -> Path:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def test_trigger_the_adhoc_review_and_find_it_on_the_governance_page(
    tmp_path: Path, artifacts: Path
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: this test drives Debian's chromium package "
            "(`apt-get install chromium`; .ci/run installs it)",
            pytrace=False,
        )
    with standalone_airflow(tmp_path / "airflow", artifacts) as airflow:
        drive_the_ui(airflow, artifacts)


def drive_the_ui(airflow: Airflow, artifacts: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    dag = "governance_adhoc_review"
    run_id = f"browser-test-{uuid.uuid4().hex[:8]}"
    url = airflow.url

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.set_default_timeout(UI_TIMEOUT)
        page = context.new_page()
        try:
            # Log in (the simple auth manager's admin of the script).
            page.goto(f"{url}/")
            expect(page).to_have_url(re.compile(r"/auth/login"))
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill("admin")
            shot(page, "01-login")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{url}/")

            # The governance DAGs are listed (the DAG processor may still be at work).
            page.goto(f"{url}/dags")
            for dag_id in GOVERNANCE_DAGS:
                expect(page.get_by_role("link", name=dag_id, exact=True)).to_be_visible(
                    timeout=60_000
                )
            shot(page, "02-dags")

            # Trigger the ad hoc review through its form, with our own run id.
            page.get_by_role("link", name=dag, exact=True).click()
            page.wait_for_url(f"{url}/dags/{dag}**")
            page.get_by_role("button", name="Trigger").first.click()
            form = page.get_by_role("dialog")
            expect(form.get_by_text(f"Unpause {dag} on trigger")).to_be_visible()
            form.locator("#element_as_of").fill("2026-11-30")
            expect(form.locator("#element_sources")).to_have_value("crm\nhr\nrecruitment")
            form.locator("#element_requested_by").fill(REQUESTER)
            form.locator("#element_reason").fill(REASON)
            form.get_by_role("button", name="Advanced Options").click()
            form.locator("input[name=dagRunId]").fill(run_id)
            shot(page, "03-trigger-form")
            form.get_by_role("button", name="Trigger", exact=True).click()
            page.wait_for_url(f"{url}/dags/{dag}/runs/{run_id}**")

            # Wait for the run to succeed (its state through the API the UI itself uses).
            state = wait_for_run(page, url, dag, run_id, airflow)
            assert state == "success", f"run {run_id} ended {state}:\n{airflow.log_tail()}"
            page.reload()
            expect(page.get_by_text("Success").first).to_be_visible()
            shot(page, "04-run-succeeded")
            conf = run_conf(page, url, dag, run_id)
            assert conf["as_of"] == "2026-11-30" and conf["requested_by"] == REQUESTER

            # The run's outputs name the governance run it recorded.
            audit_file = airflow.home / "governance" / "adhoc" / run_id / "audit_report.json"
            audit = json.loads(audit_file.read_text())
            assert audit["trigger"]["airflow_run_id"] == run_id
            governance_run = audit["run_id"]

            # The Governance page, from the navigation, shows that run.
            page.get_by_role("link", name="Governance").first.click()
            page.wait_for_url(f"{url}/plugin/governance**")
            frame = page.frame_locator("iframe[title=Governance]")
            row = frame.locator(f'tr[data-run-id="{governance_run}"]')
            expect(row).to_be_visible()
            expect(row).to_contain_text("ad hoc")
            expect(row).to_contain_text("dry run")
            expect(row).to_contain_text(f"adhoc/{run_id}")
            expect(row).to_contain_text("2026-11-30")
            page_text = frame.locator("body").inner_text()
            assert REQUESTER not in page_text and REASON not in page_text
            shot(page, "05-governance-page")

            # Its audit report opens from there, through the same login.
            row.get_by_role("link", name="audit report").click()
            expect(frame.get_by_role("heading", name="Retention run audit report")).to_be_visible()
            expect(frame.locator("body")).to_contain_text(governance_run)
            shot(page, "06-audit-report")
        except Exception:
            with contextlib.suppress(Exception):
                shot(page, "failure")
            raise
        finally:
            context.close()

        # Without a login: the page sends the browser to Airflow's login, files are refused.
        anonymous = browser.new_context()
        try:
            stranger = anonymous.new_page()
            stranger.goto(f"{url}/governance/")
            expect(stranger).to_have_url(re.compile(r"/auth/login"))
            manifest = f"{url}/governance/runs/{governance_run}/deletion_manifest.csv"
            assert anonymous.request.get(manifest).status == 401
        finally:
            anonymous.close()
            browser.close()


def wait_for_run(page: Any, url: str, dag: str, run_id: str, airflow: Airflow) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT
    state = "unknown"
    while time.monotonic() < deadline:
        response = page.request.get(f"{url}/api/v2/dags/{dag}/dagRuns/{run_id}")
        if response.ok:
            state = response.json()["state"]
            if state in ("success", "failed"):
                return str(state)
        time.sleep(2)
    pytest.fail(f"run {run_id} still {state} after {RUN_TIMEOUT} s:\n{airflow.log_tail()}")


def run_conf(page: Any, url: str, dag: str, run_id: str) -> dict[str, Any]:
    response = page.request.get(f"{url}/api/v2/dags/{dag}/dagRuns/{run_id}")
    conf: dict[str, Any] = response.json()["conf"]
    return conf
