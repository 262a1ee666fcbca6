"""Config is strict: unknown keys, keys given twice and values of the wrong type in the
policy, the source configs, the mappings and quality.yaml are one line naming the file, the
key path and the reason. And the store's SQL binds every value it is given."""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, inspect, select

from governance.errors import ConfigError
from governance.policy.model import DEFAULT_POLICY, load_policy
from governance.quality.config import DEFAULT_QUALITY, load_quality_config
from governance.sources.config import CONFIG_DIR, load_source_config
from governance.store import db as store_db
from tests.conftest import csv_text, default_header, governance
from tests.engine_helpers import complete_rows


def error_line(load: Callable[[Path], object], path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load(path)
    text = str(info.value)
    assert text.startswith(str(path))
    assert "\n" not in text
    return text.removeprefix(str(path))


def test_every_shipped_config_loads() -> None:
    load_policy(DEFAULT_POLICY)
    load_quality_config(DEFAULT_QUALITY)
    shipped = sorted((CONFIG_DIR / "sources").glob("*.yaml"))
    shipped += sorted((CONFIG_DIR / "mappings").glob("*.yaml"))
    assert len(shipped) == 5
    for path in shipped:
        load_source_config(path)


# --- source configs and mappings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "source: crm\ndelimeter: ';'\n",
            ": delimeter: Extra inputs are not permitted (did you mean 'delimiter'?)",
        ),
        ("source: crm\nskip_rows: '2'\n", ": skip_rows: Input should be a valid integer, not text"),
        (
            "source: crm\nskip_rows: 2.0\n",
            ": skip_rows: Input should be a valid integer, not a number",
        ),
        (
            "source: crm\nrequire_final_line_break: 'no'\n",
            ": require_final_line_break: Input should be a valid boolean, not text",
        ),
        (
            "source: crm\nsheet: [Contacts]\n",
            ": sheet: Input should be text or an integer, not a list",
        ),
        (
            "source: crm\nsheet: -1\n",
            ": sheet: a sheet index counts from 0 (the first sheet); or name the sheet",
        ),
        (
            "source: crm\ndelimiter: 1\n",
            ": delimiter: Input should be a valid string, not an integer",
        ),
        (
            "source: crm\ncolumns: {email: 5}\n",
            ": columns.email: Input should be a valid string, not an integer",
        ),
        (
            "source: crm\ncolumns: [record_id]\n",
            ": columns: Input should be a valid dictionary, not a list",
        ),
        ("source: crm\nsource: hr\n", ", line 2: source: key given twice"),
        (
            "source: crm\nvalues:\n  relationship:\n    lead: prospect\n    lead: customer\n",
            ", line 5: values.relationship.lead: key given twice",
        ),
    ],
)
def test_source_configs_reject_unknown_keys_and_wrong_types(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text(text)
    assert error_line(load_source_config, path) == message


@pytest.mark.parametrize("preset", ["hubspot_contacts.yaml", "salesforce_contacts_report.yaml"])
def test_mappings_are_as_strict(tmp_path: Path, preset: str) -> None:
    original = yaml.safe_load((CONFIG_DIR / "mappings" / preset).read_text())
    path = tmp_path / preset
    path.write_text(yaml.safe_dump({**original, "colums": {}}))
    assert "colums: Extra inputs are not permitted (did you mean 'columns'?)" in error_line(
        load_source_config, path
    )
    path.write_text(yaml.safe_dump({**original, "constants": {"record_type": 1}}))
    assert error_line(load_source_config, path) == (
        ": constants.record_type: Input should be a valid string, not an integer"
    )


# --- the retention policy ------------------------------------------------------------------


def shipped_policy() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_POLICY.read_text())
    return data


def rule(data: dict[str, Any], rule_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in data["rules"] if r["id"] == rule_id)
    return found


def index_of(rule_id: str) -> int:
    return [r["id"] for r in shipped_policy()["rules"]].index(rule_id)


POLICY_CASES: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "period as text": (
        lambda d: rule(d, "CANDIDATE-6M")["period"].update(months="6"),
        f"rules.{index_of('CANDIDATE-6M')}.period.months: Input should be a valid integer, "
        "not text",
    ),
    "share as text": (
        lambda d: d["gate"].update(max_quarantined_share="5%"),
        "gate.max_quarantined_share: Input should be a valid number, not text",
    ),
    "yes as text": (
        lambda d: d["legal_hold"].update(follows_related="yes"),
        "legal_hold.follows_related: Input should be a valid boolean, not text",
    ),
    "one for true": (
        lambda d: rule(d, "REPAIR-NOT-HELD").update(breach=1),
        f"rules.{index_of('REPAIR-NOT-HELD')}.breach: Input should be a valid boolean, not an "
        "integer",
    ),
    "misspelt nested key": (
        lambda d: rule(d, "CUST-CONTACT-7Y")["trigger"].update(happend_when={}),
        "rules.0.trigger.happend_when: Extra inputs are not permitted (did you mean "
        "'happened_when'?)",
    ),
    "misspelt top-level key": (
        lambda d: d.update(rulez=[]),
        "rulez: Extra inputs are not permitted (did you mean 'rules'?)",
    ),
    "condition as a single value": (
        lambda d: rule(d, "CUST-CONTACT-7Y")["when"].update(relationship="customer"),
        "rules.0.when.relationship: Input should be a list or 'blank' or 'present', not text",
    ),
    "date that is not ISO": (
        lambda d: d.update(effective_from="25/05/2021"),
        "effective_from: not an ISO date (YYYY-MM-DD)",
    ),
    "date as a number": (
        lambda d: d.update(effective_from=20210525),
        "effective_from: Input should be a valid date, not an integer",
    ),
    "version as a number": (
        lambda d: d.update(version=2021.05),
        "version: Input should be a valid string, not a number",
    ),
    "version a spreadsheet would run": (
        lambda d: d.update(version="=1+1"),
        "version: must not start like a spreadsheet formula (=, +, -, @)",
    ),
    "check flag as text": (
        lambda d: d["checks"][0].update(required="true"),
        "checks.0.required: Input should be a valid boolean, not text",
    ),
}


@pytest.mark.parametrize("case", list(POLICY_CASES), ids=list(POLICY_CASES))
def test_the_policy_rejects_unknown_keys_and_wrong_types(tmp_path: Path, case: str) -> None:
    change, message = POLICY_CASES[case]
    data = copy.deepcopy(shipped_policy())
    change(data)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert error_line(load_policy, path) == f": {message}"


def test_a_quoted_iso_date_in_the_policy_is_still_a_date(tmp_path: Path) -> None:
    data = shipped_policy()
    data["effective_from"] = "2021-05-25"
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert str(load_policy(path).policy.effective_from) == "2021-05-25"


def test_a_key_given_twice_in_the_policy_is_named(tmp_path: Path) -> None:
    text = DEFAULT_POLICY.read_text()
    anchor = "    period: {months: 6}\n"
    at = text.index(anchor, text.index("id: CANDIDATE-6M")) + len(anchor)
    path = tmp_path / "policy.yaml"
    path.write_text(text[:at] + "    period: {months: 12}\n" + text[at:])
    line = text[:at].count("\n") + 1
    assert error_line(load_policy, path) == (
        f", line {line}: rules.{index_of('CANDIDATE-6M')}.period: key given twice"
    )


# --- quality.yaml ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "warn_fields: [emial]\n",
            ": warn_fields: 'emial': no source has a field of that name "
            "whose values are checked (such as email or phone)",
        ),
        ("warn_fields: email\n", ": warn_fields: Input should be a valid list, not text"),
        (
            "row_count: {max_drop_share: half}\n",
            ": row_count.max_drop_share: Input should be a valid number, not text",
        ),
        (
            "row_cont: {}\n",
            ": row_cont: Extra inputs are not permitted (did you mean 'row_count'?)",
        ),
        ("warn_fields: [email]\nwarn_fields: [phone]\n", ", line 2: warn_fields: key given twice"),
    ],
)
def test_quality_config_is_strict(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "quality.yaml"
    path.write_text(text)
    assert error_line(load_quality_config, path) == message


def test_the_command_line_reports_a_config_problem_in_one_line(
    tmp_path: Path, write_csv: Callable[..., Path]
) -> None:
    from tests.conftest import crm_row

    config = tmp_path / "crm.yaml"
    config.write_text("source: crm\nskip_rows: 'two'\n")
    proc = governance("read", "--crm", str(write_csv([crm_row()])), "--crm-config", str(config))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {config}: skip_rows: Input should be a valid integer, not text"
    ]


# --- SQL in the store -----------------------------------------------------------------------

STORE = Path(store_db.__file__).parent
SQL_CALLS = frozenset({"execute", "executemany", "exec_driver_sql", "copy", "text"})


def _raw_sql_strings() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every string handed to a SQL-executing call in the store: its file, then its
    function and the names interpolated into it (f-strings), or the literal itself."""
    found: list[tuple[str, str, tuple[str, ...]]] = []
    for path in sorted(STORE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if not (isinstance(node, ast.Call) and node.args):
                    continue
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name not in SQL_CALLS:
                    continue
                first = node.args[0]
                if isinstance(first, ast.BinOp) or (
                    isinstance(first, ast.Call) and getattr(first.func, "attr", "") == "format"
                ):
                    found.append((path.name, func.name, ("<built by concatenation>",)))
                elif isinstance(first, ast.JoinedStr):
                    names = tuple(
                        ast.unparse(v.value)
                        for v in first.values
                        if isinstance(v, ast.FormattedValue)
                    )
                    found.append((path.name, func.name, names))
                elif isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((path.name, first.value, ()))
    return found


def test_raw_sql_in_the_store_interpolates_fixed_identifiers_only() -> None:
    """The store builds its queries with SQLAlchemy; the few raw statements are fixed text
    (SQLite pragmas) or bulk inserts whose table and column names come from the models and
    whose values go through `?` placeholders or COPY rows, never into the text."""
    raw = _raw_sql_strings()
    interpolated = {(f, fn, names) for f, fn, names in raw if names}
    assert interpolated == {
        ("recorder.py", "_insert_rows", ("target", "marks")),
        ("recorder.py", "_insert_rows", ("target",)),
    }
    source = (STORE / "recorder.py").read_text()
    assert "target = f\"{model.__tablename__} ({', '.join(names)})\"" in source
    assert 'marks = ", ".join("?" * len(names))' in source
    assert 'cursor.executemany(f"INSERT INTO {target} VALUES ({marks})", rows)' in source
    # Fixed statements: the SQLite connection settings and the migration's lock (a bound
    # parameter on PostgreSQL).
    fixed = {text for _, text, names in raw if not names}
    locks = {"BEGIN IMMEDIATE", "SELECT pg_advisory_xact_lock(:key)"}
    assert locks <= fixed
    assert all(text.startswith("PRAGMA ") for text in fixed - locks)


HOSTILE_IDS = [
    "x'); DROP TABLE runs; --",
    "'; DELETE FROM manifest_items; --",
    'a"b\\c',
    "%s %(x)s ? :id $1",
    "Robert'); DROP TABLE quarantine_items;--",
]


def test_ids_with_sql_in_them_are_stored_as_they_are(tmp_path: Path, store_url: str) -> None:
    ended = {"contract_status": "completed", "contract_end_date": "2018-01-31"}
    rows = [{"record_id": f"C{i}", **ended} for i in range(1, 41)]
    rows += [{"record_id": record_id, **ended} for record_id in HOSTILE_IDS[:4]]
    # The same id twice: both copies are quarantined, and stored as quarantine items.
    rows += [{"record_id": HOSTILE_IDS[4], **ended}] * 2
    export = tmp_path / "crm.csv"
    export.write_text(csv_text(complete_rows("crm", rows), default_header("crm")))
    proc = governance(
        "run",
        "--crm",
        str(export),
        "--as-of",
        "2026-11-30",
        "--out",
        str(tmp_path / "out"),
        "--db",
        store_url,
    )
    assert proc.returncode == 0, proc.stderr
    from governance.store.models import ManifestItem, QuarantineItem

    engine = create_engine(store_url)
    with engine.connect() as conn:
        manifest = set(conn.execute(select(ManifestItem.record_id)).scalars())
        quarantined = set(conn.execute(select(QuarantineItem.record_id)).scalars())
    assert set(HOSTILE_IDS[:4]) <= manifest
    assert len(manifest) == 44
    assert quarantined == {HOSTILE_IDS[4]}
    assert {"runs", "manifest_items", "quarantine_items"} <= set(inspect(engine).get_table_names())
    engine.dispose()
