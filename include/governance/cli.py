"""`governance`: the command line of the retention governance jobs."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

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
out = Console()
err = Console(stderr=True)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


SourceFile = Annotated[
    Path | None, typer.Option(dir_okay=False, help="Export file (.csv or .xlsx).")
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
        err.print(f"error: {result.error}", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(2)
    if summary is not None:
        from governance.outputs.atomic import atomic_write_text

        document = {"exports": [r.summary() for r in results]}
        atomic_write_text(summary, json.dumps(document, indent=2, sort_keys=True) + "\n")
        out.print(f"summary: {summary}", highlight=False)


def main() -> None:
    """Console entry point: configuration and input errors are one line and exit 2."""
    try:
        app()
    except GovernanceError as exc:
        err.print(f"error: {exc}", highlight=False, soft_wrap=True, markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
