"""The Governance page's queries (`governance.store.overview`) and its app
(`governance.ui.app`), without Airflow: a store with three runs recorded by
`run_retention` (an accepted run, a later one with a blocked HR export and overdue
deletions, an ad hoc dry run), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, insert

from governance.pipeline import resolve_sources
from governance.policy.model import load_policy
from governance.run import run_retention
from governance.sample_data import write_sample_exports
from governance.sources.schema import schema
from governance.store.db import engine_for
from governance.store.models import ReviewDecision
from governance.store.overview import (
    RUN_FILES,
    latest_runs,
    monthly_report,
    monthly_reports,
    open_reviews,
    overview,
    run_file,
)
from governance.store.recorder import record_run
from governance.ui.app import create_app

ROOT = Path(__file__).resolve().parents[1]
REQUESTER = "Jane Doe-Smith"
REASON = "asked by jane.doe@example.org"


@dataclass
class Scenario:
    url: str
    engine: Engine
    exports: dict[str, Path]
    output_root: Path
    accepted: str
    """Run A, 2026-11-30: every export accepted."""
    blocked: str
    """Run B, 2027-01-05: HR blocked; A's deletions of CRM and recruitment now overdue."""
    dry: str
    """Run C, 2027-01-06: an ad hoc dry run."""
    folders: dict[str, Path]


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def clock(moment: str) -> Callable[[], datetime]:
    return lambda: datetime.fromisoformat(moment).replace(tzinfo=UTC)


def build_scenario(url: str, root: Path) -> Scenario:
    exports = write_sample_exports(root / "exports", rows=300, seed=6)
    broken = dict(exports)
    broken["hr"] = root / "hr_broken.csv"
    broken["hr"].write_text("person_id,created_at\nH1,2020-01-01\n", encoding="utf-8")
    policy = load_policy()
    out = root / "outputs"
    runs = []
    for name, files, as_of, trigger, finished in (
        ("A", exports, date(2026, 11, 30), {"kind": "scheduled"}, "2026-12-01T02:00:00"),
        ("B", broken, date(2027, 1, 5), {"kind": "scheduled"}, "2027-01-06T02:00:00"),
        (
            "C",
            exports,
            date(2027, 1, 6),
            {"kind": "ad hoc", "requested_by": REQUESTER, "reason": REASON, "dry_run": True},
            "2027-01-06T09:30:00",
        ),
    ):
        result = run_retention(
            resolve_sources(files=files, configs={}),
            policy,
            as_of,
            out / name,
            clock=clock(finished),
            trigger=trigger,
            db_url=url,
        )
        runs.append(result.run_id)
    monthly = out / "monthly"
    (monthly / "2026-12").mkdir(parents=True)
    (monthly / "2026-12" / "governance_report_2026-12.html").write_text("<p>December</p>")
    (monthly / "2027-01").mkdir()
    (monthly / "2027-01" / "governance_report_2027-01.html").write_text("<p>January</p>")
    (monthly / "2027-13").mkdir()  # not a month
    (monthly / "2027-13" / "governance_report_2027-13.html").write_text("no")
    (monthly / "2027-02").mkdir()  # no report in it yet
    return Scenario(
        url=url,
        engine=engine_for(url),
        exports=exports,
        output_root=out,
        accepted=runs[0],
        blocked=runs[1],
        dry=runs[2],
        folders={runs[0]: out / "A", runs[1]: out / "B", runs[2]: out / "C"},
    )


@pytest.fixture(scope="module")
def sqlite_scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("overview")
    return build_scenario(f"sqlite:///{root / 'governance.db'}", root)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_scenario")
        return
    from uuid import uuid4

    from sqlalchemy import create_engine

    base = request.getfixturevalue("pg_server")
    name = f"overview_{uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    built = build_scenario(f"{base.rsplit('/', 1)[0]}/{name}", tmp_path_factory.mktemp("pg"))
    yield built
    built.engine.dispose()


# --- the queries ---------------------------------------------------------------------


def test_latest_runs_newest_first_with_their_kind_and_files(scenario: Scenario) -> None:
    ov = overview(scenario.engine, scenario.output_root)
    assert [r.run_id for r in ov.runs] == [scenario.dry, scenario.blocked, scenario.accepted]
    dry, blocked, accepted = ov.runs
    assert (dry.trigger_kind, dry.dry_run, dry.as_of) == ("ad hoc", True, date(2027, 1, 6))
    assert (blocked.status, blocked.dry_run) == ("blocked", False)
    assert (accepted.status, accepted.trigger_kind) == ("ok", "scheduled")
    manifest = csv_rows(scenario.folders[scenario.accepted] / "deletion_manifest.csv")
    assert accepted.manifest_rows == len(manifest) > 0
    assert accepted.folder == "outputs/A"
    assert accepted.files == tuple(RUN_FILES)  # every known file, in the page's order
    with scenario.engine.connect() as conn:
        assert latest_runs(conn, limit=1)[0].run_id == scenario.dry


def test_a_missing_output_folder_lists_no_files(scenario: Scenario, tmp_path: Path) -> None:
    engine = engine_for(f"sqlite:///{tmp_path / 'other.db'}")
    audit = json.loads((scenario.folders[scenario.accepted] / "audit_report.json").read_text())
    record_run(engine, audit, None, tmp_path / "gone")
    (only,) = overview(engine).runs
    assert only.files == ()


def test_blocked_exports_say_which_and_why(scenario: Scenario) -> None:
    (blocked,) = overview(scenario.engine).blocked
    assert (blocked.run_id, blocked.source, blocked.as_of) == (
        scenario.blocked,
        "hr",
        date(2027, 1, 5),
    )
    assert "required column missing: 'person_type'" in blocked.reason


def test_current_run_per_source_skips_blocked_exports_and_dry_runs(scenario: Scenario) -> None:
    current = {c.source: c.run_id for c in overview(scenario.engine).current}
    assert current == {
        "crm": scenario.blocked,  # its CRM export was accepted
        "hr": scenario.accepted,  # B's HR export was blocked, C is a dry run
        "recruitment": scenario.blocked,
    }


def test_reviews_due_are_the_current_queue_less_decided_items(scenario: Scenario) -> None:
    queue = csv_rows(scenario.folders[scenario.blocked] / "review_queue.csv")
    crm = [r for r in queue if r["source_system"] == "crm"]
    assert len(crm) > 5
    with scenario.engine.connect() as conn:
        reviews = open_reviews(conn, cap=5)
    assert reviews.open_by_source == {"crm": len(crm)}
    assert reviews.done == 0
    assert len(reviews.items) == 5
    earliest = sorted(crm, key=lambda r: (r["due_date"], r["source_record_id"]))[:5]
    assert [i.record_id for i in reviews.items] == [r["source_record_id"] for r in earliest]
    assert {i.run_id for i in reviews.items} == {scenario.blocked}

    first = reviews.items[0]
    decision = {
        "source": first.source,
        "record_id": first.record_id,
        "rule_id": first.rule_id,
        "due_date": first.due_date,
        "decision": "keep",
        "reviewer": "reviewer-1",
        "reason": "still a customer",
        "decided_on": date(2027, 1, 7),
        "decided_at": "2027-01-07T10:00:00+00:00",
        "run_id": scenario.blocked,
    }
    # A decision on the same record and rule for another cycle does not close this one.
    other_cycle = {**decision, "due_date": date(2010, 1, 1)}
    try:
        with scenario.engine.begin() as conn:
            conn.execute(insert(ReviewDecision), [decision, other_cycle])
        with scenario.engine.connect() as conn:
            after = open_reviews(conn, cap=5)
        assert after.open_by_source == {"crm": len(crm) - 1}
        assert after.done_by_source == {"crm": 1}
        assert first.record_id not in [i.record_id for i in after.items]
    finally:
        with scenario.engine.begin() as conn:
            conn.execute(delete(ReviewDecision))


def test_consent_actions_are_counted_from_the_current_runs(scenario: Scenario) -> None:
    rows = csv_rows(scenario.folders[scenario.blocked] / "consent_actions.csv")
    expected = Counter((r["source_system"], r["decision"]) for r in rows)
    assert sum(expected.values()) > 0
    consent = overview(scenario.engine).consent
    assert {(s, a): n for s, counts in consent.items() for a, n in counts.items() if n} == dict(
        expected
    )
    for counts in consent.values():
        assert set(counts) == {"renew_consent", "consent_expired"}


def test_overdue_deletions_are_the_accepted_runs_manifest_still_present(
    scenario: Scenario,
) -> None:
    manifest = csv_rows(scenario.folders[scenario.accepted] / "deletion_manifest.csv")
    expected = Counter(m["source_system"] for m in manifest if m["source_system"] != "hr")
    overdue = overview(scenario.engine, cap=7).overdue
    assert overdue.by_source == dict(sorted(expected.items()))  # HR's export was blocked
    assert overdue.total == sum(expected.values())
    assert len(overdue.items) == 7
    assert [d.due_date for d in overdue.items] == sorted(d.due_date for d in overdue.items)
    assert {d.manifest_run_id for d in overdue.items} == {scenario.accepted}
    assert {d.seen_on for d in overdue.items} == {date(2027, 1, 5)}


def test_monthly_reports_only_real_months_with_a_report(sqlite_scenario: Scenario) -> None:
    root = sqlite_scenario.output_root
    assert [m.month for m in monthly_reports(root)] == ["2027-01", "2026-12"]
    assert (
        monthly_report(root, "2026-12")
        == (root / "monthly" / "2026-12" / "governance_report_2026-12.html").resolve()
    )
    for month in ("2027-13", "2027-02", "2026-1", "../2026-12", "2026-12/..", ""):
        assert monthly_report(root, month) is None, month
    assert monthly_reports(root / "nowhere") == []


def test_run_files_only_known_names_of_recorded_runs(sqlite_scenario: Scenario) -> None:
    s = sqlite_scenario
    folder = s.folders[s.accepted]
    for name in RUN_FILES:
        assert run_file(s.engine, s.accepted, name) == (folder / name).resolve()
    assert (folder / "decisions.csv").is_file()
    for name in (
        "decisions.csv",  # in the folder, but not a file the page serves
        "quarantine.csv",
        "../B/deletion_manifest.csv",
        "..",
        "",
        str(folder / "deletion_manifest.csv"),
    ):
        assert run_file(s.engine, s.accepted, name) is None, name
    assert run_file(s.engine, "20261130-000000000000", "deletion_manifest.csv") is None
    assert run_file(s.engine, "' OR '1'='1", "deletion_manifest.csv") is None


def test_a_file_linked_out_of_its_folder_is_not_served(
    sqlite_scenario: Scenario, tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("not for the page\n")
    (folder / "deletion_manifest.csv").symlink_to(secret)
    (folder / "review_queue.csv").mkdir()  # not a file either
    (folder / "audit_report.html").write_text("<p>ok</p>")
    engine = engine_for(f"sqlite:///{tmp_path / 'other.db'}")
    audit = json.loads(
        (sqlite_scenario.folders[sqlite_scenario.accepted] / "audit_report.json").read_text()
    )
    record_run(engine, audit, None, folder)
    run_id = audit["run_id"]
    assert run_file(engine, run_id, "deletion_manifest.csv") is None
    assert run_file(engine, run_id, "review_queue.csv") is None
    assert run_file(engine, run_id, "audit_report.html") == (folder / "audit_report.html")
    assert overview(engine).runs[0].files == ("audit_report.html",)


# --- the app ---------------------------------------------------------------------------


def allow() -> None:
    """Stands in for the Airflow login in these tests."""


def deny() -> None:
    raise HTTPException(401, "Not authenticated")


def client_for(s: Scenario, authorize: Callable[..., Any], cap: int = 50) -> TestClient:
    app = create_app(authorize, store_url=lambda: s.url, output_root=lambda: s.output_root, cap=cap)
    return TestClient(app)


@pytest.fixture(scope="module")
def client(sqlite_scenario: Scenario) -> TestClient:
    return client_for(sqlite_scenario, allow, cap=10)


def personal_values(exports: dict[str, Path]) -> set[str]:
    """Names, e-mail addresses and phone numbers of the exports (as written in them)."""
    values: set[str] = set()
    for source, path in exports.items():
        fields = [f.name for f in schema(source) if f.personal]
        for row in csv_rows(path):
            first, last = row.get("first_name", ""), row.get("last_name", "")
            if first and last:
                values.add(f"{first} {last}")
            for name in fields:
                value = row.get(name, "").strip()
                if name != "first_name" and len(value) >= 5:
                    values.add(value)
    return values


def test_page_shows_runs_blocked_exports_reviews_consent_overdue_and_reports(
    client: TestClient, sqlite_scenario: Scenario
) -> None:
    s = sqlite_scenario
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    for run_id in (s.accepted, s.blocked, s.dry):
        assert f'data-run-id="{run_id}"' in page
    assert page.index(s.dry) < page.index(s.blocked)
    assert "dry run" in page and "outputs/C" in page
    assert "required column missing: &#39;person_type&#39;" in page
    ov = overview(s.engine)
    assert f'<div class="v warn">{ov.reviews.open:,}</div><div class="k">reviews open' in page
    assert f'<div class="v bad">{ov.overdue.total:,}</div><div class="k">overdue' in page
    assert f"The first 10 of {ov.overdue.total:,}" in page
    assert f'href="runs/{s.accepted}/deletion_manifest.csv" download' in page
    assert f'href="runs/{s.accepted}/audit_report.html">audit report<' in page
    assert 'href="monthly/2027-01"' in page and 'href="monthly/2026-12"' in page
    assert "2027-13" not in page
    # Nothing on the page points outside it.
    assert not re.search(r"""(?:href|src)=["'](?:https?:)?//""", page)
    assert "<script" not in page


def test_page_shows_no_personal_data(client: TestClient, sqlite_scenario: Scenario) -> None:
    page = html.unescape(client.get("/").text)
    values = personal_values(sqlite_scenario.exports)
    assert len(values) > 500
    leaked = sorted(v for v in values if v in page)
    assert not leaked, f"{len(leaked)} personal values on the page"
    assert REQUESTER not in page and REASON not in page
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w", page)  # no e-mail address at all


def test_downloads_serve_the_runs_files(client: TestClient, sqlite_scenario: Scenario) -> None:
    s = sqlite_scenario
    folder = s.folders[s.accepted]
    manifest = client.get(f"/runs/{s.accepted}/deletion_manifest.csv")
    assert manifest.status_code == 200
    assert manifest.content == (folder / "deletion_manifest.csv").read_bytes()
    assert manifest.headers["content-type"].startswith("text/csv")
    assert manifest.headers["content-disposition"].startswith("attachment")
    report = client.get(f"/runs/{s.accepted}/audit_report.html")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert "content-disposition" not in report.headers  # shown, not downloaded
    assert report.content == (folder / "audit_report.html").read_bytes()
    checksum = client.get(f"/runs/{s.accepted}/deletion_manifest.csv.sha256")
    assert checksum.text.endswith("  deletion_manifest.csv\n")
    monthly = client.get("/monthly/2027-01")
    assert (monthly.status_code, monthly.text) == (200, "<p>January</p>")


@pytest.mark.parametrize(
    "path",
    [
        "/runs/{run}/decisions.csv",
        "/runs/{run}/quarantine.csv",
        "/runs/{run}/..%2Fdecisions.csv",
        "/runs/{run}/..%2F..%2FB%2Fdeletion_manifest.csv",
        "/runs/{run}/%2e%2e%2f%2e%2e%2fhr_broken.csv",
        "/runs/{run}/%2Fetc%2Fpasswd",
        "/runs/..%2F{run}/deletion_manifest.csv",
        "/runs/20261130-000000000000/deletion_manifest.csv",
        "/monthly/2027-13",
        "/monthly/2027-02",
        "/monthly/..%2F..%2Fexports%2Fcrm.csv",
        "/monthly/2027-01%2F..%2F..%2FA%2Fdecisions.csv",
    ],
)
def test_nothing_else_on_disk_is_served(
    client: TestClient, sqlite_scenario: Scenario, path: str
) -> None:
    response = client.get(path.format(run=sqlite_scenario.accepted))
    assert response.status_code == 404
    assert "crm" not in response.text and "person" not in response.text


def test_every_route_but_the_icon_needs_the_login(sqlite_scenario: Scenario) -> None:
    s = sqlite_scenario
    client = client_for(s, deny)
    for path in ("/", f"/runs/{s.accepted}/deletion_manifest.csv", "/monthly/2027-01"):
        assert client.get(path).status_code == 401, path
    assert client.get("/icon.svg").status_code == 200


def test_the_airflow_login_refuses_anonymous_callers(sqlite_scenario: Scenario) -> None:
    from governance.ui.auth import airflow_access

    s = sqlite_scenario
    client = client_for(s, airflow_access)
    response = client.get(
        f"/runs/{s.accepted}/deletion_manifest.csv", headers={"accept": "text/csv"}
    )
    assert response.status_code == 401
    assert client.get("/", headers={"accept": "application/json"}).status_code == 401


class FakeAuthManager:
    """Airflow's auth manager as `governance.ui.auth` uses it."""

    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self.asked: list[dict[str, Any]] = []

    def is_authorized_custom_view(self, **kwargs: Any) -> bool:
        self.asked.append(kwargs)
        return self.allowed

    def get_url_login(self, **kwargs: Any) -> str:
        return f"/auth/login?next={kwargs['next_url']}"


@pytest.mark.parametrize("allowed", [True, False])
def test_a_logged_in_user_needs_the_governance_view(
    sqlite_scenario: Scenario, monkeypatch: pytest.MonkeyPatch, allowed: bool
) -> None:
    import airflow.api_fastapi.app as airflow_app
    import airflow.api_fastapi.core_api.security as security

    from governance.ui.auth import airflow_access

    user = object()

    async def get_user(**_: Any) -> object:
        return user

    manager = FakeAuthManager(allowed)
    monkeypatch.setattr(security, "get_user", get_user)
    monkeypatch.setattr(airflow_app, "get_auth_manager", lambda: manager)
    s = sqlite_scenario
    client = client_for(s, airflow_access)
    response = client.get(f"/runs/{s.accepted}/deletion_manifest.csv")
    assert response.status_code == (200 if allowed else 403)
    assert manager.asked == [{"method": "GET", "resource_name": "Governance", "user": user}]


def test_an_anonymous_browser_is_sent_to_the_airflow_login(
    sqlite_scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow.api_fastapi.app as airflow_app

    from governance.ui.auth import airflow_access

    monkeypatch.setattr(airflow_app, "get_auth_manager", lambda: FakeAuthManager(True))
    s = sqlite_scenario
    client = client_for(s, airflow_access)
    response = client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?next=http://testserver/"


def test_an_unreachable_store_is_a_503_without_its_url(tmp_path: Path) -> None:
    url = "postgresql+psycopg://governance:s3cret@127.0.0.1:1/nowhere"
    client = TestClient(create_app(allow, store_url=lambda: url, output_root=lambda: tmp_path))
    response = client.get("/")
    assert response.status_code == 503
    assert "s3cret" not in response.text and "127.0.0.1" not in response.text


def test_the_plugin_registers_the_app_and_the_nav_entry_cheaply(tmp_path: Path) -> None:
    code = """
import json, sys
sys.path.insert(0, "plugins")
from airflow.plugins_manager import AirflowPlugin
heavy_before = {m for m in ("pandas", "pyarrow", "great_expectations") if m in sys.modules}
import governance_plugin
p = governance_plugin.GovernancePlugin
print(json.dumps({
    "heavy": sorted(m for m in ("pandas", "pyarrow", "great_expectations",
                                "airflow.api_fastapi.core_api.security") if m in sys.modules),
    "heavy_before": sorted(heavy_before),
    "apps": [{"url_prefix": a["url_prefix"], "type": type(a["app"]).__name__}
             for a in p.fastapi_apps],
    "views": p.external_views,
}))
"""
    env: dict[str, Any] = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["heavy"] == info["heavy_before"] == []
    assert info["apps"] == [{"url_prefix": "/governance", "type": "FastAPI"}]
    (view,) = info["views"]
    assert view["name"] == "Governance" and view["url_route"] == "governance"
    assert not view["href"].startswith("/")  # relative to the UI's base URL
