"""Data-quality settings (`include/config/quality.yaml`) and the row-count state file."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from governance.outputs.atomic import atomic_write_text
from governance.sources.config import CONFIG_DIR, load_model

DEFAULT_QUALITY = CONFIG_DIR / "quality.yaml"


class RowCount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_drop_share: float = Field(default=0.5, ge=0, le=1)


class QualityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    warn_fields: list[str] = Field(default_factory=lambda: ["email", "phone"])
    row_count: RowCount = RowCount()


def load_quality_config(path: Path | None = None) -> QualityConfig:
    return load_model(path or DEFAULT_QUALITY, QualityConfig)


def default_state_path() -> Path:
    home = os.environ.get("GOVERNANCE_HOME")
    return (Path(home) if home else Path.home() / ".governance") / "state.json"


class RowCountState:
    """Row counts of accepted exports per source and as_of, in a small JSON file: what a
    new export's count is compared with. A rerun for the same as_of replaces its entry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                loaded = {}
            if isinstance(loaded, dict):
                self.data = loaded.get("row_counts", {})

    def previous(self, source: str, as_of: date) -> tuple[str, int] | None:
        """The latest accepted count of `source` strictly before `as_of`."""
        history = self.data.get(source, {})
        earlier = sorted(day for day in history if day < as_of.isoformat())
        if not earlier:
            return None
        return earlier[-1], int(history[earlier[-1]]["rows"])

    def record(self, source: str, as_of: date, rows: int, sha256: str | None) -> None:
        self.data.setdefault(source, {})[as_of.isoformat()] = {"rows": rows, "sha256": sha256}

    def save(self) -> None:
        document = {"row_counts": {s: dict(sorted(h.items())) for s, h in self.data.items()}}
        atomic_write_text(self.path, json.dumps(document, indent=2, sort_keys=True) + "\n")
