"""`governance report monthly`: the numbers in the page and its CSV tables are checked
against each run's own outputs (manifests, queues, audit reports), an independent path
from the store queries the report uses."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from governance.sample_data import write_sample_exports
from governance.store.db import engine_for
from governance.store.reviews import decide_review
from tests.conftest import governance, rows, write_rows


def run(exports: dict[str, Path], out: Path, as_of: str, db: str, *extra: str) -> dict[str, Any]:
    args = [f"--{s}={p}" for s, p in exports.items()]
    proc = governance("run", *args, "--as-of", as_of, "--out", str(out), "--db", db, *extra)
    assert proc.returncode in (0, 3), proc.stderr
    return json.loads((out / "audit_report.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """November: a run with every export blocked, a dry run, an accepted run, review
    decisions; December: a run on an export from which some deletions were carried out."""
    tmp = tmp_path_factory.mktemp("monthly")
    db = f"sqlite:///{tmp / 'store.db'}"
    exports = write_sample_exports(tmp / "exports", rows=300, seed=21)
    runs = {
        "early": run(exports, tmp / "early", "2026-11-02", db),
        "dry": run(exports, tmp / "dry", "2026-11-20", db, "--dry-run"),
        "last": run(exports, tmp / "last", "2026-11-30", db),
    }
    queue = rows(tmp / "last" / "review_queue.csv")
    engine = engine_for(db)
    moment = datetime(2026, 11, 30, 15, tzinfo=UTC)
    kept, deleted = queue[0]["source_record_id"], queue[1]["source_record_id"]
    decide_review(engine, kept, "keep", "dpo", "still a partner", now=moment)
    decide_review(engine, deleted, "delete", "dpo", "no longer needed", now=moment)
    manifest = rows(tmp / "last" / "deletion_manifest.csv")
    done = {m["source_record_id"] for m in manifest if m["source_system"] == "crm"}
    day2 = dict(exports)
    day2["crm"] = tmp / "crm_december.csv"
    write_rows(day2["crm"], [r for r in rows(exports["crm"]) if r["record_id"] not in done])
    runs["december"] = run(day2, tmp / "december", "2026-12-03", db)
    return {"db": db, "tmp": tmp, "runs": runs, "exports": exports, "done": done}


def report(store: dict[str, Any], month: str) -> tuple[Path, dict[str, list[dict[str, str]]]]:
    out = store["tmp"] / f"report-{month}"
    proc = governance("report", "monthly", "--month", month, "--out", str(out), "--db", store["db"])
    assert proc.returncode == 0, proc.stderr
    page = out / f"governance_report_{month}.html"
    assert str(page) in proc.stdout
    return page, {p.stem: rows(p) for p in out.glob("*.csv")}


def test_runs_and_decisions_match_the_runs_outputs(store: dict[str, Any]) -> None:
    _, t = report(store, "2026-11")
    r = store["runs"]
    assert [x["run_id"] for x in t["runs"]] == [r[k]["run_id"] for k in ("early", "dry", "last")]
    assert [x["status"] for x in t["runs"]] == [r[k]["status"] for k in ("early", "dry", "last")]
    assert [x["dry_run"] for x in t["runs"]] == ["False", "True", "False"]
    # Decisions by rule: those of the month's last run that is not a dry run.
    expected = Counter(
        (d["source_system"], d["rule_id"] or "(quarantine)", d["decision"])
        for d in rows(store["tmp"] / "last" / "decisions.csv")
    )
    got = Counter()
    for row in t["decisions_by_rule"]:
        for decision, n in row.items():
            if decision not in ("source", "rule_id") and int(n):
                got[(row["source"], row["rule_id"], decision)] = int(n)
    assert got == expected


def test_deletions_issued_confirmed_and_overdue(store: dict[str, Any]) -> None:
    _, nov = report(store, "2026-11")
    items = {
        (m["source_system"], m["source_record_id"], m["rule_id"])
        for key in ("early", "last")  # the dry run's manifest is not one to act on
        for m in rows(store["tmp"] / key / "deletion_manifest.csv")
    }
    issued = Counter(source for source, _, _ in items)
    assert {d["source"]: int(d["issued"]) for d in nov["deletions"]} == dict(issued)
    assert all(d["confirmed"] == "0" for d in nov["deletions"])
    _, dec = report(store, "2026-12")
    confirmed = {d["source"]: int(d["confirmed"]) for d in dec["deletions"]}
    assert confirmed["crm"] == len(store["done"]) > 0


def test_reviews_consent_quarantine_and_blocked(store: dict[str, Any]) -> None:
    _, t = report(store, "2026-11")
    last = store["tmp"] / "last"
    queue = rows(last / "review_queue.csv")
    (reviews,) = t["reviews"]
    assert (int(reviews["open"]), reviews["kept"], reviews["deleted"]) == (len(queue) - 2, "1", "1")
    consent = Counter(c["decision"] for c in rows(last / "consent_actions.csv"))
    (row,) = t["consent"]
    assert (int(row["renew_consent"]), int(row["consent_expired"])) == (
        consent["renew_consent"],
        consent["consent_expired"],
    )
    quarantine = Counter((q["source_system"], q["reason"]) for q in rows(last / "quarantine.csv"))
    assert {(q["source"], q["reason"]): int(q["records"]) for q in t["quarantine"]} == quarantine
    early = store["runs"]["early"]
    assert sorted(b["source"] for b in t["blocked_exports"]) == sorted(early["blocked_exports"])
    assert all(b["run_id"] == early["run_id"] for b in t["blocked_exports"])


def test_data_quality_trend_and_policy(store: dict[str, Any]) -> None:
    page, t = report(store, "2026-11")
    expected = [
        (r["as_of"], s, e["rows_read"], e["rows_quarantined"])
        for r in (store["runs"]["early"], store["runs"]["last"])
        for s, e in r["exports"].items()
    ]
    got = [
        (q["as_of"], q["source"], int(q["rows"]), int(q["quarantined"])) for q in t["data_quality"]
    ]
    assert got == expected
    (policy,) = t["policy_versions"]
    assert policy["policy_version"] == store["runs"]["last"]["policy"]["version"]
    assert policy["runs"] == "3"
    assert "Staff Handbook" in page.read_text()


def test_the_page_is_self_contained_printable_and_free_of_personal_data(
    store: dict[str, Any],
) -> None:
    page, _ = report(store, "2026-11")
    html = page.read_text()
    assert html.count("<svg") == 3
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert "@media print" in html
    people = rows(store["exports"]["crm"])[:50]
    everything = html + "".join(p.read_text() for p in page.parent.glob("*.csv"))
    for person in people:
        for column in ("email", "phone", "last_name"):
            value = person[column]
            if len(value) > 4:
                assert value not in everything


def test_the_same_store_gives_the_same_bytes(store: dict[str, Any]) -> None:
    first, _ = report(store, "2026-11")
    before = {p.name: p.read_bytes() for p in first.parent.iterdir()}
    again, _ = report(store, "2026-11")
    assert {p.name: p.read_bytes() for p in again.parent.iterdir()} == before


def test_a_month_without_runs_and_a_bad_month(store: dict[str, Any]) -> None:
    page, t = report(store, "2025-01")
    assert "No run that is not a dry run is recorded for 2025-01" in page.read_text()
    assert t["runs"] == [] and t["deletions"] == []
    proc = governance("report", "monthly", "--month", "2026-13", "--out", str(store["tmp"] / "x"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: month '2026-13' is not YYYY-MM"
    assert not (store["tmp"] / "x").exists()


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        (datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "2026-11"),
        (datetime(2027, 1, 1, 6, 0, tzinfo=UTC), "2026-12"),
        # 00:30 on 1 April in London is still 31 March in UTC: London's date decides.
        (datetime(2026, 3, 31, 23, 30, tzinfo=UTC), "2026-03"),
        (datetime(2026, 3, 1, 0, 30, tzinfo=UTC), "2026-02"),
    ],
)
def test_the_scheduled_report_covers_the_month_before_the_run(moment: datetime, month: str) -> None:
    from governance.orchestration import report_month

    assert report_month(moment) == month
