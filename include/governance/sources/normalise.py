"""Vectorised normalisation of raw export columns (strings) into canonical values.

Every function takes a pandas Series of strings (blank = empty or missing) and returns the
canonical values plus a boolean mask of *invalid* cells: present in the export but not
parseable. Invalid cells become missing values; the mask is what the quality checks see, so
nothing is guessed and no raw value needs to be kept or printed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import phonenumbers

from governance.sources.schema import FLAG_FALSE, FLAG_TRUE

LONDON = "Europe/London"
DATE_DTYPE = "datetime64[s]"

# An offset after a time of day: `T10:00Z`, ` 10:00:00.5+01:00`. A bare date's `-DD` is not one.
_OFFSET_RE = r"[T ]\d{2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
_PHONE_NOISE_RE = r"[\s\-().\u00a0/]"
# A GB number written nationally: trunk 0 and 9 or 10 significant digits. phonenumbers turns
# these into +44 and the significant digits; doing that in bulk keeps millions of rows fast.
# The remaining shapes go through phonenumbers itself (tests hold the two paths equal).
_GB_NATIONAL_RE = r"^0([1-9]\d{8,9})$"
_GB_INTERNATIONAL_RE = r"^(?:\+|00)44([1-9]\d{8,9})$"


def blank_to_na(raw: pd.Series) -> pd.Series:
    """Trim surrounding whitespace; empty strings become missing."""
    s = raw.astype("str").str.strip()
    return s.where(s != "")


def apply_value_map(s: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """Replace values found in `mapping` (keys already trimmed and case-folded)."""
    if not mapping:
        return s
    mapped = s.str.casefold().map(dict(mapping))
    return mapped.where(mapped.notna(), s).astype("str")


def normalise_enum(s: pd.Series, allowed: tuple[str, ...]) -> tuple[pd.Series, pd.Series]:
    folded = s.str.casefold()
    ok = folded.isin(allowed)
    invalid = folded.notna() & ~ok
    return folded.where(ok), _mask(invalid)


def normalise_flag(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Y/N in any of its spellings; blank means N."""
    folded = s.str.casefold()
    yes = folded.isin(FLAG_TRUE)
    no = folded.isin(FLAG_FALSE) | folded.isna()
    return _mask(yes), _mask(~(yes | no))


def normalise_date(s: pd.Series, date_format: str) -> tuple[pd.Series, pd.Series]:
    """Dates in the configured format; ISO `YYYY-MM-DD` is accepted too (it cannot be
    confused with another layout, and XLSX date cells arrive that way)."""
    parsed = pd.to_datetime(s, format=date_format, errors="coerce")
    if date_format != "%Y-%m-%d":
        retry = parsed.isna() & s.notna()
        if retry.any():
            parsed = parsed.where(
                ~retry, pd.to_datetime(s.where(retry), format="%Y-%m-%d", errors="coerce")
            )
    parsed = parsed.astype(DATE_DTYPE)
    return parsed, _mask(s.notna() & parsed.isna())


def normalise_timestamp(
    s: pd.Series, timestamp_format: str | None, timezone: str
) -> tuple[pd.Series, pd.Series]:
    """Timestamps to their calendar date in Europe/London.

    With an offset (`Z`, `+01:00`) the instant is converted to London time; without one the
    value is wall-clock time in `timezone` (London by default, whose date is then simply the
    date written). A bare date is accepted as that date.
    """
    result = pd.Series(pd.NaT, index=s.index, dtype=DATE_DTYPE)
    if timestamp_format is None:
        has_offset = s.str.contains(_OFFSET_RE, regex=True).fillna(False).astype(bool)
        if has_offset.any():
            aware = pd.to_datetime(s[has_offset], format="ISO8601", utc=True, errors="coerce")
            result[has_offset] = _london_date(aware)
        bare_date = s.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False).astype(bool)
        if bare_date.any():
            result[bare_date] = pd.to_datetime(s[bare_date], format="%Y-%m-%d", errors="coerce")
        naive_mask = ~has_offset & ~bare_date & s.notna()
        if naive_mask.any():
            naive = pd.to_datetime(s[naive_mask], format="ISO8601", errors="coerce")
            result[naive_mask] = _local_to_london_date(naive, timezone)
    else:
        parsed = pd.to_datetime(s, format=timestamp_format, errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            result = _london_date(parsed)
        else:
            result = _local_to_london_date(parsed, timezone)
    return result, _mask(s.notna() & result.isna())


def _london_date(aware: pd.Series) -> pd.Series:
    return aware.dt.tz_convert(LONDON).dt.tz_localize(None).dt.normalize().astype(DATE_DTYPE)


def _local_to_london_date(naive: pd.Series, timezone: str) -> pd.Series:
    if timezone == LONDON:
        return naive.dt.normalize().astype(DATE_DTYPE)
    # A wall-clock time that occurs twice (clocks going back) is read as the first of the
    # two; one that never occurs (clocks going forward) moves to the next valid instant.
    dst_first = np.ones(len(naive), dtype=bool)
    aware = naive.dt.tz_localize(timezone, ambiguous=dst_first, nonexistent="shift_forward")
    return _london_date(aware)


def normalise_email(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Lower-cased for matching; an address without the shape local@domain.tld is invalid."""
    lowered = s.str.lower()
    ok = lowered.str.match(_EMAIL_RE).fillna(False).astype(bool)
    return lowered.where(ok), _mask(lowered.notna() & ~ok)


def normalise_phone(s: pd.Series, region: str) -> tuple[pd.Series, pd.Series]:
    """Phone numbers to E.164 with phonenumbers (`region` for numbers written nationally).
    A value phonenumbers cannot read, or whose length no number of its country has, is
    invalid."""
    compact = s.str.replace(_PHONE_NOISE_RE, "", regex=True)
    result = pd.Series(pd.NA, index=s.index, dtype="str")
    pending = compact.notna()
    if region == "GB":
        for pattern in (_GB_NATIONAL_RE, _GB_INTERNATIONAL_RE):
            digits = compact.str.extract(pattern, expand=False)
            hit = digits.notna() & pending
            result[hit] = "+44" + digits[hit]
            pending &= ~hit
    if pending.any():
        rest = s[pending]
        table = {value: _phone_e164(value, region) for value in rest.unique()}
        result[pending] = rest.map(table)
    return result, _mask(s.notna() & result.isna())


def _phone_e164(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _mask(values: pd.Series) -> pd.Series:
    return values.fillna(False).astype(bool)
