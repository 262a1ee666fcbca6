"""Vectorised normalisation of raw export columns (strings) into canonical values.

Every function takes a pandas Series of strings (blank = empty or missing) and returns the
canonical values plus a boolean mask of *invalid* cells: present in the export but not
parseable. Invalid cells become missing values; the mask is what the quality checks see, so
nothing is guessed and no raw value needs to be kept or printed.

String work runs in Arrow compute kernels (pandas' own string methods fall back to a Python
loop for regular expressions and case-folding); date parsing runs in pandas' C parser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from governance.sources.schema import FLAG_FALSE, FLAG_TRUE

LONDON = "Europe/London"
DATE_DTYPE = "datetime64[s]"

# An offset after a time of day: `T10:00Z`, ` 10:00:00.5+01:00`. A bare date's `-DD` is not one.
_OFFSET_RE = r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_BARE_DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
# What a timestamp configured in another format may also be written as, read by the ISO rules:
# a date, or a date and time of day (seconds and a fraction optional) with an optional offset,
# in ASCII digits. Stricter than pandas' ISO parser, which takes `2019` as 1 January.
_ISO_TIMESTAMP_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
    r"(?:\s*(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?))?)?$"
)
# ISO 8601 writes a fraction of a second after `.` or `,`; pandas reads only `.`. The comma
# is turned into a point in this one position: right after the seconds of a time of day.
_SECONDS_COMMA_RE = r"([T ]\d{2}(?::?\d{2}){2}),(\d)"
# A decimal digit other than 0-9 (full-width, Arabic-Indic, ...): Python's `\d`, and so
# pandas' `%Y`, `%m` and `%d`, would read it as a digit.
_NON_ASCII_DIGIT_RE = r"[^\P{Nd}0-9]"
_ISO_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9]
"""Positions of the digits in `YYYY-MM-DD`; the other two hold `-`."""
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
EMAIL_PATTERN = r"^[^@\t\n\f\r ]+@[^@\t\n\f\r ]+\.[^@\t\n\f\r .]+$"
"""An e-mail address, the same for Python, Arrow and Great Expectations: the blanks are
spelled out, because Python's `\\s` also matches Unicode spaces and Arrow's (RE2) does not."""
_PHONE_NOISE_RE = r"[\s\-().\x{00a0}/]"
# A GB number written nationally: trunk 0 and 9 or 10 significant digits. phonenumbers turns
# these into +44 and the significant digits; doing that in bulk keeps millions of rows fast.
# The remaining shapes go through phonenumbers itself (tests hold the two paths equal).
_GB_PATTERNS = (r"^0(?P<n>[1-9]\d{8,9})$", r"^(?:\+|00)44(?P<n>[1-9]\d{8,9})$")


def _arrow(s: pd.Series) -> pa.Array:
    return pa.array(s, type=pa.large_string(), from_pandas=True)


def _text(values: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index, dtype="str")


def _bools(values: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    filled = pc.fill_null(values, False)
    return pd.Series(np.asarray(filled, dtype=bool), index=index)


def blank_to_na(raw: pd.Series) -> pd.Series:
    """Trim surrounding whitespace; empty strings become missing."""
    trimmed = pc.utf8_trim_whitespace(_arrow(raw))
    return _text(pc.if_else(pc.equal(trimmed, ""), None, trimmed), raw.index)


def fold(s: pd.Series) -> pa.Array:
    """Lower-cased text: how enumerations, flags and value-map keys are compared."""
    return pc.utf8_lower(_arrow(s))


def apply_value_map(s: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Replace values found in `mapping` (keys already trimmed and lower-cased)."""
    if not mapping:
        return s
    keys = pa.array(list(mapping), type=pa.large_string())
    targets = pa.array(list(mapping.values()), type=pa.large_string())
    position = pc.index_in(fold(s), value_set=keys)
    return _text(pc.coalesce(pc.take(targets, position), _arrow(s)), s.index)


def normalise_enum(s: pd.Series, allowed: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    folded = fold(s)
    ok = pc.is_in(folded, value_set=pa.array(allowed, type=pa.large_string()))
    invalid = pc.and_(pc.is_valid(folded), pc.invert(ok))
    return _text(pc.if_else(ok, folded, None), s.index), _bools(invalid, s.index)


def normalise_flag(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Y/N in any of its spellings; blank means N."""
    folded = fold(s)
    yes = pc.is_in(folded, value_set=pa.array(sorted(FLAG_TRUE), type=pa.large_string()))
    no = pc.is_in(folded, value_set=pa.array(sorted(FLAG_FALSE), type=pa.large_string()))
    invalid = pc.and_(pc.is_valid(folded), pc.invert(pc.or_(yes, no)))
    return _bools(yes, s.index), _bools(invalid, s.index)


def normalise_date(s: pd.Series, date_format: str) -> tuple[pd.Series, pd.Series]:
    """Dates in the configured format; ISO `YYYY-MM-DD` is accepted too (it cannot be
    confused with another layout, and XLSX date cells arrive that way).

    ISO is strict: four, two and two ASCII digits (`2010-1-1` is no ISO date) naming a real
    calendar date. A configured format reads what pandas reads, except digits other than
    0-9 (`３１/０１/２０２０`): doubtful, so invalid rather than guessed."""
    text = pc.utf8_trim_whitespace(_arrow(s))
    if date_format == "%Y-%m-%d":
        parsed = pd.Series(_iso_dates(text), index=s.index)
        return parsed, s.notna() & parsed.isna()
    parsed = pd.to_datetime(s, format=date_format, errors="coerce").astype(DATE_DTYPE)
    if not pc.all(pc.string_is_ascii(text)).as_py():
        parsed = parsed.mask(_bools(pc.match_substring_regex(text, _NON_ASCII_DIGIT_RE), s.index))
    retry = parsed.isna() & s.notna()
    if retry.any():
        rest = pc.if_else(pa.array(retry.to_numpy()), text, None)
        parsed = parsed.fillna(pd.Series(_iso_dates(rest), index=s.index))
    return parsed, s.notna() & parsed.isna()


def _iso_dates(text: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Trimmed cells of exactly the form `YYYY-MM-DD` (ASCII digits) naming a real date, as
    DATE_DTYPE; NaT elsewhere. Read from the cells' bytes with NumPy: a strict check and
    parse in one pass, faster than pandas' parser."""
    text = text.cast(pa.large_string())  # 64-bit offsets, as read below
    out = np.full(len(text), np.datetime64("NaT"), dtype=DATE_DTYPE)
    ten = np.asarray(pc.fill_null(pc.equal(pc.binary_length(text), 10), False), dtype=bool)
    if not ten.any():
        return out
    cells = pc.filter(text, pa.array(ten))
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    # Every kept cell is 10 bytes long, so their bytes are one contiguous block.
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int64)
    start, end = offsets[cells.offset], offsets[cells.offset + len(cells)]
    data = np.frombuffer(cells.buffers()[2], dtype=np.uint8)[start:end].reshape(-1, 10)
    digits = data[:, _ISO_DIGITS] - np.uint8(ord("0"))  # wraps: a non-digit becomes >= 10
    shape_ok = (digits < 10).all(axis=1) & (data[:, 4] == ord("-")) & (data[:, 7] == ord("-"))
    d = digits.astype(np.int64)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    month_ok = (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
    ok = shape_ok & month_ok & (day >= 1) & (day <= last_day)
    months = (year - 1970) * 12 + month - 1
    days = months.astype("datetime64[M]").astype("datetime64[D]") + (day - 1)
    out[ten] = np.where(ok, days.astype(DATE_DTYPE), np.datetime64("NaT"))
    return out


def normalise_timestamp(
    s: pd.Series, timestamp_format: str | None, timezone: str
) -> tuple[pd.Series, pd.Series]:
    """Timestamps to their calendar date in Europe/London.

    With an offset (`Z`, `+01:00`) the instant is converted to London time; without one the
    value is wall-clock time in `timezone` (London by default, whose date is then simply the
    date written). A bare date is accepted as that date.

    With a configured format, each cell's own offset is honoured when the format has `%z` or
    `%Z` (an export spanning a change of clocks mixes `+0000` and `+0100`), and a cell that
    does not match the format but is ISO 8601 (`2019-01-28T12:48:00`, as XLSX date-time cells
    arrive) is read by the ISO rules above, as dates fall back to ISO. No cell raises: one
    that does not parse is invalid.
    """
    if timestamp_format is None:
        result = _iso_timestamps(s, timezone)
    else:
        result = _formatted_timestamps(s, timestamp_format, timezone)
        retry = (result.isna() & s.notna()).to_numpy()
        if retry.any():
            rest = pc.utf8_trim_whitespace(_arrow(s[retry]))
            iso = np.asarray(
                pc.fill_null(pc.match_substring_regex(rest, _ISO_TIMESTAMP_RE), False), dtype=bool
            )
            if iso.any():
                where = np.flatnonzero(retry)[iso]
                cells = _text(pc.filter(rest, pa.array(iso)), s.index[where])
                result.iloc[where] = _iso_timestamps(cells, timezone).to_numpy()
    return result, s.notna() & result.isna()


def _iso_timestamps(s: pd.Series, timezone: str) -> pd.Series:
    """ISO 8601 timestamps (or bare dates) to their London date; NaT where they do not
    parse."""
    result = pd.Series(pd.NaT, index=s.index, dtype=DATE_DTYPE)
    text = _arrow(s)
    if _may_contain(text, ","):
        text = pc.replace_substring_regex(text, _SECONDS_COMMA_RE, r"\1.\2")
        s = _text(text, s.index)
    has_offset = _bools(pc.match_substring_regex(text, _OFFSET_RE), s.index)
    bare_date = _bools(pc.match_substring_regex(text, _BARE_DATE_RE), s.index)
    if has_offset.any():
        aware = pd.to_datetime(s[has_offset], format="ISO8601", utc=True, errors="coerce")
        result[has_offset] = _london_date(aware)
    if bare_date.any():
        result[bare_date] = pd.to_datetime(s[bare_date], format="%Y-%m-%d", errors="coerce")
    naive_mask = ~has_offset & ~bare_date & s.notna()
    if naive_mask.any():
        naive = pd.to_datetime(s[naive_mask], format="ISO8601", errors="coerce")
        result[naive_mask] = _local_to_london_date(naive, timezone)
    return result


def _formatted_timestamps(s: pd.Series, timestamp_format: str, timezone: str) -> pd.Series:
    """Timestamps in a strptime format to their London date; NaT where they do not match.
    With `%z`/`%Z` every cell is converted to UTC by its own offset: without `utc=True`
    pandas refuses offsets that differ between cells."""
    if has_zone_directive(timestamp_format):
        aware = pd.to_datetime(s, format=timestamp_format, utc=True, errors="coerce")
        return _london_date(aware)
    parsed = pd.to_datetime(s, format=timestamp_format, errors="coerce")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # not expected without %z/%Z
        return _london_date(parsed)
    return _local_to_london_date(parsed, timezone)


def has_zone_directive(strptime_format: str) -> bool:
    """Whether a strptime format reads an offset or zone name (`%z`, `%Z`; not `%%z`)."""
    return any(d in "zZ" for d in re.findall(r"%(.)", strptime_format, flags=re.DOTALL))


EARLIEST_PLAUSIBLE = np.datetime64("1900-01-01", "s")
"""No record of a company's CRM, HR or recruitment system dates from before this: an earlier
date (`1066-10-14`, `0001-01-01`) is a typing error or a placeholder, not a fact to act on."""


def implausible_to_invalid(values: pd.Series, invalid: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates before EARLIEST_PLAUSIBLE become missing and invalid, as a date that does not
    parse does (a rule that needs one quarantines the record rather than deleting it at
    once). Dates far in the future stay: `9999-12-31` is a common "no end yet", and the
    engine quarantines a trigger date after as_of where the record says it has happened."""
    early = (values < EARLIEST_PLAUSIBLE).to_numpy(dtype=bool)
    if not early.any():
        return values, invalid
    return values.mask(early), invalid | early


def _may_contain(text: pa.Array | pa.ChunkedArray, char: str) -> bool:
    """Whether a cell may hold the ASCII `char`: a scan of the raw bytes (much faster than a
    per-cell search), where bytes outside a slice can only give a false positive."""
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    for chunk in chunks:
        data = chunk.buffers()[2]
        if data is not None and (np.frombuffer(data, dtype=np.uint8) == ord(char)).any():
            return True
    return False


_YEAR_10000 = np.datetime64("10000-01-01T00:00:00")
"""The first instant whose London date pandas cannot convert (London is on UTC then)."""
_LAST_SAFE_WALL_CLOCK = np.datetime64("9999-12-31T00:00:00")
"""From here on, a wall-clock time in a zone west of London may be in year 10000 in London,
which pandas' time-zone code refuses with an error instead of a missing value."""


def _london_date(aware: pd.Series) -> pd.Series:
    """The London date of instants; missing for those in year 10000 or later there."""
    beyond = (aware.dt.tz_convert(None) >= _YEAR_10000).to_numpy()
    if beyond.any():
        aware = aware.mask(beyond)
    return aware.dt.tz_convert(LONDON).dt.tz_localize(None).dt.normalize().astype(DATE_DTYPE)


def _local_to_london_date(naive: pd.Series, timezone: str) -> pd.Series:
    if timezone == LONDON:
        return naive.dt.normalize().astype(DATE_DTYPE)
    late = (naive >= _LAST_SAFE_WALL_CLOCK).to_numpy()
    if late.any():
        result = _local_to_london_date(naive.mask(late), timezone)
        result[late] = [_wall_clock_to_london_date(v, timezone) for v in naive[late]]
        return result
    # A wall-clock time that occurs twice (clocks going back) is read as the first of the
    # two; one that never occurs (clocks going forward) moves to the next valid instant.
    dst_first = np.ones(len(naive), dtype=bool)
    aware = naive.dt.tz_localize(timezone, ambiguous=dst_first, nonexistent="shift_forward")
    return _london_date(aware)


def _wall_clock_to_london_date(value: pd.Timestamp, timezone: str) -> np.datetime64:
    """One wall-clock time in `timezone` (the first of a repeated hour) to its London date,
    with the standard library: for the few at the end of year 9999, NaT past it."""
    try:
        local = value.to_pydatetime().replace(tzinfo=ZoneInfo(timezone))
        return np.datetime64(local.astimezone(ZoneInfo(LONDON)).date(), "s")
    except (OverflowError, ValueError):
        return np.datetime64("NaT", "s")


def normalise_email(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Lower-cased for matching; an address without the shape local@domain.tld is invalid."""
    lowered = fold(s)
    ok = pc.match_substring_regex(lowered, EMAIL_PATTERN)
    invalid = pc.and_(pc.is_valid(lowered), pc.invert(ok))
    return _text(pc.if_else(ok, lowered, None), s.index), _bools(invalid, s.index)


def normalise_phone(s: pd.Series, region: str) -> tuple[pd.Series, pd.Series]:
    """Phone numbers to E.164 with phonenumbers (`region` for numbers written nationally).
    A value phonenumbers cannot read, or whose length no number of its country has, is
    invalid."""
    text = _arrow(s)
    result = pa.nulls(len(text), type=pa.large_string())
    if region == "GB":
        compact = pc.replace_substring_regex(text, _PHONE_NOISE_RE, "")
        for pattern in _GB_PATTERNS:
            digits = pc.struct_field(pc.extract_regex(compact, pattern), [0])
            plus44 = pa.scalar("+44", type=pa.large_string())
            empty = pa.scalar("", type=pa.large_string())
            result = pc.coalesce(result, pc.binary_join_element_wise(plus44, digits, empty))
    pending = pc.and_(pc.is_valid(text), pc.is_null(result))
    if pc.any(pending).as_py():
        rest = pc.filter(text, pending)
        distinct = pc.unique(rest)
        table = pa.array(
            [_phone_e164(v, region) for v in distinct.to_pylist()], type=pa.large_string()
        )
        looked_up = pc.take(table, pc.index_in(text, value_set=distinct))
        result = pc.coalesce(result, pc.if_else(pending, looked_up, None))
    invalid = pc.and_(pc.is_valid(text), pc.is_null(result))
    return _text(result, s.index), _bools(invalid, s.index)


def _phone_e164(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
