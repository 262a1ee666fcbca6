"""Partitioned processing: one export decided in N parts, on several workers (Airflow's
dynamic task mapping on Celery) or one after another to bound memory, with the same
results as a single pass.

The engine looks at some records together: duplicates of an id, and a relative or referee
with the person their file depends on. So the parts are cut along those links: ids joined
by a link (and every row carrying one of those ids) form one group, and a group's hash
picks its part. Each part is then read, normalised, decided and checked on its own; the
parts' decisions, quarantine lists and data-quality results are put back together in export
row order, and the whole-export checks (the quarantine gate, the row-count drop) are made
on the totals.

The work folder holds the parts (personal data: owner-only files) until the run is
finished; `cleanup` removes it.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from governance.errors import ExportError
from governance.outputs.atomic import atomic_path, atomic_write_text
from governance.pipeline import SourcePlan
from governance.policy.engine import REVIEW_COLUMNS, Evaluation, evaluate
from governance.policy.model import LoadedPolicy, Policy
from governance.quality.config import QualityConfig, load_quality_config
from governance.quality.expectations import (
    ExpectationResult,
    QualityReport,
    build_row_count,
    unreadable_report,
    validate_export,
)
from governance.run import ExportOutcome, RunResult, finish_run, refuse_policy_version_clash
from governance.sources import normalise as norm
from governance.sources.config import SourceConfig
from governance.sources.reader import (
    LARGE_CSV_BYTES,
    NeedsWholeFile,
    RawExport,
    StreamedCsv,
    open_large_csv,
    read_raw,
    to_canonical,
)
from governance.sources.schema import ID_FIELD, ROW_COLUMN, SOURCES
from governance.store.db import engine_for
from governance.store.history import previous_rows
from governance.store.reviews import decisions_for, fingerprint

ROW = "__row"
PARTITION_ROWS = 250_000
"""Default rows per part when a part count is not given."""


@dataclass
class Split:
    """One export cut into parts in a work folder (`split-<source>.json` and its parts)."""

    source: str
    path: str
    origin: str | None
    sha256: str | None
    rows: int = 0
    header: list[str] = field(default_factory=list)
    parts: list[int] = field(default_factory=list)
    """Indexes of the parts that hold rows (empty parts are not written)."""
    error: str | None = None
    error_problem: str | None = None
    error_column: str | None = None
    reviews: list[list[str]] = field(default_factory=list)
    """Reviewers' decisions to apply (REVIEW_COLUMNS, dates ISO)."""
    split_at: str = ""
    """When the split began (ISO, UTC): the run's start, when its steps are separate tasks."""

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()

    @property
    def shown(self) -> str:
        return self.origin or self.path


def parts_for(rows: int, partitions: int | None, partition_rows: int | None = None) -> int:
    """How many parts: as asked, else one per `partition_rows` (default 250,000) rows."""
    if partitions is not None:
        return max(1, partitions)
    return max(1, math.ceil(rows / (partition_rows or PARTITION_ROWS)))


def _split_file(work: Path, source: str) -> Path:
    return work / f"split-{source}.json"


def _part_file(work: Path, source: str, k: int, kind: str = "part") -> Path:
    return work / f"{source}-{k:04d}.{kind}.arrow"


def _write_table(path: Path, table: pa.Table) -> None:
    with atomic_path(path, private=True) as tmp:
        feather.write_feather(table, tmp, compression="lz4")


def _write_json(path: Path, doc: Any) -> None:
    atomic_write_text(path, json.dumps(doc, sort_keys=True), private=True)


def group_keys(raw: RawExport, config: SourceConfig, policy: Policy) -> np.ndarray:
    """A group label per row (int64): rows sharing an id, or joined through a link field
    (a rule's `related.field`), share a label; any other row is a group of its own. Works
    on dictionary codes, never on Python strings, so it stays light at millions of rows."""
    index = {name.strip().casefold(): i for i, name in enumerate(raw.header)}
    n = raw.table.num_rows

    def column(field_name: str) -> pa.ChunkedArray | None:
        position = index.get(config.column_for(field_name).strip().casefold())
        if position is None:
            return None
        text = pd.Series(raw.table.column(position), dtype="str")
        text = norm.apply_value_map(norm.blank_to_na(text), config.value_map(field_name))
        return pa.chunked_array([pa.array(text, pa.large_string(), from_pandas=True)])

    ids = column(ID_FIELD[config.source])
    if ids is None:
        ids = pa.chunked_array([pa.nulls(n, pa.large_string())])
    links = [
        c
        for c in (
            column(rule.related.field)
            for rule in policy.rules_for(config.source)
            if rule.related is not None
        )
        if c is not None
    ]
    # One code per distinct id (or linked id), in order of first appearance.
    chunks = [*ids.chunks, *(chunk for link in links for chunk in link.chunks)]
    encoded = pc.dictionary_encode(pa.chunked_array(chunks))
    codes = encoded.combine_chunks()
    nodes = len(codes.dictionary)
    flat = codes.indices.fill_null(-1).to_numpy().astype(np.int64)
    id_codes = flat[:n]
    link_codes = [flat[n * (i + 1) : n * (i + 2)] for i in range(len(links))]
    label = np.arange(nodes, dtype=np.int64)
    edges = []
    for link in link_codes:
        both = (id_codes >= 0) & (link >= 0)
        edges.append((id_codes[both], link[both]))
    # Label propagation to the smallest code of each connected group (links are short).
    changed = bool(edges)
    while changed:
        changed = False
        for a, b in edges:
            low = np.minimum(label[a], label[b])
            for side in (a, b):
                before = label[side]
                np.minimum.at(label, side, low)
                changed |= bool((label[side] != before).any())
        label = label[label]  # path compression
    keys = np.where(id_codes >= 0, label[np.maximum(id_codes, 0)], -1)
    for link in link_codes:
        use = (keys < 0) & (link >= 0)
        keys[use] = label[link[use]]
    lone = keys < 0
    keys[lone] = nodes + np.flatnonzero(lone)
    return keys


def part_of(keys: np.ndarray, count: int) -> np.ndarray:
    """Each group's part: a multiplicative hash of its label, so neighbouring labels
    spread over the parts."""
    mixed = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((mixed >> np.uint64(33)) % np.uint64(count)).astype(np.int64)


def split_export(
    plan: SourcePlan,
    policy: Policy,
    work: Path,
    partitions: int | None = None,
    partition_rows: int | None = None,
    reviews: pd.DataFrame | None = None,
    stream_from: int = LARGE_CSV_BYTES,
) -> Split:
    """Read one export and write its parts into `work`; an unreadable export is recorded
    as such (it is blocked, as in a single pass). A CSV export of `stream_from` bytes or
    more is streamed in two passes (group keys, then rows) and never held whole."""
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    split = Split(plan.source, str(plan.path), plan.origin, None)
    split.split_at = datetime.now(UTC).isoformat()
    if reviews is not None and len(reviews):
        split.reviews = reviews.astype(str).to_numpy().tolist()
    try:
        streamed = open_large_csv(plan.path, plan.config, stream_from)
        done = False
        if streamed is not None:
            try:
                _split_streamed(streamed, plan, policy, work, split, partitions, partition_rows)
                done = True
            except NeedsWholeFile:
                split.parts = []
        if not done:
            raw, split.sha256 = read_raw(plan.path, plan.config)
            _check_mapping(plan, raw.header, split.sha256)
            _split_table(raw, plan, policy, work, split, partitions, partition_rows)
    except ExportError as exc:
        split.sha256 = exc.sha256 or split.sha256
        split.error = plan.name(str(exc))
        split.error_problem = exc.problem
        split.error_column = exc.column
        split.parts = []
    _write_json(_split_file(work, plan.source), split.to_json())
    return split


def _check_mapping(plan: SourcePlan, header: list[str], sha256: str) -> None:
    """The header's mapping, checked once on no rows: missing or repeated columns block
    the whole export, as in a single pass."""
    empty = pa.table({f"c{i}": pa.array([], pa.string()) for i in range(len(header))})
    try:
        to_canonical(plan.path, sha256, RawExport(header, empty, 0), plan.config)
    except ExportError as exc:
        exc.sha256 = sha256
        raise


def _split_table(
    raw: RawExport,
    plan: SourcePlan,
    policy: Policy,
    work: Path,
    split: Split,
    partitions: int | None,
    partition_rows: int | None,
) -> None:
    n = raw.table.num_rows
    part = part_of(group_keys(raw, plan.config, policy), parts_for(n, partitions, partition_rows))
    rows = pa.array(raw.numbers())
    table = raw.table.rename_columns([f"c{i}" for i in range(raw.table.num_columns)])
    table = table.append_column(ROW, rows)
    for k in np.unique(part).tolist():
        _write_table(_part_file(work, plan.source, k), table.filter(pa.array(part == k)))
        split.parts.append(k)
    split.rows, split.header = n, raw.header


def _split_streamed(
    streamed: StreamedCsv,
    plan: SourcePlan,
    policy: Policy,
    work: Path,
    split: Split,
    partitions: int | None,
    partition_rows: int | None,
) -> None:
    """Two passes over a large export: the id and link columns (for the groups), then
    every row into its part's file, batch by batch."""
    header, config = streamed.header, plan.config
    _check_mapping(plan, header, streamed.sha256)
    split.sha256 = streamed.sha256
    folded = [name.strip().casefold() for name in header]
    wanted = [ID_FIELD[config.source]] + [
        r.related.field for r in policy.rules_for(config.source) if r.related is not None
    ]
    positions = sorted(
        {
            folded.index(c)
            for c in (config.column_for(f).strip().casefold() for f in wanted)
            if c in folded
        }
    )
    keys_columns: dict[int, list[pa.Array]] = {p: [] for p in positions}
    n = 0
    for batch in streamed.batches():
        for p in positions:
            keys_columns[p].append(batch.column(p))
        n += batch.num_rows
    keys_table = pa.table(
        [pa.chunked_array(keys_columns[p], pa.string()) for p in positions],
        names=[f"k{p}" for p in positions],
    )
    keys = RawExport([header[p] for p in positions], keys_table, streamed.first_row)
    part = part_of(group_keys(keys, config, policy), parts_for(n, partitions, partition_rows))
    del keys_columns, keys_table, keys
    names = [*(f"c{i}" for i in range(len(header))), ROW]
    schema = pa.schema([pa.field(name, pa.string()) for name in names[:-1]]).append(
        pa.field(ROW, pa.int64())
    )
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    writers: dict[int, Any] = {}
    offset = 0
    # Each part is an atomic, owner-only file: complete under its name or not there at
    # all; the stack closes the writers before their files are moved into place.
    with contextlib.ExitStack() as files:
        for batch in streamed.batches():
            m = batch.num_rows
            if offset + m > n:
                raise NeedsWholeFile  # the file changed between the passes
            mine = part[offset : offset + m]
            row = np.arange(streamed.first_row + offset, streamed.first_row + offset + m)
            whole = pa.RecordBatch.from_arrays([*batch.columns, pa.array(row)], schema=schema)
            for k in np.unique(mine).tolist():
                if k not in writers:
                    tmp = files.enter_context(
                        atomic_path(_part_file(work, plan.source, k), private=True)
                    )
                    sink = files.enter_context(pa.OSFile(str(tmp), "wb"))
                    writers[k] = files.enter_context(pa.ipc.new_file(sink, schema, options=options))
                writers[k].write_batch(whole.filter(pa.array(mine == k)))
            offset += m
        if offset != n:
            raise NeedsWholeFile
    split.parts.extend(sorted(writers))
    split.rows, split.header = n, header


def load_split(work: Path, source: str) -> Split:
    return Split(**json.loads(_split_file(work, source).read_text(encoding="utf-8")))


def _reviews(split: Split) -> pd.DataFrame | None:
    if not split.reviews:
        return None
    frame = pd.DataFrame(split.reviews, columns=REVIEW_COLUMNS)
    for name in ("due_date", "decided_on"):
        frame[name] = [date.fromisoformat(v) for v in frame[name]]
    return frame


def decide_part(
    work: Path,
    source: str,
    k: int,
    config: SourceConfig,
    policy: Policy,
    as_of: date,
    quality: QualityConfig,
) -> dict[str, int]:
    """Read, normalise, decide and check part `k`, and write its results beside it."""
    split = load_split(work, source)
    table = feather.read_table(_part_file(work, source, k), memory_map=False)
    rows = table.column(ROW).to_numpy()
    raw = RawExport(header=split.header, table=table.drop_columns([ROW]), first_row=0)
    export = to_canonical(Path(split.path), split.sha256 or "", raw, config)
    del table, raw
    frame = export.frame
    frame[ROW_COLUMN] = rows
    ev = evaluate(frame, source, policy, as_of, reviews=_reviews(split))
    report = validate_export(ev, frame, quality, previous_rows=None)
    _write_table(_part_file(work, source, k, "decisions"), _to_arrow(ev.decisions))
    _write_table(_part_file(work, source, k, "quarantine"), _to_arrow(ev.quarantine))
    _write_json(
        _part_file(work, source, k, "summary").with_suffix(".json"),
        {
            "rows": ev.rows,
            "quarantined_rows": ev.quarantined_rows,
            "max_quarantined_share": ev.max_quarantined_share,
            "breaches": ev.breaches,
            "quality": [_result_json(r) for r in report.results],
        },
    )
    return {"rows": ev.rows, "quarantined_rows": ev.quarantined_rows}


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _result_json(r: ExpectationResult) -> dict[str, Any]:
    return {
        "id": r.id,
        "severity": r.severity,
        "description": r.description,
        "success": r.success,
        "unexpected_count": r.unexpected_count,
        "element_count": r.element_count,
        "checks": r.checks,
        "agrees": r.agrees,
    }


@dataclass
class Combined:
    """An export's parts put back together: what a single pass would have produced."""

    sha256: str | None
    evaluation: Evaluation | None = None
    quality: QualityReport | None = None
    record_ids: pa.Array | None = None
    error: str | None = None
    reviews: pd.DataFrame | None = None


def combine(
    work: Path,
    source: str,
    quality_config: QualityConfig,
    previous_rows: int | None,
) -> Combined:
    """The parts' results in export row order, with the whole-export checks on the totals."""
    split = load_split(work, source)
    if split.error is not None:
        error = ExportError(Path(split.path), split.error_problem or "", column=split.error_column)
        return Combined(split.sha256, error=split.error, quality=unreadable_report(source, error))
    decisions, quarantine, summaries = [], [], []
    for k in split.parts:
        decisions.append(feather.read_table(_part_file(work, source, k, "decisions")))
        quarantine.append(feather.read_table(_part_file(work, source, k, "quarantine")))
        path = _part_file(work, source, k, "summary").with_suffix(".json")
        summaries.append(json.loads(path.read_text(encoding="utf-8")))
    ordered = _in_row_order(decisions)
    del decisions
    breaches: dict[str, int] = {}
    for s in summaries:
        for rule, n in s["breaches"].items():
            breaches[rule] = breaches.get(rule, 0) + int(n)
    ev = Evaluation(
        source=source,
        rows=sum(int(s["rows"]) for s in summaries),
        decisions=ordered,
        quarantine=_in_row_order(quarantine),
        causes=[],
        derived={},
        quarantined_rows=sum(int(s["quarantined_rows"]) for s in summaries),
        max_quarantined_share=float(summaries[0]["max_quarantined_share"]),
        breaches=breaches,
    )
    results = _combine_quality([s["quality"] for s in summaries])
    if previous_rows is not None:
        results.append(row_count_result(ev.rows, previous_rows, quality_config))
    ids = ordered["source_record_id"].dropna()
    return Combined(
        split.sha256,
        evaluation=ev,
        quality=QualityReport(source, results),
        record_ids=pa.array(ids, pa.large_string(), from_pandas=True),
        reviews=_reviews(split),
    )


def _in_row_order(tables: list[pa.Table]) -> pd.DataFrame:
    """Concatenate parts and restore export row order; a record's rows all come from one
    part, so a stable sort keeps their order (rules in policy order, causes in order).
    Done in Arrow, then converted once, releasing Arrow's copy as it goes."""
    whole = pa.concat_tables(tables)
    tables.clear()
    order = pc.sort_indices(whole, sort_keys=[(ROW_COLUMN, "ascending")])
    ordered = whole.take(order)
    del whole, order
    return ordered.to_pandas(self_destruct=True, split_blocks=True)


def _combine_quality(parts: list[list[dict[str, Any]]]) -> list[ExpectationResult]:
    out: list[ExpectationResult] = []
    for same in zip(*parts, strict=True):
        first = same[0]
        unexpected = sum(int(r["unexpected_count"]) for r in same)
        element = sum(int(r["element_count"]) for r in same)
        out.append(
            ExpectationResult(
                id=first["id"],
                severity=first["severity"],
                description=first["description"],
                success=all(r["success"] for r in same),
                unexpected_count=unexpected,
                unexpected_percent=100.0 * unexpected / element if element else 0.0,
                element_count=element,
                checks=list(first["checks"]),
                agrees=all(r["agrees"] for r in same),
            )
        )
    return out


def row_count_result(rows: int, previous_rows: int, config: QualityConfig) -> ExpectationResult:
    """The row-count check of the whole export (as the single pass runs it in its suite)."""
    expectation = build_row_count(previous_rows, config)
    assert expectation.min_rows is not None
    ok = rows >= expectation.min_rows
    return ExpectationResult(
        id=expectation.id,
        severity=expectation.severity,
        description=expectation.description,
        success=ok,
        unexpected_count=0 if ok else rows,
        unexpected_percent=0.0,
        element_count=rows,
        checks=expectation.checks,
    )


def cleanup(work: Path) -> None:
    """Remove the work folder (it holds the exports' rows)."""
    shutil.rmtree(work, ignore_errors=True)


def outcome(split: Split, combined: Combined) -> ExportOutcome:
    """The export's outcome as `governance.run.finish_run` takes it."""
    out = ExportOutcome(split.source, Path(split.path), origin=split.origin)
    out.sha256 = combined.sha256
    out.error = combined.error
    out.evaluation = combined.evaluation
    out.quality = combined.quality
    out.record_ids = combined.record_ids
    if combined.reviews is not None:
        out.reviews_applied = len(combined.reviews)
        out.reviews_sha256 = fingerprint(combined.reviews)
    return out


def run_partitioned(
    plans: list[SourcePlan],
    policy: LoadedPolicy,
    as_of: date,
    out_dir: Path,
    work: Path,
    partitions: int | None = None,
    partition_rows: int | None = None,
    on_step: Callable[[str], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    quality: QualityConfig | None = None,
    trigger: dict[str, Any] | None = None,
    db_url: str | None = None,
    stream_from: int = LARGE_CSV_BYTES,
) -> RunResult:
    """`governance.run.run_retention` in parts, one after another in this process: the
    same outputs, with memory bounded by the largest part."""
    step = on_step or (lambda _msg: None)
    started = clock()
    quality = quality or load_quality_config()
    store = engine_for(db_url)
    refuse_policy_version_clash(store, policy)
    outcomes: list[ExportOutcome] = []
    cleanup(work)  # parts a killed run left behind
    try:
        for plan in sorted(plans, key=lambda p: SOURCES.index(p.source)):
            with store.connect() as conn:
                reviews = decisions_for(conn, plan.source, as_of)
            split = split_export(
                plan, policy.policy, work, partitions, partition_rows, reviews, stream_from
            )
            if split.error is None:
                step(f"read {plan.source}: {split.rows:,} rows in {len(split.parts)} parts")
            for k in split.parts:
                decide_part(work, plan.source, k, plan.config, policy.policy, as_of, quality)
            combined = combine(work, plan.source, quality, previous_rows(store, plan.source, as_of))
            outcomes.append(outcome(split, combined))
            o = outcomes[-1]
            step(f"decided and checked {plan.source} ({o.status})")
    finally:
        cleanup(work)
    return finish_run(outcomes, policy, as_of, out_dir, store, started, step, clock, trigger)
