"""Data-quality settings (`include/config/quality.yaml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from governance.sources.config import CONFIG_DIR, load_model
from governance.sources.schema import SOURCES, Kind, schema

DEFAULT_QUALITY = CONFIG_DIR / "quality.yaml"

_CHECKED_KINDS = (Kind.ENUM, Kind.FLAG, Kind.DATE, Kind.TIMESTAMP, Kind.EMAIL, Kind.PHONE)
"""Field kinds whose cells can fail to parse: the ones a warn check can look at."""


class RowCount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    max_drop_share: float = Field(default=0.5, ge=0, le=1)


class QualityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    warn_fields: list[str] = Field(default_factory=lambda: ["email", "phone"])
    row_count: RowCount = RowCount()

    @field_validator("warn_fields")
    @classmethod
    def _checkable(cls, value: list[str]) -> list[str]:
        known = {f.name for source in SOURCES for f in schema(source) if f.kind in _CHECKED_KINDS}
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))}: no source has a field of that name whose "
                "values are checked (such as email or phone)"
            )
        return value


def load_quality_config(path: Path | None = None) -> QualityConfig:
    return load_model(path or DEFAULT_QUALITY, QualityConfig)
