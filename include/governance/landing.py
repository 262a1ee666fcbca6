"""The day's export in the landing area.

The landing location is a local folder or any fsspec URI: `file:///srv/landing`,
`memory://landing`, `s3://bucket/landing` (with its fsspec implementation installed), or,
inside Airflow, an ObjectStoragePath URI that names a connection, such as
`s3://aws_default@bucket/landing` (see `governance.airflow_support.landing_filesystem`).

A source's export for a day is found under that location by the source config's `landing`
pattern, formatted with the day and the source name:

    landing: "{date:%Y-%m-%d}/crm_contacts.csv"     # one folder per day
    landing: "crm_contacts_{date:%Y%m%d}.csv"       # the date in the file name
    landing: "crm_{date:%Y%m%d}_*.csv"              # glob: exactly one file must match

Without a pattern the export is the file name of the config's `path` (else `<source>.csv`)
directly in the location, whatever the date.

A local export is read where it is. A remote one is streamed into a staging folder (under the
output root, private to the task, owner-only: folders 0700, files 0600; a temporary file,
fsynced, then renamed, so a copy is never read half-written) and read there by the same
reader, with the same SHA-256, as a local file; the folder is removed when the task's work
is done. Messages and summaries name the URI, never the staging copy (`name_origins`). A
missing export is one line naming where it was looked for.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from governance.errors import GovernanceError
from governance.outputs.atomic import PRIVATE_DIR, atomic_path
from governance.sources.config import SourceConfig

CHUNK = 1 << 20
"""Bytes copied at a time when staging a remote export."""

GLOB_CHARS = frozenset("*?[")
LOCAL_SCHEMES = frozenset({"file", "local"})

FileSystemResolver = Callable[[str], tuple[Any, str]]
"""A URI -> (its fsspec filesystem, the path inside it). Default: `fsspec.core.url_to_fs`."""


class ExportMissing(GovernanceError):
    """The day's export is not in the landing area (retrying the same day cannot help until
    the export is delivered, so the task fails at once)."""


@dataclass(frozen=True)
class LandedExport:
    """One source's export for the day: where it was found and the local file to read."""

    source: str
    uri: str
    """Where the export is, as shown in messages and summaries (a password is masked)."""
    path: Path
    """The local file to read: the export itself, or its staged copy."""

    @property
    def staged(self) -> bool:
        return self.uri != str(self.path)


def pattern(config: SourceConfig) -> str:
    """The source's landing pattern: its `landing` setting, else the file name of its `path`,
    else `<source>.csv`."""
    if config.landing:
        return config.landing
    if config.path:
        return PurePosixPath(config.path.replace("\\", "/")).name
    return f"{config.source}.csv"


def export_name(config: SourceConfig, as_of: date) -> str:
    """The export's name inside the landing location on a day (may hold glob characters)."""
    return pattern(config).format(date=as_of, source=config.source)


def local_folder(location: str) -> Path | None:
    """The folder a landing location names on this machine, or None for a remote URI."""
    scheme, sep, _ = location.partition("://")
    if not sep:
        return Path(location).expanduser()
    parts = urlsplit(location)
    if scheme.lower() in LOCAL_SCHEMES and parts.netloc in ("", "localhost"):
        return Path(url2pathname(parts.path))
    return None


def redact(uri: str) -> str:
    """The URI with any password in it masked, fit for a message or a log."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return uri
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return uri
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{host}{slash}{path}"


def name_origins(value: Any, exports: Iterable[LandedExport]) -> Any:
    """`value` (a message, or a summary of dicts, lists and strings) with the path of every
    staged copy replaced by the URI it was copied from."""
    swaps = [(str(e.path), e.uri) for e in exports if e.staged]
    if not swaps:
        return value

    def swap(item: Any) -> Any:
        if isinstance(item, str):
            for path, uri in swaps:
                item = item.replace(path, uri)
            return item
        if isinstance(item, dict):
            return {k: swap(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return type(item)(swap(v) for v in item)
        return item

    return swap(value)


def find_export(
    location: str,
    config: SourceConfig,
    as_of: date,
    staging_dir: Path | None = None,
    *,
    filesystem: FileSystemResolver | None = None,
) -> LandedExport:
    """Find a source's export for `as_of` under a landing location. A local file is returned
    as it is; a remote one is copied into `staging_dir/<source>/` first. Raises ExportMissing
    (one line, naming where it looked) when it is not there."""
    name = export_name(config, as_of)
    folder = local_folder(location)
    if folder is not None:
        return _local(folder, name, config.source, as_of)
    if staging_dir is None:
        raise GovernanceError(f"{redact(location)}: a remote landing area needs a staging folder")
    return _remote(location, name, config.source, as_of, staging_dir, filesystem or _fsspec)


@contextmanager
def landed_exports(
    location: str,
    configs: Mapping[str, SourceConfig],
    as_of: date,
    staging_root: Path,
    *,
    filesystem: FileSystemResolver | None = None,
) -> Iterator[dict[str, LandedExport]]:
    """Every source's export for `as_of`, remote ones staged in a folder of their own under
    `staging_root` (private to this call, so concurrent tasks never share a copy) that is
    removed on leaving the block, whether the work succeeded or not."""
    staging: Path | None = None
    try:
        if local_folder(location) is None:
            # Staged copies are personal data: owner-only folders (mkdtemp makes 0700)
            # and files (0600).
            staging_root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
            staging = Path(tempfile.mkdtemp(prefix=f"{as_of.isoformat()}-", dir=staging_root))
        yield {
            source: find_export(location, config, as_of, staging, filesystem=filesystem)
            for source, config in configs.items()
        }
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _missing(where: str, source: str, as_of: date, detail: str = "") -> ExportMissing:
    return ExportMissing(
        f"{where}: no {source} export for {as_of.isoformat()} in the landing area{detail}"
    )


def _has_glob(name: str) -> bool:
    return any(c in GLOB_CHARS for c in name)


def _one_match(matches: list[str], where: str, source: str, as_of: date) -> str:
    if not matches:
        raise _missing(where, source, as_of, " (no file matches)")
    if len(matches) > 1:
        raise GovernanceError(
            f"{where}: {len(matches)} files match; expected one {source} export for "
            f"{as_of.isoformat()} (make the landing pattern more specific)"
        )
    return matches[0]


def _local(folder: Path, name: str, source: str, as_of: date) -> LandedExport:
    target = folder / name
    if _has_glob(name):
        found = sorted(str(p) for p in folder.glob(name) if p.is_file())
        target = Path(_one_match(found, str(target), source, as_of))
    elif not target.is_file():
        raise _missing(str(target), source, as_of)
    return LandedExport(source, str(target), target)


def _fsspec(uri: str) -> tuple[Any, str]:
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(uri)
    return fs, str(path)


def _remote(
    location: str,
    name: str,
    source: str,
    as_of: date,
    staging_dir: Path,
    filesystem: FileSystemResolver,
) -> LandedExport:
    base_uri = location.rstrip("/")
    where = redact(f"{base_uri}/{name}")
    try:
        fs, base = filesystem(base_uri)
    except (ImportError, ValueError) as exc:
        scheme = location.partition("://")[0]
        raise GovernanceError(
            f"{redact(location)}: no filesystem for {scheme!r} URIs "
            f"({exc.__class__.__name__}; install its fsspec implementation)"
        ) from None
    base = base.rstrip("/")
    target = f"{base}/{name}"
    relative = name
    if _has_glob(name):
        found = sorted(str(p) for p in fs.glob(target) if fs.isfile(p))
        target = _one_match(found, where, source, as_of)
        relative = target[len(base) :].lstrip("/") if target.startswith(base) else target
    elif not fs.isfile(target):
        raise _missing(where, source, as_of)
    local = staging_dir / source / PurePosixPath(relative).name
    with (
        atomic_path(local, private=True) as tmp,
        fs.open(target, "rb") as src,
        open(tmp, "wb") as out,
    ):
        shutil.copyfileobj(src, out, CHUNK)
    return LandedExport(source, redact(f"{base_uri}/{relative}"), local)
