"""Tests for governance.sample_data: the synthetic CRM, HR and recruitment exports."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from governance.sample_data import (
    DEFAULT_REFERENCE_DATE,
    SOURCES,
    generate_frames,
    source_row_counts,
    write_sample_exports,
)

REF = DEFAULT_REFERENCE_DATE
LONDON = ZoneInfo("Europe/London")
ROWS = 2000
SEED = 20261130

# The layouts of EXPORT_FORMATS.md, written out here on purpose (not imported).
HEADERS = {
    "crm": [
        "record_id", "record_type", "first_name", "last_name", "email", "phone", "company",
        "relationship", "service", "contract_id", "contract_status", "contract_end_date",
        "created_at", "last_reviewed_at", "enquiry_date", "purchased", "marketing_opt_in",
        "marketing_consent_date", "legal_hold",
    ],
    "hr": [
        "person_id", "person_type", "first_name", "last_name", "email", "phone",
        "related_person_id", "employment_start_date", "employment_end_date", "created_at",
        "legal_hold",
    ],
    "recruitment": [
        "person_id", "role", "first_name", "last_name", "email", "phone", "related_person_id",
        "requisition_id", "application_date", "recruitment_status",
        "recruitment_concluded_date", "created_at", "legal_hold",
    ],
}  # fmt: skip
ID_COLUMN = {"crm": "record_id", "hr": "person_id", "recruitment": "person_id"}
ENUMS = {
    "crm": {
        "record_type": {
            "contact_details", "payment_details", "communication", "service_account",
            "device_data",
        },
        "relationship": {"customer", "supplier", "third_party", "prospect", "enquirer", "other"},
        "service": {"repair", "support", "rental", "cloud", "connect", "protect", ""},
        "contract_status": {"active", "completed", "terminated", ""},
    },
    "hr": {"person_type": {"employee", "former_employee", "relative"}},
    "recruitment": {
        "role": {"candidate", "referee"},
        "recruitment_status": {"open", "hired", "rejected", "withdrawn", "closed", ""},
    },
}  # fmt: skip
FLAGS = {
    "crm": ["purchased", "marketing_opt_in", "legal_hold"],
    "hr": ["legal_hold"],
    "recruitment": ["legal_hold"],
}
YES = {"y", "yes", "true", "1"}
NO = {"n", "no", "false", "0", ""}
DATE_COLUMNS = {
    "crm": ["contract_end_date", "enquiry_date", "marketing_consent_date"],
    "hr": ["employment_start_date", "employment_end_date"],
    "recruitment": ["application_date", "recruitment_concluded_date"],
}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def norm(series: pd.Series) -> pd.Series:
    return series.str.strip().str.lower()


def is_yes(series: pd.Series) -> pd.Series:
    return norm(series).isin(YES)


def day(text: str) -> date:
    return date.fromisoformat(text)


def london_date(text: str) -> date:
    stamp = datetime.fromisoformat(text)
    return stamp.date() if stamp.tzinfo is None else stamp.astimezone(LONDON).date()


@pytest.fixture(scope="module")
def clean() -> dict[str, pd.DataFrame]:
    return generate_frames(ROWS, SEED, bad_share=0)


@pytest.fixture(scope="module")
def default() -> dict[str, pd.DataFrame]:
    return generate_frames(ROWS, SEED)


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "landing"  # does not exist yet
    write_sample_exports(out, ROWS, SEED)
    return out


# --- API contract ----------------------------------------------------------------------------
def test_source_row_counts() -> None:
    assert source_row_counts(1000) == {"crm": 1000, "hr": 200, "recruitment": 300}
    assert source_row_counts(1) == {"crm": 1, "hr": 1, "recruitment": 1}
    assert source_row_counts(7) == {"crm": 7, "hr": 1, "recruitment": 2}


@pytest.mark.parametrize("rows", [0, -5])
def test_rows_below_one_are_rejected(tmp_path: Path, rows: int) -> None:
    with pytest.raises(ValueError, match="rows must be at least 1"):
        source_row_counts(rows)
    with pytest.raises(ValueError, match="rows must be at least 1"):
        generate_frames(rows, 1)
    with pytest.raises(ValueError, match="rows must be at least 1"):
        write_sample_exports(tmp_path, rows, 1)
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_and_bad_share_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        write_sample_exports(tmp_path, 10, 1, fmt="parquet")
    with pytest.raises(ValueError, match="bad_share"):
        generate_frames(10, 1, bad_share=1.5)
    with pytest.raises(ValueError, match="bad_share"):
        generate_frames(10, 1, bad_share=-0.1)


def test_writes_three_files_atomically_and_reports_progress(csv_dir: Path, tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    paths = write_sample_exports(
        tmp_path / "a" / "b", 300, 3, progress=lambda s, n: calls.append((s, n))
    )
    assert list(paths) == list(SOURCES)
    assert paths == {s: tmp_path / "a" / "b" / f"{s}.csv" for s in SOURCES}
    counts = source_row_counts(300)
    assert calls == [(s, counts[s]) for s in SOURCES]
    # no temporary file is left behind
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == [
        "crm.csv",
        "hr.csv",
        "recruitment.csv",
    ]
    assert sorted(p.name for p in csv_dir.iterdir()) == ["crm.csv", "hr.csv", "recruitment.csv"]


def test_same_seed_gives_byte_identical_files(csv_dir: Path, tmp_path: Path) -> None:
    write_sample_exports(tmp_path / "again", ROWS, SEED)
    write_sample_exports(tmp_path / "other", ROWS, SEED + 1)
    for source in SOURCES:
        first = (csv_dir / f"{source}.csv").read_bytes()
        assert (tmp_path / "again" / f"{source}.csv").read_bytes() == first
        assert (tmp_path / "other" / f"{source}.csv").read_bytes() != first


def test_reference_date_moves_the_data() -> None:
    a = generate_frames(300, 1)["crm"]
    b = generate_frames(300, 1, reference_date=date(2025, 3, 31))["crm"]
    assert not a.equals(b)
    assert (b["contract_end_date"].isin(["2018-03-31", "2019-03-31"])).any()  # 7y / 6y edges


# --- file format -----------------------------------------------------------------------------
@pytest.mark.parametrize("source", SOURCES)
def test_csv_layout_and_round_trip(
    csv_dir: Path, default: dict[str, pd.DataFrame], source: str
) -> None:
    raw = (csv_dir / f"{source}.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" not in raw
    raw.decode("utf-8")  # raises unless valid UTF-8
    with (csv_dir / f"{source}.csv").open(newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle))
    assert records[0] == HEADERS[source]
    assert len(records) - 1 == source_row_counts(ROWS)[source]
    assert all(len(record) == len(HEADERS[source]) for record in records)
    frame = pd.read_csv(csv_dir / f"{source}.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns) == HEADERS[source]
    assert list(default[source].columns) == HEADERS[source]
    pd.testing.assert_frame_equal(frame, default[source], check_dtype=False)


def test_csv_quotes_commas_quotes_and_line_breaks(csv_dir: Path) -> None:
    with (csv_dir / "crm.csv").open(newline="", encoding="utf-8") as handle:
        companies = {record[6] for record in csv.reader(handle)}
    assert any("," in c for c in companies)
    assert any('"' in c for c in companies)
    assert any("\n" in c for c in companies)
    raw = (csv_dir / "crm.csv").read_text(encoding="utf-8")
    assert '"Hughes, Patel & Co"' in raw
    assert '"""Best"" Repairs Ltd"' in raw


def test_xlsx_has_same_header_rows_and_values(tmp_path: Path) -> None:
    paths = write_sample_exports(tmp_path, 300, 9, fmt="xlsx")
    frames = generate_frames(300, 9)
    for source in SOURCES:
        assert paths[source] == tmp_path / f"{source}.xlsx"
        book = load_workbook(paths[source], read_only=True)
        rows = [["" if v is None else v for v in row] for row in book.worksheets[0].values]
        book.close()
        assert rows[0] == HEADERS[source]
        assert len(rows) - 1 == source_row_counts(300)[source]
        assert all(isinstance(v, str) for row in rows for v in row)
        assert rows[1:] == frames[source].to_numpy().tolist()


# --- realistic content -----------------------------------------------------------------------
def test_names_have_apostrophes_hyphens_and_accents(clean: dict[str, pd.DataFrame]) -> None:
    names = pd.concat([f[c] for f in clean.values() for c in ("first_name", "last_name")])
    assert names.str.contains("'").any()
    assert names.str.contains("-").any()
    assert names.str.contains(r"[^\x00-\x7f]").any()
    assert {"Zoë", "Siân", "Renée", "Chloé", "O'Brien", "D'Arcy", "Smith-Jones"} & set(names)
    assert (names != "").all()


def test_emails_and_phones_are_fictional_and_varied(clean: dict[str, pd.DataFrame]) -> None:
    emails = pd.concat([f["email"] for f in clean.values()])
    present = emails[emails != ""]
    assert len(present) > 0.9 * len(emails)
    assert (emails == "").any()
    domains = present.str.split("@").str[1].str.lower()
    assert domains.str.contains(r"(?:^|\.)example(?:\.(?:com|org|net))?$").all()
    assert (present != present.str.lower()).any()  # mixed case
    phones = pd.concat([f["phone"] for f in clean.values()])
    assert (phones == "").any()
    present = phones[phones != ""]
    assert present.str.fullmatch(r"[0-9+() -]+").all()
    # every number is in an Ofcom range reserved for drama
    national = "0" + present.str.replace(r"\D", "", regex=True).str.replace(
        r"^(44|0)", "", regex=True
    )
    assert national.str.fullmatch(
        r"07700900\d{3}|01632960\d{3}|0207946\d{4}|0(113|161|117)496\d{4}"
    ).all()
    for pattern in (
        r"0\d{4} \d{6}",
        r"\+44 \d+ \d+",
        r"\(0\d+\) \d+-\d+",
        r"07700 900\d{3}",
        r"\+447700900\d{3}",
    ):
        assert present.str.fullmatch(pattern).any(), pattern


def test_timestamps_are_iso_with_z_offsets_and_naive(clean: dict[str, pd.DataFrame]) -> None:
    stamps = pd.concat(
        [
            clean["crm"]["created_at"],
            clean["crm"]["last_reviewed_at"],
            clean["hr"]["created_at"],
            clean["recruitment"]["created_at"],
        ]
    )
    stamps = stamps[stamps != ""]
    parsed = [datetime.fromisoformat(s) for s in stamps]  # all valid ISO 8601
    assert stamps.str.endswith("Z").any()
    assert stamps.str.endswith("+01:00").any()
    assert stamps.str.endswith("+00:00").any()
    assert any(p.tzinfo is None for p in parsed)
    # 23:xx UTC in summer: the London date is the next day
    late = [
        s
        for s, p in zip(stamps, parsed, strict=True)
        if s.endswith("Z") and p.hour == 23 and 5 <= p.month <= 8
    ]
    assert late
    assert all(london_date(s) == day(s[:10]) + timedelta(days=1) for s in late)
    assert all(london_date(s) <= REF for s in stamps)


@pytest.mark.parametrize("source", SOURCES)
def test_dates_are_iso(clean: dict[str, pd.DataFrame], source: str) -> None:
    for column in DATE_COLUMNS[source]:
        values = clean[source][column]
        values = values[values != ""]
        assert values.str.fullmatch(ISO_DATE.pattern).all(), column
        assert all(day(v) for v in values)


def test_every_category_is_present(clean: dict[str, pd.DataFrame]) -> None:
    for source, enums in ENUMS.items():
        for column, allowed in enums.items():
            assert set(norm(clean[source][column])) == allowed, (source, column)
    crm = clean["crm"]
    device = crm[norm(crm["record_type"]) == "device_data"]
    assert set(norm(device["service"])) == {"rental", "repair"}
    suppliers = crm[norm(crm["relationship"]) == "supplier"]
    assert set(norm(suppliers["record_type"])) >= {"contact_details", "payment_details"}
    third = crm[norm(crm["relationship"]) == "third_party"]
    assert (third["contract_id"] != "").any()
    assert (third["contract_id"] == "").any()
    others = crm[norm(crm["relationship"]).isin(["prospect", "other"])]
    assert (others["last_reviewed_at"] == "").any()
    assert (others["last_reviewed_at"] != "").any()
    assert (crm["legal_hold"].str.strip().str.upper() == "Y").any()


def test_messy_but_valid_values_are_present(clean: dict[str, pd.DataFrame]) -> None:
    crm, hr = clean["crm"], clean["hr"]
    assert (crm["relationship"] != norm(crm["relationship"])).any()
    assert (hr["person_type"] != norm(hr["person_type"])).any()
    flags = set(pd.concat([crm[c] for c in FLAGS["crm"]]))
    assert flags >= {"Y", "N", ""}
    assert flags & {"yes", "Yes", "no", "No", "TRUE", "true", "FALSE", "false", "1", "0"}


def test_contracts_are_shared_and_consistent(clean: dict[str, pd.DataFrame]) -> None:
    crm = clean["crm"]
    on_contract = crm[crm["contract_id"] != ""].assign(status=lambda f: norm(f["contract_status"]))
    assert on_contract["contract_id"].str.fullmatch(r"CON-\d{5,}").all()
    assert (on_contract["contract_id"].value_counts() > 1).any()
    per_contract = on_contract.groupby("contract_id")[["status", "contract_end_date"]].nunique()
    assert (per_contract == 1).all().all()
    ended = on_contract[on_contract["status"].isin(["completed", "terminated"])]
    assert (ended["contract_end_date"] != "").all()
    assert (on_contract.loc[on_contract["status"] == "active", "contract_end_date"] == "").all()


def test_relatives_and_referees_point_at_the_right_people(clean: dict[str, pd.DataFrame]) -> None:
    hr = clean["hr"].assign(kind=lambda f: norm(f["person_type"]))
    kind = dict(zip(hr["person_id"], hr["kind"], strict=True))
    relatives = hr[hr["kind"] == "relative"]
    assert {kind[p] for p in relatives["related_person_id"]} == {"employee", "former_employee"}
    rec = clean["recruitment"].assign(kind=lambda f: norm(f["role"]))
    role = dict(zip(rec["person_id"], rec["kind"], strict=True))
    referees = rec[rec["kind"] == "referee"]
    assert {role[p] for p in referees["related_person_id"]} == {"candidate"}
    status = dict(zip(rec["person_id"], norm(rec["recruitment_status"]), strict=True))
    assert {status[p] for p in referees["related_person_id"]} >= {"open", "rejected"}
    candidates = rec[rec["kind"] == "candidate"]
    is_open = norm(candidates["recruitment_status"]) == "open"
    assert (candidates.loc[is_open, "recruitment_concluded_date"] == "").all()
    assert (candidates.loc[~is_open, "recruitment_concluded_date"] != "").all()


def test_ids_follow_the_export_conventions(clean: dict[str, pd.DataFrame]) -> None:
    assert clean["crm"]["record_id"].str.fullmatch(r"CRM-\d{7}").all()
    assert clean["hr"]["person_id"].str.fullmatch(r"HR-\d{6}").all()
    assert clean["recruitment"]["person_id"].str.fullmatch(r"REC-\d{6}").all()
    assert clean["crm"]["record_id"].iloc[0] == "CRM-0000001"


def test_month_end_and_leap_day_triggers(clean: dict[str, pd.DataFrame]) -> None:
    triggers = (
        set(clean["crm"]["contract_end_date"])
        | set(clean["hr"]["employment_end_date"])
        | set(clean["recruitment"]["recruitment_concluded_date"])
    )
    assert {"2019-08-31", "2020-01-31", "2020-02-29", "2024-02-29"} <= triggers
    for frame, column in (
        (clean["crm"], "contract_end_date"),
        (clean["hr"], "employment_end_date"),
        (clean["recruitment"], "recruitment_concluded_date"),
    ):
        assert frame[column].isin(["2020-02-29", "2024-02-29"]).any(), column


def due_buckets(triggers: pd.Series, months: int) -> set[str]:
    """Where the due dates (trigger + months) fall relative to the reference date."""
    out = set()
    for trigger in triggers:
        due = trigger + relativedelta(months=months)
        out.add(
            "today"
            if due == REF
            else "tomorrow"
            if due == REF + timedelta(1)
            else "past"
            if due < REF
            else "future"
        )
    return out


def test_every_rule_has_edges_around_the_reference_date(clean: dict[str, pd.DataFrame]) -> None:
    crm = clean["crm"].assign(
        rel=lambda f: norm(f["relationship"]),
        rt=lambda f: norm(f["record_type"]),
        st=lambda f: norm(f["contract_status"]),
    )
    ended = crm[crm["st"].isin(["completed", "terminated"])]
    everything = {"past", "today", "tomorrow", "future"}

    def ends(frame: pd.DataFrame) -> pd.Series:
        return frame["contract_end_date"].map(day)

    customer = ended[ended["rel"] == "customer"]
    for record_type in ("contact_details", "communication"):
        assert due_buckets(ends(customer[customer["rt"] == record_type]), 84) == everything
    for record_type in ("payment_details", "service_account", "device_data"):
        assert due_buckets(ends(customer[customer["rt"] == record_type]), 0) >= {"past", "today"}
    assert due_buckets(ends(ended[ended["rel"] == "supplier"]), 72) == everything
    assert due_buckets(ends(ended[ended["rel"] == "third_party"]), 72) == everything
    active = crm[crm["st"] == "active"]
    assert set(active["rel"]) >= {"customer", "supplier", "third_party"}

    enquirers = crm[
        (crm["rel"] == "enquirer") & ~is_yes(crm["purchased"]) & ~is_yes(crm["marketing_opt_in"])
    ]
    assert due_buckets(enquirers["enquiry_date"].map(day), 3) == everything

    review = crm[
        crm["rel"].isin(["third_party", "prospect", "enquirer", "other"])
        & (crm["contract_id"] == "")
        & ~crm.index.isin(enquirers.index)
    ]
    latest = [
        max(london_date(c), london_date(r)) if r else london_date(c)
        for c, r in zip(review["created_at"], review["last_reviewed_at"], strict=True)
    ]
    assert due_buckets(pd.Series(latest), 36) == everything

    opted = crm[(crm["rt"] == "contact_details") & is_yes(crm["marketing_opt_in"])]
    expiry = opted["marketing_consent_date"].map(day).map(lambda d: d + relativedelta(years=3))
    assert (expiry <= REF).any()  # consent_expired
    assert ((expiry > REF) & (expiry <= REF + timedelta(30))).any()  # renew_consent
    assert (expiry > REF + timedelta(30)).any()  # fine
    assert (expiry == REF).any()  # expires today
    assert (expiry == REF + timedelta(30)).any()  # renewal starts today

    repair = crm[(crm["rt"] == "device_data") & (norm(crm["service"]) == "repair")]
    assert REF in set(repair["created_at"].map(london_date))

    hr = clean["hr"].assign(kind=lambda f: norm(f["person_type"]))
    formers = hr[hr["kind"] == "former_employee"]
    assert due_buckets(formers["employment_end_date"].map(day), 72) == everything
    end_of = dict(zip(hr["person_id"], hr["employment_end_date"], strict=True))
    relatives = hr[hr["kind"] == "relative"]
    ended_related = [day(end_of[p]) for p in relatives["related_person_id"] if end_of[p]]
    assert due_buckets(pd.Series(ended_related), 0) >= {"past", "today"}
    assert (relatives["related_person_id"].map(end_of) == "").any()  # still employed

    rec = clean["recruitment"]
    concluded = rec[rec["recruitment_concluded_date"] != ""]
    assert due_buckets(concluded["recruitment_concluded_date"].map(day), 6) == everything
    for status in ("hired", "rejected", "withdrawn", "closed"):
        of_status = concluded[norm(concluded["recruitment_status"]) == status]
        assert due_buckets(of_status["recruitment_concluded_date"].map(day), 6) >= {
            "past",
            "future",
        }


def test_legal_holds_sit_on_records_that_would_be_deleted(clean: dict[str, pd.DataFrame]) -> None:
    crm = clean["crm"]
    held = crm[
        is_yes(crm["legal_hold"]) & norm(crm["contract_status"]).isin(["completed", "terminated"])
    ]
    assert (held["contract_end_date"].map(day) + pd.DateOffset(years=7) <= pd.Timestamp(REF)).any()
    hr = clean["hr"]
    held_hr = hr[is_yes(hr["legal_hold"]) & (norm(hr["person_type"]) == "former_employee")]
    assert (held_hr["employment_end_date"].map(day) < REF - relativedelta(years=6)).any()


# --- data quality ----------------------------------------------------------------------------
@pytest.mark.parametrize("source", SOURCES)
def test_no_bad_rows_when_bad_share_is_zero(clean: dict[str, pd.DataFrame], source: str) -> None:
    frame = clean[source]
    ids = frame[ID_COLUMN[source]]
    assert (ids != "").all()
    assert ids.is_unique
    for column, allowed in ENUMS[source].items():
        assert norm(frame[column]).isin(allowed).all(), column
    for column in FLAGS[source]:
        assert norm(frame[column]).isin(YES | NO).all(), column
    for column in DATE_COLUMNS[source]:
        values = frame[column][frame[column] != ""]
        assert all(day(v) <= REF for v in values if column != "marketing_consent_date")
    assert all(london_date(s) <= REF for s in frame["created_at"])
    if source == "crm":
        party = norm(frame["relationship"]).isin(["customer", "supplier"])
        assert (frame.loc[party, "contract_id"] != "").all()
        assert (frame.loc[party, "contract_status"] != "").all()
    else:
        related = frame["related_person_id"]
        assert related[related != ""].isin(set(ids)).all()


@pytest.mark.parametrize("source", SOURCES)
def test_default_bad_share_spoils_about_one_percent(
    clean: dict[str, pd.DataFrame], default: dict[str, pd.DataFrame], source: str
) -> None:
    good, bad = clean[source], default[source]
    # defects are drawn last: the rest of the export is the same as without them
    changed = (good != bad).any(axis=1)
    ids = bad[ID_COLUMN[source]]
    duplicated = ids.duplicated(keep=False) & (ids != "")
    quarantined = changed | duplicated
    assert quarantined.sum() > 0
    assert quarantined.mean() < 0.05
    assert quarantined.mean() == pytest.approx(0.01, abs=0.005)


def test_bad_rows_cover_the_defect_types() -> None:
    frames = generate_frames(ROWS, SEED, bad_share=0.04)
    crm, hr, rec = frames["crm"], frames["hr"], frames["recruitment"]
    assert (crm["record_id"] == "").any()
    assert crm["record_id"][crm["record_id"] != ""].duplicated().any()
    assert (crm["relationship"] == "partner").any()
    dates = pd.concat([crm["contract_end_date"], crm["enquiry_date"]])
    assert dates.isin(["2023-02-30", "31/12/2020", "soon", "2021-13-01", "20/07/2022", "TBC"]).any()
    completed = norm(crm["contract_status"]) == "completed"
    end = pd.to_datetime(crm["contract_end_date"], errors="coerce", format="%Y-%m-%d")
    assert (completed & (end > pd.Timestamp(REF))).any()
    assert ~norm(crm["legal_hold"]).isin(YES | NO).all()
    party = norm(crm["relationship"]).isin(["customer", "supplier"])
    assert (party & ((crm["contract_id"] == "") | (crm["contract_status"] == ""))).any()
    assert ((crm["record_type"] == "device_data") & (crm["service"] == "cloud")).any()
    for frame in (hr, rec):
        related = frame["related_person_id"]
        assert (~related.isin(set(frame["person_id"])) & (related != "")).any()
    concluded = pd.to_datetime(
        rec["recruitment_concluded_date"], errors="coerce", format="%Y-%m-%d"
    )
    assert ((rec["recruitment_status"] == "rejected") & (concluded > pd.Timestamp(REF))).any()


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 400), seed=st.integers(0, 2**32), share=st.floats(0, 0.2))
def test_any_size_and_seed_gives_complete_exports(rows: int, seed: int, share: float) -> None:
    frames = generate_frames(rows, seed, bad_share=share)
    counts = source_row_counts(rows)
    for source in SOURCES:
        frame = frames[source]
        assert list(frame.columns) == HEADERS[source]
        assert len(frame) == counts[source]
        assert frame.notna().all().all()
        bad_ids = (frame[ID_COLUMN[source]] == "").sum()
        assert bad_ids <= round(counts[source] * share) + 1
