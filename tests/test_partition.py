"""Partitioned processing gives exactly the outputs of a single pass: the same decisions,
manifest, queues, quarantine list and audit figures, whatever the number of parts."""

from __future__ import annotations

import json
import os
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from governance.partition import group_keys, run_partitioned, split_export
from governance.pipeline import resolve_sources
from governance.policy.model import load_policy
from governance.run import run_retention
from governance.sample_data import write_sample_exports
from governance.sources.reader import LARGE_CSV_BYTES, read_raw
from tests.engine_helpers import write_export

AS_OF = date(2026, 11, 30)
OUTPUTS = (
    "decisions.csv",
    "deletion_manifest.csv",
    "deletion_manifest.csv.sha256",
    "review_queue.csv",
    "consent_actions.csv",
    "quarantine.csv",
    "data_quality.html",
)


def audit(folder: Path) -> dict[str, Any]:
    doc = json.loads((folder / "audit_report.json").read_text())
    for key in ("started_at", "finished_at"):
        doc.pop(key)
    return doc  # type: ignore[no-any-return]


def assert_same_run(single: Path, parts: Path) -> None:
    for name in OUTPUTS:
        assert (single / name).read_bytes() == (parts / name).read_bytes(), name
    assert audit(single) == audit(parts)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_sample_exports(tmp_path_factory.mktemp("exports"), rows=2000, seed=12)


@pytest.mark.parametrize(
    ("parts", "stream_from"), [(1, LARGE_CSV_BYTES), (3, LARGE_CSV_BYTES), (8, 0), (3, 0)]
)
def test_parts_give_the_single_pass_outputs(
    exports: dict[str, Path], tmp_path: Path, parts: int, stream_from: int
) -> None:
    """Whether the export is read whole or streamed (large files are: here every file)."""
    plans = resolve_sources(files=exports, configs={})
    policy = load_policy()
    one = run_retention(
        plans, policy, AS_OF, tmp_path / "single", db_url=f"sqlite:///{tmp_path}/a.db"
    )
    many = run_partitioned(
        plans,
        policy,
        AS_OF,
        tmp_path / "parts",
        tmp_path / "work",
        partitions=parts,
        db_url=f"sqlite:///{tmp_path}/b.db",
        stream_from=stream_from,
    )
    assert many.run_id == one.run_id and many.manifest_rows == one.manifest_rows > 0
    assert_same_run(tmp_path / "single", tmp_path / "parts")
    # The parts held the exports' rows: nothing of them is left behind.
    assert not (tmp_path / "work").exists()


def test_blocked_and_unreadable_exports_too(tmp_path: Path) -> None:
    """The 300-row sample as of an early date blocks exports at the gate; a broken file
    cannot be read at all."""
    exports = write_sample_exports(tmp_path / "ex", rows=300, seed=3)
    exports["hr"].write_text("person_id,created_at\nH1,2020-01-01\n")
    plans = resolve_sources(files=exports, configs={})
    policy = load_policy()
    early = date(2026, 11, 2)
    one = run_retention(
        plans, policy, early, tmp_path / "single", db_url=f"sqlite:///{tmp_path}/a.db"
    )
    many = run_partitioned(
        plans,
        policy,
        early,
        tmp_path / "parts",
        tmp_path / "work",
        partitions=4,
        db_url=f"sqlite:///{tmp_path}/b.db",
    )
    assert {o.status for o in one.outcomes} == {"blocked"}
    assert [o.blocked_reason for o in many.outcomes] == [o.blocked_reason for o in one.outcomes]
    assert_same_run(tmp_path / "single", tmp_path / "parts")


RELATIVES = [
    {"person_id": "H1", "person_type": "employee"},
    {"person_id": "H2", "person_type": "relative", "related_person_id": "H1"},
    {"person_id": "H3", "person_type": "relative", "related_person_id": "H2"},  # a chain
    {"person_id": "H4", "person_type": "employee"},
    {"person_id": "H4", "person_type": "employee"},  # a duplicate id
    {"person_id": "", "person_type": "relative", "related_person_id": "H4"},  # no id
    {"person_id": "H7", "person_type": "relative", "related_person_id": "H99"},  # dangling
    {"person_id": "H8", "person_type": "employee"},
]


def test_linked_and_duplicated_records_share_a_part(tmp_path: Path) -> None:
    path = write_export(tmp_path, "hr", RELATIVES)
    plan = resolve_sources(files={"hr": path}, configs={})[0]
    raw, _ = read_raw(path, plan.config)
    keys = list(group_keys(raw, plan.config, load_policy().policy))
    assert keys[0] == keys[1] == keys[2]  # H1 <- H2 <- H3
    assert keys[3] == keys[4] == keys[5]  # H4 twice, and the blank id pointing at it
    assert len({keys[0], keys[3], keys[6], keys[7]}) == 4


def test_small_odd_export_in_many_parts(tmp_path: Path) -> None:
    path = write_export(tmp_path, "hr", RELATIVES * 3)
    plans = resolve_sources(files={"hr": path}, configs={})
    policy = load_policy()
    run_retention(plans, policy, AS_OF, tmp_path / "single", db_url=f"sqlite:///{tmp_path}/a.db")
    run_partitioned(
        plans,
        policy,
        AS_OF,
        tmp_path / "parts",
        tmp_path / "work",
        partitions=5,
        db_url=f"sqlite:///{tmp_path}/b.db",
    )
    assert_same_run(tmp_path / "single", tmp_path / "parts")


def test_parts_are_readable_by_the_owner_only(exports: dict[str, Path], tmp_path: Path) -> None:
    plan = resolve_sources(files={"crm": exports["crm"]}, configs={})[0]
    split = split_export(plan, load_policy().policy, tmp_path / "work", partitions=3)
    assert split.rows == 2000 and split.parts == [0, 1, 2]
    assert stat.S_IMODE(os.stat(tmp_path / "work").st_mode) == 0o700
    for part in (tmp_path / "work").iterdir():
        assert stat.S_IMODE(part.stat().st_mode) == 0o600, part.name


BROKEN = {
    "cut off": lambda text: text[:-25],
    "stray quote": lambda text: text.replace("\n", '\n"', 1),
    "a row too long": lambda text: text.replace("\n", ",extra\n", 40)[::1],
}


@pytest.mark.parametrize("damage", sorted(BROKEN))
def test_a_streamed_export_reports_problems_as_the_whole_file_reader(
    exports: dict[str, Path], tmp_path: Path, damage: str
) -> None:
    broken = tmp_path / "crm.csv"
    broken.write_text(BROKEN[damage](exports["crm"].read_text()))
    plan = resolve_sources(files={"crm": broken}, configs={})[0]
    policy = load_policy().policy
    whole = split_export(plan, policy, tmp_path / "w1", partitions=3)
    streamed = split_export(plan, policy, tmp_path / "w2", partitions=3, stream_from=0)
    assert whole.error is not None
    assert (streamed.error, streamed.sha256, streamed.parts) == (whole.error, whole.sha256, [])
