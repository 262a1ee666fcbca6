"""The run's pages for people: the audit report and the data-quality page, each one
self-contained HTML file, readable offline and printable."""

from __future__ import annotations

from datetime import date
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

DATA_QUALITY_PAGE = "data_quality.html"
AUDIT_PAGE = "audit_report.html"

templates = Environment(
    loader=PackageLoader("governance.reports", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_data_quality(run_id: str, as_of: date, outcomes: list[Any]) -> str:
    exports = []
    for o in outcomes:
        results = o.quality.results if o.quality is not None else []
        ev = o.evaluation
        exports.append(
            {
                "source": o.source,
                "status": o.status,
                "blocked_reason": o.blocked_reason,
                "rows": ev.rows if ev is not None else 0,
                "quarantined": ev.quarantined_rows if ev is not None else 0,
                "share": ev.quarantined_share if ev is not None else 0.0,
                "results": results,
                "failed": sum(not r.success for r in results),
            }
        )
    template = templates.get_template("data_quality.html.j2")
    return template.render(run_id=run_id, as_of=as_of.isoformat(), exports=exports)


def render_audit_report(audit: dict[str, Any]) -> str:
    from governance.policy.model import DECISIONS

    template = templates.get_template("audit_report.html.j2")
    return template.render(a=audit, decisions=list(DECISIONS))
