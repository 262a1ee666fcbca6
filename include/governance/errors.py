"""Errors a person sees as one line: what is wrong and where, never the offending value."""

from __future__ import annotations


class GovernanceError(Exception):
    """Base class for errors reported to the user as a single line (exit code 2)."""


class ConfigError(GovernanceError):
    """A configuration file (source config, mapping, policy) is invalid."""


class ExportError(GovernanceError):
    """An export cannot be read: missing, empty, not CSV/XLSX, bad encoding or quoting, or a
    required column is missing. The message names the file and, where known, row and column;
    it never quotes cell values, which may be personal data."""

    def __init__(
        self,
        path: object,
        problem: str,
        *,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.row = row
        self.column = column
        self.sha256: str | None = None
        """SHA-256 of the file's bytes, when it could be read at all."""
        where = self.path
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}")
