"""Where outputs go (a light module: the Airflow UI plugin imports it per request)."""

from __future__ import annotations

import os
from pathlib import Path


def output_root(configured: str | None = None) -> Path:
    """Where runs write: `configured` (the task's Variable), else $GOVERNANCE_OUTPUT_DIR,
    else $AIRFLOW_HOME/governance, else ~/.governance/outputs."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("GOVERNANCE_OUTPUT_DIR"):
        return Path(os.environ["GOVERNANCE_OUTPUT_DIR"])
    if os.environ.get("AIRFLOW_HOME"):
        return Path(os.environ["AIRFLOW_HOME"]) / "governance"
    return Path.home() / ".governance" / "outputs"
