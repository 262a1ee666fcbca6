"""Read an export (CSV or XLSX) into a canonical frame, driven by its source config.

CSV goes through pyarrow's multithreaded reader with every column read as text; XLSX through
calamine. Both end in the same mapping and vectorised normalisation. Errors name the file,
row and column but never a cell's value.

What an export must be to be trusted as a whole (anything else blocks it): text in the
configured encoding, or in the one its byte-order mark names (UTF-8, UTF-16, UTF-32); a
header naming each column once; every row complete, the last one ended by a line break (a
file still being written is not); in XLSX, the configured sheet (default the first), not
one part of an export split across sheets, with no merged cells and every formula's value
calculated. Nothing is evaluated: a CSV cell that looks like a formula is read as written,
an XLSX formula as the value the spreadsheet stored, and an error cell (`#N/A`) as its
error text, which no field accepts.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import hashlib
import io
import itertools
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from governance.errors import ExportError
from governance.sources import normalise as norm
from governance.sources.config import SourceConfig
from governance.sources.schema import INVALID_PREFIX, ROW_COLUMN, Field, Kind, schema

CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
_FOOTER_WINDOW = 64 * 1024
_MAX_BLOCK = (1 << 31) - 1
"""pyarrow's largest parse block: the longest row a CSV export may have (2 GiB)."""
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16's, which it starts with
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DELIMITERS = {
    ";": ("semicolon", '";"'),
    "\t": ("tab", '"\\t"'),
    "|": ("pipe", '"|"'),
    ",": ("comma", '","'),
}
"""Delimiters a one-column header is checked for (the config's YAML spelling of each)."""


@dataclass(frozen=True)
class RawExport:
    """An export's text cells before mapping: header names and one string column each."""

    header: list[str]
    table: pa.Table
    first_row: int
    """Spreadsheet row number of the first data row (the header is `first_row - 1`)."""
    row_numbers: np.ndarray | None = None
    """Each data row's spreadsheet row number, when blank rows between them were left out
    (None: they follow one another from `first_row`)."""

    def numbers(self) -> np.ndarray:
        if self.row_numbers is not None:
            return self.row_numbers
        return np.arange(self.first_row, self.first_row + self.table.num_rows, dtype=np.int64)


@dataclass
class CanonicalExport:
    """One export read into canonical records."""

    source: str
    path: Path
    sha256: str
    frame: pd.DataFrame
    """Canonical fields, `source_row`, and `invalid__<field>` masks."""
    absent_fields: tuple[str, ...] = ()
    """Optional canonical fields the export has no column for (read as blank)."""
    ignored_columns: tuple[str, ...] = ()
    """Export columns that map to no canonical field (kept out of the record)."""
    invalid_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.frame)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def detect_format(path: Path, config: SourceConfig) -> str:
    if config.format != "auto":
        return config.format
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in XLSX_SUFFIXES:
        return "xlsx"
    raise ExportError(path, f"not a CSV or XLSX file (extension {suffix or 'none'!r})")


def read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ExportError(path, "file not found") from None
    except IsADirectoryError:
        raise ExportError(path, "is a directory, not an export file") from None
    except PermissionError:
        raise ExportError(path, "permission denied") from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ExportError(path, f"cannot read file ({reason})") from None
    if not data or data.isspace():
        raise ExportError(path, "file is empty")
    return data


def read_export(path: Path | str, config: SourceConfig) -> CanonicalExport:
    """Read, map and normalise one export. Raises ExportError for a file that cannot be
    trusted as a whole (see EXPORT_FORMATS.md); cell-level problems become invalid masks."""
    path = Path(path)
    raw, digest = read_raw(path, config)
    try:
        return to_canonical(path, digest, raw, config)
    except ExportError as exc:
        exc.sha256 = digest
        raise


def read_raw(path: Path | str, config: SourceConfig) -> tuple[RawExport, str]:
    """An export's text cells before mapping, and the SHA-256 of its bytes. Raises
    ExportError (with the hash, when the file could be read) for a file that cannot be
    trusted as a whole."""
    path = Path(path)
    fmt = detect_format(path, config)
    data = read_bytes(path)
    digest = file_sha256(data)
    try:
        if fmt == "csv":
            return read_raw_csv(path, data, config), digest
        return read_raw_xlsx(path, data, config), digest
    except ExportError as exc:
        exc.sha256 = digest
        raise


# --- CSV ---------------------------------------------------------------------------------


def read_raw_csv(path: Path, data: bytes, config: SourceConfig) -> RawExport:
    if data.startswith(_ZIP_MAGIC) or data.startswith(_OLE_MAGIC):
        raise ExportError(path, "is a spreadsheet file, not CSV (configure format: xlsx)")
    data, config = _as_readable(path, data, config)
    if b"\x00" in data[:65536]:
        raise ExportError(path, _binary_reason(data))
    data = _strip_footer(data, config)
    text_head = _decode_head(path, data, config)
    header, header_lines = _csv_header(path, text_head, config)
    _check_header(path, header, config.skip_rows + 1)
    # A complete export ends with a line break; one that does not may have been cut off
    # (copied or read while still being written), and its last record could be partial.
    cut_off = config.require_final_line_break and not data.endswith((b"\n", b"\r"))
    read = _read_options(config, len(header), header_lines)
    convert = _convert_options(len(header))
    try:
        table, handler = _parse_csv(data, config, read, convert)
    except (pa.ArrowInvalid, UnicodeError) as exc:
        # pyarrow's messages quote the offending text; locate the problem ourselves instead.
        raise _locate_csv_error(path, data, config, str(exc), cut_off) from None
    if handler.rows:
        raise _locate_csv_error(path, data, config, "invalid row", cut_off) from None
    if _unbalanced_quotes(data, config):
        # An unclosed quote swallows the rest of the file into one cell of the last row.
        raise ExportError(
            path,
            "unterminated quoted field (broken quoting, or an export cut off inside a "
            "quoted cell); the rest of the file is one cell",
            row=table.num_rows + 1 + config.skip_rows,
        )
    if table.num_rows == 0:
        raise ExportError(path, "has a header but no data rows")
    if cut_off:
        raise _cut_off_error(path, data, config)
    first_row = config.skip_rows + 2
    numbers = _numbers_around_blank_lines(path, data, config, first_row, table.num_rows)
    return RawExport(header=header, table=table, first_row=first_row, row_numbers=numbers)


_EMPTY_LINES = (re.compile(rb"\n[\n\r]"), re.compile(rb"\r\r"))
"""Two line ends in a row, however spelled (LF, CRLF, CR), contain one of these. (Two
literal searches: one pattern with alternatives scans ten times slower.)"""


def _has_empty_line(data: bytes) -> bool:
    return any(pattern.search(data) is not None for pattern in _EMPTY_LINES)


def _numbers_around_blank_lines(
    path: Path, data: bytes, config: SourceConfig, first_row: int, rows: int
) -> np.ndarray | None:
    """pyarrow leaves blank lines out; the rows after one keep their own number (as a
    spreadsheet shows them), found by counting records again, but only in a file that has
    an empty line at all (outside quotes or in, which the count tells apart)."""
    if not _has_empty_line(data):
        return None
    text = data.decode(config.encoding).removeprefix("\ufeff")
    numbers: list[int] = []
    with _csv_fields_up_to(len(text)):
        reader = csv.reader(
            io.StringIO(text, newline=""), delimiter=config.delimiter, quotechar=config.quote_char
        )
        for k, record in enumerate(itertools.islice(reader, config.skip_rows + 1, None)):
            if record:
                numbers.append(first_row + k)
    if len(numbers) != rows:
        raise ExportError(path, "its rows cannot be counted the same way twice (blank lines)")
    if not numbers or numbers[-1] - first_row == rows - 1:
        return None
    return np.array(numbers, dtype=np.int64)


def _parse_csv(
    data: bytes, config: SourceConfig, read: pacsv.ReadOptions, convert: pacsv.ConvertOptions
) -> tuple[pa.Table, _InvalidRows]:
    """Parse with pyarrow; a row longer than pyarrow's block (a cell of megabytes) is read
    again with blocks large enough to hold it."""
    while True:
        handler = _InvalidRows()
        parse = _parse_options(config, handler)
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=read,
                parse_options=parse,
                convert_options=convert,
            )
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or read.block_size >= min(len(data), _MAX_BLOCK):
                raise
            read.block_size = min(read.block_size * 16, len(data), _MAX_BLOCK)
            continue
        return table, handler


def _read_options(config: SourceConfig, columns: int, header_lines: int) -> pacsv.ReadOptions:
    """pyarrow skips the header row (read by `_csv_header`) and names the columns by
    position, so that `_convert_options` reaches every one of them whatever its header
    spelling (a name with a stray space once escaped it, and pyarrow then guessed types:
    `N/A` became blank and `00123` the number 123)."""
    return pacsv.ReadOptions(
        skip_rows=header_lines,  # lines, to pyarrow: not records
        column_names=_positional_names(columns),
        # pyarrow reads UTF-8 natively only when told "utf8"; any other spelling goes
        # through a (much slower) Python transcoder.
        encoding="utf8" if codecs.lookup(config.encoding).name == "utf-8" else config.encoding,
        use_threads=True,
    )


def _parse_options(config: SourceConfig, handler: _InvalidRows) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=config.delimiter,
        quote_char=config.quote_char,
        double_quote=True,
        newlines_in_values=True,
        ignore_empty_lines=True,
        invalid_row_handler=handler,
    )


def _positional_names(columns: int) -> list[str]:
    return [f"c{i}" for i in range(columns)]


def _convert_options(columns: int) -> pacsv.ConvertOptions:
    """Every cell is text: types are the normalisers' business, never pyarrow's guess."""
    return pacsv.ConvertOptions(
        column_types={name: pa.string() for name in _positional_names(columns)},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


# --- large CSV exports, streamed -----------------------------------------------------------

LARGE_CSV_BYTES = 256 << 20
"""From this size on, an export that is split into parts is streamed, not held whole."""
_STREAM_BLOCK = 64 << 20


class NeedsWholeFile(Exception):
    """Streaming cannot vouch for this file: read it whole (which names any problem)."""


@dataclass
class StreamedCsv:
    """A large CSV export read in record batches, never whole: its header, where its data
    rows start, and its SHA-256. Only plain files are streamed (no footer, no byte-order
    mark but UTF-8's, an ASCII-compatible encoding, a final line break, balanced quotes);
    `batches` raises NeedsWholeFile on anything the whole-file reader would report."""

    path: Path
    config: SourceConfig
    header: list[str]
    header_lines: int
    """Lines up to and including the header (what pyarrow skips)."""
    first_row: int
    sha256: str

    def batches(self) -> Iterator[pa.RecordBatch]:
        handler = _InvalidRows()
        read = _read_options(self.config, len(self.header), self.header_lines)
        read.block_size = _STREAM_BLOCK
        rows = 0
        try:
            with pacsv.open_csv(
                self.path,
                read_options=read,
                parse_options=_parse_options(self.config, handler),
                convert_options=_convert_options(len(self.header)),
            ) as reader:
                for batch in reader:
                    if handler.rows:
                        raise NeedsWholeFile
                    rows += batch.num_rows
                    yield batch
        except (pa.ArrowInvalid, UnicodeError):
            raise NeedsWholeFile from None
        if handler.rows or rows == 0:
            raise NeedsWholeFile


def open_large_csv(
    path: Path, config: SourceConfig, min_bytes: int = LARGE_CSV_BYTES
) -> StreamedCsv | None:
    """A large, plain CSV export ready to stream, or None: the file is small, not CSV, or
    needs the whole-file reader (which then reads it and reports any problem)."""
    try:
        if detect_format(path, config) != "csv" or config.footer is not None:
            return None
        size = path.stat().st_size
    except (ExportError, OSError):
        return None
    if size < min_bytes or not _is_ascii_compatible(config.encoding):
        return None
    digest = hashlib.sha256()
    quote = config.quote_char.encode("ascii")
    quotes = 0
    last = b""
    blank = False
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
        chunk = head
        while chunk:
            digest.update(chunk)
            quotes += chunk.count(quote)
            blank = blank or _has_empty_line(last + chunk)
            last = chunk[-2:] if len(chunk) >= 2 else last[-1:] + chunk
            chunk = fh.read(1 << 24)
    plain = not head.startswith((_ZIP_MAGIC, _OLE_MAGIC)) and b"\x00" not in head[:65536]
    # A byte-order mark may change the encoding: the whole-file reader sorts that out.
    marked = any(head.startswith(mark) for mark, _ in _BOMS)
    utf8 = codecs.lookup(config.encoding).name == "utf-8"
    odd = marked and not (utf8 and head.startswith(codecs.BOM_UTF8))
    # An empty line shifts the rows after it: the whole-file reader numbers them.
    if not plain or odd or blank or quotes % 2 or not last.endswith((b"\n", b"\r")):
        return None
    # The header from the first megabyte, cut at a line break (never inside a character).
    text = head[: head.rfind(b"\n") + 1]
    try:
        header, lines = _csv_header(path, text.decode(config.encoding), config)
        _check_header(path, header, config.skip_rows + 1)
    except (ExportError, UnicodeDecodeError):
        return None
    return StreamedCsv(path, config, header, lines, config.skip_rows + 2, digest.hexdigest())


class _InvalidRows:
    """Collects rows with the wrong number of fields instead of letting pyarrow put their
    text into an exception message."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, int]] = []

    def __call__(self, row: Any) -> str:
        self.rows.append((row.expected_columns, row.actual_columns))
        return "skip"


def _as_readable(path: Path, data: bytes, config: SourceConfig) -> tuple[bytes, SourceConfig]:
    """The file's bytes in an encoding pyarrow reads itself (UTF-8 or one that is ASCII
    compatible, such as cp1252), and the config naming it. A byte-order mark wins over the
    configured `encoding`; UTF-16 and UTF-32 are decoded here and re-encoded as UTF-8."""
    encoding, bom = config.encoding, 0
    for mark, name in _BOMS:
        if data.startswith(mark):
            encoding, bom = name, len(mark)
            break
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        encoding = "utf-8"
    if _is_ascii_compatible(encoding):
        if not data[bom:].strip():
            raise ExportError(path, "file is empty")
        if encoding != config.encoding:
            config = config.model_copy(update={"encoding": encoding})
        return data, config
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, data, config, exc.start, encoding) from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ExportError(path, "file is empty")
    return text.encode("utf-8"), config.model_copy(update={"encoding": "utf-8"})


def _binary_reason(data: bytes) -> str:
    head = data[:4096]
    even, odd = head[0::2], head[1::2]
    for zeros, other, order in ((odd, even, "le"), (even, odd, "be")):
        if zeros.count(0) > len(zeros) * 0.3 and other.count(0) < len(other) * 0.05:
            return (
                f"looks like UTF-16 text without a byte-order mark; set `encoding: "
                f"utf-16-{order}` in the source config"
            )
    return "is a binary file, not CSV"


def _strip_footer(data: bytes, config: SourceConfig) -> bytes:
    if config.footer is None:
        return data
    pattern = re.compile(
        config.footer.encode(config.encoding) if _is_ascii_compatible(config.encoding) else b"(?!)",
        re.MULTILINE,
    )
    # Lines end in LF or CRLF, or in a lone CR (classic Mac): then looked at as LF, the
    # same length, so every offset stays the file's.
    lines = data if b"\n" in data else data.replace(b"\r", b"\n")
    start = max(0, len(lines) - _FOOTER_WINDOW)
    line_start = lines.find(b"\n", start) + 1 if start else 0
    match = pattern.search(lines, line_start)
    if match is None:
        return data
    cut = lines.rfind(b"\n", 0, match.start()) + 1
    # Reports often leave blank or empty-quoted lines between the rows and the footer.
    while cut > 0:
        prev = lines.rfind(b"\n", 0, cut - 1) + 1
        if lines[prev:cut].strip(b' \t\r\n",;') != b"":
            break
        cut = prev
    return data[:cut]


def _is_ascii_compatible(encoding: str) -> bool:
    return codecs.lookup(encoding).name not in {
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "utf-32",
        "utf-32-le",
        "utf-32-be",
    }


def _decode_head(path: Path, data: bytes, config: SourceConfig) -> str:
    head = data[: 1 << 20]
    decoder = codecs.getincrementaldecoder(config.encoding)()
    try:
        return decoder.decode(head, final=len(head) == len(data))
    except UnicodeDecodeError as exc:
        # A wrong delimiter is the first thing to fix (European Excel writes semicolons
        # and Windows-1252): say so when the header row itself decodes.
        prefix = head[: exc.start].decode(config.encoding, errors="replace")
        lines = io.StringIO(prefix.removeprefix("\ufeff"), newline="").readlines()
        if len(lines) > config.skip_rows + 1:
            _csv_header(path, "".join(lines[: config.skip_rows + 1]), config)
        raise _encoding_error(path, data, config, exc.start) from None


def _csv_header(path: Path, text: str, config: SourceConfig) -> tuple[list[str], int]:
    """The header's names (trimmed), and the number of lines up to and including the
    header: a quoted cell of a skipped line or of the header may span several."""
    text = text.removeprefix("\ufeff")
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=config.delimiter, quotechar=config.quote_char
    )
    try:
        for _ in range(config.skip_rows):
            next(reader)
        header = next(reader)
    except StopIteration:
        raise ExportError(path, "has no header row") from None
    except csv.Error:
        raise ExportError(
            path, "header row cannot be parsed as CSV", row=config.skip_rows + 1
        ) from None
    header = [name.strip() for name in header]
    if not any(header):
        raise ExportError(path, "header row is blank", row=config.skip_rows + 1)
    if len(header) == 1:
        for delimiter, (name, spelling) in _DELIMITERS.items():
            if delimiter != config.delimiter and delimiter in header[0]:
                raise ExportError(
                    path,
                    f"the header row is a single column and looks {name}-separated; set "
                    f"`delimiter: {spelling}` in the source config",
                    row=config.skip_rows + 1,
                )
    return header, reader.line_num


def _check_header(path: Path, header: list[str], row: int) -> None:
    """A header naming a column twice (ignoring case and surrounding spaces) is an error:
    which of the two holds the data is a guess. Blank names (a trailing delimiter on every
    line) are columns nobody reads, and may repeat."""
    seen: dict[str, int] = {}
    for name in header:
        key = name.strip().casefold()
        if key:
            seen[key] = seen.get(key, 0) + 1
    for name in header:
        count = seen.get(name.strip().casefold(), 0)
        if count > 1:
            raise ExportError(
                path, f"column appears {count} times in the header", row=row, column=name.strip()
            )


def _encoding_error(
    path: Path, data: bytes, config: SourceConfig, offset: int, encoding: str | None = None
) -> ExportError:
    encoding = encoding or config.encoding
    row, column = _position(data[:offset].decode(encoding, errors="replace"), config)
    return ExportError(
        path,
        f"bytes that are not valid {encoding} (at byte {offset}); "
        "set `encoding` in the source config if the export uses another one",
        row=row,
        column=column,
    )


@contextlib.contextmanager
def _csv_fields_up_to(size: int) -> Iterator[None]:
    """Let the `csv` module read cells of any size (its default stops at 128 KiB)."""
    before = csv.field_size_limit()
    csv.field_size_limit(max(before, size + 1))
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _position(prefix: str, config: SourceConfig) -> tuple[int, str | None]:
    """Row number (header = row 1 after skipped lines) and column name at the end of a
    well-formed prefix of the file."""
    prefix = prefix.removeprefix("\ufeff")
    with _csv_fields_up_to(len(prefix)):
        rows = list(
            csv.reader(
                io.StringIO(prefix, newline=""),
                delimiter=config.delimiter,
                quotechar=config.quote_char,
            )
        )
    if not rows:
        return config.skip_rows + 1, None
    ended_on_newline = prefix.endswith(("\n", "\r"))
    row_index = len(rows) + (1 if ended_on_newline else 0)
    header_idx = config.skip_rows
    header = [h.strip() for h in rows[header_idx]] if len(rows) > header_idx else []
    col_index = 0 if ended_on_newline else max(len(rows[-1]) - 1, 0)
    column = header[col_index] if col_index < len(header) else None
    return row_index, column


def _cut_off_error(
    path: Path, data: bytes, config: SourceConfig, row: int | None = None
) -> ExportError:
    if row is None:
        row = _position(data.decode(config.encoding, errors="replace"), config)[0]
    return ExportError(
        path,
        "the last row does not end with a line break: the export may be cut off or still "
        "being written (see `require_final_line_break` in the source config)",
        row=row,
    )


def _locate_csv_error(
    path: Path, data: bytes, config: SourceConfig, reason: str, cut_off: bool = False
) -> ExportError:
    try:
        text = data.decode(config.encoding)
    except UnicodeDecodeError as exc:
        return _encoding_error(path, data, config, exc.start)
    text = text.removeprefix("\ufeff")
    with _csv_fields_up_to(len(text)):
        located = _first_bad_row(path, text, config)
    if cut_off:
        last = _position(text, config)[0]
        if last <= config.skip_rows + 1:
            return ExportError(path, "has a header but no data rows")
        if located.row is None or located.row >= last:
            return _cut_off_error(path, data, config, row=last)
    return located


def _first_bad_row(path: Path, text: str, config: SourceConfig) -> ExportError:
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=config.delimiter,
        quotechar=config.quote_char,
        strict=True,
    )
    expected: int | None = None
    row = config.skip_rows
    try:
        for _ in range(config.skip_rows):
            next(reader)
        for record in reader:
            row += 1
            if not record:
                continue
            if expected is None:
                expected = len(record)
            elif len(record) != expected:
                got = f"{len(record)} field{'s' if len(record) != 1 else ''}"
                return ExportError(
                    path,
                    f"has {got} where the header has {expected} (broken quoting, a stray "
                    "delimiter, or a report footer: see `footer` in the source config)",
                    row=row,
                )
    except csv.Error:
        return ExportError(
            path,
            "broken quoting (a quote inside an unquoted field or an unclosed quote)",
            row=row + 1,
        )
    return ExportError(path, "cannot be parsed as CSV")


def _unbalanced_quotes(data: bytes, config: SourceConfig) -> bool:
    if not _is_ascii_compatible(config.encoding):
        return False
    return data.count(config.quote_char.encode("ascii")) % 2 == 1


# --- XLSX --------------------------------------------------------------------------------


def read_raw_xlsx(path: Path, data: bytes, config: SourceConfig) -> RawExport:
    from python_calamine import CalamineError, CalamineWorkbook

    if data.startswith(_OLE_MAGIC):
        raise ExportError(
            path, "is not an XLSX file but a legacy Excel .xls workbook; save it as .xlsx or CSV"
        )
    if not data.startswith(_ZIP_MAGIC):
        hint = (
            "; it looks like CSV text: name it .csv or set `format: csv` in the source config"
            if _looks_like_text(data, config)
            else ""
        )
        raise ExportError(path, f"is not an XLSX file (not a zip container){hint}")
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if isinstance(config.sheet, int):
            index = config.sheet
            sheet = book.get_sheet_by_index(index)
        else:
            sheet = book.get_sheet_by_name(config.sheet)
            index = book.sheet_names.index(config.sheet)
        cells: list[list[Any]] = sheet.to_python(skip_empty_area=False)
    except (CalamineError, IndexError, ValueError) as exc:
        raise ExportError(path, f"cannot be read as XLSX ({exc.__class__.__name__})") from None
    overrides = _cell_overrides(path, data, index, cells, config)
    cells = cells[config.skip_rows :]
    if not cells:
        raise ExportError(path, "has no header row")
    header = [_cell_text(v).strip() for v in cells[0]]
    if not any(header):
        raise ExportError(path, "header row is blank", row=config.skip_rows + 1)
    _check_header(path, header, config.skip_rows + 1)
    _refuse_split_export(path, book, index, header, config)
    for (at, col), shown in overrides.items():
        if at >= config.skip_rows:
            cells[at - config.skip_rows][col] = shown
    body = _drop_xlsx_footer(cells[1:], config)
    width = len(header)
    columns: list[list[str]] = [[] for _ in range(width)]
    numbers: list[int] = []
    first_row = config.skip_rows + 2
    for k, row in enumerate(body):
        texts = [_cell_text(v) for v in row[:width]]
        if not any(text.strip() for text in texts):
            continue  # a blank row is no record (as a blank line in CSV)
        texts.extend([""] * (width - len(texts)))
        for i, text in enumerate(texts):
            columns[i].append(text)
        numbers.append(first_row + k)
    if not numbers:
        raise ExportError(path, "has a header but no data rows")
    # From the header row to the last record (a title above, a footer below may be merged).
    _refuse_merged_cells(path, sheet.merged_cell_ranges, header, config.skip_rows, numbers[-1])
    # Duplicate or blank header names still need distinct field names in the table.
    names = [name or f"__blank_{i}" for i, name in enumerate(header)]
    table = pa.table(
        [pa.array(col, type=pa.string()) for col in columns],
        names=names,
    )
    consecutive = numbers[-1] - first_row == len(numbers) - 1
    return RawExport(
        header=header,
        table=table,
        first_row=first_row,
        row_numbers=None if consecutive else np.array(numbers, dtype=np.int64),
    )


_COMPUTED_MARKS = (
    re.compile(rb"<f[\s>/]"),
    re.compile(rb":f[\s>/]"),  # <x:f>, checked below to be one
    re.compile(rb' t="e"'),
    re.compile(rb" t='e'"),
)
"""A formula or an error cell in a sheet's XML, marked by literal searches (one pattern
with alternatives scans a 200 MB sheet thirty times slower)."""


def _computed_marks(xml: bytes) -> Iterator[int]:
    """Where formulas and error cells are, in order."""
    found = (hit.start() for pattern in _COMPUTED_MARKS for hit in pattern.finditer(xml))
    for at in sorted(found):
        if xml[at : at + 1] == b":":
            opening = xml.rfind(b"<", max(0, at - 64), at)
            if opening < 0 or not re.fullmatch(rb"[\w.-]+", xml[opening + 1 : at]):
                continue  # text that happens to read ':f '
        yield at


_CELL_REF_RE = re.compile(r"([A-Z]+)(\d+)")
_CELL_END_RE = re.compile(rb"</(?:[\w.-]+:)?c>")
_PREFIX_RE = re.compile(rb"<(/?)[\w.-]+:")
_PREFIXED_ATTR_RE = re.compile(rb"""\s[\w.-]+:[\w.-]+\s*=\s*(?:"[^"]*"|'[^']*')""")
"""Prefixes of elements (`<x:c>`) and prefixed attributes: dropped to parse one cell
without its sheet's namespace declarations."""
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _cell_overrides(
    path: Path, data: bytes, index: int, cells: list[list[Any]], config: SourceConfig
) -> dict[tuple[int, int], str]:
    """The text of cells calamine does not read as the spreadsheet shows them, by 0-based
    (row, column): an error cell (`#N/A`, `#REF!`) reads blank, and a blank flag is an N;
    a number formatted with leading zeros (`00000`: 123 shown as `00123`) reads as 123, an
    id of another record. Each gets the text the sheet's CSV export writes. A formula has
    no value to read when none was stored, or when the workbook asks to be recalculated on
    opening (`fullCalcOnLoad`: programs store placeholders, such as 0): the export is then
    refused. Only the cells concerned are parsed, and only when a sheet has any."""
    import zipfile
    from xml.etree import ElementTree

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        workbook = ElementTree.fromstring(zf.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        targets = {
            e.get("Id"): e.get("Target", "") for e in rels.iter() if _local(e.tag) == "Relationship"
        }
        sheets = [e.get(_RELATIONSHIP_ID) for e in workbook.iter() if _local(e.tag) == "sheet"]
        target = targets[sheets[index]]
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        zf.getinfo(part)
    except (KeyError, IndexError, TypeError, zipfile.BadZipFile, ElementTree.ParseError, OSError):
        return {}  # a layout this does not know: calamine's reading stands
    with zf:
        padded = _padded_styles(zf)
        if not padded and not _mentions_computed(zf, part):
            return {}
        recalculated = any(
            _local(e.tag) == "calcPr" and e.get("fullCalcOnLoad") in ("1", "true")
            for e in workbook.iter()
        )
        xml = zf.read(part)
    try:
        found = _scan_computed(path, xml, recalculated, cells, config)
        found.update(_scan_padded(path, xml, padded, cells))
    except ElementTree.ParseError:
        problem = "cannot be read as XLSX (a cell that is not well-formed XML)"
        raise ExportError(path, problem) from None
    return found


def _padded_styles(zf: Any) -> dict[str, int]:
    """Cell styles (by index, as `s="3"` names them) whose number format pads with zeros
    (`00000`), and the width they pad to."""
    from xml.etree import ElementTree

    try:
        styles = ElementTree.fromstring(zf.read("xl/styles.xml"))
    except (KeyError, ElementTree.ParseError):
        return {}
    widths = {
        e.get("numFmtId"): len(code)
        for e in styles.iter()
        if _local(e.tag) == "numFmt"
        and re.fullmatch(r"0{2,}", code := (e.get("formatCode") or "").strip('"'))
    }
    if not widths:
        return {}
    xfs = next((e for e in styles.iter() if _local(e.tag) == "cellXfs"), None)
    formats = [] if xfs is None else [e for e in xfs if _local(e.tag) == "xf"]
    return {str(i): widths[f] for i, e in enumerate(formats) if (f := e.get("numFmtId")) in widths}


def _mentions_computed(zf: Any, part: str) -> bool:
    """Whether a sheet's XML holds a formula or an error cell at all (read in pieces: a
    sheet of a million rows is hundreds of megabytes of XML)."""
    tail = b""
    with zf.open(part) as xml:
        while chunk := xml.read(1 << 24):
            if any(pattern.search(tail + chunk) for pattern in _COMPUTED_MARKS):
                return True
            tail = chunk[-256:]
    return False


def _cell_at(path: Path, xml: bytes, at: int) -> tuple[Any, int]:
    """The cell element around offset `at`, parsed alone (its prefixes dropped), and the
    offset where it ends."""
    from xml.etree import ElementTree

    # The cell's start tag, `<c ` or `<x:c `, is the nearest one before the mark.
    window = max(0, at - 4096)
    plain = xml.rfind(b"<c ", window, at)
    prefixed = xml.rfind(b":c ", window, at)
    begin = xml.rfind(b"<", window, prefixed) if prefixed > plain else plain
    if begin < 0:
        raise ExportError(path, "cannot be read as XLSX (a cell it cannot delimit)")
    close = xml.find(b">", begin)
    if xml[close - 1 : close] == b"/":
        end = close + 1  # <c .../>: no formula and no value inside
    else:
        last = _CELL_END_RE.search(xml, close)
        if last is None:
            raise ExportError(path, "cannot be read as XLSX (a cell it cannot delimit)")
        end = last.end()
    alone = _PREFIXED_ATTR_RE.sub(b"", _PREFIX_RE.sub(rb"<\1", xml[begin:end]))
    return ElementTree.fromstring(alone), end


def _where(path: Path, cell: Any) -> tuple[int, int]:
    ref = _CELL_REF_RE.fullmatch(cell.get("r") or "")
    if ref is None:
        raise ExportError(path, "cannot be read as XLSX (a cell without its reference)")
    return _cell_position(ref)


def _scan_computed(
    path: Path, xml: bytes, recalculated: bool, cells: list[list[Any]], config: SourceConfig
) -> dict[tuple[int, int], str]:
    found: dict[tuple[int, int], str] = {}
    end = 0
    for at in _computed_marks(xml):
        if at < end:
            continue  # the cell just looked at
        cell, end = _cell_at(path, xml, at)
        row, col = _where(path, cell)
        kinds = {_local(child.tag): child.text or "" for child in cell}
        if "f" in kinds and (recalculated or (cell.get("t") != "str" and not kinds.get("v"))):
            header = cells[config.skip_rows] if len(cells) > config.skip_rows else []
            name = _cell_text(header[col]).strip() if 0 <= col < len(header) else ""
            why = (
                "the workbook asks for its formulas to be recalculated on opening, so the "
                "values stored in it cannot be trusted (it was written by a program)"
                if recalculated
                else "a formula cell has no calculated value (the file was written by a "
                "program and never saved by a spreadsheet)"
            )
            raise ExportError(
                path,
                f"{why}: open and save it in a spreadsheet, or export CSV",
                row=row + 1,
                column=name or None,
            )
        if cell.get("t") == "e":
            found[(row, col)] = kinds.get("v") or "#N/A"
    return found


def _scan_padded(
    path: Path, xml: bytes, padded: dict[str, int], cells: list[list[Any]]
) -> dict[tuple[int, int], str]:
    """Whole numbers in a zero-padding style, as the spreadsheet shows them (`00123`)."""
    found: dict[tuple[int, int], str] = {}
    for style, width in padded.items():
        for mark in (f' s="{style}"'.encode(), f" s='{style}'".encode()):
            for hit in re.finditer(re.escape(mark), xml):
                cell, _ = _cell_at(path, xml, hit.start())
                if cell.get("t") not in (None, "n"):
                    continue  # text, a date, a flag: shown as it is
                row, col = _where(path, cell)
                value = cells[row][col] if row < len(cells) and col < len(cells[row]) else None
                if isinstance(value, float) and value.is_integer() and value >= 0:
                    found[(row, col)] = f"{int(value):0{width}d}"
    return found


def _cell_position(ref: re.Match[str]) -> tuple[int, int]:
    column = 0
    for letter in ref.group(1):
        column = column * 26 + ord(letter) - 64
    return int(ref.group(2)) - 1, column - 1


def _refuse_merged_cells(
    path: Path, merged: list[Any], header: list[str], first: int, last_row: int
) -> None:
    """Merged cells hold their value in the first cell only: the others would read as
    blank (a merged `Y` of legal hold over three rows would hold one record of three).
    Rows `first` (0-based, the header) to `last_row` (a row number) are checked."""
    for (top, left), (bottom, _right) in sorted(merged or []):
        if bottom >= first and top < last_row:
            column = header[left] if left < len(header) else None
            raise ExportError(
                path,
                f"has merged cells (rows {top + 1} to {bottom + 1}): only the first of "
                "them holds the value, the others would read as blank; unmerge them or "
                "export CSV",
                row=top + 1,
                column=column or None,
            )


def _looks_like_text(data: bytes, config: SourceConfig) -> bool:
    """Whether the first line is text holding the configured delimiter (a CSV header)."""
    first = data[:4096].split(b"\n", 1)[0]
    if b"\x00" in first:
        return False
    encoding = config.encoding if _is_ascii_compatible(config.encoding) else "utf-8"
    try:
        text = first.decode(encoding)
    except UnicodeDecodeError:
        return False
    return config.delimiter in text


def _refuse_split_export(
    path: Path, book: Any, index: int, header: list[str], config: SourceConfig
) -> None:
    """Other sheets are not read, unless one of them starts with the same header row: then
    the export was split across sheets (Excel holds at most 1,048,576 rows a sheet), and
    reading one sheet would make every record of the others look deleted."""
    from python_calamine import CalamineError

    names = book.sheet_names
    if len(names) < 2:
        return
    wanted = [name.casefold() for name in header]
    while wanted and not wanted[-1]:
        wanted.pop()
    for other in range(len(names)):
        if other == index:
            continue
        try:
            rows = book.get_sheet_by_index(other).to_python(
                skip_empty_area=False, nrows=config.skip_rows + 1
            )
        except (CalamineError, IndexError, ValueError):
            continue
        if len(rows) <= config.skip_rows:
            continue
        theirs = [_cell_text(v).strip().casefold() for v in rows[config.skip_rows]]
        while theirs and not theirs[-1]:
            theirs.pop()
        if theirs == wanted:
            raise ExportError(
                path,
                f"sheets {min(index, other)} and {max(index, other)} (0-based) start with "
                "the same header row: the export is split across sheets, and one of them is "
                "not all of it; export it as CSV or as a single sheet",
            )


def _drop_xlsx_footer(body: list[list[Any]], config: SourceConfig) -> list[list[Any]]:
    if config.footer is None:
        return body
    pattern = re.compile(config.footer)
    for i, row in enumerate(body):
        if row and pattern.search(_cell_text(row[0])):
            return body[:i]
    return body


def _cell_text(value: Any) -> str:
    """XLSX cells as the text a CSV export would carry."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        if value.is_integer():
            # Too long to be kept exactly (an id of 17 digits is stored rounded): shown
            # the way a spreadsheet shows it, 1.23456789012346E+16, never as other digits.
            return f"{value:.15G}"
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


# --- mapping and normalisation -----------------------------------------------------------


def _header_index(header: list[str]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        index.setdefault(name.strip().casefold(), []).append(i)
    return index


def to_canonical(path: Path, sha256: str, raw: RawExport, config: SourceConfig) -> CanonicalExport:
    fields = schema(config.source)
    index = _header_index(raw.header)
    missing_required: list[str] = []
    missing_mapped: list[str] = []
    absent: list[str] = []
    positions: dict[str, int] = {}
    for f in fields:
        if f.name in config.constants:
            continue
        column = config.column_for(f.name)
        hits = index.get(column.strip().casefold(), [])
        if len(hits) > 1:
            raise ExportError(
                path, f"column appears {len(hits)} times in the header", column=column
            )
        if hits:
            positions[f.name] = hits[0]
        elif f.required:
            missing_required.append(column)
        elif f.name in config.columns and f.kind is Kind.FLAG:
            missing_mapped.append(column)
        else:
            absent.append(f.name)
    if missing_required:
        names = ", ".join(repr(c) for c in missing_required)
        plural = "s" if len(missing_required) > 1 else ""
        raise ExportError(
            path, f"required column{plural} missing: {names}", column=missing_required[0]
        )
    if missing_mapped:
        # The config names a Y/N column: its absence is a changed layout, not a column of
        # blanks, which would be N (a renamed `Legal Hold` column would hold nobody, a
        # missing `Has Purchased` would delete customers as enquirers).
        names = ", ".join(repr(c) for c in missing_mapped)
        one = len(missing_mapped) == 1
        raise ExportError(
            path,
            f"Y/N column{'' if one else 's'} {names}, named in the source config's `columns`, "
            f"{'is' if one else 'are'} missing; remove {'it' if one else 'them'} from "
            f"`columns` if the export no longer has {'it' if one else 'them'}",
            column=missing_mapped[0],
        )
    used = set(positions.values())
    ignored = tuple(name for i, name in enumerate(raw.header) if i not in used and name)

    n = raw.table.num_rows
    out: dict[str, Any] = {ROW_COLUMN: raw.numbers()}
    invalid: dict[str, pd.Series] = {}

    def normalise_field(f: Field) -> tuple[Field, pd.Series, pd.Series | None]:
        if f.name in config.constants:
            text = pd.Series([config.constants[f.name]] * n, dtype="str")
        elif f.name in positions:
            text = pd.Series(raw.table.column(positions[f.name]), dtype="str")
        else:
            text = pd.Series(pd.NA, index=pd.RangeIndex(n), dtype="str")
        text = norm.apply_value_map(norm.blank_to_na(text), config.value_map(f.name))
        value, bad = _normalise(text, f, config)
        return f, value, bad

    # Arrow kernels and pandas' date parser release the GIL: normalise columns side by side.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        results = list(pool.map(normalise_field, fields))
    for f, value, bad in results:
        out[f.name] = value.to_numpy() if f.kind is Kind.FLAG else value.array
        if bad is not None:
            invalid[f.name] = bad
    frame = pd.DataFrame(out)
    frame[ROW_COLUMN] = frame[ROW_COLUMN].astype("int64")
    for name, mask in invalid.items():
        frame[INVALID_PREFIX + name] = mask.to_numpy()
    counts = {name: int(mask.sum()) for name, mask in invalid.items() if mask.any()}
    return CanonicalExport(
        source=config.source,
        path=path,
        sha256=sha256,
        frame=frame,
        absent_fields=tuple(absent),
        ignored_columns=ignored,
        invalid_counts=counts,
    )


def _normalise(
    text: pd.Series, f: Field, config: SourceConfig
) -> tuple[pd.Series, pd.Series | None]:
    match f.kind:
        case Kind.ID | Kind.TEXT:
            return text, None
        case Kind.ENUM:
            return norm.normalise_enum(text, f.values)
        case Kind.FLAG:
            return norm.normalise_flag(text)
        case Kind.DATE:
            return norm.implausible_to_invalid(*norm.normalise_date(text, config.date_format))
        case Kind.TIMESTAMP:
            return norm.implausible_to_invalid(
                *norm.normalise_timestamp(text, config.timestamp_format, config.timezone)
            )
        case Kind.EMAIL:
            return norm.normalise_email(text)
        case Kind.PHONE:
            return norm.normalise_phone(text, config.phone_region)
    raise AssertionError(f"unhandled kind {f.kind}")
