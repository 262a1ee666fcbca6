"""Property tests: the vectorised normalisers agree, value by value, with references written
here with the standard library (datetime, zoneinfo) and phonenumbers.

Every example is a mixed batch (one pandas Series of strings) put through `blank_to_na` first,
as the reader does, so the bulk fast paths and the per-value fallbacks are exercised together.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pandas as pd
import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.sources import normalise as norm

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC
BLANK = "blank"
"""Expected outcome of a cell that is empty after trimming: missing and not invalid."""

SETTINGS = settings(max_examples=80, deadline=None)

# Whitespace exports really carry around values: spaces, tabs, line ends, no-break spaces.
SURROUNDING = st.text(alphabet=" \t\r\n\u00a0\u3000", max_size=3)


def series(values: list[str]) -> pd.Series:
    """A raw export column as the reader builds it, then trimmed with empties made missing."""
    return norm.blank_to_na(pd.Series(values, dtype="str"))


def check_batch(
    raw: list[str],
    expected: list[object],
    result: pd.Series,
    invalid: pd.Series,
    same: Callable[[object, object], bool] = lambda got, want: got == want,
) -> None:
    """`expected[i]` is a value, None (invalid: missing and masked) or BLANK."""
    assert len(result) == len(invalid) == len(raw)
    for i, (value, want) in enumerate(zip(raw, expected, strict=True)):
        got, bad = result.iloc[i], bool(invalid.iloc[i])
        if want == BLANK:
            assert pd.isna(got) and not bad, (i, value, got, bad)
        elif want is None:
            assert pd.isna(got) and bad, (i, value, got, bad)
        else:
            assert not bad, (i, value, got, want)
            assert not pd.isna(got) and same(got, want), (i, value, got, want)


# --- phone numbers -----------------------------------------------------------------------

SEPARATORS = ["", "", " ", " ", "-", ".", " - ", "  ", "\u00a0", "/"]
DIGIT_SCRIPTS = [
    str.maketrans("", ""),  # ASCII
    str.maketrans("0123456789", "０１２３４５６７８９"),  # full-width
    str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"),  # Arabic-Indic
]


@st.composite
def spaced(draw: st.DrawFn, digits: str) -> str:
    """`digits` cut into groups joined by random separators; the first group maybe in
    parentheses, as in `(01242) 580-654`."""
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(digits) - 1)), max_size=4)))
    groups = [digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
    groups = [g for g in groups if g]
    if len(groups) > 1 and draw(st.integers(0, 4)) == 0:
        groups[0] = f"({groups[0]})"
    out = groups[0]
    for group in groups[1:]:
        out += draw(st.sampled_from(SEPARATORS)) + group
    return out


@st.composite
def uk_numbers(draw: st.DrawFn) -> str:
    """A UK number written in one of the shapes people and systems use: trunk 0 nationally,
    or +44 / 0044 / +44 (0) internationally. Mostly 9-10 significant digits (the real
    lengths), sometimes shorter or longer, sometimes starting with 0."""
    first = draw(st.sampled_from("1234567890"))
    length = draw(st.one_of(st.integers(8, 9), st.integers(3, 12)))
    significant = first + draw(st.text(alphabet="0123456789", min_size=length, max_size=length))
    prefix = draw(
        st.sampled_from(
            ["0", "0", "0", "+44", "+44 ", "0044", "0044 ", "+44 (0)", "+44(0)", "(+44) ", "44"]
        )
    )
    # Nationally the trunk 0 belongs to the first group, as in (01242) 580654.
    national = prefix == "0"
    text = ("" if national else prefix) + draw(spaced(prefix * national + significant))
    script = draw(st.sampled_from(DIGIT_SCRIPTS[:1] * 6 + DIGIT_SCRIPTS[1:]))
    return draw(SURROUNDING) + text.translate(script) + draw(SURROUNDING)


PHONE_JUNK = st.one_of(
    st.text(max_size=20),
    st.text(alphabet="0123456789 +-().", max_size=16),
    st.text(alphabet="0123456789", max_size=8),
    st.sampled_from(["call me", "n/a", "+44", "0", "ext 12", "07700 900123 ext 4"]),
)


def reference_e164(value: str, region: str) -> str | None:
    """phonenumbers, one value at a time: E.164 when it parses and is a possible number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def expected_phone(raw: str, region: str) -> object:
    value = raw.strip()
    return BLANK if not value else reference_e164(value, region)


@SETTINGS
@given(st.lists(st.one_of(uk_numbers(), uk_numbers(), PHONE_JUNK), min_size=1, max_size=30))
def test_gb_phones_agree_with_phonenumbers(raw: list[str]) -> None:
    result, invalid = norm.normalise_phone(series(raw), "GB")
    check_batch(raw, [expected_phone(v, "GB") for v in raw], result, invalid)


@st.composite
def us_numbers(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from("23456789")) + draw(st.text("0123456789", min_size=2, max_size=2))
    line = draw(st.text("0123456789", min_size=7, max_size=7))
    prefix = draw(st.sampled_from(["", "", "1", "+1 ", "+1-", "001 "]))
    return prefix + draw(spaced(area + line))


@settings(max_examples=50, deadline=None)
@given(
    region=st.sampled_from(["US", "DE", "FR", "IE"]),
    raw=st.lists(st.one_of(us_numbers(), uk_numbers(), PHONE_JUNK), min_size=1, max_size=30),
)
def test_other_regions_agree_with_phonenumbers(region: str, raw: list[str]) -> None:
    result, invalid = norm.normalise_phone(series(raw), region)
    check_batch(raw, [expected_phone(v, region) for v in raw], result, invalid)


def test_known_phone_shapes() -> None:
    raw = ["01242 580654", "+44 (0)7700 900123", "(212) 555-0100", "12", ""]
    result, invalid = norm.normalise_phone(series(raw), "US")
    assert result.iloc[2] == "+12125550100"
    assert list(invalid) == [
        reference_e164("01242 580654", "US") is None,
        reference_e164("+44 (0)7700 900123", "US") is None,
        False,
        True,
        False,
    ]
    result, invalid = norm.normalise_phone(series(raw[:2]), "GB")
    assert list(result) == ["+441242580654", "+447700900123"]


# --- timestamps --------------------------------------------------------------------------

EARLIEST = dt.datetime(2, 1, 1)
LATEST = dt.datetime(9998, 12, 31)
"""Any year Python can shift by a day either way."""


def last_sunday(year: int, month: int) -> dt.date:
    end = dt.date(year, month, calendar.monthrange(year, month)[1])
    return end - dt.timedelta(days=(end.weekday() + 1) % 7)


def nth_sunday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


@st.composite
def instants(draw: st.DrawFn) -> dt.datetime:
    """UTC instants, many of them within a day and a half of a BST change (01:00 UTC on the
    last Sundays of March and October) or within three hours of a London midnight."""
    kind = draw(st.sampled_from(["any", "bst", "bst", "midnight", "midnight"]))
    if kind == "any":
        return draw(st.datetimes(EARLIEST, LATEST, timezones=st.just(UTC)))
    minutes = st.integers(-36 * 60, 36 * 60) if kind == "bst" else st.integers(-180, 180)
    if kind == "bst":
        day = last_sunday(draw(st.integers(1972, 2200)), draw(st.sampled_from([3, 10])))
        anchor = dt.datetime.combine(day, dt.time(1), UTC)
    else:
        day = draw(st.dates(EARLIEST.date(), LATEST.date()))
        anchor = dt.datetime.combine(day, dt.time(0), LONDON).astimezone(UTC)
    seconds = draw(st.integers(0, 59))
    micro = draw(st.sampled_from([0, 0, 500_000, 999_999, draw(st.integers(0, 999_999))]))
    return anchor + dt.timedelta(minutes=draw(minutes), seconds=seconds, microseconds=micro)


OFFSETS = [0, 0, 60, -60, 120, -120, -300, -240, 330, 345, -210, 600, -600, 840, -720, 59]


def write_clock(value: dt.datetime, draw: st.DrawFn) -> str:
    """Date and time of a datetime, ISO 8601, with a T or a space, to minutes .. micros."""
    sep = draw(st.sampled_from(["T", "T", " "]))
    spec = draw(st.sampled_from(["minutes", "seconds", "seconds", "milliseconds", "microseconds"]))
    return value.replace(tzinfo=None).isoformat(sep=sep, timespec=spec)


def truncated(value: dt.datetime, text: str) -> dt.datetime:
    """The instant the written text denotes (isoformat truncates, never rounds)."""
    return dt.datetime.fromisoformat(text.replace(" ", "T", 1)).replace(tzinfo=value.tzinfo)


@st.composite
def aware_timestamps(draw: st.DrawFn) -> tuple[str, object]:
    instant = draw(instants())
    minutes = draw(st.sampled_from(OFFSETS))
    zone = dt.timezone(dt.timedelta(minutes=minutes))
    local = instant.astimezone(zone)
    clock = write_clock(local, draw)
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    shapes = [f"{sign}{hh:02d}:{mm:02d}", f"{sign}{hh:02d}:{mm:02d}", f"{sign}{hh:02d}{mm:02d}"]
    if mm == 0:
        shapes.append(f"{sign}{hh:02d}")
    if minutes == 0:
        shapes += ["Z", "Z", "Z"]
    text = clock + draw(st.sampled_from(shapes))
    written = truncated(local, clock)
    return text, written.astimezone(LONDON).date()


@st.composite
def naive_timestamps(draw: st.DrawFn) -> tuple[str, object]:
    """No offset: wall-clock time in the configured zone. The expected value is the naive
    datetime written; the test turns it into a London date for its zone."""
    local = draw(instants()).astimezone(LONDON)
    clock = write_clock(local, draw)
    return clock, dt.datetime.fromisoformat(clock.replace(" ", "T", 1))


@st.composite
def bare_dates(draw: st.DrawFn) -> tuple[str, object]:
    """A date alone is that date. (Dates before December 1847, when London's clocks were
    still on local mean time, are left to test_bare_dates_before_1848_are_the_date_written.)"""
    day = draw(st.dates(dt.date(1848, 1, 1), dt.date(9999, 12, 31)))
    return day.isoformat(), day


@st.composite
def impossible_timestamps(draw: st.DrawFn) -> tuple[str, object]:
    year, month, day = draw(impossible_ymd())
    time = draw(st.sampled_from(["T10:00:00Z", "T23:30:00+01:00", " 00:15", "T12:00"]))
    return f"{year:04d}-{month:02d}-{day:02d}{time}", None


TIMESTAMP_CELLS = st.one_of(
    aware_timestamps(),
    aware_timestamps(),
    naive_timestamps(),
    bare_dates(),
    impossible_timestamps(),
    st.tuples(st.sampled_from(["", "  ", "\t"]), st.just(BLANK)),
)


def same_day(got: object, want: object) -> bool:
    return pd.Timestamp(got) == pd.Timestamp(want)


def london_date_of_wall_clock(clock: dt.datetime, zone: str) -> dt.date:
    """zoneinfo, fold=0: a repeated wall-clock time is the first of the two."""
    if zone == "Europe/London":
        return clock.date()  # London local time: the date written
    return clock.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(LONDON).date()


@SETTINGS
@given(
    zone=st.sampled_from(["Europe/London"] * 4 + ["America/New_York", "Asia/Tokyo"]),
    cells=st.lists(TIMESTAMP_CELLS, min_size=1, max_size=30),
)
def test_iso_timestamps_become_london_dates(zone: str, cells: list[tuple[str, object]]) -> None:
    """Offsets (Z, +HH:MM, +HHMM, +HH) give the instant's London date; no offset means
    wall-clock time in the configured zone (London by default); mixed in one column."""
    raw = [text for text, _ in cells]
    expected = [
        london_date_of_wall_clock(want, zone) if isinstance(want, dt.datetime) else want
        for _, want in cells
    ]
    result, invalid = norm.normalise_timestamp(series(raw), None, zone)
    assert str(result.dtype) == norm.DATE_DTYPE
    check_batch(raw, expected, result, invalid, same_day)


def test_iso_timestamps_known_cases() -> None:
    raw = [
        "2024-03-31T00:30:00Z",  # GMT still: same date
        "2024-03-31T23:30:00Z",  # BST: 00:30 on 1 April in London
        "2024-10-26T23:30:00Z",  # BST: 00:30 on the 27th
        "2024-10-27T23:30:00Z",  # GMT again: the 27th
        "2024-10-27T01:30:00",  # naive, the repeated hour
        "2024-03-31T01:30:00",  # naive, the skipped hour
        "2024-06-30T23:59:59.999999-00:30",
    ]
    result, invalid = norm.normalise_timestamp(series(raw), None, "Europe/London")
    assert [d.date().isoformat() for d in result] == [
        "2024-03-31",
        "2024-04-01",
        "2024-10-27",
        "2024-10-27",
        "2024-10-27",
        "2024-03-31",
        "2024-07-01",
    ]
    assert not invalid.any()


def test_bare_dates_before_1848_are_the_date_written() -> None:
    """A bare date is that date, whatever London's offset from UTC was on it. Until
    1 December 1847 London kept local mean time (UTC-0:01:15), so reading `YYYY-MM-DD` as
    midnight UTC would give the day before."""
    raw = ["1800-06-01", "1847-11-30", "1847-12-01", "1848-01-01"]
    for zone in ("Europe/London", "America/New_York"):
        result, invalid = norm.normalise_timestamp(series(raw), None, zone)
        assert [d.date().isoformat() for d in result] == raw, zone
        assert not invalid.any()


ZONES = [
    "America/New_York",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/St_Johns",
    "Europe/Dublin",
    "Europe/London",
]


@st.composite
def wall_clocks(draw: st.DrawFn) -> dt.datetime:
    """Naive minute-precision wall-clock times, many near New York's and London's clock
    changes (including the skipped and repeated hours) and near midnight."""
    kind = draw(st.sampled_from(["any", "ny", "ny", "london", "midnight"]))
    if kind == "any":
        value = draw(st.datetimes(EARLIEST, LATEST))
        return value.replace(second=0, microsecond=0)
    year = draw(st.integers(2007, 2200))
    if kind == "ny":
        day = draw(st.sampled_from([nth_sunday(year, 3, 2), nth_sunday(year, 11, 1)]))
        anchor = dt.datetime.combine(day, dt.time(2))
        delta = st.integers(-30 * 60, 30 * 60)
    elif kind == "london":
        anchor = dt.datetime.combine(last_sunday(year, draw(st.sampled_from([3, 10]))), dt.time(1))
        delta = st.integers(-30 * 60, 30 * 60)
    else:
        anchor = dt.datetime.combine(draw(st.dates(EARLIEST.date(), LATEST.date())), dt.time(0))
        delta = st.integers(-8 * 60, 8 * 60)
    return anchor + dt.timedelta(minutes=draw(delta))


@SETTINGS
@given(zone=st.sampled_from(ZONES), clocks=st.lists(wall_clocks(), min_size=1, max_size=30))
def test_formatted_timestamps_in_a_stated_zone(zone: str, clocks: list[dt.datetime]) -> None:
    """`timestamp_format` + `timezone`: wall-clock time in that zone (the first of a repeated
    hour, fold=0) converted to London."""
    raw = [f"{c.year:04d}-{c.month:02d}-{c.day:02d} {c.hour:02d}:{c.minute:02d}" for c in clocks]
    expected = [c.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(LONDON).date() for c in clocks]
    result, invalid = norm.normalise_timestamp(series(raw), "%Y-%m-%d %H:%M", zone)
    check_batch(raw, expected, result, invalid, same_day)


def test_formatted_timestamps_reject_other_layouts_but_iso() -> None:
    """A configured format reads its own layout; ISO 8601 is accepted too (XLSX date-time
    cells arrive so), anything else is invalid."""
    raw = ["2024-06-01T10:00:00Z", "01/06/2024 10:00", "2024-02-30 10:00", "2024-06-01 10:00"]
    result, invalid = norm.normalise_timestamp(series(raw), "%Y-%m-%d %H:%M", "America/New_York")
    assert list(invalid) == [False, True, True, False]
    assert result.iloc[0] == pd.Timestamp("2024-06-01")
    assert result.iloc[3] == pd.Timestamp("2024-06-01")


# --- dates -------------------------------------------------------------------------------


@st.composite
def interesting_dates(draw: st.DrawFn) -> dt.date:
    """Any date, 29 February of leap years, or the last day of a month."""
    kind = draw(st.sampled_from(["any", "leap", "month_end", "month_end"]))
    if kind == "any":
        return draw(st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)))
    if kind == "leap":
        year = draw(st.integers(1, 9999).filter(calendar.isleap))
        return dt.date(year, 2, 29)
    year, month = draw(st.integers(1, 9999)), draw(st.integers(1, 12))
    return dt.date(year, month, calendar.monthrange(year, month)[1])


@st.composite
def impossible_ymd(draw: st.DrawFn) -> tuple[int, int, int]:
    """Year, month, day that name no date: 29 Feb of a common year, day 31 of a 30-day
    month, day 0 or 32+, month 0 or 13+."""
    year = draw(st.integers(1000, 9999))
    kind = draw(st.sampled_from(["feb29", "day", "day", "day0", "month"]))
    if kind == "feb29":
        year = draw(st.integers(1000, 9999).filter(lambda y: not calendar.isleap(y)))
        return year, 2, 29
    if kind == "month":
        return year, draw(st.sampled_from([0, 13, 14, 20, 31, 99])), draw(st.integers(1, 28))
    month = draw(st.integers(1, 12))
    if kind == "day0":
        return year, month, 0
    last = calendar.monthrange(year, month)[1]
    return year, month, draw(st.integers(last + 1, 99))


def iso(year: int, month: int, day: int) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}"


@st.composite
def date_cells(draw: st.DrawFn, date_format: str) -> tuple[str, object]:
    """A date written for a source configured with `date_format` (ISO is always accepted),
    or an impossible one, or a blank."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "invalid", "blank"]))
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t "])), BLANK
    if kind == "valid":
        day = draw(interesting_dates())
        ymd = (day.year, day.month, day.day)
    else:
        ymd = draw(impossible_ymd())
        day = None
    year, month, dom = ymd
    shapes = [iso(*ymd)]
    if date_format == "%d/%m/%Y":
        shapes += [f"{dom:02d}/{month:02d}/{year:04d}"] * 2 + [f"{dom}/{month}/{year:04d}"]
    text = draw(st.sampled_from(shapes))
    return draw(SURROUNDING) + text + draw(SURROUNDING), day


def reference_date(text: str, date_format: str) -> dt.date | None:
    for fmt in dict.fromkeys([date_format, "%Y-%m-%d"]):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


@SETTINGS
@given(
    date_format=st.sampled_from(["%Y-%m-%d", "%d/%m/%Y"]),
    data=st.data(),
)
def test_dates_in_configured_formats(date_format: str, data: st.DataObject) -> None:
    cells = data.draw(st.lists(date_cells(date_format), min_size=1, max_size=30))
    raw = [text for text, _ in cells]
    expected = [want for _, want in cells]
    # The generator's intent and strptime agree on every written cell.
    for text, want in cells:
        if want != BLANK:
            assert reference_date(text.strip(), date_format) == want, text
    result, invalid = norm.normalise_date(series(raw), date_format)
    assert str(result.dtype) == norm.DATE_DTYPE
    check_batch(raw, expected, result, invalid, same_day)


def test_uk_dates_are_day_first() -> None:
    result, invalid = norm.normalise_date(series(["01/02/2020", "2020-02-01"]), "%d/%m/%Y")
    assert list(result) == [pd.Timestamp("2020-02-01")] * 2
    assert not invalid.any()


# --- flags and enumerations ---------------------------------------------------------------

YES = ("y", "yes", "true", "1")
NO = ("n", "no", "false", "0")
RELATIONSHIP = ("customer", "supplier", "third_party", "prospect", "enquirer", "other")


@st.composite
def case_variant(draw: st.DrawFn, word: str) -> str:
    """`word` with each letter's case chosen at random and whitespace around it."""
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    text = "".join(c.upper() if up else c for c, up in zip(word, flips, strict=True))
    return draw(SURROUNDING) + text + draw(SURROUNDING)


def anything_but(words: tuple[str, ...]) -> st.SearchStrategy[str]:
    near = st.sampled_from(words).flatmap(
        lambda w: st.sampled_from([w + "s", w[:-1], f"{w} {w}", w.replace("_", " "), "x" + w])
    )
    return st.one_of(st.text(max_size=12), near).filter(lambda v: v.strip().casefold() not in words)


def expected_flag(raw: str) -> object:
    value = raw.strip().casefold()
    if value in YES:
        return True
    if value in NO or not value:
        return False
    return None


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.sampled_from(YES + NO).flatmap(case_variant),
            anything_but(YES + NO),
            SURROUNDING,
        ),
        min_size=1,
        max_size=30,
    )
)
def test_flags_in_any_spelling(raw: list[str]) -> None:
    value, invalid = norm.normalise_flag(series(raw))
    assert value.dtype == bool and invalid.dtype == bool
    for i, text in enumerate(raw):
        want = expected_flag(text)
        assert bool(invalid.iloc[i]) is (want is None), (i, text)
        assert bool(value.iloc[i]) is (want is True), (i, text)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.sampled_from(RELATIONSHIP).flatmap(case_variant),
            anything_but(RELATIONSHIP),
            SURROUNDING,
        ),
        min_size=1,
        max_size=30,
    )
)
def test_enums_in_any_case(raw: list[str]) -> None:
    expected: list[object] = []
    for text in raw:
        folded = text.strip().casefold()
        expected.append(BLANK if not folded else folded if folded in RELATIONSHIP else None)
    value, invalid = norm.normalise_enum(series(raw), RELATIONSHIP)
    check_batch(raw, expected, value, invalid)
