"""Crash safety: `governance run` killed (SIGKILL) at random points and at the weak ones,
a full disk, and leftover temporary files.

After any kill, no output is visible half-written (a file under its final name is the
complete file), the store holds either nothing of the run or all of it (its items, its
events and its check of earlier deletions), `audit verify` passes, and a rerun ends with
outputs byte-identical to an uninterrupted run and the very same store.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from governance.errors import GovernanceError
from governance.outputs.atomic import (
    STALE_EMPTY_AFTER,
    OutputError,
    atomic_path,
    atomic_write_text,
    remove_stale_temps,
    temp_pattern,
)
from governance.sample_data import write_sample_exports
from governance.store.db import engine_for
from governance.store.models import AuditEvent, Run
from governance.store.recorder import record_run, verify_trail
from tests.conftest import governance

DAY1 = "2026-11-30"
DAY2 = "2027-01-05"  # past the 30-day grace of day 1's manifest: confirmed and overdue
TAIL_MARK = "decided and checked recruitment"
"""The progress line after which the run writes its outputs and records itself."""
SEED = 20261130
ROUNDS = 5
KILLS_PER_ROUND = 5

VOLATILE = {
    "runs": {"started_at", "finished_at", "out_dir"},
    "audit_events": {"seq", "at", "hash", "prev_hash"},
}
"""Columns that differ between two correct runs (clock readings, chain hashes over them,
the output folder)."""

CRASH = """
import importlib, os, signal, sys
module, name, when = sys.argv[1:4]
target = importlib.import_module(module)
real = getattr(target, name)
def crash(*args, **kwargs):
    if when == "after":
        real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
setattr(target, name, crash)
from governance.cli import main
sys.argv = ["governance", *sys.argv[4:]]
main()
"""
"""`governance ...` that kills itself (SIGKILL) before or after a given function runs."""

DISK_FULL = """
import errno, os, sys
import pyarrow.csv as pacsv
real = pacsv.write_csv
prefix = sys.argv[1]
def write_csv(table, path, *args, **kwargs):
    if os.path.basename(str(path)).startswith(prefix):
        real(table, path, *args, **kwargs)
        os.truncate(path, os.path.getsize(path) // 2)  # half of it made it to disk
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] "
                      "No space left on device")
    return real(table, path, *args, **kwargs)
pacsv.write_csv = write_csv
from governance.cli import main
sys.argv = ["governance", *sys.argv[2:]]
main()
"""
"""`governance ...` on a disk that fills up while the file named by argv[1] is written."""


# --- the store and the outputs as values ---------------------------------------------------


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of an SQLite store, without the columns that differ between two correct
    runs; rows sorted (audit events in their order)."""
    con = sqlite3.connect(db)
    try:
        tables = [
            name
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith("sqlite_") and name != "alembic_version"
        ]
        state: dict[str, list[tuple[Any, ...]]] = {}
        for table in sorted(tables):
            columns = [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
            kept = [c for c in columns if c not in VOLATILE.get(table, set())]
            order = " ORDER BY seq" if table == "audit_events" else ""
            rows = con.execute(f"SELECT {', '.join(kept)} FROM {table}{order}").fetchall()
            state[table] = rows if order else sorted(rows, key=repr)
        return state
    finally:
        con.close()


def copy_store(source: Path, target: Path) -> Path:
    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


def normalised(name: str, data: bytes) -> Any:
    """An output's content, less the clock readings of the run."""
    if name == "audit_report.json":
        doc = json.loads(data)
        doc.pop("started_at")
        doc.pop("finished_at")
        return doc
    if name == "audit_report.html":
        return re.sub(rb"<dt>Started, finished</dt><dd>[^<]*</dd>", b"", data)
    return data


def check_outputs(out: Path, reference: Path, complete: bool) -> list[str]:
    """Every file under its final name is the complete output; hidden temporary files of
    killed writers are the only other files. Returns those leftovers."""
    expected = {p.name for p in reference.iterdir()}
    leftovers = []
    if not out.exists():
        assert not complete
        return leftovers
    for path in out.iterdir():
        if path.name in expected:
            want = normalised(path.name, (reference / path.name).read_bytes())
            assert normalised(path.name, path.read_bytes()) == want, path.name
        else:
            assert any(temp_pattern(n).fullmatch(path.name) for n in expected), path.name
            leftovers.append(path.name)
    if complete:
        assert expected <= {p.name for p in out.iterdir()}
    return leftovers


# --- running `governance run` and killing it ----------------------------------------------


def run_args(exports: dict[str, Path], as_of: str, out: Path, db: Path) -> list[str]:
    files = [f"--{s}={p}" for s, p in exports.items()]
    return ["run", *files, "--as-of", as_of, "--out", str(out), "--db", f"sqlite:///{db}"]


ZYGOTE = """
import json, os, signal, sys, time, traceback
import governance.cli, governance.run
from governance.quality.expectations import warm_up
warm_up()  # Great Expectations is imported once, not by every attempt
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    log = job["log"]
    open(log, "w").close()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the attempt: `governance run`, stderr to its log
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND)
            os.dup2(fd, 2)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            sys.argv = ["governance", *job["args"]]
            try:
                governance.cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    # This process is the attempt's parent: it alone kills and reaps it, so a pid is never
    # signalled after it has been reaped (and perhaps reused).
    def done():
        finished, status = os.waitpid(pid, os.WNOHANG)
        return os.waitstatus_to_exitcode(status) if finished else None
    code, mark_at, killed = None, None, False
    if job["after_mark"]:
        while code is None and mark_at is None:
            with open(log, encoding="utf-8", errors="replace") as fh:
                if any(l.startswith(job["mark"]) for l in fh):
                    mark_at = time.monotonic()
            if mark_at is None:
                time.sleep(0.002)
                code = done()
    if job["delay"] is not None and (mark_at is not None or not job["after_mark"]):
        deadline = (mark_at or start) + job["delay"]
        while code is None and time.monotonic() < deadline:
            time.sleep(0.002)
            code = done()
        if code is None:
            os.kill(pid, signal.SIGKILL)  # it may have just exited: see its exit code
            killed = True
    if code is None:
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    killed = killed and code == -signal.SIGKILL
    end = time.monotonic()
    print(json.dumps({"code": code, "killed": killed, "duration": end - start,
                      "tail": None if mark_at is None else end - mark_at}), flush=True)
"""
"""A process that imports the library once, then runs each attempt in a fork of itself,
kills it (SIGKILL) when told, and reports its exit code and timings."""


@dataclass
class Outcome:
    code: int
    killed: bool
    duration: float
    tail: float | None
    log: str


class Zygote:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.errors = open(folder / "zygote.log", "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def run(self, args: list[str], delay: float | None = None, after_mark: bool = False) -> Outcome:
        """One `governance run`; SIGKILLed `delay` seconds after it started, or after its
        progress line TAIL_MARK, unless it has finished by then."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.count += 1
        log = self.folder / f"attempt{self.count}.log"
        job = {"args": args, "log": str(log), "delay": delay, "after_mark": after_mark}
        self.proc.stdin.write(json.dumps({**job, "mark": TAIL_MARK}) + "\n")
        self.proc.stdin.flush()
        report = json.loads(self.proc.stdout.readline())
        return Outcome(log=log.read_text(encoding="utf-8", errors="replace"), **report)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.errors.close()


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[Zygote]:
    folder = tmp_path / "attempts"
    folder.mkdir()
    started = Zygote(folder)
    yield started
    started.close()


@dataclass
class World:
    day2: dict[str, Path]
    base_db: Path
    base: dict[str, list[tuple[Any, ...]]]
    reference_out: Path
    reference: dict[str, list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A store holding day 1's run; day 2's exports (the CRM system deleted half of what
    day 1's manifest asked for); and day 2's uninterrupted run on a copy of that store."""
    root = tmp_path_factory.mktemp("crash")
    day1 = write_sample_exports(root / "day1", rows=400, seed=21)
    base_db = root / "base.db"
    proc = governance(*run_args(day1, DAY1, root / "out1", base_db))
    assert proc.returncode == 0, proc.stderr
    with open(root / "out1" / "deletion_manifest.csv", newline="", encoding="utf-8") as fh:
        deleted = sorted(
            r["source_record_id"] for r in csv.DictReader(fh) if r["source_system"] == "crm"
        )
    gone = set(deleted[::2])
    day2 = dict(day1)
    day2["crm"] = root / "crm_day2.csv"
    with open(day1["crm"], newline="", encoding="utf-8") as src:
        reader = csv.DictReader(src)
        kept = [r for r in reader if r["record_id"] not in gone]
        fields = list(reader.fieldnames or [])
    with open(day2["crm"], "w", newline="", encoding="utf-8") as dst:
        writer = csv.DictWriter(dst, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)

    reference_db = copy_store(base_db, root / "reference.db")
    proc = governance(*run_args(day2, DAY2, root / "reference", reference_db))
    assert proc.returncode == 0, proc.stderr
    assert f"crm: {len(gone):,} earlier deletions confirmed" in proc.stderr
    reference = dump(reference_db)
    assert {r[1] for r in reference["dispositions"]} == {"crm", "hr", "recruitment"}
    return World(day2, base_db, dump(base_db), root / "reference", reference)


def assert_store_is_whole(db: Path, world: World) -> str:
    """The store holds day 2's run entirely or not at all; its trail verifies."""
    state = dump(db)
    assert state in (world.base, world.reference), "the run is half-recorded"
    assert verify_trail(engine_for(f"sqlite:///{db}")).ok
    return "recorded" if state == world.reference else "not recorded"


# --- random kills ---------------------------------------------------------------------------


def test_random_kills_never_leave_a_partial_output_or_a_half_recorded_run(
    world: World, zygote: Zygote, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    # How long a run takes, in all and from its last progress line before writing.
    db = copy_store(world.base_db, tmp_path / "calibration.db")
    timing = zygote.run(run_args(world.day2, DAY2, tmp_path / "calibration", db), after_mark=True)
    assert timing.code == 0 and timing.tail is not None, timing.log
    assert dump(db) == world.reference
    killed = 0
    seen: list[str] = []
    for round_ in range(ROUNDS):
        db = copy_store(world.base_db, tmp_path / f"store{round_}.db")
        out = tmp_path / f"out{round_}"
        args = run_args(world.day2, DAY2, out, db)
        for _ in range(KILLS_PER_ROUND):
            # A third anywhere in the run, the rest while it writes and records.
            if rng.random() < 1 / 3:
                attempt = zygote.run(args, rng.uniform(0, timing.duration))
            else:
                attempt = zygote.run(args, rng.uniform(0, timing.tail), after_mark=True)
            last_kill = time.monotonic()
            killed += attempt.killed
            assert attempt.code == (-signal.SIGKILL if attempt.killed else 0), attempt.log
            leftovers = check_outputs(out, world.reference_out, complete=not attempt.killed)
            if not attempt.killed:
                # A run that completes removes what dead writers left, but for an empty
                # file of the last seconds (which may be a writer about to lock it).
                assert all((out / name).stat().st_size == 0 for name in leftovers), leftovers
            seen.append(assert_store_is_whole(db, world) + (" +temp" if leftovers else ""))
        # Then a run that is left alone (as a restarted process would, seconds later): it
        # completes the interrupted one and removes every temporary file left.
        time.sleep(max(0.0, last_kill + STALE_EMPTY_AFTER + 0.2 - time.monotonic()))
        rerun = zygote.run(args)
        assert rerun.code == 0, rerun.log
        assert check_outputs(out, world.reference_out, complete=True) == []
        assert dump(db) == world.reference
    verify = governance("audit", "verify", "--db", f"sqlite:///{db}")
    assert verify.returncode == 0 and "audit trail intact" in verify.stdout
    assert killed >= ROUNDS * KILLS_PER_ROUND // 2, seen
    assert "not recorded" in seen, seen


# --- kills at the weak points ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name", "when", "written"),
    [
        # between the manifest and its checksum
        ("governance.outputs.tables", "write_checksum", "before", "deletion_manifest.csv"),
        # every output written, nothing recorded yet
        ("governance.run", "record_run", "before", "audit_report.html"),
        # inside the transaction recording the run, after a check of earlier deletions
        ("governance.store.disposition", "check_dispositions", "after", "audit_report.html"),
    ],
)
def test_a_crash_at_a_weak_point_is_completed_by_the_rerun(
    world: World, tmp_path: Path, module: str, name: str, when: str, written: str
) -> None:
    db = copy_store(world.base_db, tmp_path / "store.db")
    out = tmp_path / "out"
    args = run_args(world.day2, DAY2, out, db)
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, module, name, when, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    check_outputs(out, world.reference_out, complete=False)
    assert (out / written).is_file()
    assert dump(db) == world.base  # nothing of the run is recorded
    again = governance(*args)
    assert again.returncode == 0, again.stderr
    assert "recorded the run in the governance store" in again.stderr
    assert "earlier deletions confirmed" in again.stderr
    assert check_outputs(out, world.reference_out, complete=True) == []
    assert dump(db) == world.reference


# --- a full disk ----------------------------------------------------------------------------


def test_a_full_disk_is_one_line_and_leaves_no_partial_manifest(
    world: World, tmp_path: Path
) -> None:
    db = copy_store(world.base_db, tmp_path / "store.db")
    out = tmp_path / "out"
    args = run_args(world.day2, DAY2, out, db)
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL, ".deletion_manifest.csv.", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 4  # outputs could not be written
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert errors == [f"error: {out}/deletion_manifest.csv: cannot write: No space left on device"]
    assert not (out / "deletion_manifest.csv").exists()
    assert not (out / "deletion_manifest.csv.sha256").exists()
    assert check_outputs(out, world.reference_out, complete=False) == []  # no temp file left
    assert dump(db) == world.base

    # Over an earlier complete run, the earlier manifest and its checksum stay as they were.
    previous = {p.name: p.read_bytes() for p in world.reference_out.iterdir()}
    for name, data in previous.items():
        (out / name).write_bytes(data)
    proc = subprocess.run(
        [sys.executable, "-c", DISK_FULL, ".deletion_manifest.csv.", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 4  # outputs could not be written
    for name in ("deletion_manifest.csv", "deletion_manifest.csv.sha256"):
        assert (out / name).read_bytes() == previous[name]


def test_write_failures_of_the_storage_are_output_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "deletion_manifest.csv"
    target.write_text("old\n")

    def no_room(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_room)
    with pytest.raises(OutputError) as caught:
        atomic_write_text(target, "new\n")
    assert str(caught.value) == f"{target}: cannot write: No space left on device"
    assert isinstance(caught.value, GovernanceError)
    monkeypatch.undo()
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deletion_manifest.csv"]

    # A read-only folder: one line too, naming the file.
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(OutputError, match=r"locked/x\.csv: cannot write: Permission denied"):
            atomic_write_text(locked / "x.csv", "x")

    # Errors of the code filling the file (here: reading a remote export) are its own.
    with pytest.raises(ConnectionResetError), atomic_path(tmp_path / "copy.csv"):
        raise ConnectionResetError(errno.ECONNRESET, "connection reset")
    with pytest.raises(ValueError), atomic_path(tmp_path / "copy.csv"):
        raise ValueError("bad")
    assert not (tmp_path / "copy.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deletion_manifest.csv", "locked"]


# --- leftover temporary files ---------------------------------------------------------------


def test_a_write_removes_what_dead_writers_of_the_same_file_left(tmp_path: Path) -> None:
    target = tmp_path / "decisions.csv"
    dead = tmp_path / ".decisions.csv.0123456789abcdef.tmp"
    dead.write_text("half a fi")
    older_style = tmp_path / ".decisions.csv.k2_9xq1a.tmp"  # tempfile.mkstemp's names
    older_style.write_text("half")
    other_file = tmp_path / ".review_queue.csv.0123456789abcdef.tmp"
    other_file.write_text("someone else's")
    not_ours = tmp_path / ".decisions.csv.notes.txt.tmp"
    not_ours.write_text("keep")
    atomic_write_text(target, "complete\n")
    assert target.read_text() == "complete\n"
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([target.name, other_file.name, not_ours.name])


def test_a_live_writers_file_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "decisions.csv"
    live = tmp_path / ".decisions.csv.fedcba9876543210.tmp"
    live.write_text("being written")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a writer in another process holds it
    try:
        assert remove_stale_temps(target) == 0
        atomic_write_text(target, "complete\n")
        assert live.exists()
    finally:
        os.close(fd)  # the writer dies: its lock goes with it
    assert remove_stale_temps(target) == 1
    assert not live.exists()


def test_an_empty_new_temp_file_may_be_a_writer_about_to_lock_it(tmp_path: Path) -> None:
    target = tmp_path / "decisions.csv"
    fresh = tmp_path / ".decisions.csv.00112233445566aa.tmp"
    fresh.touch()
    assert remove_stale_temps(target) == 0
    past = time.time() - 60
    os.utime(fresh, (past, past))
    assert remove_stale_temps(target) == 1


def test_outputs_keep_the_usual_permissions(tmp_path: Path) -> None:
    before = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "sub" / "report.csv", "x\n")
    finally:
        os.umask(before)
    assert (tmp_path / "sub" / "report.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "sub").stat().st_mode & 0o777 == 0o755


# --- the run and its follow-up in one transaction -------------------------------------------


def audit_doc(run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "as_of": DAY1,
        "status": "ok",
        "policy": {"version": "v1", "sha256": "p" * 64},
        "manifest": {"rows": 0, "sha256": "m" * 64},
        "started_at": "2026-11-30T06:00:00+00:00",
        "finished_at": "2026-11-30T06:00:05+00:00",
        "trigger": {"kind": "command line"},
        "exports": {
            "crm": {
                "file": "crm.csv",
                "sha256": "c" * 64,
                "rows_read": 1,
                "rows_quarantined": 0,
                "status": "ok",
                "blocked_reason": None,
                "decisions": {"ENQUIRY-3M": {"retain": 1}},
            }
        },
    }


def test_a_run_and_its_follow_up_commit_together(store_url: str) -> None:
    engine = engine_for(store_url)

    def fails(conn: Any) -> None:
        conn.execute(text("SELECT 1"))
        raise RuntimeError("crashed while checking earlier deletions")

    with pytest.raises(RuntimeError):
        record_run(engine, audit_doc("r1"), [], then=fails)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Run)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 0

    calls: list[str] = []
    assert record_run(engine, audit_doc("r1"), [], then=lambda conn: calls.append("checked"))
    assert not record_run(engine, audit_doc("r1"), [], then=lambda conn: calls.append("again"))
    assert calls == ["checked"]
    assert verify_trail(engine).ok
