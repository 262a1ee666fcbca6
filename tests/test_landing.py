"""Finding the day's export in the landing area: local folders, dated patterns, fsspec URIs
(staged atomically, named by their URI), and a missing export as one clear line."""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import fsspec
import pytest

from governance.errors import ConfigError, GovernanceError
from governance.landing import (
    ExportMissing,
    LandedExport,
    export_name,
    find_export,
    landed_exports,
    local_folder,
    name_origins,
    redact,
)
from governance.orchestration import ExportBlocked, evaluate, ingest, landing_files
from governance.sources.config import SOURCES_DIR, SourceConfig, load_source_config
from governance.sources.reader import read_export

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "include" / "sample_exports"
AS_OF = date(2026, 11, 30)


def config(**settings: Any) -> SourceConfig:
    return SourceConfig.model_validate({"source": "crm", **settings})


@pytest.fixture
def memory() -> Iterator[tuple[Any, str]]:
    """A fresh folder in fsspec's in-memory filesystem, as (filesystem, URI)."""
    fs = fsspec.filesystem("memory")
    folder = f"/landing-{uuid.uuid4().hex[:8]}"
    fs.mkdir(folder)
    yield fs, f"memory://{folder}"
    fs.rm(folder, recursive=True)


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- the convention ---------------------------------------------------------------------


def test_default_is_the_configured_file_name_whatever_the_date() -> None:
    assert export_name(config(path="../exports/crm_contacts.csv"), AS_OF) == "crm_contacts.csv"
    assert export_name(config(), AS_OF) == "crm.csv"


def test_patterns_take_the_date_and_the_source() -> None:
    assert export_name(config(landing="{date:%Y-%m-%d}/crm.csv"), AS_OF) == "2026-11-30/crm.csv"
    assert export_name(config(landing="{source}_{date:%Y%m%d}.csv"), AS_OF) == "crm_20261130.csv"


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("{when:%Y}/crm.csv", "unknown placeholder {when}"),
        ("{date:%Y}/{}.csv", "unknown placeholder without a name"),
        ("../{date:%Y}/crm.csv", "relative file name inside the landing area"),
        ("/srv/{date:%Y}/crm.csv", "relative file name inside the landing area"),
        ("s3://bucket/crm.csv", "relative file name inside the landing area"),
    ],
)
def test_a_bad_pattern_is_one_config_error_line(tmp_path: Path, pattern: str, problem: str) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text(f"source: crm\nlanding: {pattern!r}\n")
    with pytest.raises(ConfigError) as err:
        load_source_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: landing: ") and problem in message


def test_local_and_remote_locations() -> None:
    assert local_folder("/srv/landing") == Path("/srv/landing")
    assert local_folder("file:///srv/landing") == Path("/srv/landing")
    assert local_folder("file://localhost/srv/my%20landing") == Path("/srv/my landing")
    assert local_folder("memory://landing") is None
    assert local_folder("s3://bucket/landing") is None


def test_passwords_are_masked_in_what_is_shown() -> None:
    assert (
        redact("sftp://etl:s3cr3t@files.example/landing") == "sftp://etl:***@files.example/landing"
    )
    assert redact("s3://aws_default@bucket/landing") == "s3://aws_default@bucket/landing"
    assert redact("/srv/landing") == "/srv/landing"


# --- local folders ----------------------------------------------------------------------


def test_a_local_export_is_read_where_it_is(tmp_path: Path) -> None:
    (tmp_path / "crm.csv").write_text("x\n")
    found = find_export(str(tmp_path), config(path="elsewhere/crm.csv"), AS_OF)
    assert found == LandedExport("crm", str(tmp_path / "crm.csv"), tmp_path / "crm.csv")
    assert not found.staged


def test_a_dated_folder_picks_the_days_export(tmp_path: Path) -> None:
    for day in ("2026-11-29", "2026-11-30"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "crm_contacts.csv").write_text(day)
    dated = config(landing="{date:%Y-%m-%d}/crm_contacts.csv")
    found = find_export(f"file://{tmp_path}", dated, AS_OF)
    assert found.path == tmp_path / "2026-11-30" / "crm_contacts.csv"
    assert found.path.read_text() == "2026-11-30"
    assert found.uri == str(found.path)


def test_a_glob_must_match_exactly_one_file(tmp_path: Path) -> None:
    stamped = config(landing="crm_{date:%Y%m%d}_*.csv")
    (tmp_path / "crm_20261129_0610.csv").write_text("old")
    (tmp_path / "crm_20261130_0612.csv").write_text("new")
    assert find_export(str(tmp_path), stamped, AS_OF).path.read_text() == "new"

    (tmp_path / "crm_20261130_0915.csv").write_text("again")
    with pytest.raises(GovernanceError) as err:
        find_export(str(tmp_path), stamped, AS_OF)
    assert str(err.value) == (
        f"{tmp_path}/crm_20261130_*.csv: 2 files match; expected one crm export for "
        "2026-11-30 (make the landing pattern more specific)"
    )


def test_a_missing_local_export_names_the_path_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ExportMissing) as err:
        find_export(str(tmp_path), config(landing="{date:%Y-%m-%d}/crm.csv"), AS_OF)
    assert str(err.value) == (
        f"{tmp_path}/2026-11-30/crm.csv: no crm export for 2026-11-30 in the landing area"
    )


# --- fsspec URIs ------------------------------------------------------------------------


def test_a_remote_export_is_staged_byte_for_byte_and_removed_afterwards(
    tmp_path: Path, memory: tuple[Any, str]
) -> None:
    fs, uri = memory
    data = (SAMPLES / "crm.csv").read_bytes()
    fs.pipe(f"{uri.removeprefix('memory://')}/2026-11-30/crm.csv", data)
    staging = tmp_path / "staging"
    dated = config(landing="{date:%Y-%m-%d}/crm.csv")
    with landed_exports(uri, {"crm": dated}, AS_OF, staging) as found:
        export = found["crm"]
        assert export.uri == f"{uri}/2026-11-30/crm.csv"
        assert export.staged and export.path.is_relative_to(staging)
        assert export.path.read_bytes() == data
        assert export.path.name == "crm.csv"  # the format is still told by the extension
        # The reader and its SHA-256 see the same file as a local copy of the export.
        local = read_export(SAMPLES / "crm.csv", load_source_config(SOURCES_DIR / "crm.yaml")[0])
        staged = read_export(export.path, load_source_config(SOURCES_DIR / "crm.yaml")[0])
        assert staged.sha256 == local.sha256 and staged.rows == local.rows
    assert files_in(staging) == []


def test_a_remote_glob_names_the_matching_uri(tmp_path: Path, memory: tuple[Any, str]) -> None:
    fs, uri = memory
    folder = uri.removeprefix("memory://")
    fs.pipe(f"{folder}/crm_20261130_0612.csv", b"new")
    fs.pipe(f"{folder}/crm_20261129_0610.csv", b"old")
    found = find_export(uri, config(landing="crm_{date:%Y%m%d}_*.csv"), AS_OF, tmp_path)
    assert found.uri == f"{uri}/crm_20261130_0612.csv"
    assert found.path.read_bytes() == b"new"


def test_a_missing_remote_export_is_one_line_naming_the_uri(
    tmp_path: Path, memory: tuple[Any, str]
) -> None:
    _, uri = memory
    staging = tmp_path / "staging"
    with (
        pytest.raises(ExportMissing) as err,
        landed_exports(uri, {"crm": config(landing="{date:%Y-%m-%d}/crm.csv")}, AS_OF, staging),
    ):
        pass
    assert str(err.value) == (
        f"{uri}/2026-11-30/crm.csv: no crm export for 2026-11-30 in the landing area"
    )
    assert files_in(staging) == []


def test_an_unknown_scheme_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(GovernanceError) as err:
        find_export("nosuchfs://bucket/landing", config(), AS_OF, tmp_path)
    assert str(err.value).startswith("nosuchfs://bucket/landing: no filesystem for 'nosuchfs'")
    assert "\n" not in str(err.value)


class BreaksMidway(io.RawIOBase):
    """A remote file whose connection drops after the first megabyte."""

    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.sent >= 1 << 20:
            raise ConnectionResetError("connection reset by peer")
        n = len(buffer)
        buffer[:n] = b"x" * n
        self.sent += n
        return n


class FlakyRemote:
    """Just enough of an fsspec filesystem: one file, which cannot be read to its end."""

    def isfile(self, path: str) -> bool:
        return path == "landing/crm.csv"

    def open(self, path: str, mode: str = "rb") -> io.BufferedReader:
        return io.BufferedReader(BreaksMidway())


def test_an_interrupted_copy_leaves_no_half_written_file(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(ConnectionResetError):
        find_export(
            "flaky://landing",
            config(),
            AS_OF,
            staging,
            filesystem=lambda uri: (FlakyRemote(), uri.removeprefix("flaky://")),
        )
    assert files_in(staging) == []


def test_staged_paths_are_named_by_their_uri_in_messages(tmp_path: Path) -> None:
    staged = LandedExport("crm", "s3://bucket/landing/crm.csv", tmp_path / "s" / "crm.csv")
    summary = {"path": str(staged.path), "checks": [f"{staged.path}: file is empty"], "rows": 0}
    assert name_origins(summary, [staged]) == {
        "path": "s3://bucket/landing/crm.csv",
        "checks": ["s3://bucket/landing/crm.csv: file is empty"],
        "rows": 0,
    }


# --- through the orchestration functions (what the DAG tasks call) -----------------------


def test_without_a_landing_area_the_configured_paths_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOVERNANCE_LANDING_DIR", raising=False)
    with landing_files(["crm"], {"crm": SOURCES_DIR / "crm.yaml"}, AS_OF) as found:
        assert found == {}


def test_the_landing_argument_comes_before_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "given").mkdir()
    (tmp_path / "given" / "crm.csv").write_text("x\n")
    monkeypatch.setenv("GOVERNANCE_LANDING_DIR", str(tmp_path / "env"))
    configs = {"crm": SOURCES_DIR / "crm.yaml"}
    with landing_files(["crm"], configs, AS_OF, landing=str(tmp_path / "given")) as found:
        assert found["crm"].path == tmp_path / "given" / "crm.csv"
    with (
        pytest.raises(ExportMissing, match=f"^{tmp_path / 'env' / 'crm.csv'}: no crm export"),
        landing_files(["crm"], configs, AS_OF),
    ):
        pass


def test_ingest_from_a_uri_names_the_uri_and_cleans_its_staging(
    tmp_path: Path, memory: tuple[Any, str]
) -> None:
    fs, uri = memory
    fs.pipe(f"{uri.removeprefix('memory://')}/crm.csv", (SAMPLES / "crm.csv").read_bytes())
    out = tmp_path / "out"
    summary = ingest(
        "crm",
        SOURCES_DIR / "crm.yaml",
        AS_OF,
        db_url=f"sqlite:///{tmp_path / 'store.db'}",
        landing=uri,
        output_dir=str(out),
    )
    assert summary["status"] == "ok" and summary["path"] == f"{uri}/crm.csv"
    assert str(out) not in repr(summary)
    assert files_in(out / "staging") == []


def test_a_blocked_remote_export_is_named_by_its_uri(
    tmp_path: Path, memory: tuple[Any, str]
) -> None:
    fs, uri = memory
    fs.pipe(f"{uri.removeprefix('memory://')}/hr.csv", b"person_id,created_at\nH1,2020-01-01\n")
    out = tmp_path / "out"
    with pytest.raises(ExportBlocked) as err:
        ingest("hr", SOURCES_DIR / "hr.yaml", AS_OF, landing=uri, output_dir=str(out))
    message = str(err.value)
    assert message.startswith(f"hr export blocked: {uri}/hr.csv, column ")
    assert "\n" not in message and str(out) not in message
    assert files_in(out / "staging") == []


def test_ingest_of_a_missing_remote_export(tmp_path: Path, memory: tuple[Any, str]) -> None:
    _, uri = memory
    with pytest.raises(ExportMissing) as err:
        ingest("crm", SOURCES_DIR / "crm.yaml", AS_OF, landing=uri, output_dir=str(tmp_path))
    assert str(err.value) == f"{uri}/crm.csv: no crm export for 2026-11-30 in the landing area"


def test_evaluate_from_a_uri_records_the_run_in_the_given_store(
    tmp_path: Path, memory: tuple[Any, str]
) -> None:
    fs, uri = memory
    for name in ("crm.csv", "hr.csv", "recruitment.csv"):
        fs.pipe(f"{uri.removeprefix('memory://')}/{name}", (SAMPLES / name).read_bytes())
    store = tmp_path / "store.db"
    out = tmp_path / "out"
    summary = evaluate(
        AS_OF,
        out / "scheduled" / AS_OF.isoformat(),
        trigger={"kind": "scheduled"},
        db_url=f"sqlite:///{store}",
        landing=uri,
        output_dir=str(out),
    )
    assert summary["exports"] == {"crm": "ok", "hr": "ok", "recruitment": "ok"}
    assert summary["inputs"] == {s: f"{uri}/{s}.csv" for s in ("crm", "hr", "recruitment")}
    assert files_in(out / "staging") == []
    with sqlite3.connect(store) as db:
        runs = db.execute("SELECT run_id, as_of, trigger_kind FROM runs").fetchall()
    assert runs == [(summary["run_id"], "2026-11-30", "scheduled")]
    # The audit report and the store name where each export came from, not a staged copy
    # that no longer exists.
    with sqlite3.connect(store) as db:
        paths = dict(db.execute("SELECT source, path FROM input_files").fetchall())
    assert paths == summary["inputs"]
    audit = json.loads(Path(summary["audit_report"]).read_text())
    assert {s: e["file"] for s, e in audit["exports"].items()} == summary["inputs"]
