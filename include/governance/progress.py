"""Progress for long work: a Rich display on a terminal, plain lines otherwise (logs, CI)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class Reporter(Protocol):
    def step(self, message: str) -> None: ...


class _Plain:
    def __init__(self, console: Console) -> None:
        self.console = console

    def step(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)


class _Live:
    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task("starting", total=total)

    def step(self, message: str) -> None:
        self.progress.console.print(f"  {message}", highlight=False)
        self.progress.update(self.task, advance=1, description=message)


@contextlib.contextmanager
def reporter(total_steps: int, console: Console | None = None) -> Iterator[Reporter]:
    """Report `total_steps` steps: a progress bar on a terminal, one line per step otherwise."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield _Plain(console)
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield _Live(progress, total_steps)
