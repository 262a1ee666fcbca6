"""Atomic file writes: a temporary file in the same directory, fsync, then rename.

A file is never visible half-written under its own name: it is written as a hidden
temporary file beside it (`.<name>.<16 hex>.tmp`), flushed to disk and renamed over the
target in one step (then the directory is flushed too, so the rename survives a power
cut). A process killed mid-write leaves only its hidden temporary file; the next write of
the same target removes such leftovers. A writer holds an advisory lock (`flock`) on its
temporary file while it writes, which the kernel drops when the writer dies, so only the
files of dead writers are removed, never the one a concurrent writer is filling.

A write that fails on the storage side (disk full, quota, read-only file system, no
permission) raises `OutputError`: one line naming the file and the system's reason; the
target is left as it was and the temporary file is removed.

Files holding personal data (staged exports, sample exports) are written with
`private=True`: readable and writable by the owner only (0600), and the folder the write
creates for them is 0700. Other files get the usual 0666 less the umask.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from governance.errors import GovernanceError

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
STALE_EMPTY_AFTER = 2.0
"""Seconds after which an empty, unlocked temporary file is taken for a dead writer's (a
live writer's file is empty and unlocked only between its creation and its lock)."""

NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
"""Errors of a write into the temporary file that are the storage's (disk full, quota,
file size limit, read-only): reported as an OutputError. Any other error of the code
writing the file (which may be reading something else, e.g. a remote export) is its own."""


class OutputError(GovernanceError):
    """An output could not be written (disk full, quota, read-only, no permission)."""


def temp_pattern(name: str) -> re.Pattern[str]:
    """Names of the temporary files of writes of `name` (this module's, and those of
    `tempfile.mkstemp` that earlier versions used)."""
    return re.compile(rf"\.{re.escape(name)}\.[0-9a-z_]{{8,32}}\.tmp")


def _reason(exc: OSError) -> str:
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return " ".join(text.split()) or exc.__class__.__name__


def _failed(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"{path}: cannot write: {_reason(exc)}")


def remove_stale_temps(path: Path) -> int:
    """Remove the temporary files that dead writers of `path` left beside it; returns how
    many. A file another writer holds locked, or an empty one created in the last two
    seconds (it may not be locked yet), is left alone."""
    pattern = temp_pattern(path.name)
    removed = 0
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return 0
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            info = os.fstat(fd)
            if info.st_size == 0 and time.time() - info.st_mtime < STALE_EMPTY_AFTER:
                continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            continue  # locked by a live writer, or already gone
        finally:
            os.close(fd)
    return removed


def _fsync_dir(directory: Path) -> None:
    """Flush a rename to disk (best effort: some file systems cannot fsync a folder, and
    the file is in place by now either way)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path, *, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write in place (the file exists, empty); on
    success it replaces `path` in one rename, on failure it is removed and `path` is left
    as it was. `private`: the file is 0600 and a folder created for it 0700 (for files
    holding personal data)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR if private else 0o777)
        remove_stale_temps(path)
        while True:
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
            try:
                fd = os.open(
                    tmp,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                    PRIVATE_FILE if private else 0o666,  # less the umask, as open() does
                )
            except FileExistsError:  # pragma: no cover - 64 random bits
                continue
            break
    except OSError as exc:
        raise _failed(path, exc) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # dropped by the kernel if this process dies
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in NO_ROOM:
                raise _failed(path, exc) from exc
            raise
        try:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            raise _failed(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, private: bool = False) -> None:
    with atomic_path(path, private=private) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str, *, private: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), private=private)
