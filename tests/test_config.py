"""Source configs are validated on load, with one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.errors import ConfigError
from governance.sources.config import load_source_config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("source: crm\ncolumns: {emial: Email}\n", "unknown canonical field(s) emial"),
        ("source: billing\n", "source: Input should be 'crm', 'hr' or 'recruitment'"),
        ("source: crm\nconstants: {relationship: partner}\n", "'partner' is not one of"),
        (
            "source: crm\nvalues: {relationship: {lead: leads}}\n",
            "values.relationship: 'leads' not in",
        ),
        ("source: crm\ntimezone: Europe/Londn\n", "unknown time zone 'Europe/Londn'"),
        ("source: crm\nfooter: '(unclosed'\n", "footer: not a regular expression"),
        ("source: crm\ndelimiter: ';;'\n", "delimiter: must be exactly one character"),
        ("source: crm\nencoding: utf-99\n", "unknown encoding 'utf-99'"),
        ("source: crm\nphone_region: XX\n", "unknown phone region 'XX'"),
        (
            "source: crm\ncolumns: {email: Mail, phone: mail}\n",
            "email and phone both map to export column 'mail'",
        ),
        (
            "source: crm\ncolumns: {record_type: Kind}\nconstants: {record_type: communication}\n",
            "record_type given both a column and a constant",
        ),
        ("source: crm\ncolumns: [a, b\n", "line 3"),
        ("- just a list\n", "expected a mapping of settings"),
    ],
)
def test_invalid_configs_are_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "crm.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_source_config(path)
    assert message in str(info.value)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_source_config(tmp_path / "nope.yaml")


def test_relative_export_path_resolves_against_the_config(tmp_path: Path) -> None:
    from governance.sources.config import resolve_export_path

    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "crm.yaml"
    path.write_text("source: crm\npath: ../landing/crm.csv\n")
    config, base = load_source_config(path)
    assert resolve_export_path(config, base) == tmp_path / "conf" / "../landing/crm.csv"
