"""A throwaway PostgreSQL server from Debian's packages, for the store tests."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found: install Debian's `postgresql` package "
            "(.ci/run does)"
        )
    return found[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server in a temporary folder; yield a SQLAlchemy URL; stop and remove it."""
    root = Path(tempfile.mkdtemp(prefix="governance-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres")
        root.chmod(0o755)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*argv: str) -> None:
        subprocess.run([*as_user, *argv], check=True, capture_output=True, text=True)

    run(_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(_bin("pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(root / "log"), "start")
    try:
        run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "governance")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/governance"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            run(_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
