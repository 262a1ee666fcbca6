"""Exports from other tools read through mapping files alone (the shipped presets)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from governance.errors import ExportError
from governance.pipeline import resolve_sources
from governance.sources.config import CONFIG_DIR, load_source_config
from governance.sources.reader import read_export

MAPPINGS = CONFIG_DIR / "mappings"


def test_hubspot_contacts_export(tmp_path: Path) -> None:
    config, _ = load_source_config(MAPPINGS / "hubspot_contacts.yaml")
    path = tmp_path / "hubspot.csv"
    path.write_text(
        "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Lifecycle Stage,"
        "Create Date,Marketing contact status,Consent Date,Last Activity Date,Legal Hold\n"
        '51,Aoife,O\'Neill,AOIFE@EXAMPLE.IE,07700 900123,"Hughes, Patel & Co",Lead,'
        "2026-01-28 12:48,Marketing contact,2026-01-28,2026-02-01 09:00,\n"
        "52,Dafydd,Rhys-Evans,d@example.com,,,Customer,2024-03-31 00:30,"
        "Non-marketing contact,,,Yes\n"
        "53,Émile,Durand,e@example.com,,,Marketing Qualified Lead,2025-10-26 01:30,,,,\n",
        encoding="utf-8",
    )
    export = read_export(path, config)
    frame = export.frame
    assert list(frame["record_id"]) == ["51", "52", "53"]
    assert list(frame["record_type"]) == ["contact_details"] * 3
    assert list(frame["relationship"]) == ["prospect", "customer", "prospect"]
    assert list(frame["marketing_opt_in"]) == [True, False, False]
    assert list(frame["created_at"]) == [
        pd.Timestamp("2026-01-28"),
        pd.Timestamp("2024-03-31"),
        pd.Timestamp("2025-10-26"),
    ]
    assert frame.loc[0, "email"] == "aoife@example.ie"
    assert frame.loc[0, "phone"] == "+447700900123"
    assert list(frame["legal_hold"]) == [False, True, False]
    assert export.ignored_columns == ("Last Activity Date",)
    assert "last_reviewed_at" in export.absent_fields  # mapped, not a Y/N: may be absent
    assert sum(export.invalid_counts.values()) == 0


def test_a_mapped_yes_no_column_missing_blocks_the_export(tmp_path: Path) -> None:
    """A blank flag is an N: a `Legal Hold` column renamed in the source system would
    otherwise hold nobody. The config names it, so its absence is a changed layout."""
    config, _ = load_source_config(MAPPINGS / "hubspot_contacts.yaml")
    path = tmp_path / "hubspot.csv"
    path.write_text(
        "Record ID,Lifecycle Stage,Create Date,Marketing contact status,Legal Hold (Y/N)\n"
        "51,Lead,2026-01-28 12:48,Marketing contact,Y\n",
        encoding="utf-8",
    )
    with pytest.raises(ExportError) as info:
        read_export(path, config)
    assert info.value.column == "Legal Hold"
    assert "named in the source config's `columns`, is missing" in info.value.problem


def test_salesforce_report_with_footer(tmp_path: Path) -> None:
    config, _ = load_source_config(MAPPINGS / "salesforce_contacts_report.yaml")
    path = tmp_path / "sf.csv"
    path.write_text(
        '"Contact ID","First Name","Last Name","Type","Contract Number","Contract Status",'
        '"Contract End Date","Created Date","Email Opt In","Legal Hold","Has Purchased"\n'
        '"003A1","Niamh","D\'Arcy","Customer - Direct","00000101","Expired","29/02/2024",'
        '"01/03/2019 09:15","1","0","1"\n'
        '"003A2","Tomás","Ó Briain","Vendor","00000102","Activated","","31/12/2020 23:59",'
        '"0","1",""\n'
        '""\n"Grand Totals (2 records)"\n""\n'
        '"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\n'
        '"Confidential Information - Do Not Distribute"\n',
        encoding="utf-8",
    )
    frame = read_export(path, config).frame
    assert list(frame["record_id"]) == ["003A1", "003A2"]
    assert list(frame["relationship"]) == ["customer", "supplier"]
    assert list(frame["contract_status"]) == ["completed", "active"]
    assert frame.loc[0, "contract_end_date"] == pd.Timestamp("2024-02-29")
    assert list(frame["created_at"]) == [pd.Timestamp("2019-03-01"), pd.Timestamp("2020-12-31")]
    assert list(frame["legal_hold"]) == [False, True]


def test_every_shipped_config_and_mapping_loads() -> None:
    files = sorted((CONFIG_DIR / "sources").glob("*.yaml")) + sorted(MAPPINGS.glob("*.yaml"))
    assert len(files) >= 5
    for file in files:
        config, _ = load_source_config(file)
        assert config.path


def test_a_mapping_file_is_used_through_the_pipeline(tmp_path: Path) -> None:
    export = tmp_path / "contacts.csv"
    export.write_text(
        "Record ID,Lifecycle Stage,Create Date,Marketing contact status,Legal Hold\n"
        "1,lead,2026-01-28 12:48,,\n"
    )
    plans = resolve_sources(
        files={"crm": export}, configs={"crm": MAPPINGS / "hubspot_contacts.yaml"}
    )
    assert [p.source for p in plans] == ["crm"]
    assert read_export(plans[0].path, plans[0].config).frame.loc[0, "relationship"] == "prospect"
