"""Exports that cannot be trusted as a whole: one clear line naming file, row and column."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from governance.errors import ExportError
from governance.sources.config import SourceConfig, default_config
from governance.sources.reader import read_export
from tests.conftest import crm_row

SECRET_NAME = "Zebedee-Quixote"


def read(path: Path, **config: object) -> None:
    read_export(path, SourceConfig.model_validate({"source": "crm", **config}))


def error_of(path: Path, **config: object) -> ExportError:
    with pytest.raises(ExportError) as info:
        read(path, **config)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    assert SECRET_NAME not in message
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    assert "file not found" in str(error_of(tmp_path / "nope.csv"))


@pytest.mark.parametrize("content", [b"", b"   \n\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "crm.csv"
    path.write_bytes(content)
    assert "empty" in str(error_of(path))


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(",".join(crm_row()) + "\n")
    assert "no data rows" in str(error_of(path))


def test_missing_required_column_is_named(write_csv) -> None:
    row = {k: v for k, v in crm_row(first_name=SECRET_NAME).items() if k != "relationship"}
    err = error_of(write_csv([row]))
    assert err.column == "relationship"
    assert "required column missing: 'relationship'" in str(err)


def test_mapped_required_column_missing_names_the_export_column(write_csv) -> None:
    path = write_csv([crm_row()])
    err = error_of(path, columns={"relationship": "Lifecycle Stage"})
    assert "'Lifecycle Stage'" in str(err)


def test_bytes_that_are_not_utf8_name_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    rows = [crm_row(record_id="A"), crm_row(record_id="B", first_name="Ren\x00e")]
    header = ",".join(rows[0])
    lines = [header] + [",".join(r.values()) for r in rows]
    data = "\n".join(lines).encode("utf-8").replace(b"Ren\x00e", b"Ren\xe9e") + b"\n"
    path.write_bytes(data)
    err = error_of(path)
    assert err.row == 3
    assert err.column == "first_name"
    assert "not valid utf-8" in str(err)


def test_a_zip_or_xlsx_given_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x", "y")
    assert "not CSV" in str(error_of(path))


def test_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    path.write_bytes(b"record_id\x00\x01\x02" * 10)
    assert "binary" in str(error_of(path))


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "crm.pdf"
    path.write_bytes(b"%PDF-1.7")
    assert "not a CSV or XLSX file" in str(error_of(path))


def test_xlsx_that_is_not_a_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "crm.xlsx"
    path.write_text("record_id\n1\n")
    assert "not an XLSX file" in str(error_of(path))


def test_unterminated_quote_names_the_row(write_csv) -> None:
    path = write_csv([crm_row(record_id=str(i)) for i in range(5)])
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(",customer,", f',"{SECRET_NAME} customer,')
    path.write_text("\n".join(lines) + "\n")
    err = error_of(path)
    assert err.row == 4
    assert "quot" in str(err)


def test_row_with_too_many_fields_names_the_row(write_csv) -> None:
    path = write_csv([crm_row(record_id=str(i)) for i in range(5)])
    lines = path.read_text().splitlines()
    lines[5] = lines[5] + f",{SECRET_NAME},extra"
    path.write_text("\n".join(lines) + "\n")
    err = error_of(path)
    assert err.row == 6
    assert "fields" in str(err)


def test_a_report_footer_without_config_is_a_clear_error(write_csv) -> None:
    path = write_csv([crm_row(record_id="A")])
    path.write_bytes(path.read_bytes() + b"\nGrand Totals (1 record)\n")
    err = error_of(path)
    assert err.row == 4  # the blank line is row 3, as a spreadsheet shows it
    assert "has 1 field where the header has 19" in str(err)
    assert "footer" in str(err)


def test_cli_error_is_one_line_exit_2_and_nothing_written(tmp_path: Path, write_csv) -> None:
    row = {k: v for k, v in crm_row(first_name=SECRET_NAME).items() if k != "record_type"}
    bad = write_csv([row])
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        [sys.executable, "-m", "governance.cli", "read", "--crm", str(bad), "--out", str(summary)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {bad}, column 'record_type': required column missing: 'record_type'"]
    assert SECRET_NAME not in proc.stdout + proc.stderr
    assert not summary.exists()


def test_cli_config_error_is_one_line(tmp_path: Path, write_csv) -> None:
    config = tmp_path / "crm.yaml"
    config.write_text("source: crm\nrelationship_map: {}\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "governance.cli",
            "read",
            "--crm",
            str(write_csv([crm_row()])),
            "--crm-config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {config}: relationship_map: Extra inputs are not permitted"
    ]


def test_default_configs_load() -> None:
    for source in ("crm", "hr", "recruitment"):
        assert default_config(source).source == source
