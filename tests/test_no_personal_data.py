"""No personal data in logs, errors or outputs, and owner-only files for what holds it.

The whole command line runs on generated exports (good ones, a blocked one, broken and
misplaced values); every line it prints, every exception (with its chained causes) and log
record of the library, and every file it writes are searched for the names, e-mails and
phone numbers of the inputs. Only the exports themselves (and staged copies of them) hold
personal data, and those are created readable by their owner only.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import stat
import traceback
import uuid
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import fsspec
import phonenumbers
import pytest
from typer.testing import CliRunner

from governance.cli import app
from governance.errors import GovernanceError
from governance.sample_data import write_sample_exports
from tests.conftest import governance

NAME_FIELDS = ("first_name", "last_name")
MIN_NAME = 4
"""Names of three letters or fewer (Max, Lee, Fox) are words too: not searched for."""


# --- the personal values of a set of exports, and searching for them -----------------------


@dataclass
class Personal:
    """The names, e-mails and phone numbers of some exports, as searchable patterns."""

    names: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    digits: set[str] = field(default_factory=set)

    def add_export(self, path: Path) -> None:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                self.add_row(row)

    def add_row(self, row: dict[str, str]) -> None:
        for name in NAME_FIELDS:
            value = (row.get(name) or "").strip()
            if len(value) >= MIN_NAME:
                self.names.add(value)
        email = (row.get("email") or "").strip()
        if "@" in email:
            self.emails.add(email.lower())
        phone = (row.get("phone") or "").strip()
        if phone:
            self.phones.add(phone)
            digits = re.sub(r"\D", "", phone)
            if len(digits) >= 9:
                self.digits.add(digits)
            try:
                parsed = phonenumbers.parse(phone, "GB")
            except phonenumbers.NumberParseException:
                return
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            self.phones.add(e164)
            self.digits.add(e164.lstrip("+"))

    def merge(self, other: Personal) -> None:
        self.names |= other.names
        self.emails |= other.emails
        self.phones |= other.phones
        self.digits |= other.digits

    def __len__(self) -> int:
        return len(self.names) + len(self.emails) + len(self.phones)

    def _names(self) -> re.Pattern[str]:
        alternatives = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")

    def _digits(self) -> re.Pattern[str]:
        alternatives = "|".join(sorted(self.digits, key=len, reverse=True))
        return re.compile(rf"(?<!\d)(?:{alternatives})(?!\d)")

    def found_in(self, text: str) -> list[str]:
        """The personal values `text` holds (names as whole words, in their case; e-mails
        in any case; phones as written, in E.164, or as bare digits)."""
        hits = {m.group(0) for m in self._names().finditer(text)}
        lowered = text.lower()
        hits |= {e for e in self.emails if e in lowered}
        hits |= {p for p in self.phones if p in text}
        hits |= {m.group(0) for m in self._digits().finditer(text)}
        return sorted(hits)


def personal_values(paths: Iterable[Path]) -> Personal:
    found = Personal()
    for path in paths:
        found.add_export(path)
    return found


def text_of(path: Path) -> str:
    """A file's text as far as it is text (a database file's strings included)."""
    return path.read_bytes().decode("utf-8", errors="replace")


def files_under(*roots: Path) -> list[Path]:
    return sorted(p for root in roots if root.exists() for p in root.rglob("*") if p.is_file())


def assert_clean(personal: Personal, what: str, text: str) -> None:
    hits = personal.found_in(text)
    assert not hits, f"{what} holds personal data: {hits[:10]}"


# --- bad inputs made from good exports -----------------------------------------------------


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text(csv_text(header, rows), encoding="utf-8")
    return path


def plain_row(rows: list[list[str]], header: list[str], *, non_ascii: str = "") -> int:
    """The index of a row with a person's full details, no cell needing quotes, and (when
    asked) a non-ASCII character in the field `non_ascii`."""
    at = {name: i for i, name in enumerate(header)}
    for i, row in enumerate(rows):
        if any(c in cell for cell in row for c in ',"\n'):
            continue
        person = [row[at[f]] for f in ("first_name", "last_name", "email", "phone")]
        if not all(len(v) >= MIN_NAME for v in person):
            continue
        if non_ascii and row[at[non_ascii]].isascii():
            continue
        return i
    raise AssertionError("no suitable row")


def bad_inputs(exports: dict[str, Path], folder: Path) -> dict[str, tuple[str, Path]]:
    """Broken copies of the exports, each one kind of trouble: name -> (source, file)."""
    folder.mkdir()
    bad: dict[str, tuple[str, Path]] = {}
    header, rows = read_rows(exports["crm"])
    at = {name: i for i, name in enumerate(header)}

    short = [list(r) for r in rows]
    i = plain_row(short, header)
    short[i] = short[i][: at["phone"] + 1]  # a row cut after the phone number
    bad["short_row"] = ("crm", write_rows(folder / "crm_short_row.csv", header, short))

    i = plain_row(rows, header)
    line = ",".join(rows[i])  # written as it is: no cell of it needs quotes
    cells = list(rows[i])
    cells[at["first_name"]] = '"' + cells[at["first_name"]]  # a quote never closed
    text = csv_text(header, rows)
    assert text.count(f"\n{line}\n") == 1
    unclosed = folder / "crm_unclosed_quote.csv"
    unclosed.write_text(text.replace(f"\n{line}\n", "\n" + ",".join(cells) + "\n"), "utf-8")
    bad["unclosed_quote"] = ("crm", unclosed)

    i = plain_row(rows, header, non_ascii="last_name")
    line = ",".join(rows[i])
    name = rows[i][at["last_name"]]
    latin1 = folder / "crm_latin1.csv"
    latin1.write_bytes(
        text.encode("utf-8").replace(
            line.encode("utf-8"),
            line.replace(name, "\0").encode("utf-8").replace(b"\0", name.encode("latin-1")),
        )
    )
    bad["latin1"] = ("crm", latin1)

    # Personal values in the wrong columns: dates, enumerations, flags, links.
    misplaced = [list(r) for r in rows]
    moved = 0
    for row in misplaced:
        if moved == 8:
            break
        if row[at["email"]] and row[at["phone"]] and len(row[at["first_name"]]) >= MIN_NAME:
            row[at["contract_end_date"]] = row[at["email"]]
            row[at["created_at"]] = row[at["last_name"]]
            row[at["relationship"]] = row[at["first_name"]]
            row[at["legal_hold"]] = row[at["phone"]]
            moved += 1
    bad["misplaced"] = ("crm", write_rows(folder / "crm_misplaced.csv", header, misplaced))

    header, rows = read_rows(exports["hr"])
    keep = [i for i, name in enumerate(header) if name != "person_type"]
    bad["missing_column"] = (
        "hr",
        write_rows(
            folder / "hr_missing_column.csv",
            [header[i] for i in keep],
            [[r[i] for i in keep] for r in rows],
        ),
    )

    header, rows = read_rows(exports["recruitment"])
    at = {name: i for i, name in enumerate(header)}
    linked = [list(r) for r in rows]
    for row in linked[:5]:
        row[at["related_person_id"]] = row[at["email"]]
        row[at["application_date"]] = row[at["first_name"]]
    bad["linked_by_email"] = (
        "recruitment",
        write_rows(folder / "recruitment_linked_by_email.csv", header, linked),
    )
    return bad


# --- the command line, end to end ----------------------------------------------------------


@dataclass
class Scene:
    root: Path
    exports: dict[str, Path]
    noisy: dict[str, Path]
    bad: dict[str, tuple[str, Path]]
    personal: Personal
    transcript: list[str]
    db: str

    @property
    def input_folders(self) -> list[Path]:
        return [self.root / "exports", self.root / "noisy", self.root / "bad"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    root = tmp_path_factory.mktemp("personal")
    db = f"sqlite:///{root / 'store' / 'governance.db'}"
    (root / "store").mkdir()
    transcript: list[str] = []
    runner = CliRunner()

    def cli(*args: object, codes: tuple[int, ...] = (0,), fresh: bool = False) -> str:
        """`governance ...` in this process (fast), or in a fresh one (`fresh`: its real
        entry point, with the one-line error of `main`)."""
        words = [str(a) for a in args]
        if fresh:
            proc = governance(*words)
            code, said = proc.returncode, proc.stdout + proc.stderr
        else:
            result = runner.invoke(app, words)
            code, said = result.exit_code, result.output
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                said += whole(result.exception)
                code = 2 if isinstance(result.exception, GovernanceError) else code
        text = f"$ governance {' '.join(words)}\n{said}"
        transcript.append(text)
        assert code in codes, text
        return text

    with Captured() as captured:  # the log records of the in-process commands
        cli("sample-data", "--out", root / "exports", "--rows", 400, "--seed", 404, fresh=True)
        noisy_args = ["--rows", 400, "--seed", 405, "--bad-share", 0.2]
        cli("sample-data", "--out", root / "noisy", *noisy_args)
        exports = {s: root / "exports" / f"{s}.csv" for s in ("crm", "hr", "recruitment")}
        noisy = {s: root / "noisy" / f"{s}.csv" for s in ("crm", "hr", "recruitment")}
        bad = bad_inputs(exports, root / "bad")
        personal = personal_values([*exports.values(), *noisy.values()])
        for _, path in bad.values():
            if path.name != "crm_latin1.csv":
                personal.add_export(path)

        files = [f"--{s}={p}" for s, p in exports.items()]
        cli("read", *files, "--out", root / "summary.json")
        for source, path in bad.values():
            cli("read", f"--{source}={path}", codes=(0, 2))
            checks = ["validate", "--source", source, path, "--as-of", "2026-11-30"]
            cli(*checks, "--db", db, codes=(0, 3))
        cli("validate", "--source", "hr", noisy["hr"], "--db", db, codes=(3,))

        def run(out: str, as_of: str, chosen: dict[str, Path], *extra: str, **how: Any) -> str:
            args = [f"--{s}={p}" for s, p in chosen.items()]
            where = ["--as-of", as_of, "--out", root / out, "--db", db]
            return cli("run", *args, *where, *extra, **how)

        run("run1", "2026-11-30", exports, fresh=True)
        cli("review", "list", "--db", db)
        cli("review", "list", "--out", root / "reviews.csv", "--db", db)
        with open(root / "reviews.csv", newline="", encoding="utf-8") as fh:
            first = next(csv.DictReader(fh))
        decide = ["review", "decide", first["record_id"], "--keep", "--reason", "TICKET-7"]
        cli(*decide, "--reviewer", "j.smith", "--source", first["source"], "--db", db)
        day2 = {
            "crm": bad["misplaced"][1],
            "hr": noisy["hr"],
            "recruitment": bad["linked_by_email"][1],
        }
        run("run2", "2026-12-05", day2, codes=(3,))
        day3 = {
            "crm": bad["short_row"][1],
            "hr": bad["missing_column"][1],
            "recruitment": exports["recruitment"],
        }
        run("run3", "2026-12-06", day3, codes=(3,), fresh=True)
        run("run4", "2026-12-07", {"crm": bad["latin1"][1]}, codes=(3,))
        run("run5", "2026-12-08", {"crm": bad["unclosed_quote"][1]}, codes=(3,))
        run("run6", "2027-01-15", exports, "--dry-run", "--requested-by", "Data", "--reason", "T-9")
        run("run7", "2027-01-15", {"crm": root / "nowhere.csv"}, codes=(2, 3))
        run("run8", "2027-01-15", exports, "--as-of", "15/01/2027", codes=(2,), fresh=True)
        cli("disposition", "list", "--db", db)
        cli("disposition", "list", "--out", root / "dispositions.csv", "--db", db)
        for month in ("2026-11", "2026-12", "2027-01"):
            folder = root / "monthly" / month
            cli("report", "monthly", "--month", month, "--out", folder, "--db", db)
        cli("audit", "verify", "--db", db)
    transcript.extend(captured.lines)
    return Scene(root, exports, noisy, bad, personal, transcript, db)


def test_the_search_finds_personal_values_in_every_form(scene: Scene) -> None:
    personal = scene.personal
    assert len(personal.names) > 100 and len(personal.emails) > 300
    assert len(personal.phones) > 300
    assert len(personal.found_in(text_of(scene.exports["crm"]))) > 500
    header, rows = read_rows(scene.exports["crm"])
    row = dict(zip(header, rows[plain_row(rows, header)], strict=True))
    e164 = phonenumbers.format_number(
        phonenumbers.parse(row["phone"], "GB"), phonenumbers.PhoneNumberFormat.E164
    )
    for text, value in (
        (f"error: {row['email'].upper()} is bad", row["email"].lower()),
        (f"phone={e164}.", e164),
        (f"tel:{re.sub(r'[^0-9]', '', row['phone'])}", re.sub(r"[^0-9]", "", row["phone"])),
        (f"'{row['last_name']}' at row 4", row["last_name"]),
    ):
        assert value in personal.found_in(text), text
    assert personal.found_in(f"x{row['last_name']}y and 1{e164[1:]}2") == []


def test_nothing_the_command_line_prints_holds_personal_data(scene: Scene) -> None:
    text = "\n".join(scene.transcript)
    # It did meet every kind of trouble, and said so in one line each.
    for fragment in (
        "blocked",
        "row ",
        "column 'person_type'",
        "not valid utf-8",
        "passes the gate",
        "audit trail intact",
        "nowhere.csv",
        "recorded: keep",
    ):
        assert fragment in text, fragment
    assert "Traceback" not in text
    for chunk in scene.transcript:
        assert_clean(scene.personal, chunk.splitlines()[0], chunk)


def test_no_file_the_project_writes_holds_personal_data(scene: Scene) -> None:
    inputs = set(scene.input_folders)
    written = [
        p for p in files_under(scene.root) if not any(folder in p.parents for folder in inputs)
    ]
    names = {p.name for p in written}
    for expected in (
        "deletion_manifest.csv",
        "decisions.csv",
        "quarantine.csv",
        "audit_report.json",
        "audit_report.html",
        "data_quality.html",
        "summary.json",
        "reviews.csv",
        "dispositions.csv",
        "governance_report_2026-12.html",
        "governance.db",
    ):
        assert expected in names, expected
    for path in written:
        assert_clean(scene.personal, str(path.relative_to(scene.root)), text_of(path))


# --- exceptions, log records and warnings of the library -----------------------------------


class Captured(logging.Handler):
    """Every log record (any logger, DEBUG and up, with its exception) and every warning
    while it is active, as text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._warnings: Any = None
        self._caught: list[warnings.WarningMessage] = []
        self._level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if record.exc_info:
            self.lines.append("".join(traceback.format_exception(*record.exc_info)))

    def __enter__(self) -> Captured:
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        self._warnings = warnings.catch_warnings(record=True)
        self._caught = self._warnings.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc: object) -> None:
        self._warnings.__exit__(*exc)
        self.lines.extend(f"{w.category.__name__}: {w.message}" for w in self._caught)
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)


def whole(exc: BaseException) -> str:
    """What a log shows of an exception: its traceback, its causes and their messages."""
    return "".join(traceback.format_exception(exc))


def test_exceptions_logs_and_warnings_of_the_library_hold_no_personal_data(
    scene: Scene, tmp_path: Path
) -> None:
    from governance.orchestration import evaluate, ingest
    from governance.pipeline import check_export, resolve_sources
    from governance.policy.model import load_policy
    from governance.quality.config import load_quality_config
    from governance.run import run_retention
    from governance.sources.config import SOURCES_DIR, default_config
    from governance.sources.reader import read_export

    said: list[str] = []
    db = f"sqlite:///{tmp_path / 'store.db'}"
    as_of = date(2026, 11, 30)
    policy = load_policy()
    day2 = {
        "crm": scene.bad["misplaced"][1],
        "hr": scene.noisy["hr"],
        "recruitment": scene.bad["linked_by_email"][1],
    }
    with Captured() as captured:
        for source, path in scene.bad.values():
            try:
                read_export(path, default_config(source))
            except GovernanceError as exc:
                said.append(whole(exc))
            plan = resolve_sources(files={source: path}, configs={source: None})[0]
            checked = check_export(plan, policy.policy, as_of, load_quality_config(), db_url=db)
            said.append(repr(checked.summary()))
            # The ingestion task's path: the day's export found in the landing area.
            landing = tmp_path / f"landing-{path.stem}"
            landing.mkdir()
            (landing / f"{source}.csv").write_bytes(path.read_bytes())
            config = SOURCES_DIR / f"{source}.yaml"
            try:
                said.append(repr(ingest(source, config, as_of, db_url=db, landing=str(landing))))
            except GovernanceError as exc:
                said.append(whole(exc))
        # The retention task's path, with a blocked export and misplaced values.
        landing = tmp_path / "landing-day2"
        landing.mkdir()
        for source, path in day2.items():
            (landing / f"{source}.csv").write_bytes(path.read_bytes())
        try:
            evaluate(as_of, tmp_path / "evaluated", db_url=db, landing=str(landing))
        except GovernanceError as exc:
            said.append(whole(exc))
        plans = resolve_sources(files=day2, configs=dict.fromkeys(day2))
        result = run_retention(plans, policy, as_of, tmp_path / "run", db_url=db)
        said.extend(o.blocked_reason or "" for o in result.outcomes)
    assert result.exit_code == 3
    assert sum("Traceback" in text for text in said) >= len(scene.bad)
    assert any("blocked" in text for text in said)
    assert len(captured.lines) > 10, "nothing was logged at all"
    for text in [*said, *captured.lines]:
        assert_clean(
            scene.personal, text.strip().splitlines()[0][:100] if text.strip() else "", text
        )


# --- files holding personal data are the owner's only --------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


def test_sample_exports_are_readable_by_their_owner_only(tmp_path: Path, usual_umask: None) -> None:
    for fmt in ("csv", "xlsx"):
        folder = tmp_path / fmt / "exports"
        paths = write_sample_exports(folder, rows=50, seed=1, fmt=fmt)
        assert mode(folder) == 0o700
        assert {mode(p) for p in paths.values()} == {0o600}
    # A folder that exists already is left as it is; the files are still private.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    paths = write_sample_exports(shared, rows=50, seed=1)
    assert mode(shared) == 0o755 and {mode(p) for p in paths.values()} == {0o600}


def test_the_command_line_sample_exports_are_private_and_outputs_are_not(
    scene: Scene,
) -> None:
    # (the scene's processes ran with the test process's umask)
    umask = os.umask(0)
    os.umask(umask)
    assert mode(scene.root / "exports") == 0o700
    assert {mode(p) for p in scene.exports.values()} == {0o600}
    for name in ("deletion_manifest.csv", "decisions.csv", "audit_report.json"):
        assert mode(scene.root / "run1" / name) == 0o666 & ~umask
    assert mode(scene.root / "summary.json") == 0o666 & ~umask


def test_staged_copies_of_remote_exports_are_private(tmp_path: Path, usual_umask: None) -> None:
    from governance.landing import landed_exports
    from governance.sources.config import default_config

    fs = fsspec.filesystem("memory")
    folder = f"/landing-{uuid.uuid4().hex[:8]}"
    fs.pipe(f"{folder}/crm.csv", b"record_id,first_name\nCRM-1,Zebedee\n")
    staging_root = tmp_path / "outputs" / "staging"
    try:
        with landed_exports(
            f"memory://{folder}", {"crm": default_config("crm")}, date(2026, 11, 30), staging_root
        ) as landed:
            copy = landed["crm"].path
            assert copy.read_bytes() == b"record_id,first_name\nCRM-1,Zebedee\n"
            assert mode(copy) == 0o600
            assert mode(copy.parent) == 0o700  # <staging>/crm
            assert mode(copy.parent.parent) == 0o700  # this task's staging folder
            assert mode(staging_root) == 0o700
        assert not copy.exists()
    finally:
        fs.rm(folder, recursive=True)
