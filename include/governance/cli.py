"""`governance`: the command line of the retention governance jobs."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from governance.errors import GovernanceError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Retention governance: apply the retention schedule to CRM, HR and recruitment "
    "exports and write deletion manifests and audit reports.",
)
# Logs and CI are not terminals; give tables room there instead of rich's 80 columns.
out = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


SourceFile = Annotated[
    Path | None, typer.Option(dir_okay=False, help="Export file (.csv or .xlsx).")
]
QualityFile = Annotated[
    Path | None,
    typer.Option(dir_okay=False, help="Data-quality settings (default: the shipped ones)."),
]
DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Governance store (SQLAlchemy URL; default $GOVERNANCE_DB_URL, else SQLite in "
        "$GOVERNANCE_HOME).",
    ),
]
SourceConfigFile = Annotated[
    Path | None,
    typer.Option(dir_okay=False, help="Source config YAML (default: the shipped one)."),
]


@app.command("sample-data")
def sample_data(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the exports to.")],
    rows: Annotated[
        int, typer.Option(min=1, help="CRM rows; HR gets 1/5, recruitment 3/10.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    as_of: Annotated[
        str, typer.Option("--as-of", help="Date the sample's dates are spread around.")
    ] = "2026-11-30",
    bad_share: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of deliberately bad rows.")
    ] = 0.01,
) -> None:
    """Write realistic sample exports (crm, hr, recruitment) in the default layouts."""
    from governance.progress import reporter
    from governance.sample_data import source_row_counts, write_sample_exports

    if fmt not in ("csv", "xlsx"):
        raise typer.BadParameter("must be csv or xlsx", param_hint="--format")
    reference = _parse_date(as_of)
    counts = source_row_counts(rows)
    with reporter(len(counts)) as progress:
        paths = write_sample_exports(
            out_dir,
            rows=rows,
            seed=seed,
            fmt=fmt,
            reference_date=reference,
            bad_share=bad_share,
            progress=lambda source, n: progress.step(f"wrote {source}: {n:,} rows"),
        )
    for source, path in paths.items():
        out.print(f"{source:<12} {counts[source]:>10,} rows  {path}", highlight=False)


@app.command("read")
def read(
    crm: SourceFile = None,
    hr: SourceFile = None,
    recruitment: SourceFile = None,
    crm_config: SourceConfigFile = None,
    hr_config: SourceConfigFile = None,
    recruitment_config: SourceConfigFile = None,
    summary: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Write the summary as JSON.")
    ] = None,
) -> None:
    """Read exports into canonical records and report what was found (no personal data).

    Sources without a file use the path in their config; give at least one file or config.
    """
    from governance.pipeline import read_sources, resolve_sources
    from governance.progress import reporter

    plan = resolve_sources(
        files={"crm": crm, "hr": hr, "recruitment": recruitment},
        configs={"crm": crm_config, "hr": hr_config, "recruitment": recruitment_config},
    )
    with reporter(len(plan)) as progress:
        results = read_sources(plan, on_done=progress.step)
    table = Table(title="Exports read")
    table.add_column("source")
    table.add_column("status")
    table.add_column("rows", justify="right")
    table.add_column("invalid cells", justify="right")
    table.add_column("in fields")
    failed = []
    for result in results:
        if result.error is not None:
            failed.append(result)
            table.add_row(result.source, "[red]error[/red]", "-", "-", "see below")
            continue
        assert result.export is not None
        exp = result.export
        where = ", ".join(f"{k} ({v})" for k, v in exp.invalid_counts.items()) or "-"
        total = sum(exp.invalid_counts.values())
        table.add_row(result.source, "ok", f"{exp.rows:,}", f"{total:,}", where)
        if exp.absent_fields:
            table.add_row("", "", "", "", f"[dim]absent: {', '.join(exp.absent_fields)}[/dim]")
    out.print(table)
    for result in failed:
        err.print(f"error: {result.error}", highlight=False, soft_wrap=True, markup=False)
    if failed:
        raise typer.Exit(2)
    if summary is not None:
        from governance.outputs.atomic import atomic_write_text

        document = {"exports": [r.summary() for r in results]}
        atomic_write_text(summary, json.dumps(document, indent=2, sort_keys=True) + "\n")
        out.print(f"summary: {summary}", highlight=False)


@app.command("run")
def run(
    out_dir: Annotated[Path, typer.Option("--out", file_okay=False, help="Output directory.")],
    crm: SourceFile = None,
    hr: SourceFile = None,
    recruitment: SourceFile = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Decide as of this date (YYYY-MM-DD); default: today in Europe/London."
        ),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Policy file (default: the shipped one).")
    ] = None,
    crm_config: SourceConfigFile = None,
    hr_config: SourceConfigFile = None,
    recruitment_config: SourceConfigFile = None,
    quality: QualityFile = None,
    db: DbUrl = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Write every output but keep no manifest or queue in the store to act on.",
        ),
    ] = False,
    requested_by: Annotated[
        str | None, typer.Option(help="Who asked for this run (kept in the audit trail).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Why, or a ticket (kept in the audit trail).")
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            min=1, help="Decide each export in this many parts (bounds memory; same outputs)."
        ),
    ] = None,
    partition_rows: Annotated[
        int | None,
        typer.Option(min=1000, help="Or: one part per this many rows of an export."),
    ] = None,
) -> None:
    """Apply the retention policy and write decisions, the deletion manifest, the review
    queue, consent actions, the quarantine list and the audit report into --out.

    Exit 0 when every export passed the quality gate, 3 when an export was blocked (the
    others still complete), 2 for usage or configuration errors (nothing written).
    """
    from governance.pipeline import resolve_sources
    from governance.policy.model import load_policy
    from governance.progress import reporter
    from governance.quality.config import load_quality_config
    from governance.run import run_retention

    day = _parse_date(as_of) if as_of is not None else _london_today()
    if out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} exists and is not a directory", param_hint="--out")
    loaded = load_policy(policy)
    checks = load_quality_config(quality)
    plan = resolve_sources(
        files={"crm": crm, "hr": hr, "recruitment": recruitment},
        configs={"crm": crm_config, "hr": hr_config, "recruitment": recruitment_config},
    )
    with reporter(2 * len(plan) + 1) as progress:
        if partitions is None and partition_rows is None:
            result = run_retention(
                plan,
                loaded,
                day,
                out_dir,
                on_step=progress.step,
                quality=checks,
                trigger=_trigger(dry_run, requested_by, reason),
                db_url=db,
            )
        else:
            from governance.partition import run_partitioned
            from governance.run import PARTS_DIR

            result = run_partitioned(
                plan,
                loaded,
                day,
                out_dir,
                out_dir / PARTS_DIR,
                partitions=partitions,
                partition_rows=partition_rows,
                on_step=progress.step,
                quality=checks,
                trigger=_trigger(dry_run, requested_by, reason),
                db_url=db,
            )

    table = Table(
        title=f"Run {result.run_id} as of {day.isoformat()} (policy {loaded.policy.version})"
    )
    for column in (
        "source",
        "status",
        "rows",
        "quarantined",
        "delete",
        "hold",
        "review",
        "consent",
        "retain",
    ):
        table.add_column(column, justify="left" if column in ("source", "status") else "right")
    blocked_lines = []
    for o in result.outcomes:
        ev = o.evaluation
        status = "[green]ok[/green]" if o.status == "ok" else "[bold red]BLOCKED[/bold red]"
        if ev is None:
            table.add_row(o.source, status, "-", "-", "-", "-", "-", "-", "-")
        else:
            counts = ev.decisions["decision"].value_counts()

            def n(*kinds: str, c: Any = counts) -> str:
                return f"{int(sum(c.get(k, 0) for k in kinds)):,}"

            table.add_row(
                o.source,
                status,
                f"{ev.rows:,}",
                f"{ev.quarantined_rows:,}",
                n("delete"),
                n("hold"),
                n("review"),
                n("renew_consent", "consent_expired"),
                n("retain"),
            )
        if o.blocked_reason:
            blocked_lines.append(f"{o.source} blocked: {o.blocked_reason}")
    out.print(table)
    for line in blocked_lines:
        err.print(line, style="bold red", highlight=False, soft_wrap=True, markup=False)
    out.print(
        f"deletion manifest: {result.files['deletion_manifest']} ({result.manifest_rows:,} rows)",
        highlight=False,
    )
    out.print(f"audit report:      {result.files['audit_report']}", highlight=False)
    out.print(f"data quality:      {result.files['data_quality']}", highlight=False)
    out.print(f"all outputs in:    {out_dir}", highlight=False)
    raise typer.Exit(result.exit_code)


@app.command("validate")
def validate(
    source: Annotated[str, typer.Option(help="crm, hr or recruitment.")],
    file: Annotated[Path, typer.Argument(dir_okay=False, help="The export (.csv or .xlsx).")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date the checks assume (default: today).")
    ] = None,
    config: SourceConfigFile = None,
    policy: Annotated[Path | None, typer.Option(dir_okay=False, help="Policy file.")] = None,
    quality: QualityFile = None,
    db: DbUrl = None,
) -> None:
    """Run the data-quality checks of one export alone and print them as a table.

    Exit 0 when the export would pass the gate, 3 when it would be blocked.
    """
    from governance.pipeline import check_export, resolve_sources
    from governance.policy.model import load_policy
    from governance.quality.config import load_quality_config
    from governance.sources.schema import SOURCES

    if source not in SOURCES:
        raise typer.BadParameter(f"must be one of {', '.join(SOURCES)}", param_hint="--source")
    day = _parse_date(as_of) if as_of is not None else _london_today()
    loaded = load_policy(policy)
    checks = load_quality_config(quality)
    plan = resolve_sources(files={source: file}, configs={source: config})[0]
    result = check_export(plan, loaded.policy, day, checks, db_url=db)
    report, blocked = result.report, result.blocked_reason
    table = Table(title=f"Data quality of {file} ({source}) as of {day.isoformat()}")
    for column in ("check", "severity", "result", "failing", "%", "checked"):
        table.add_column(
            column, justify="right" if column in ("failing", "%", "checked") else "left"
        )
    for r in report.results:
        colour = "green" if r.success else ("yellow" if r.severity == "warn" else "red")
        table.add_row(
            r.description,
            r.severity,
            f"[{colour}]{'passed' if r.success else 'failed'}[/{colour}]",
            f"{r.unexpected_count:,}",
            f"{r.unexpected_percent:.2f}",
            f"{r.element_count:,}",
        )
    out.print(table)
    out.print(f"{result.rows:,} rows, {result.quarantined:,} quarantined", highlight=False)
    if blocked:
        err.print(f"{source} blocked: {blocked}", style="bold red", highlight=False, markup=False)
        raise typer.Exit(3)
    out.print("[green]passes the gate[/green]")


audit_app = typer.Typer(help="The tamper-evident audit trail of the governance store.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(db: DbUrl = None) -> None:
    """Check every link of the audit trail; report the first broken one (exit 1)."""
    from governance.store.db import engine_for
    from governance.store.recorder import verify_trail

    result = verify_trail(engine_for(db))
    if result.ok:
        out.print(f"audit trail intact: {result.events:,} events", highlight=False)
        return
    where = f"event #{result.broken_at}" if result.broken_at is not None else "the trail"
    err.print(f"audit trail broken at {where}: {result.problem}", highlight=False, markup=False)
    raise typer.Exit(1)


disposition_app = typer.Typer(help="Proof of disposition: were manifested records deleted?")
app.add_typer(disposition_app, name="disposition")


@disposition_app.command("list")
def disposition_list(
    status: Annotated[
        str | None, typer.Option(help="confirmed or overdue (default: both).")
    ] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Write the list as CSV.")
    ] = None,
    db: DbUrl = None,
) -> None:
    """Manifested records later confirmed deleted (absent from an accepted export) or
    overdue (still present after the grace period): ids, rule, manifest, dates."""
    from governance.store.db import engine_for
    from governance.store.disposition import list_dispositions

    if status not in (None, "confirmed", "overdue"):
        raise typer.BadParameter("must be confirmed or overdue", param_hint="--status")
    with engine_for(db).connect() as conn:
        frame = list_dispositions(conn, status)
    if csv_out is not None:
        from governance.outputs.atomic import atomic_write_text
        from governance.outputs.safe_cells import neutralise_frame

        text = neutralise_frame(frame).to_csv(index=False, lineterminator="\n")
        atomic_write_text(csv_out, text)
        out.print(f"{len(frame):,} dispositions written to {csv_out}", highlight=False)
        return
    table = Table(title="Dispositions")
    for column in frame.columns:
        table.add_column(column)
    for row in frame.head(200).itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    out.print(table)
    counts = frame["status"].value_counts().to_dict() if len(frame) else {}
    out.print(
        f"{counts.get('confirmed', 0):,} confirmed, {counts.get('overdue', 0):,} overdue"
        + (" (first 200 shown; --out for all)" if len(frame) > 200 else ""),
        highlight=False,
    )


review_app = typer.Typer(help="Periodic reviews: list those due, record keep or delete.")
app.add_typer(review_app, name="review")


@review_app.command("list")
def review_list(
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--out", dir_okay=False, help="Write the list as CSV.")
    ] = None,
    db: DbUrl = None,
) -> None:
    """Reviews due in the latest run and not decided yet, oldest first (ids and dates)."""
    from governance.store.db import engine_for
    from governance.store.reviews import open_reviews

    items = open_reviews(engine_for(db), source)
    header = ["source", "record_id", "rule_id", "trigger_date", "due_date", "run_id"]
    rows = [
        [i.source, i.record_id, i.rule_id, str(i.trigger_date or ""), str(i.due_date), i.run_id]
        for i in items
    ]
    if csv_out is not None:
        import csv
        import io

        from governance.outputs.atomic import atomic_write_text
        from governance.outputs.safe_cells import neutralise_row

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(neutralise_row(row) for row in rows)
        atomic_write_text(csv_out, buf.getvalue())
        out.print(f"{len(rows):,} open reviews written to {csv_out}", highlight=False)
        return
    table = Table(title="Open reviews")
    for column in header:
        table.add_column(column)
    for row in rows[:200]:
        table.add_row(*row)
    out.print(table)
    more = " (first 200 shown; --out for all)" if len(rows) > 200 else ""
    out.print(f"{len(rows):,} open reviews{more}", highlight=False)


@review_app.command("decide")
def review_decide(
    record_id: Annotated[str, typer.Argument(help="The record's id in its source.")],
    keep: Annotated[bool, typer.Option("--keep", help="Keep it: review again in a cycle.")] = (
        False
    ),
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete it: it goes into the next manifest.")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit trail).")] = "",
    reviewer: Annotated[
        str | None,
        typer.Option(help="Who decides (default $GOVERNANCE_REVIEWER, else the login name)."),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="The record's source, when several have it.")
    ] = None,
    db: DbUrl = None,
) -> None:
    """Record a keep (with a reason) or a delete on a record's open review."""
    import getpass
    import os

    from governance.store.db import engine_for
    from governance.store.reviews import decide_review

    if keep == delete:
        raise typer.BadParameter("choose one of --keep or --delete")
    if keep and not reason.strip():
        raise typer.BadParameter("a keep needs a reason", param_hint="--reason")
    who = reviewer or os.environ.get("GOVERNANCE_REVIEWER") or getpass.getuser()
    decision: Literal["keep", "delete"] = "keep" if keep else "delete"
    items, recorded = decide_review(
        engine_for(db),
        record_id,
        decision,
        who,
        reason.strip() or "deleted at its periodic review",
        source=source,
    )
    item = items[0]
    if not recorded:
        out.print(f"already recorded: {decision} {item.source} {record_id}", highlight=False)
        return
    then = (
        "it goes into the next manifest"
        if delete
        else "its next review is due a full period from today"
    )
    out.print(
        f"recorded: {decision} {item.source} {record_id} (review due {item.due_date}) "
        f"by {who}; {then}",
        highlight=False,
    )


report_app = typer.Typer(help="Reports for people, read from the governance store.")
app.add_typer(report_app, name="report")


@report_app.command("monthly")
def report_monthly(
    out_dir: Annotated[Path, typer.Option("--out", file_okay=False, help="Folder to write to.")],
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM (default: the current month in London).")
    ] = None,
    db: DbUrl = None,
) -> None:
    """The monthly governance report: one self-contained HTML page with charts, and its
    tables as CSV (runs, decisions by rule, deletions, reviews, consent, quarantine,
    blocked exports, data-quality trend, policy versions)."""
    from governance.reports.monthly import write_monthly_report
    from governance.store.db import engine_for

    chosen = month or f"{_london_today():%Y-%m}"
    report = write_monthly_report(engine_for(db), chosen, out_dir)
    totals = report.totals
    out.print(
        f"{chosen}: {totals['runs']} runs, {totals['deletions_issued']:,} deletions issued, "
        f"{totals['deletions_confirmed']:,} confirmed, {totals['deletions_overdue']:,} overdue, "
        f"{totals['reviews_open']:,} reviews open",
        highlight=False,
    )
    out.print(f"report: {report.files['report']}", highlight=False)
    out.print(f"tables: {out_dir}/*.csv", highlight=False)


db_app = typer.Typer(help="The governance store's database.")
app.add_typer(db_app, name="db")


@db_app.command("migrate")
def db_migrate(db: DbUrl = None) -> None:
    """Bring the store's schema up to date; exit 1 when the store cannot be reached.

    Every connection migrates too: this is the deployment's init step, done ahead of the
    first run."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, OperationalError

    from governance.store.db import default_url, engine_for

    url = db or default_url()
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise typer.BadParameter("not a SQLAlchemy URL", param_hint="--db") from None
    try:
        probe = create_engine(url)
        with probe.connect() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
        probe.dispose()
        engine = engine_for(url)
        with engine.connect() as conn:
            after = MigrationContext.configure(conn).get_current_revision()
        engine.dispose()
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        err.print(
            f"error: governance store {shown}: {reason}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    if before == after:
        message = f"governance store {shown}: already at revision {after}"
    else:
        message = (
            f"governance store {shown}: migrated from {before or 'an empty database'} "
            f"to revision {after}"
        )
    out.print(message, highlight=False, markup=False, soft_wrap=True)


def _trigger(dry_run: bool, requested_by: str | None, reason: str | None) -> dict[str, Any]:
    trigger: dict[str, Any] = {"kind": "command line"}
    if dry_run:
        trigger["dry_run"] = True
    if requested_by:
        trigger["requested_by"] = requested_by
    if reason:
        trigger["reason"] = reason
    return trigger


def _london_today() -> date:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Europe/London")).date()


EXIT_CANNOT_WRITE = 4
"""An output could not be written (disk full, read-only folder): the file being written is
left as it was; files written before it are complete."""


def main() -> None:
    """Console entry point: configuration and input errors are one line and exit 2."""
    from governance.outputs.atomic import OutputError

    try:
        app()
    except OutputError as exc:
        err.print(f"error: {exc}", highlight=False, soft_wrap=True, markup=False)
        sys.exit(EXIT_CANNOT_WRITE)
    except GovernanceError as exc:
        err.print(f"error: {exc}", highlight=False, soft_wrap=True, markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
