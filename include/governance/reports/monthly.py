"""The monthly governance report: one self-contained HTML page (inline SVG charts, no
external URL, printable) and its tables as CSV, all read from the governance store.

Which runs count: those whose as_of falls in the month. Dry runs are listed but none of
their numbers count. "At month end" figures (decisions by rule, open reviews, consent
actions, quarantine) come from the month's last run that is not a dry run.
"""

from __future__ import annotations

import calendar
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, and_, func, select

import governance
from governance.errors import GovernanceError
from governance.outputs.atomic import atomic_write_text
from governance.outputs.safe_cells import neutralise_frame
from governance.policy.model import load_policy
from governance.reports.data_quality import templates
from governance.store.models import (
    ConsentItem,
    DecisionCount,
    Disposition,
    InputFile,
    ManifestItem,
    QuarantineItem,
    ReviewDecision,
    ReviewItem,
    Run,
)
from governance.store.overview import (
    current_subquery,
    disposed_records,
    monthly_report_name,
    review_decided,
)

TABLES = (
    "runs",
    "decisions_by_rule",
    "deletions",
    "reviews",
    "consent",
    "quarantine",
    "blocked_exports",
    "data_quality",
    "policy_versions",
)
"""The CSV tables written beside the page (`<name>.csv`)."""


@dataclass
class MonthlyReport:
    month: str
    first_day: date
    last_day: date
    tables: dict[str, pd.DataFrame]
    last_run: dict[str, Any] | None
    assumptions: list[dict[str, str]]
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        t = self.tables
        runs = t["runs"]
        counted = runs[~runs["dry_run"]] if len(runs) else runs
        return {
            "runs": len(runs),
            "runs_blocked": int((counted["status"] == "blocked").sum()) if len(runs) else 0,
            "dry_runs": len(runs) - len(counted),
            "deletions_issued": int(t["deletions"]["issued"].sum()),
            "deletions_confirmed": int(t["deletions"]["confirmed"].sum()),
            "deletions_overdue": int(t["deletions"]["overdue"].sum()),
            "reviews_open": int(t["reviews"]["open"].sum()),
            "reviews_kept": int(t["reviews"]["kept"].sum()),
            "reviews_deleted": int(t["reviews"]["deleted"].sum()),
            "blocked_exports": len(t["blocked_exports"]),
        }


def at_month_end(current: Any, model: Any) -> Any:
    """Join condition: `model`'s rows of the runs in `current` (a run and source each)."""
    return and_(current.c.run_id == model.run_id, current.c.source == model.source)


def month_bounds(month: str) -> tuple[date, date]:
    """`YYYY-MM` -> its first and last day."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise GovernanceError(f"month {month!r} is not YYYY-MM") from None
    if len(month) != 7:
        raise GovernanceError(f"month {month!r} is not YYYY-MM")
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return first, last


def _frame(conn: Connection, query: Any, columns: list[str]) -> pd.DataFrame:
    rows = conn.execute(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def build_monthly(engine: Engine, month: str) -> MonthlyReport:
    """Gather the month's figures from the store."""
    first, last = month_bounds(month)
    in_month = and_(Run.as_of >= first, Run.as_of <= last)
    counted = and_(in_month, Run.dry_run.is_(False))
    with engine.connect() as conn:
        runs = _frame(
            conn,
            select(
                Run.run_id,
                Run.as_of,
                Run.status,
                Run.trigger_kind,
                Run.dry_run,
                Run.requested_by,
                Run.policy_version,
                Run.manifest_rows,
            )
            .where(in_month)
            .order_by(Run.as_of, Run.finished_at, Run.run_id),
            [
                "run_id",
                "as_of",
                "status",
                "trigger",
                "dry_run",
                "requested_by",
                "policy_version",
                "manifest_rows",
            ],
        )
        last_row = conn.execute(
            select(Run.run_id, Run.as_of, Run.status)
            .where(counted)
            .order_by(Run.as_of.desc(), Run.finished_at.desc(), Run.run_id.desc())
            .limit(1)
        ).first()
        files = _frame(
            conn,
            select(
                Run.run_id,
                Run.as_of,
                InputFile.source,
                InputFile.rows,
                InputFile.rows_quarantined,
                InputFile.status,
                InputFile.blocked_reason,
            )
            .join(Run, Run.run_id == InputFile.run_id)
            .where(counted)
            .order_by(Run.as_of, Run.finished_at, InputFile.source),
            ["run_id", "as_of", "source", "rows", "quarantined", "status", "blocked_reason"],
        )
        # Month-end state: each source's latest accepted export as of the month's last day
        # (its queues are the work to do); quarantine reasons of blocked ones count too.
        current = current_subquery(by=last)
        latest = current_subquery(by=last, accepted_only=False)
        decisions = _frame(
            conn,
            select(
                DecisionCount.source,
                DecisionCount.rule_id,
                DecisionCount.decision,
                DecisionCount.count,
            )
            .join(current, at_month_end(current, DecisionCount))
            .order_by(DecisionCount.source, DecisionCount.rule_id, DecisionCount.decision),
            ["source", "rule_id", "decision", "count"],
        )
        manifested = (
            select(ManifestItem.source, ManifestItem.record_id, ManifestItem.rule_id)
            .join(Run, Run.run_id == ManifestItem.run_id)
            .where(counted)
            .distinct()
            .subquery()
        )
        issued = _frame(
            conn,
            select(manifested.c.source, func.count()).group_by(manifested.c.source),
            ["source", "issued"],
        )
        confirmed = _frame(
            conn,
            select(Disposition.source, disposed_records())
            .where(
                Disposition.status == "confirmed",
                Disposition.seen_on >= first,
                Disposition.seen_on <= last,
            )
            .group_by(Disposition.source),
            ["source", "confirmed"],
        )
        overdue = _frame(
            conn,
            select(Disposition.source, disposed_records())
            .where(Disposition.status == "overdue", Disposition.seen_on <= last)
            .group_by(Disposition.source),
            ["source", "overdue"],
        )
        review_open = _frame(
            conn,
            select(ReviewItem.source, ReviewItem.rule_id, func.count())
            .join(current, at_month_end(current, ReviewItem))
            .where(~review_decided(by=last))
            .group_by(ReviewItem.source, ReviewItem.rule_id),
            ["source", "rule_id", "open"],
        )
        review_done = _frame(
            conn,
            select(
                ReviewDecision.source,
                ReviewDecision.rule_id,
                ReviewDecision.decision,
                func.count(),
            )
            .where(ReviewDecision.decided_on >= first, ReviewDecision.decided_on <= last)
            .group_by(ReviewDecision.source, ReviewDecision.rule_id, ReviewDecision.decision),
            ["source", "rule_id", "decision", "n"],
        )
        consent = _frame(
            conn,
            select(ConsentItem.source, ConsentItem.rule_id, ConsentItem.action, func.count())
            .join(current, at_month_end(current, ConsentItem))
            .group_by(ConsentItem.source, ConsentItem.rule_id, ConsentItem.action),
            ["source", "rule_id", "action", "n"],
        )
        quarantine = _frame(
            conn,
            select(QuarantineItem.source, QuarantineItem.reason, func.count())
            .join(latest, at_month_end(latest, QuarantineItem))
            .group_by(QuarantineItem.source, QuarantineItem.reason)
            .order_by(QuarantineItem.source, func.count().desc(), QuarantineItem.reason),
            ["source", "reason", "records"],
        )
        policies = _frame(
            conn,
            select(
                Run.policy_version,
                Run.policy_sha256,
                func.min(Run.as_of),
                func.max(Run.as_of),
                func.count(),
            )
            .where(in_month)
            .group_by(Run.policy_version, Run.policy_sha256)
            .order_by(func.min(Run.as_of), Run.policy_version),
            ["policy_version", "policy_sha256", "first_as_of", "last_as_of", "runs"],
        )
        assumption_texts = conn.execute(
            select(Run.assumptions).where(in_month, Run.assumptions.is_not(None)).distinct()
        ).scalars()
        assumptions = _assumptions(assumption_texts)

    tables = {
        "runs": runs,
        "decisions_by_rule": _pivot(decisions, ["source", "rule_id"], "decision", "count"),
        "deletions": _deletions(issued, confirmed, overdue),
        "reviews": _reviews(review_open, review_done),
        "consent": _pivot(consent, ["source", "rule_id"], "action", "n"),
        "quarantine": quarantine,
        "blocked_exports": files[files["status"] == "blocked"][
            ["run_id", "as_of", "source", "blocked_reason"]
        ].reset_index(drop=True),
        "data_quality": _quality(files),
        "policy_versions": policies,
    }
    for name in ("consent",):
        for column in ("renew_consent", "consent_expired"):
            if column not in tables[name]:
                tables[name][column] = 0
    last_run = (
        {"run_id": last_row[0], "as_of": last_row[1], "status": last_row[2]} if last_row else None
    )
    return MonthlyReport(month, first, last, tables, last_run, assumptions)


def _assumptions(texts: Any) -> list[dict[str, str]]:
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for text in texts:
        for item in json.loads(text or "[]"):
            seen.setdefault((item["rule_id"], item["text"]), item)
    return [seen[k] for k in sorted(seen)]


def _pivot(frame: pd.DataFrame, index: list[str], columns: str, values: str) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=[*index])
    wide = frame.pivot_table(
        index=index, columns=columns, values=values, aggfunc="sum", fill_value=0
    )
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index().astype({c: "int64" for c in wide.columns})


def _deletions(
    issued: pd.DataFrame, confirmed: pd.DataFrame, overdue: pd.DataFrame
) -> pd.DataFrame:
    out = pd.DataFrame({"source": pd.Series(dtype="str")})
    for part in (issued, confirmed, overdue):
        out = out.merge(part, on="source", how="outer")
    for column in ("issued", "confirmed", "overdue"):
        out[column] = out[column].fillna(0).astype("int64")
    return out.sort_values("source").reset_index(drop=True)


def _reviews(open_: pd.DataFrame, done: pd.DataFrame) -> pd.DataFrame:
    decided = _pivot(done, ["source", "rule_id"], "decision", "n")
    out = open_.merge(decided, on=["source", "rule_id"], how="outer")
    for column, name in (("open", "open"), ("keep", "kept"), ("delete", "deleted")):
        out[name] = out[column].fillna(0).astype("int64") if column in out else 0
    return (
        out[["source", "rule_id", "open", "kept", "deleted"]]
        .sort_values(["source", "rule_id"])
        .reset_index(drop=True)
    )


def _quality(files: pd.DataFrame) -> pd.DataFrame:
    out = files[["as_of", "run_id", "source", "rows", "quarantined", "status"]].copy()
    rows = out["rows"].astype("float64")
    out["quarantined_share"] = (out["quarantined"] / rows.where(rows > 0)).fillna(0).round(6)
    return out.reset_index(drop=True)


# --- charts --------------------------------------------------------------------------------

COLOURS = {
    "delete": "#cf222e",
    "hold": "#8250df",
    "quarantine": "#bf8700",
    "review": "#0969da",
    "retain": "#afb8c1",
    "renew_consent": "#1a7f37",
    "consent_expired": "#953800",
}


def _svg(figure: Any) -> str:
    """The figure as inline SVG text: text kept as text, the same bytes every time."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    figure.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(figure)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    # Inline in HTML the namespaces are implied and the RDF metadata is noise.
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    return re.sub(r' xmlns(:xlink)?="[^"]*"', "", text)


def _charts(report: MonthlyReport, gate: float) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "governance",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    charts: dict[str, str] = {}
    decisions = report.tables["decisions_by_rule"]
    if len(decisions):
        kinds = [c for c in decisions.columns if c not in ("source", "rule_id")]
        labels = [
            f"{s} · {r}" for s, r in zip(decisions["source"], decisions["rule_id"], strict=True)
        ]
        fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(labels) + 1.4))
        left = [0] * len(labels)
        for kind in kinds:
            values = decisions[kind].tolist()
            ax.barh(labels, values, left=left, label=kind, color=COLOURS.get(kind, "#6e7781"))
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.invert_yaxis()
        ax.set_xlabel("records")
        ax.legend(
            ncol=len(kinds),
            fontsize=8,
            frameon=False,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
        )
        charts["decisions"] = _svg(fig)
    deletions = report.tables["deletions"]
    if len(deletions):
        fig, ax = plt.subplots(figsize=(6.5, 2.6))
        width = 0.27
        xs = range(len(deletions))
        for i, (column, colour) in enumerate(
            (("issued", "#0969da"), ("confirmed", "#1a7f37"), ("overdue", "#b42318"))
        ):
            ax.bar(
                [x + (i - 1) * width for x in xs],
                deletions[column],
                width,
                label=column,
                color=colour,
            )
        ax.set_xticks(list(xs), deletions["source"].tolist())
        ax.set_ylabel("records")
        ax.legend(frameon=False, fontsize=8)
        charts["deletions"] = _svg(fig)
    quality = report.tables["data_quality"]
    if len(quality):
        fig, ax = plt.subplots(figsize=(7.5, 2.8))
        for source, part in quality.groupby("source", sort=True):
            ax.plot(
                pd.to_datetime(part["as_of"]),
                part["quarantined_share"] * 100,
                marker="o",
                markersize=3,
                label=str(source),
            )
        ax.axhline(
            gate * 100, color="#b42318", linestyle="--", linewidth=1, label=f"gate ({gate:.0%})"
        )
        ax.set_ylabel("rows quarantined (%)")
        ax.set_ylim(bottom=0)
        ax.legend(frameon=False, fontsize=8)
        fig.autofmt_xdate()
        charts["quality"] = _svg(fig)
    return charts


# --- writing -------------------------------------------------------------------------------


def write_monthly_report(engine: Engine, month: str, out_dir: Path) -> MonthlyReport:
    """Write the month's page and CSV tables into `out_dir` (each file atomically)."""
    report = build_monthly(engine, month)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        path = out_dir / f"{name}.csv"
        table = neutralise_frame(report.tables[name])
        atomic_write_text(path, table.to_csv(index=False, lineterminator="\n"))
        report.files[name] = path
    gate = load_policy().policy.gate.max_quarantined_share
    page = templates.get_template("monthly_report.html.j2").render(
        r=report,
        t=report.tables,
        totals=report.totals,
        charts=_charts(report, gate),
        gate=gate,
        tables=TABLES,
        tool=governance.__version__,
    )
    path = out_dir / monthly_report_name(month)
    atomic_write_text(path, page)
    report.files["report"] = path
    return report
