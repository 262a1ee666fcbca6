"""Data-quality settings (`include/config/quality.yaml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

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
