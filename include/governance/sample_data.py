"""Synthetic CRM, HR and recruitment exports for demos, tests and benchmarks.

The generator writes the three landing files described in ``EXPORT_FORMATS.md`` (``crm``,
``hr``, ``recruitment``) as CSV or XLSX, with made-up British people only: names from fixed
pools (apostrophes, hyphens, accents), e-mails on reserved ``example`` domains, phone numbers
from Ofcom's ranges reserved for drama, invented companies. No real person's data is used.

The rows are spread around ``reference_date`` (the ``as_of`` of the demo) so that every rule
of ``RETENTION_SCHEDULE.md`` is exercised: for each rule some records are not yet due, some
were due long ago, some fall due exactly on the reference date and some the day after; active
contracts, marketing consents to renew or already expired, legal holds on records that would
otherwise be deleted, relatives and referees pointing at people in the same export, month-end
and leap-day trigger dates, timestamps with ``Z``/offsets/no offset around the BST changes.
The first rows of every export are a fixed "showcase" of these cases (then shuffled in), so
even a few hundred rows cover every rule; the rest is drawn at random with realistic weights.

A small share of values is messy but valid (``  Customer ``, ``FORMER_EMPLOYEE``, ``yes``,
``false``, ``1``...), and about ``bad_share`` of each export's rows carry one defect each that
the schedule's data-quality checks must quarantine (blank or duplicated id, value outside its
list, unparsable or missing date, trigger date in the future, bad Y/N flag, customer without a
contract, relative/referee pointing at nobody, ``device_data`` for the ``cloud`` service).
Defects are only put on people nobody else points at, so they do not spread to other rows.

Everything is vectorised with numpy (one pass per column, no Python loop per row) and
deterministic: the same ``(rows, seed, reference_date, bad_share)`` gives the same frames and
byte-identical CSV files. Each source has its own random stream, so the sources can be
generated and written one after the other without holding all three in memory.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from openpyxl import Workbook

__all__ = [
    "COLUMNS",
    "DEFAULT_REFERENCE_DATE",
    "FORMATS",
    "SOURCES",
    "generate_frames",
    "source_row_counts",
    "write_sample_exports",
]

DEFAULT_REFERENCE_DATE = date(2026, 11, 30)
SOURCES = ("crm", "hr", "recruitment")
FORMATS = ("csv", "xlsx")

COLUMNS: dict[str, tuple[str, ...]] = {
    "crm": (
        "record_id",
        "record_type",
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "relationship",
        "service",
        "contract_id",
        "contract_status",
        "contract_end_date",
        "created_at",
        "last_reviewed_at",
        "enquiry_date",
        "purchased",
        "marketing_opt_in",
        "marketing_consent_date",
        "legal_hold",
    ),
    "hr": (
        "person_id",
        "person_type",
        "first_name",
        "last_name",
        "email",
        "phone",
        "related_person_id",
        "employment_start_date",
        "employment_end_date",
        "created_at",
        "legal_hold",
    ),
    "recruitment": (
        "person_id",
        "role",
        "first_name",
        "last_name",
        "email",
        "phone",
        "related_person_id",
        "requisition_id",
        "application_date",
        "recruitment_status",
        "recruitment_concluded_date",
        "created_at",
        "legal_hold",
    ),
}

# Enumerations, in the order of EXPORT_FORMATS.md. Codes index these tuples; a code equal to
# the tuple's length means blank.
RECORD_TYPES = (
    "contact_details",
    "payment_details",
    "communication",
    "service_account",
    "device_data",
)
RELATIONSHIPS = ("customer", "supplier", "third_party", "prospect", "enquirer", "other")
SERVICES = ("repair", "support", "rental", "cloud", "connect", "protect")
CONTRACT_STATUSES = ("active", "completed", "terminated")
PERSON_TYPES = ("employee", "former_employee", "relative")
ROLES = ("candidate", "referee")
RECRUITMENT_STATUSES = ("open", "hired", "rejected", "withdrawn", "closed")

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]
Columns = dict[str, ObjArray]
Rng = np.random.Generator

_EPOCH = date(1970, 1, 1)
_NO_DATE = -1_000_000  # day-number sentinel for a blank date
_MESSY_ENUM_SHARE = 0.02
_MESSY_FLAG_SHARE = 0.04

# --------------------------------------------------------------------------------------------
# Pools of made-up values
# --------------------------------------------------------------------------------------------
# fmt: off
_FIRST_NAMES = (
    "Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Thomas", "Oscar",
    "William", "James", "Henry", "Leo", "Alfie", "Joshua", "Freddie", "Archie", "Ethan",
    "Isaac", "Alexander", "Joseph", "Edward", "Samuel", "Max", "Daniel", "Arthur", "Lucas",
    "Mohammed", "Muhammad", "Theo", "Harrison", "Benjamin", "Mason", "Sebastian", "Finley",
    "Adam", "Dylan", "Zachary", "Riley", "Rhys", "Dafydd", "Geraint", "Iolo", "Callum",
    "Euan", "Hamish", "Ruaridh", "Seán", "Dónal", "Ciarán", "Eoin", "Tomás", "Rajesh",
    "Arjun", "Imran", "Kwame", "Tobi", "Jean-Luc", "Amelia", "Olivia", "Isla", "Emily",
    "Poppy", "Ava", "Isabella", "Jessica", "Lily", "Sophie", "Grace", "Sophia", "Mia",
    "Evie", "Ruby", "Ella", "Scarlett", "Isabelle", "Chloé", "Chloe", "Sienna", "Freya",
    "Phoebe", "Charlotte", "Daisy", "Alice", "Florence", "Eva", "Sofia", "Millie", "Lucy",
    "Zoë", "Zoe", "Renée", "Siân", "Ffion", "Rhiannon", "Cerys", "Mared", "Gwenllian",
    "Niamh", "Aoife", "Saoirse", "Eilís", "Róisín", "Caoimhe", "Mhairi", "Eilidh", "Kirsty",
    "Priya", "Aisha", "Fatima", "Amara", "Chiamaka", "Anne-Marie", "Mary-Jane", "Hélène",
    "Margaret", "Susan", "Patricia", "Janet", "Pauline", "Brian", "Keith", "Graham",
    "Trevor", "Nigel",
)
_LAST_NAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
    "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King",
    "Baker", "Harrison", "Morgan", "Allen", "James", "Scott", "Phillips", "Watson", "Davis",
    "Parker", "Price", "Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook",
    "Carter", "Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Miller", "Cox",
    "Richards", "Khan", "Marshall", "Anderson", "Simpson", "Ellis", "Adams", "Singh",
    "Begum", "Wilkinson", "Foster", "Chapman", "Powell", "Webb", "Rogers", "Gray", "Mason",
    "Ali", "Hunt", "Hussain", "Campbell", "Matthews", "Owen", "Palmer", "Holmes", "Mills",
    "Barnes", "Knight", "Lloyd", "Butler", "Russell", "Barker", "Fisher", "Stevens",
    "Jenkins", "Murray", "Dixon", "Harvey", "Graham", "Pearson", "Ahmed", "Fletcher",
    "Walsh", "Kaur", "Gibson", "Howard", "Andrews", "Stewart", "Elliott", "Reynolds",
    "Saunders", "Payne", "Fox", "Pearce", "Brooks", "Lawrence", "Atkinson", "Spencer",
    "Gill", "Dawson", "Burton", "Okafor", "Mensah", "Nowak", "Kowalski", "O'Brien",
    "O'Connor", "O'Neill", "O'Sullivan", "D'Arcy", "D'Souza", "McDonald", "MacLeod",
    "McAllister", "Smith-Jones", "Davies-Hughes", "Harper-Knight", "Ashworth-Patel",
    "Lloyd-Evans", "ap Rhys", "Müller", "García", "Núñez", "Lefèvre", "Ó Súilleabháin",
)
_CUSTOMER_COMPANIES = (
    ("Hughes, Patel & Co", 3.0),
    ('"Best" Repairs Ltd', 3.0),
    ("Montpellier Dental Practice", 6.0),
    ("Leckhampton Bakery", 6.0),
    ("Pittville Motors Ltd", 6.0),
    ("Brook & Marsh Solicitors", 6.0),
    ("Harper's Florist", 6.0),
    ("The Old Forge Café", 6.0),
    ("Sandford Tutors", 6.0),
    ("Imperial Gardens Guest House", 6.0),
    ("Wye Valley Farm Supplies", 6.0),
    ("O'Neill Joinery", 6.0),
    ("Stroud Green Energy Co-op", 6.0),
    ("Tewkesbury Tyres", 6.0),
    ("Malvern Hills Vets", 6.0),
    ("Cleeve Hill Pharmacy", 6.0),
    ("Regency Lettings", 6.0),
    ("Kingsditch Print Services", 6.0),
    ('The "Blue Door" Gallery', 2.0),
    ("Smith, Jones and Partners LLP", 3.0),
    ("Cotswold Print Ltd\nUnit 4, Kingsditch Trading Estate", 1.0),
    ("Severn & Wye\nComputer Club", 1.0),
)
_SUPPLIER_COMPANIES = (
    ("Northgate Components Ltd", 6.0),
    ("Albion Cables", 6.0),
    ("Westcountry Refurb Ltd", 6.0),
    ("DataSafe Disposal Ltd", 6.0),
    ("Gloucester Courier Services", 6.0),
    ("Marches Office Supplies", 6.0),
    ("Fenwick, Hale & Rowe Ltd", 3.0),
    ('"Fast Parts" Wholesale', 2.0),
    ("Bridgewater Leasing\nAccounts Department", 1.0),
)
_EMAIL_DOMAINS = (
    "example.com", "example.org", "example.net", "mail.example.com", "post.example.net",
    "inbox.example.org", "home.example.com",
)
_STAFF_DOMAINS = ("smartcomputers.example", "example.com", "example.org", "mail.example.com")
_BAD_DATES = ("2023-02-30", "31/12/2020", "soon", "", "2021-13-01", "20/07/2022", "TBC")
_BAD_TIMESTAMPS = ("soon", "2023-02-30T10:00:00", "31/12/2020 09:15", "")
_BAD_FLAGS = ("maybe", "unknown", "Y?", "2", "n/a")
# fmt: on


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def source_row_counts(rows: int) -> dict[str, int]:
    """Rows per export for ``rows`` CRM rows: HR gets a fifth, recruitment three tenths."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    return {"crm": rows, "hr": max(1, rows // 5), "recruitment": max(1, rows * 3 // 10)}


def generate_frames(
    rows: int,
    seed: int,
    reference_date: date = DEFAULT_REFERENCE_DATE,
    bad_share: float = 0.01,
) -> dict[str, pd.DataFrame]:
    """The three exports as DataFrames of strings ("" for blank), columns in export order."""
    counts = _check(rows, bad_share)
    return {
        source: pd.DataFrame(
            _generate(source, counts[source], seed, reference_date, bad_share), dtype="str"
        )
        for source in SOURCES
    }


def write_sample_exports(
    out: Path,
    rows: int,
    seed: int,
    fmt: str = "csv",
    reference_date: date = DEFAULT_REFERENCE_DATE,
    bad_share: float = 0.01,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, Path]:
    """Write ``crm``, ``hr`` and ``recruitment`` exports (``.csv`` or ``.xlsx``) into ``out``.

    Each file is written to a temporary file in ``out`` and moved into place with
    ``os.replace``, so a reader never sees half a file. The files are readable by their
    owner only (0600), and ``out`` is made 0700 when this call creates it.
    ``progress(source, rows_written)`` is called after each file. Returns ``{source: path}``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    counts = _check(rows, bad_share)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)  # personal data, even if made up
    written: dict[str, Path] = {}
    for source in SOURCES:
        columns = _generate(source, counts[source], seed, reference_date, bad_share)
        path = out / f"{source}.{fmt}"
        if fmt == "csv":
            _atomic_write(path, partial(_write_csv, columns=columns))
        else:
            _atomic_write(path, partial(_write_xlsx, columns=columns, source=source))
        del columns
        written[source] = path
        if progress is not None:
            progress(source, counts[source])
    return written


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
def _check(rows: int, bad_share: float) -> dict[str, int]:
    if not 0.0 <= bad_share <= 1.0:
        raise ValueError(f"bad_share must be between 0 and 1, got {bad_share}")
    return source_row_counts(rows)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write via a temporary file in the same directory, then ``os.replace`` it into place.
    The file is readable by its owner only (0600): exports hold personal data."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never reuse a file; 0o600 whatever the umask (it can only remove bits)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        write(tmp)
        tmp.replace(path)  # os.replace: atomic within one directory
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _write_csv(path: Path, columns: Columns) -> None:
    # QUOTE_MINIMAL (pandas' default) is RFC 4180: fields with a comma, quote or line break
    # are quoted and quotes are doubled. Object dtype keeps pandas from converting 20M cells.
    frame = pd.DataFrame(columns, dtype=object)
    with path.open("w", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")


def _write_xlsx(path: Path, columns: Columns, source: str) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(source)
    names = list(columns)
    sheet.append(names)
    for row in zip(*(columns[name].tolist() for name in names), strict=True):
        sheet.append(row)
    workbook.save(path)


# --------------------------------------------------------------------------------------------
# Dates and timestamps
# --------------------------------------------------------------------------------------------
def _day(value: date) -> int:
    return (value - _EPOCH).days


def _add_months(value: date, months: int) -> date:
    """``value + months`` calendar months, clamped to the month's end (like relativedelta)."""
    year, month0 = divmod(value.month - 1 + months, 12)
    year += value.year
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(value.day, last))


def _triggers_due_on(due: date, months: int) -> list[int]:
    """Trigger days whose due date (trigger + months, clamped) is exactly ``due``.

    There can be two (2026-05-30 and 2026-05-31 are both due 2026-11-30 after six months) or
    none (nothing is due on 31 March after six months); then the first trigger due later.
    """
    base = _add_months(due, -months)
    near = [base + timedelta(days=k) for k in range(-3, 5)]
    exact = [d for d in near if _add_months(d, months) == due]
    if not exact:
        exact = [min(d for d in near if _add_months(d, months) > due)]
    return [_day(d) for d in exact]


def _special_days(ref: date) -> list[int]:
    """Month-end and leap-day trigger dates on or before ``ref``."""
    year = ref.year
    days = {
        date(year - 8, 12, 31),
        date(year - 7, 8, 31),
        date(year - 6, 1, 31),
        date(year - 1, 8, 31),
    }
    days.update(date(y, 2, 29) for y in range(year - 12, year + 1) if calendar.isleap(y))
    return sorted(_day(d) for d in days if d <= ref)


def _bst_change_days(ref: date) -> IntArray:
    """Last Sundays of March and October (the clock changes) for the years around ``ref``."""
    days = []
    for year in range(ref.year - 30, ref.year + 2):
        for month in (3, 10):
            last = calendar.monthrange(year, month)[1]
            sunday = last - (date(year, month, last).weekday() + 1) % 7
            days.append(_day(date(year, month, sunday)))
    return np.array(sorted(days), dtype=np.int64)


def _years(n: float) -> int:
    return round(n * 365.25)


Spec = tuple[int, int] | list[int]


def _bucket_days(codes: IntArray, specs: Sequence[Spec], rng: Rng) -> IntArray:
    """A day per row from its bucket: a ``(low, high)`` range or a list of days to pick from."""
    out = np.full(codes.shape, _NO_DATE, dtype=np.int64)
    for code, spec in enumerate(specs):
        mask = codes == code
        count = int(mask.sum())
        if count == 0:
            continue
        if isinstance(spec, tuple):
            out[mask] = rng.integers(spec[0], max(spec[0], spec[1]) + 1, count)
        elif spec:
            out[mask] = rng.choice(np.asarray(spec, dtype=np.int64), count)
    return out


def _fmt_days(days: IntArray) -> ObjArray:
    text: ObjArray = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)
    text[days == _NO_DATE] = ""
    return text


_HOUR_WEIGHTS = np.array(
    [8, 2, 1, 0.5, 0.5, 0.5, 1, 3, 8, 10, 10, 10, 9, 9, 10, 10, 9, 8, 5, 4, 3, 3, 2, 4]
)
_HOUR_P = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()


def _timestamps(
    days: IntArray,
    rng: Rng,
    change_days: IntArray,
    night: BoolArray | None = None,
) -> ObjArray:
    """ISO 8601 timestamps whose Europe/London date is ``days``.

    A mix of ``Z`` (UTC: just after midnight in summer becomes 23:xx the day before), the
    London offset (``+01:00``/``+00:00``), naive London local time and UTC written as
    ``+00:00``. ``night`` rows get a time between 00:00 and 02:59, which on a clock-change
    day falls in the skipped or repeated hour (never written naive when ambiguous).
    """
    n = len(days)
    hours = rng.choice(24, n, p=_HOUR_P)
    if night is not None:
        hours[night] = rng.choice(3, int(night.sum()), p=[0.3, 0.4, 0.3])
    seconds = hours * 3600 + rng.integers(0, 3600, n)
    local = (days * 86400 + seconds).astype("datetime64[s]")
    aware = pd.DatetimeIndex(local).tz_localize(
        "Europe/London", ambiguous=rng.random(n) < 0.5, nonexistent="shift_forward"
    )
    local_s = aware.tz_localize(None).to_numpy("datetime64[s]")
    utc_s = aware.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[s]")
    summer = (local_s - utc_s).astype(np.int64) > 0
    style = rng.choice(4, n, p=[0.35, 0.4, 0.2, 0.05])
    style[(style == 0) & np.isin(days, change_days) & (hours <= 2)] = 2
    local_txt = np.datetime_as_string(local_s, unit="s").astype(object)
    out: ObjArray = np.empty(n, dtype=object)
    mask = style == 0
    out[mask] = local_txt[mask]
    mask = style == 2
    out[mask] = local_txt[mask] + np.where(summer[mask], "+01:00", "+00:00")
    utc_txt = np.datetime_as_string(utc_s, unit="s").astype(object)
    mask = style == 1
    out[mask] = utc_txt[mask] + "Z"
    mask = style == 3
    out[mask] = utc_txt[mask] + "+00:00"
    return out


def _snap_to_change_day(
    days: IntArray, low: IntArray, mask: BoolArray, change_days: IntArray
) -> BoolArray:
    """Move masked days back to the latest clock-change day not before ``low``; return moved."""
    idx = np.searchsorted(change_days, days, side="right") - 1
    candidate = change_days[np.clip(idx, 0, len(change_days) - 1)]
    moved = mask & (idx >= 0) & (candidate >= low) & (candidate <= days)
    days[moved] = candidate[moved]
    return moved


# --------------------------------------------------------------------------------------------
# Rendering helpers
# --------------------------------------------------------------------------------------------
def _pool(values: Sequence[str]) -> ObjArray:
    return np.array(list(values), dtype=object)


def _cond_choice(rng: Rng, cond: IntArray, table: Sequence[Sequence[float]]) -> IntArray:
    """Draw a category per row from the probability row ``table[cond]``."""
    probs = np.asarray(table, dtype=float)
    probs = probs / probs.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(probs, axis=1)
    out = np.empty(len(cond), dtype=np.int64)
    for code in np.unique(cond):
        mask = cond == code
        draws = rng.random(int(mask.sum()))
        picked = np.searchsorted(cumulative[code], draws, side="right")
        out[mask] = np.minimum(picked, probs.shape[1] - 1)
    return out


def _override(arr: IntArray, show: Sequence[int | None]) -> None:
    """Put the showcase values (None = keep the random draw) into the first rows."""
    for i, value in enumerate(show[: len(arr)]):
        if value is not None:
            arr[i] = value


def _render_enum(codes: IntArray, values: Sequence[str], rng: Rng) -> ObjArray:
    """Enumeration text; a small share messy but valid (case, surrounding spaces)."""
    table = np.array(
        [[v, v.upper(), f"  {v.title()} ", v.capitalize(), f"{v} "] for v in values] + [[""] * 5],
        dtype=object,
    )
    variant = np.where(
        rng.random(len(codes)) < _MESSY_ENUM_SHARE, rng.integers(1, 5, len(codes)), 0
    )
    result: ObjArray = table[codes, variant]
    return result


_FLAG_TABLE = np.array(
    [
        ["N", "no", "No", "FALSE", "false", "0", " n ", "NO"],
        ["Y", "yes", "Yes", "TRUE", "true", "1", " y ", "YES"],
        ["", "", "", "", "", "", "", ""],
    ],
    dtype=object,
)


def _render_flag(codes: IntArray, rng: Rng) -> ObjArray:
    """Y/N flags from codes 0 = N, 1 = Y, 2 = blank; a small share as yes/TRUE/0/..."""
    variant = np.where(
        rng.random(len(codes)) < _MESSY_FLAG_SHARE,
        rng.integers(1, _FLAG_TABLE.shape[1], len(codes)),
        0,
    )
    result: ObjArray = _FLAG_TABLE[codes, variant]
    return result


def _ids(prefix: str, numbers: IntArray, width: int) -> ObjArray:
    if len(numbers) == 0:
        return np.empty(0, dtype=object)
    digits = np.strings.zfill(numbers.astype(str), width)
    result: ObjArray = np.strings.add(prefix, digits).astype(object)
    return result


def _slug(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain if ch.isalnum() or ch == "-")


def _case_table(values: Sequence[str]) -> ObjArray:
    """Rows: lower, Capitalised, UPPER e-mail spellings of each value."""
    slugs = [_slug(v) for v in values]
    return np.array(
        [
            [s.lower() for s in slugs],
            [s[:1].upper() + s[1:].lower() for s in slugs],
            [s.upper() for s in slugs],
        ],
        dtype=object,
    )


_FIRST = _pool(_FIRST_NAMES)
_LAST = _pool(_LAST_NAMES)
_FIRST_CASES = _case_table(_FIRST_NAMES)
_LAST_CASES = _case_table(_LAST_NAMES)
_INITIAL_CASES = np.array([[s[:1] for s in row] for row in _FIRST_CASES], dtype=object)
_NUMBERS_2 = _pool([str(i) for i in range(1, 100)])
_DIGITS_3 = _pool([f"{i:03d}" for i in range(1000)])
_DIGITS_4 = _pool([f"0{i:03d}" for i in range(1000)])


def _emails(
    first: IntArray,
    last: IntArray,
    rng: Rng,
    domains: Sequence[str],
    blank_share: float | npt.NDArray[np.float64],
) -> ObjArray:
    n = len(first)
    case = rng.choice(3, n, p=[0.7, 0.24, 0.06])
    domain_cases = np.array(
        [[d.lower() for d in domains], [d.title() for d in domains], [d.upper() for d in domains]],
        dtype=object,
    )
    style = rng.choice(5, n, p=[0.45, 0.15, 0.15, 0.15, 0.1])
    head = np.where(style == 2, _INITIAL_CASES[case, first], _FIRST_CASES[case, first])
    sep = _pool([".", "", "", ".", "_"])[style]
    tail = np.where(style == 3, _NUMBERS_2[rng.integers(0, len(_NUMBERS_2), n)], "")
    domain = domain_cases[case, rng.integers(0, len(domains), n)]
    out: ObjArray = head + sep + _LAST_CASES[case, last] + tail + "@" + domain
    out[rng.random(n) < blank_share] = ""
    return out


# Ofcom numbers reserved for drama: (area code without 0, first part, second-part pool, gap).
_PHONE_KINDS = (
    ("7700", "900", _DIGITS_3, ""),
    ("1632", "960", _DIGITS_3, ""),
    ("20", "7946", _DIGITS_4, " "),
    ("113", "496", _DIGITS_4, " "),
    ("161", "496", _DIGITS_4, " "),
    ("117", "496", _DIGITS_4, " "),
)


def _phones(n: int, rng: Rng, blank_share: float) -> ObjArray:
    kind = rng.choice(len(_PHONE_KINDS), n, p=[0.45, 0.2, 0.12, 0.08, 0.08, 0.07])
    fmt = rng.choice(5, n, p=[0.45, 0.15, 0.15, 0.15, 0.1])
    tails = rng.integers(0, 1000, n)
    out: ObjArray = np.empty(n, dtype=object)
    for k, (area, part, pool, gap) in enumerate(_PHONE_KINDS):
        for f in range(5):
            mask = (kind == k) & (fmt == f)
            tail = pool[tails[mask]]
            if f == 0:  # 01632 960123, 020 7946 0123
                out[mask] = f"0{area} {part}{gap}" + tail
            elif f == 1:  # +44 1632 960123
                out[mask] = f"+44 {area} {part}{gap}" + tail
            elif f == 2:  # +441632960123
                out[mask] = f"+44{area}{part}" + tail
            elif f == 3:  # (01632) 960-123
                out[mask] = f"(0{area}) {part}-" + tail
            else:  # 01632960123
                out[mask] = f"0{area}{part}" + tail
    out[rng.random(n) < blank_share] = ""
    return out


def _companies(mask: BoolArray, pool: Sequence[tuple[str, float]], rng: Rng) -> ObjArray:
    names = _pool([name for name, _ in pool])
    weights = np.array([w for _, w in pool])
    out: ObjArray = np.full(len(mask), "", dtype=object)
    out[mask] = names[rng.choice(len(names), int(mask.sum()), p=weights / weights.sum())]
    return out


# --------------------------------------------------------------------------------------------
# Defects
# --------------------------------------------------------------------------------------------
def _defect_rows(
    n: int,
    bad_share: float,
    rng: Rng,
    eligible: dict[str, BoolArray],
) -> dict[str, IntArray]:
    """Rows per defect type: about ``n * bad_share`` rows in all, one defect per row.

    ``dup_id`` gets an even number of rows (pairs sharing an id: both are bad).
    """
    total = round(n * bad_share)
    names = list(eligible)
    share, extra = divmod(total, len(names))
    order = rng.permutation(len(names))
    counts = {
        name: share + (1 if rank < extra else 0) for rank, name in zip(order, names, strict=True)
    }
    if counts.get("dup_id", 0) % 2:
        counts["dup_id"] -= 1
        counts["blank_id"] = counts.get("blank_id", 0) + 1
    used = np.zeros(n, dtype=bool)
    picked: dict[str, IntArray] = {}
    for name in names:
        candidates = np.flatnonzero(eligible[name] & ~used)
        count = min(counts.get(name, 0), len(candidates))
        if name == "dup_id":
            count -= count % 2
        rows = (
            np.sort(rng.choice(candidates, count, replace=False))
            if count
            else np.empty(0, dtype=np.int64)
        )
        used[rows] = True
        picked[name] = rows.astype(np.int64)
    return picked


def _apply_common_defects(
    cols: Columns,
    id_col: str,
    bad: dict[str, IntArray],
    rng: Rng,
) -> None:
    cols[id_col][bad["blank_id"]] = ""
    pairs = bad["dup_id"]
    half = len(pairs) // 2
    cols[id_col][pairs[half:]] = cols[id_col][pairs[:half]]
    rows = bad["bad_flag"]
    cols["legal_hold"][rows] = _pool(_BAD_FLAGS)[rng.integers(0, len(_BAD_FLAGS), len(rows))]


def _bad_values(values: Sequence[str], count: int, rng: Rng) -> ObjArray:
    result: ObjArray = _pool(values)[rng.integers(0, len(values), count)]
    return result


def _future_days(ref_day: int, count: int, rng: Rng) -> ObjArray:
    return _fmt_days(ref_day + rng.integers(1, 400, count))


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------
def _generate(source: str, n: int, seed: int, ref: date, bad_share: float) -> Columns:
    rng = np.random.default_rng([seed, SOURCES.index(source)])
    builder = {"crm": _crm, "hr": _hr, "recruitment": _recruitment}[source]
    cols = builder(n, rng, ref, bad_share)
    return {name: cols[name] for name in COLUMNS[source]}


def _shuffle(n: int, rng: Rng) -> tuple[IntArray, IntArray]:
    """Output order (row k shows logical row order[k]) and each logical row's id number."""
    order = rng.permutation(n).astype(np.int64)
    number = np.empty(n, dtype=np.int64)
    number[order] = np.arange(1, n + 1)
    return order, number


# CRM ----------------------------------------------------------------------------------------
# Segments refine the relationship by the rule that applies.
_SEGMENTS = (
    "customer",
    "supplier",
    "third_party_file",
    "third_party",
    "prospect",
    "other",
    "enquirer_3m",
    "enquirer_purchased",
    "enquirer_opt_in",
)
_SEG_RELATIONSHIP = np.array([0, 1, 2, 2, 3, 5, 4, 4, 4])
_SEG_P = (0.50, 0.08, 0.04, 0.04, 0.12, 0.04, 0.10, 0.04, 0.04)
_SEG_CONTRACT = np.array([True, True, True, False, False, False, False, False, False])
_SEG_REVIEW = np.array([False, False, False, True, True, True, False, True, True])
_CUSTOMER, _SUPPLIER, _TP_FILE, _TP, _PROSPECT, _OTHER, _ENQ_3M, _ENQ_BOUGHT, _ENQ_OPT = range(9)
_CONTACT, _PAYMENT, _COMMS, _SERVICE_ACC, _DEVICE = range(5)
_REPAIR, _SUPPORT, _RENTAL = range(3)
_NO_SERVICE = len(SERVICES)
# record type per segment: contact, payment, communication, service_account, device_data
_RT_P = (
    (0.30, 0.15, 0.25, 0.15, 0.15),
    (0.40, 0.20, 0.30, 0.10, 0.0),
    (0.70, 0.0, 0.30, 0.0, 0.0),
    (0.70, 0.0, 0.30, 0.0, 0.0),
    (0.75, 0.0, 0.25, 0.0, 0.0),
    (0.70, 0.0, 0.30, 0.0, 0.0),
    (0.80, 0.0, 0.20, 0.0, 0.0),
    (0.80, 0.0, 0.20, 0.0, 0.0),
    (1.0, 0.0, 0.0, 0.0, 0.0),
)
# service per record type: repair, support, rental, cloud, connect, protect, blank
_SERVICE_P = (
    (0.15, 0.15, 0.10, 0.10, 0.05, 0.05, 0.40),
    (0.15, 0.10, 0.25, 0.10, 0.10, 0.10, 0.20),
    (0.20, 0.20, 0.10, 0.10, 0.05, 0.05, 0.30),
    (0.0, 0.30, 0.0, 0.30, 0.20, 0.20, 0.0),
    (0.40, 0.0, 0.60, 0.0, 0.0, 0.0, 0.0),
)
# contract buckets (per contract): when the contract ended
_CB = ("active", "long_ago", "special", "on7", "after7", "on6", "after6", "on0", "recent")
_CB_P = (0.35, 0.17, 0.05, 0.035, 0.035, 0.035, 0.035, 0.04, 0.25)
# review buckets (3-year contacts review) and enquiry buckets (3 months)
_RB = ("long_ago", "on", "after", "recent", "special")
_RB_P = (0.35, 0.05, 0.05, 0.5, 0.05)
_EB_P = (0.4, 0.07, 0.07, 0.4, 0.06)
# marketing consent buckets, by expiry (consent date + 3 years)
_CS = (
    "fine",
    "renew_today",
    "renew",
    "renew_tomorrow",
    "expired_today",
    "expired",
    "expires_tomorrow",
    "leap",
)
_CS_P = (0.45, 0.03, 0.1, 0.03, 0.03, 0.27, 0.03, 0.06)
_OPT_IN_P = np.array([0.3, 0.05, 0.1, 0.1, 0.4, 0.2, 0.0, 0.3, 1.0])


def _crm_showcase() -> list[tuple[int, int, int | None, int, int | None, int | None]]:
    """(segment, record type, service, bucket, consent bucket, legal hold) covering each rule."""
    show: list[tuple[int, int, int | None, int, int | None, int | None]] = []
    customer_kinds = (
        (_CONTACT, None),
        (_PAYMENT, None),
        (_COMMS, None),
        (_SERVICE_ACC, _SUPPORT),
        (_DEVICE, _RENTAL),
        (_DEVICE, _REPAIR),
    )
    for bucket in range(len(_CB)):
        for record_type, service in customer_kinds:
            show.append((_CUSTOMER, record_type, service, bucket, -1, 0))
        show.append((_SUPPLIER, bucket % 4, None, bucket, -1, 0))
        show.append((_TP_FILE, _COMMS if bucket % 2 else _CONTACT, None, bucket, -1, 0))
    for bucket in range(len(_RB)):
        show.extend(
            (segment, _CONTACT, None, bucket, None, 0)
            for segment in (_TP, _PROSPECT, _OTHER, _ENQ_BOUGHT, _ENQ_OPT)
        )
        show.append((_ENQ_3M, _CONTACT, None, bucket, -1, 0))
    show.extend((_PROSPECT, _CONTACT, None, 3, consent, 0) for consent in range(len(_CS)))
    show.append((_CUSTOMER, _CONTACT, None, 1, -1, 1))  # contract ended long ago, on hold
    show.append((_CUSTOMER, _PAYMENT, None, 7, -1, 1))  # would be deleted today, on hold
    show.append((_SUPPLIER, _COMMS, None, 1, -1, 1))
    show.append((_ENQ_3M, _CONTACT, None, 0, -1, 1))
    return show


def _crm(n: int, rng: Rng, ref: date, bad_share: float) -> Columns:
    ref_day = _day(ref)
    changes = _bst_change_days(ref)
    specials = _special_days(ref)
    show = _crm_showcase()

    # What each row is -------------------------------------------------------------------
    seg = rng.choice(len(_SEGMENTS), n, p=_SEG_P)
    _override(seg, [s[0] for s in show])
    rtype = _cond_choice(rng, seg, _RT_P)
    _override(rtype, [s[1] for s in show])
    service = _cond_choice(rng, rtype, _SERVICE_P)
    not_customer = (seg != _CUSTOMER) & (rtype != _DEVICE)
    service[not_customer & (rng.random(n) < 0.8)] = _NO_SERVICE
    _override(service, [s[2] for s in show])
    is_contract = _SEG_CONTRACT[seg]
    is_review = _SEG_REVIEW[seg]
    bucket = np.where(
        is_contract,
        rng.choice(len(_CB), n, p=_CB_P),
        np.where(
            seg == _ENQ_3M, rng.choice(len(_RB), n, p=_EB_P), rng.choice(len(_RB), n, p=_RB_P)
        ),
    )
    _override(bucket, [s[3] for s in show])
    opted = (rtype == _CONTACT) & (rng.random(n) < _OPT_IN_P[seg])
    consent = np.where(opted, rng.choice(len(_CS), n, p=_CS_P), -1)
    _override(consent, [s[4] for s in show])
    consent[rtype != _CONTACT] = -1
    consent[seg == _ENQ_3M] = -1
    old = np.where(is_contract, np.isin(bucket, [1, 2]), bucket == 0)
    hold = (rng.random(n) < np.where(old, 0.04, 0.008)).astype(np.int64)
    _override(hold, [s[5] for s in show])

    # Contracts: one status and end date per contract, shared by its records -----------------
    con_rows = np.flatnonzero(is_contract)
    n_con = max(2 * len(_CB), len(con_rows) // 3)
    con_kind = np.concatenate(
        [np.repeat([0, 1], len(_CB)), (rng.random(n_con - 2 * len(_CB)) < 0.15).astype(np.int64)]
    )
    con_bucket = np.concatenate(
        [np.tile(np.arange(len(_CB)), 2), rng.choice(len(_CB), n_con - 2 * len(_CB), p=_CB_P)]
    )
    on7, after7 = _triggers_due_on(ref, 84), _triggers_due_on(ref + timedelta(1), 84)
    on6, after6 = _triggers_due_on(ref, 72), _triggers_due_on(ref + timedelta(1), 72)
    con_specs: list[Spec] = [
        [],
        (ref_day - _years(16), on7[0] - 120),
        specials,
        on7,
        after7,
        on6,
        after6,
        [ref_day],
        (after6[-1] + 1, ref_day - 1),
    ]
    con_end = _bucket_days(con_bucket, con_specs, rng)
    con_status = np.where(con_bucket == 0, 0, np.where(rng.random(n_con) < 0.7, 1, 2))
    con_number = rng.permutation(n_con) + 1
    row_kind = np.where(
        seg == _SUPPLIER, 1, np.where(seg == _TP_FILE, (rng.random(n) < 0.3).astype(np.int64), 0)
    )
    contract = np.full(n, -1, dtype=np.int64)
    for kind in (0, 1):
        for code in range(len(_CB)):
            rows = np.flatnonzero(is_contract & (row_kind == kind) & (bucket == code))
            pool = np.flatnonzero((con_kind == kind) & (con_bucket == code))
            contract[rows] = pool[rng.integers(0, len(pool), len(rows))]
    has_con = contract >= 0
    safe_con = np.where(has_con, contract, 0)
    end_day = np.where(has_con, con_end[safe_con], _NO_DATE)
    status = np.where(has_con, con_status[safe_con], len(CONTRACT_STATUSES))

    # Dates --------------------------------------------------------------------------------
    created = np.full(n, _NO_DATE, dtype=np.int64)
    reviewed = np.full(n, _NO_DATE, dtype=np.int64)
    enquiry = np.full(n, _NO_DATE, dtype=np.int64)
    # records on a contract: created before the contract ended (or before today if active)
    upper = np.where(end_day == _NO_DATE, ref_day, end_day)
    low = upper - rng.integers(14, 2900, n)
    created[is_contract] = low[is_contract]
    night = is_contract & (rng.random(n) < 0.05)
    _snap_to_change_day(created, low - 400, night, changes)
    repair_today = is_contract & (rtype == _DEVICE) & (service == _REPAIR) & (status == 0)
    # REPAIR-NOT-HELD due today (always for the showcase's repair row on an active contract)
    showcase = np.arange(n) < len(show)
    created[repair_today & ((rng.random(n) < 0.2) | showcase)] = ref_day
    recheck = is_contract & (rng.random(n) < 0.15)
    reviewed[recheck] = created[recheck] + (
        rng.random(int(recheck.sum())) * (upper[recheck] - created[recheck])
    ).astype(np.int64)
    # contacts review: the trigger is the later of created_at and last_reviewed_at
    on3, after3 = _triggers_due_on(ref, 36), _triggers_due_on(ref + timedelta(1), 36)
    review_specs: list[Spec] = [
        (ref_day - _years(12), on3[0] - 30),
        on3,
        after3,
        (after3[-1] + 1, ref_day),
        specials,
    ]
    trigger = _bucket_days(np.where(is_review, bucket, -1), review_specs, rng)
    variant = rng.choice(3, n, p=[0.5, 0.42, 0.08])  # review blank / later / earlier
    before = trigger - rng.integers(30, 2000, n)
    created[is_review] = np.where(variant == 1, before, trigger)[is_review]
    reviewed[is_review & (variant == 1)] = trigger[is_review & (variant == 1)]
    reviewed[is_review & (variant == 2)] = before[is_review & (variant == 2)]
    enquirer = (seg == _ENQ_BOUGHT) | (seg == _ENQ_OPT)
    enquiry[enquirer] = created[enquirer]
    # enquiries: due three months after the enquiry
    on_q, after_q = _triggers_due_on(ref, 3), _triggers_due_on(ref + timedelta(1), 3)
    enquiry_specs: list[Spec] = [
        (ref_day - _years(4), on_q[0] - 20),
        on_q,
        after_q,
        (after_q[-1] + 1, ref_day),
        specials,
    ]
    is_3m = seg == _ENQ_3M
    enquiry_3m = _bucket_days(np.where(is_3m, bucket, -1), enquiry_specs, rng)
    enquiry[is_3m] = enquiry_3m[is_3m]
    created[is_3m] = enquiry_3m[is_3m]

    # marketing consent: expiry = consent date + 3 years
    def exp(offset: int) -> list[int]:
        return _triggers_due_on(ref + timedelta(offset), 36)

    consent_specs: list[Spec] = [
        (exp(32)[-1], ref_day),
        exp(30),
        (exp(1)[0], exp(29)[-1]),
        exp(31),
        exp(0),
        (ref_day - _years(9), exp(0)[0] - 1),
        exp(1),
        [d for d in specials if (_EPOCH + timedelta(d)).month == 2],
    ]
    consent_day = _bucket_days(consent, consent_specs, rng)

    # Flags -------------------------------------------------------------------------------
    purchased = np.full(n, 2, dtype=np.int64)
    purchased[seg == _CUSTOMER] = np.where(rng.random(int((seg == _CUSTOMER).sum())) < 0.7, 1, 2)
    purchased[seg == _ENQ_BOUGHT] = 1
    purchased[is_3m] = np.where(rng.random(int(is_3m.sum())) < 0.6, 0, 2)
    purchased[seg == _ENQ_OPT] = 0
    opt_in = np.where(consent >= 0, 1, np.where(rtype == _CONTACT, 0, 2))
    opt_in[(opt_in == 0) & (rng.random(n) < 0.3)] = 2
    hold_flag = np.where(hold == 1, 1, np.where(rng.random(n) < 0.3, 2, 0))

    # People ------------------------------------------------------------------------------
    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    company_p = np.array([0.4, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3, 0.4, 0.3])[seg]
    with_company = rng.random(n) < company_p
    company = _companies(with_company & (seg != _SUPPLIER), _CUSTOMER_COMPANIES, rng)
    supplier = seg == _SUPPLIER
    company[supplier] = _companies(supplier, _SUPPLIER_COMPANIES, rng)[supplier]

    cols: Columns = {
        "record_type": _render_enum(rtype, RECORD_TYPES, rng),
        "first_name": _FIRST[first],
        "last_name": _LAST[last],
        "email": _emails(first, last, rng, _EMAIL_DOMAINS, 0.04),
        "phone": _phones(n, rng, 0.05),
        "company": company,
        "relationship": _render_enum(_SEG_RELATIONSHIP[seg], RELATIONSHIPS, rng),
        "service": _render_enum(service, SERVICES, rng),
        "contract_id": np.where(
            has_con, _ids("CON-", con_number[safe_con], max(5, len(str(n_con)))), ""
        ),
        "contract_status": _render_enum(status, CONTRACT_STATUSES, rng),
        "contract_end_date": _fmt_days(end_day),
        "created_at": _timestamps(created, rng, changes, night),
        "last_reviewed_at": np.where(
            reviewed == _NO_DATE,
            "",
            _timestamps(np.where(reviewed == _NO_DATE, ref_day, reviewed), rng, changes),
        ),
        "enquiry_date": _fmt_days(enquiry),
        "purchased": _render_flag(purchased, rng),
        "marketing_opt_in": _render_flag(opt_in, rng),
        "marketing_consent_date": _fmt_days(consent_day),
        "legal_hold": _render_flag(hold_flag, rng),
    }

    order, number = _shuffle(n, rng)
    cols["record_id"] = _ids("CRM-", number, max(7, len(str(n))))

    # Defects: drawn last, so bad_share changes only the rows it spoils ---------------------
    anyone = np.ones(n, dtype=bool)
    ended = is_contract & (status >= 1)
    contract_party = (seg == _CUSTOMER) | (seg == _SUPPLIER)
    bad = _defect_rows(
        n,
        bad_share,
        rng,
        {
            "blank_id": anyone,
            "dup_id": anyone,
            "bad_enum": anyone,
            "bad_date": ended | is_3m | (consent >= 0) | is_review,
            "future_trigger": is_contract | is_3m,
            "bad_flag": anyone,
            "missing_contract": contract_party,
            "device_cloud": seg == _CUSTOMER,
        },
    )
    _apply_common_defects(cols, "record_id", bad, rng)
    rows = bad["bad_enum"]
    field = rng.integers(0, 4, len(rows))
    for k, (name, value) in enumerate(
        (
            ("relationship", "partner"),
            ("record_type", "invoice"),
            ("contract_status", "pending"),
            ("service", "printing"),
        )
    ):
        cols[name][rows[field == k]] = value
    rows = bad["bad_date"]  # the date the row's rule needs: unparsable, impossible or blank
    values = _bad_values(_BAD_DATES, len(rows), rng)
    on_end, on_enquiry = ended[rows], is_3m[rows]
    on_consent = (consent[rows] >= 0) & ~on_end & ~on_enquiry
    on_created = ~on_end & ~on_enquiry & ~on_consent
    cols["contract_end_date"][rows[on_end]] = values[on_end]
    cols["enquiry_date"][rows[on_enquiry]] = values[on_enquiry]
    cols["marketing_consent_date"][rows[on_consent]] = values[on_consent]
    cols["created_at"][rows[on_created]] = _bad_values(_BAD_TIMESTAMPS, int(on_created.sum()), rng)
    rows = bad["future_trigger"]
    future = _future_days(ref_day, len(rows), rng)
    with_con = is_contract[rows]
    cols["contract_status"][rows[with_con]] = "completed"
    cols["contract_end_date"][rows[with_con]] = future[with_con]
    cols["enquiry_date"][rows[~with_con]] = _fmt_days(
        ref_day + rng.integers(1, 60, int((~with_con).sum()))
    )
    rows = bad["missing_contract"]
    which = rng.random(len(rows)) < 0.5
    cols["contract_id"][rows[which]] = ""
    cols["contract_status"][rows[~which]] = ""
    rows = bad["device_cloud"]
    cols["record_type"][rows] = "device_data"
    cols["service"][rows] = "cloud"
    return {name: values[order] for name, values in cols.items()}


# HR -----------------------------------------------------------------------------------------
_EMPLOYEE, _FORMER, _RELATIVE = range(3)
_FB = ("long_ago", "on6", "after6", "today", "recent", "special")
_FB_P = (0.35, 0.04, 0.04, 0.03, 0.48, 0.06)


def _hr(n: int, rng: Rng, ref: date, bad_share: float) -> Columns:
    ref_day = _day(ref)
    changes = _bst_change_days(ref)
    # showcase: a former employee per bucket (rows 0-5), a relative of each (rows 6-11), an
    # employee (12) and a relative of it (13), a former on hold (14) and its relative (15)
    show_type = [_FORMER] * 6 + [_RELATIVE] * 6 + [_EMPLOYEE, _RELATIVE, _FORMER, _RELATIVE]
    show_bucket: list[int | None] = [*range(6), *[None] * 8, 0, None]
    show_related = [*[-1] * 6, *range(6), -1, 12, -1, 14]
    show_hold = [0] * 14 + [1, 1]

    ptype = rng.choice(3, n, p=[0.42, 0.38, 0.20])
    _override(ptype, show_type)
    if not (ptype != _RELATIVE).any():
        ptype[:] = _EMPLOYEE
    bucket = rng.choice(len(_FB), n, p=_FB_P)
    _override(bucket, show_bucket)
    staff = np.flatnonzero(ptype != _RELATIVE)
    related = np.where(ptype == _RELATIVE, staff[rng.integers(0, len(staff), n)], -1)
    if n >= len(show_type):
        related[: len(show_related)] = show_related
    is_rel = ptype == _RELATIVE
    safe_rel = np.where(is_rel, related, 0)

    on6, after6 = _triggers_due_on(ref, 72), _triggers_due_on(ref + timedelta(1), 72)
    specs: list[Spec] = [
        (ref_day - _years(16), on6[0] - 60),
        on6,
        after6,
        [ref_day],
        (after6[-1] + 1, ref_day - 1),
        _special_days(ref),
    ]
    end = _bucket_days(np.where(ptype == _FORMER, bucket, -1), specs, rng)
    start = np.where(
        ptype == _FORMER, end - rng.integers(60, 7000, n), ref_day - rng.integers(30, 9000, n)
    )
    start[is_rel] = _NO_DATE
    blank_start = (ptype == _EMPLOYEE) & (rng.random(n) < 0.03)
    start[blank_start] = _NO_DATE
    base = np.where(start == _NO_DATE, ref_day - rng.integers(30, 3000, n), start)
    rel_start = np.where(start[safe_rel] == _NO_DATE, ref_day - 3000, start[safe_rel])
    rel_upper = np.where(end[safe_rel] == _NO_DATE, ref_day, end[safe_rel])
    rel_created = np.minimum(rel_start + rng.integers(0, 1500, n), rel_upper)
    created = np.where(is_rel, rel_created, base)
    night = rng.random(n) < 0.04
    _snap_to_change_day(created, created - 400, night, changes)

    old = (ptype == _FORMER) & (bucket == 0)
    hold = (rng.random(n) < np.where(old, 0.04, 0.008)).astype(np.int64)
    _override(hold, show_hold)
    hold_flag = np.where(hold == 1, 1, np.where(rng.random(n) < 0.3, 2, 0))

    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    same_name = is_rel & (rng.random(n) < 0.6)
    last[same_name] = last[safe_rel][same_name]
    order, number = _shuffle(n, rng)
    width = max(6, len(str(n)))
    ids = _ids("HR-", number, width)
    cols: Columns = {
        "person_id": ids,
        "person_type": _render_enum(ptype, PERSON_TYPES, rng),
        "first_name": _FIRST[first],
        "last_name": _LAST[last],
        "email": _emails(first, last, rng, _STAFF_DOMAINS, np.where(is_rel, 0.3, 0.02)),
        "phone": _phones(n, rng, 0.04),
        "related_person_id": np.where(is_rel, ids[safe_rel], ""),
        "employment_start_date": _fmt_days(start),
        "employment_end_date": _fmt_days(end),
        "created_at": _timestamps(created, rng, changes, night),
        "legal_hold": _render_flag(hold_flag, rng),
    }

    referenced = np.zeros(n, dtype=bool)
    referenced[related[is_rel]] = True
    free = ~referenced
    bad = _defect_rows(
        n,
        bad_share,
        rng,
        {
            "blank_id": free,
            "dup_id": free,
            "bad_enum": free,
            "bad_date": free & (ptype == _FORMER),
            "future_trigger": free & (ptype == _FORMER),
            "bad_flag": free,
            "missing_person": is_rel,
        },
    )
    _apply_common_defects(cols, "person_id", bad, rng)
    rows = bad["bad_enum"]
    cols["person_type"][rows] = _bad_values(("contractor", "intern", "Volunteer"), len(rows), rng)
    rows = bad["bad_date"]
    cols["employment_end_date"][rows] = _bad_values(_BAD_DATES, len(rows), rng)
    rows = bad["future_trigger"]
    cols["employment_end_date"][rows] = _future_days(ref_day, len(rows), rng)
    rows = bad["missing_person"]
    cols["related_person_id"][rows] = _ids(
        "HR-", n + 1000 + rng.integers(0, 9000, len(rows)), width
    )
    return {name: values[order] for name, values in cols.items()}


# Recruitment --------------------------------------------------------------------------------
_CANDIDATE, _REFEREE = range(2)
_OPEN, _HIRED, _REJECTED = range(3)
_STATUS_P = (0.18, 0.12, 0.40, 0.15, 0.15)
_KB_P = (0.35, 0.05, 0.05, 0.45, 0.10)  # long_ago, on, after, recent, special


def _recruitment(n: int, rng: Rng, ref: date, bad_share: float) -> Columns:
    ref_day = _day(ref)
    changes = _bst_change_days(ref)
    # showcase: every concluded status in every bucket (rows 0-19), an open candidate (20),
    # referees of the open one and of a few concluded ones (21-25), a candidate on hold (26)
    show_role = [_CANDIDATE] * 21 + [_REFEREE] * 5 + [_CANDIDATE]
    show_status: list[int | None] = [
        *(s for s in range(1, 5) for _ in range(5)),
        _OPEN,
        *[None] * 5,
        _REJECTED,
    ]
    show_bucket: list[int | None] = [*(b for _ in range(4) for b in range(5)), None, *[None] * 5, 0]
    show_related = [*[-1] * 21, 20, 5, 6, 7, 9, -1]
    show_hold = [0] * 26 + [1]

    role = np.where(rng.random(n) < 0.72, _CANDIDATE, _REFEREE)
    _override(role, show_role)
    if not (role == _CANDIDATE).any():
        role[:] = _CANDIDATE
    status = rng.choice(len(RECRUITMENT_STATUSES), n, p=_STATUS_P)
    _override(status, show_status)
    bucket = rng.choice(5, n, p=_KB_P)
    _override(bucket, show_bucket)
    is_ref = role == _REFEREE
    status[is_ref] = len(RECRUITMENT_STATUSES)
    candidates = np.flatnonzero(~is_ref)
    related = np.where(is_ref, candidates[rng.integers(0, len(candidates), n)], -1)
    if n >= len(show_role):
        related[: len(show_related)] = show_related
    safe_rel = np.where(is_ref, related, 0)

    on_m, after_m = _triggers_due_on(ref, 6), _triggers_due_on(ref + timedelta(1), 6)
    specs: list[Spec] = [
        (ref_day - _years(8), on_m[0] - 30),
        on_m,
        after_m,
        (after_m[-1] + 1, ref_day),
        _special_days(ref),
    ]
    concluded_bucket = np.where(~is_ref & (status != _OPEN), bucket, -1)
    concluded = _bucket_days(concluded_bucket, specs, rng)
    application = np.where(
        status == _OPEN, ref_day - rng.integers(0, 120, n), concluded - rng.integers(5, 150, n)
    )
    application[is_ref] = _NO_DATE
    cand_created = np.where(status == _OPEN, application, concluded - 150)
    cand_created = np.where(application == _NO_DATE, cand_created, application)
    created = np.where(
        is_ref, np.minimum(cand_created[safe_rel] + rng.integers(1, 20, n), ref_day), cand_created
    )
    application[~is_ref & (rng.random(n) < 0.03)] = _NO_DATE
    night = rng.random(n) < 0.04
    _snap_to_change_day(created, created - 400, night, changes)

    n_req = max(1, n // 15)
    req = rng.integers(0, n_req, n) + 1
    req = np.where(is_ref, req[safe_rel], req)

    old = ~is_ref & (status != _OPEN) & (bucket == 0)
    hold = (rng.random(n) < np.where(old, 0.04, 0.008)).astype(np.int64)
    _override(hold, show_hold)
    hold_flag = np.where(hold == 1, 1, np.where(rng.random(n) < 0.3, 2, 0))

    first = rng.integers(0, len(_FIRST), n)
    last = rng.integers(0, len(_LAST), n)
    order, number = _shuffle(n, rng)
    width = max(6, len(str(n)))
    ids = _ids("REC-", number, width)
    cols: Columns = {
        "person_id": ids,
        "role": _render_enum(role, ROLES, rng),
        "first_name": _FIRST[first],
        "last_name": _LAST[last],
        "email": _emails(first, last, rng, _EMAIL_DOMAINS, 0.03),
        "phone": _phones(n, rng, 0.05),
        "related_person_id": np.where(is_ref, ids[safe_rel], ""),
        "requisition_id": _ids("REQ-", req, max(4, len(str(n_req)))),
        "application_date": _fmt_days(application),
        "recruitment_status": _render_enum(status, RECRUITMENT_STATUSES, rng),
        "recruitment_concluded_date": _fmt_days(concluded),
        "created_at": _timestamps(created, rng, changes, night),
        "legal_hold": _render_flag(hold_flag, rng),
    }

    referenced = np.zeros(n, dtype=bool)
    referenced[related[is_ref]] = True
    free = ~referenced
    concluded_cand = ~is_ref & (status != _OPEN)
    bad = _defect_rows(
        n,
        bad_share,
        rng,
        {
            "blank_id": free,
            "dup_id": free,
            "bad_enum": free,
            "bad_date": free & concluded_cand,
            "future_trigger": free & ~is_ref,
            "bad_flag": free,
            "missing_person": is_ref,
        },
    )
    _apply_common_defects(cols, "person_id", bad, rng)
    rows = bad["bad_enum"]
    on_role = is_ref[rows] | (rng.random(len(rows)) < 0.3)
    cols["role"][rows[on_role]] = "agency"
    cols["recruitment_status"][rows[~on_role]] = _bad_values(
        ("interviewing", "offer", "on hold"), int((~on_role).sum()), rng
    )
    rows = bad["bad_date"]
    cols["recruitment_concluded_date"][rows] = _bad_values(_BAD_DATES, len(rows), rng)
    rows = bad["future_trigger"]
    cols["recruitment_status"][rows] = "rejected"
    cols["recruitment_concluded_date"][rows] = _fmt_days(ref_day + rng.integers(1, 30, len(rows)))
    rows = bad["missing_person"]
    cols["related_person_id"][rows] = _ids(
        "REC-", n + 1000 + rng.integers(0, 9000, len(rows)), width
    )
    return {name: values[order] for name, values in cols.items()}
