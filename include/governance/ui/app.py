"""The Governance page: a small FastAPI app the Airflow plugin mounts at `/governance`.

`GET /` renders the overview of the store (runs, blocked exports, reviews due, consent
actions, overdue deletions, reports) as one server-rendered, printable HTML page with no
external URL. `GET /runs/<run id>/<file>` serves one of the known files of a recorded
run's output folder (`RUN_FILES`), `GET /monthly/<YYYY-MM>` a monthly report: nothing else
on disk is reachable. Every route but the icon goes through the `authorize` dependency.

Imports stay light (FastAPI only): the store, SQLAlchemy and Jinja2 are loaded on the
first request, so loading the plugin costs Airflow's processes next to nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from governance.ui.auth import LoginRequired

if TYPE_CHECKING:
    from jinja2 import Environment
    from sqlalchemy import Engine

log = logging.getLogger(__name__)

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # No script, no external resource; framed by the Airflow UI only (same origin).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
}
MEDIA_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".sha256": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
    'stroke="#4a5568" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
    '<path d="M12 3l7 3v5c0 4.5-3 8.3-7 10-4-1.7-7-5.5-7-10V6z"/><path d="M9 12l2 2 4-4"/>'
    "</svg>"
)


def default_output_root() -> Path:
    """Where runs (and monthly reports) are written: `governance.locations`' rule.
    Imported when first needed: that module pulls in the run machinery."""
    from governance.locations import output_root

    return output_root()


def no_store_url() -> str | None:
    """No store of its own: `$GOVERNANCE_DB_URL`, else the default SQLite store."""
    return None


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    from governance.store.db import engine_for

    return engine_for(url)


def store_engine(url: str | None) -> Engine:
    """One engine per store URL for the life of the process (migrated once); None is
    `$GOVERNANCE_DB_URL` or the default store."""
    from governance.store.db import default_url

    return _engine(url or default_url())


@lru_cache(maxsize=1)
def _templates() -> Environment:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("governance.ui", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["n"] = lambda value: f"{int(value):,}"
    return env


def create_app(
    authorize: Callable[..., Any],
    *,
    store_url: Callable[[], str | None] = no_store_url,
    output_root: Callable[[], Path] = default_output_root,
    limit: int = 20,
    cap: int = 50,
) -> FastAPI:
    """The Governance app. `authorize` is a FastAPI dependency every page and download
    goes through (the plugin passes `governance.ui.auth.airflow_access`); `store_url` and
    `output_root` say, at each request, which store to read and where the runs' outputs
    are (the plugin passes the same settings the tasks use: `governance.ui.settings`)."""
    app = FastAPI(title="Governance", docs_url=None, redoc_url=None, openapi_url=None)
    guarded = [Depends(authorize)]

    @app.exception_handler(LoginRequired)
    async def _to_login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.login_url, status_code=303)

    @contextmanager
    def store() -> Iterator[Engine]:
        """The store's engine; an unreachable or misconfigured store is a 503 that names
        nothing of it (its URL may carry credentials)."""
        from sqlalchemy.exc import SQLAlchemyError

        from governance.errors import GovernanceError

        try:
            yield store_engine(store_url())
        except (SQLAlchemyError, GovernanceError) as exc:
            log.error("governance store unavailable: %s", type(exc).__name__)
            raise HTTPException(503, "The governance store is unavailable.") from None

    @app.get("/", response_class=HTMLResponse, dependencies=guarded)
    def page() -> HTMLResponse:
        from governance.store.overview import RUN_FILES, overview

        with store() as engine:
            data = overview(engine, output_root(), limit=limit, cap=cap)
        html = (
            _templates()
            .get_template("governance.html.j2")
            .render(
                ov=data,
                labels=RUN_FILES,
                store=engine.dialect.name,
                generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            )
        )
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @app.get("/runs/{run_id}/{name}", dependencies=guarded)
    def run_file(run_id: str, name: str) -> FileResponse:
        from governance.store.overview import run_file as find

        with store() as engine:
            path = find(engine, run_id, name)
        if path is None:
            raise HTTPException(404, "Not found.")
        return _file(path)

    @app.get("/monthly/{month}", dependencies=guarded)
    def monthly(month: str) -> FileResponse:
        from governance.store.overview import monthly_report

        path = monthly_report(output_root(), month)
        if path is None:
            raise HTTPException(404, "Not found.")
        return _file(path)

    @app.get("/icon.svg")
    def icon() -> Response:
        return Response(
            ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    return app


def _file(path: Path) -> FileResponse:
    media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    headers = dict(PAGE_HEADERS)
    if path.suffix == ".html":
        return FileResponse(path, media_type=media_type, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers, filename=path.name)
