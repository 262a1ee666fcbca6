"""Per-source configuration, loaded from YAML: where an export is, how to parse it, and how its
columns and values map onto the canonical record. A new export layout needs a file, not code."""

from __future__ import annotations

import difflib
import re
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from governance.errors import ConfigError
from governance.sources import schema
from governance.sources.schema import FLAG_FALSE, FLAG_TRUE, SOURCES, Kind, field_map

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
"""`include/config/`: the shipped policy, source configs and mapping presets."""

SOURCES_DIR = CONFIG_DIR / "sources"

M = TypeVar("M", bound=BaseModel)


def _norm_key(value: str) -> str:
    return value.strip().lower()


class KeyProblem(ValueError):
    """A problem a model validator finds at a key path of the file (`values.relationship`):
    reported there rather than at the top level."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


_SAMPLE_INSTANT = (2001, 2, 3, 4, 5, 6)
"""A date and time whose every part differs from strptime's defaults (1900-01-01 00:00)."""


@lru_cache(maxsize=64)
def _strptime_problem(value: str, kind: Literal["date", "timestamp"]) -> str | None:
    """Why pandas cannot read dates or timestamps in a strptime format, or None. The format
    must be one pandas accepts (`%Q` is no directive) and must name the date: a sample
    written in it is read back to the same year, month and day."""
    import pandas as pd

    from governance.sources.normalise import has_zone_directive

    zoned = has_zone_directive(value)
    if kind == "date" and zoned:
        return "a date has no time zone (%z, %Z): read such values as a timestamp_format"
    sample = datetime(*_SAMPLE_INSTANT, tzinfo=UTC)
    try:
        written = sample.strftime(value)
    except ValueError as exc:
        return f"not a strptime format ({exc})"
    try:
        parsed = pd.to_datetime(pd.Series([written]), format=value, utc=zoned, errors="coerce")
    except ValueError as exc:
        return f"not a strptime format pandas can read ({exc})"
    read = parsed.iloc[0]
    wanted = "the year, month and day" if kind == "date" else "the date (year, month and day)"
    example = "'%d/%m/%Y'" if kind == "date" else "'%d/%m/%Y %H:%M'"
    if pd.isna(read):
        return f"cannot read back what it writes; it must name {wanted}, e.g. {example}"
    missing = [
        part
        for part, got, want in (
            ("year", read.year, sample.year),
            ("month", read.month, sample.month),
            ("day", read.day, sample.day),
        )
        if got != want
    ]
    if missing:
        parts = ", ".join(missing[:-1]) + " or " + missing[-1] if len(missing) > 1 else missing[0]
        return f"has no {parts}: it must name {wanted}, e.g. {example}"
    return None


class SourceConfig(BaseModel):
    """How to read one source's export. Unset keys take the defaults of EXPORT_FORMATS.md."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    source: Literal["crm", "hr", "recruitment"]
    description: str = ""
    path: str | None = Field(
        default=None,
        description="Where the export is; relative paths resolve against the config file.",
    )
    landing: str | None = Field(
        default=None,
        description="Where the day's export is inside the landing area, relative to it: a "
        "pattern formatted with the run's date and the source, such as "
        "'{date:%Y-%m-%d}/crm.csv' or 'crm_{date:%Y%m%d}*.csv' (glob characters allowed; "
        "exactly one file must match). Unset: the file name of `path`, else '<source>.csv'.",
    )
    format: Literal["auto", "csv", "xlsx"] = "auto"
    encoding: str = "utf-8"
    delimiter: str = ","
    quote_char: str = '"'
    require_final_line_break: bool = Field(
        default=True,
        description="A CSV export must end with a line break; one that does not may have "
        "been cut off while being written, and is blocked. Set false only for a tool known "
        "to omit the last line break (a cut-off last row then goes unnoticed).",
    )
    skip_rows: int = Field(default=0, ge=0, description="Lines before the header row.")
    sheet: str | int = Field(default=0, description="XLSX sheet name or 0-based index.")
    footer: str | None = Field(
        default=None,
        description="Regular expression matching the first non-data line after the rows "
        "(e.g. a report's '^Grand Totals'); it and everything after it are ignored.",
    )
    date_format: str = "%Y-%m-%d"
    timestamp_format: str | None = Field(
        default=None, description="strptime format of timestamps; unset means ISO 8601."
    )
    timezone: str = Field(
        default="Europe/London",
        description="Time zone of timestamps written without an offset.",
    )
    phone_region: str = "GB"
    columns: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> export column name"
    )
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="canonical field -> {export value: canonical value}"
    )
    constants: dict[str, str] = Field(
        default_factory=dict, description="canonical field -> value for every row"
    )

    @field_validator("delimiter", "quote_char")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("must be exactly one character")
        return value

    @field_validator("sheet")
    @classmethod
    def _sheet_from_zero(cls, value: str | int) -> str | int:
        if isinstance(value, int) and value < 0:
            raise ValueError("a sheet index counts from 0 (the first sheet); or name the sheet")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        problem = None if value == "%Y-%m-%d" else _strptime_problem(value, "date")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("timestamp_format")
    @classmethod
    def _timestamp_format(cls, value: str | None) -> str | None:
        problem = None if value is None else _strptime_problem(value, "timestamp")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r}")
        return value.upper()

    @field_validator("landing")
    @classmethod
    def _landing_pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from datetime import date

        try:
            name = value.format(date=date(2000, 1, 31), source="crm")
        except (KeyError, IndexError) as exc:
            what = f"{{{exc.args[0]}}}" if isinstance(exc, KeyError) else "without a name"
            raise ValueError(
                f"unknown placeholder {what}: use {{date:FORMAT}} and {{source}} "
                "(double a literal brace)"
            ) from None
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"not a valid pattern ({exc})") from None
        parts = name.replace("\\", "/").split("/")
        if not name.strip() or name.startswith("/") or "://" in name or ".." in parts:
            raise ValueError("must be a relative file name inside the landing area")
        return value

    @field_validator("footer")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _known_fields(self) -> SourceConfig:
        """Canonical fields, value maps and constants that the reader could not use as
        written: unknown fields, ambiguous value-map keys, and value-map targets or constants
        that the field's normaliser would read as invalid (in every row)."""
        fields = field_map(self.source)
        for section in ("columns", "values", "constants"):
            unknown = sorted(set(getattr(self, section)) - set(fields))
            if unknown:
                raise KeyProblem(
                    section,
                    f"unknown canonical field(s) {', '.join(unknown)} for source {self.source!r}",
                )
        both = sorted(set(self.columns) & set(self.constants))
        if both:
            raise KeyProblem(
                "constants", f"field(s) {', '.join(both)} given both a column and a constant"
            )
        for name, mapping in self.values.items():
            field = fields[name]
            first: dict[str, str] = {}
            for key in mapping:
                folded = _norm_key(key)
                if not folded:
                    raise KeyProblem(
                        f"values.{name}", "a blank key never matches: blank cells are missing"
                    )
                if folded in first:
                    raise KeyProblem(
                        f"values.{name}",
                        f"keys {first[folded]!r} and {key!r} are the same export value "
                        "(matched ignoring case and surrounding spaces): keep one",
                    )
                first[folded] = key
            allowed = _spellings(field)
            if allowed is not None:
                bad = sorted({v for v in mapping.values() if _norm_key(v) not in allowed})
                if bad:
                    raise KeyProblem(
                        f"values.{name}",
                        f"{', '.join(map(repr, bad))} not in {_describe(field, allowed)}",
                    )
        for name, value in self.constants.items():
            field = fields[name]
            mapped = self.value_map(name).get(_norm_key(value), value.strip())
            shown = repr(value) if mapped == value.strip() else f"{value!r} (mapped to {mapped!r})"
            allowed = _spellings(field)
            if allowed is not None and _norm_key(mapped) not in allowed:
                raise KeyProblem(
                    f"constants.{name}", f"{shown} is not one of {_describe(field, allowed)}"
                )
            if field.kind in (Kind.DATE, Kind.TIMESTAMP) and not self._reads_as_date(field, mapped):
                what = (
                    "an ISO date (YYYY-MM-DD"
                    if field.kind is Kind.DATE
                    else "an ISO 8601 date or timestamp (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS with an "
                    "optional offset"
                )
                fmt = self.date_format if field.kind is Kind.DATE else self.timestamp_format
                other = f", or {fmt!r} as configured" if fmt not in (None, "%Y-%m-%d") else ""
                raise KeyProblem(
                    f"constants.{name}", f"{shown} is not {what}{other}; 1900 or later)"
                )
        seen: dict[str, str] = {}
        for name, column in self.columns.items():
            key = _norm_key(column)
            if key in seen:
                raise KeyProblem(
                    "columns", f"{seen[key]} and {name} both map to export column {column!r}"
                )
            seen[key] = name
        return self

    def column_for(self, field: str) -> str:
        """The export column name that holds a canonical field (matched ignoring case and
        surrounding spaces)."""
        return self.columns.get(field, field)

    def _reads_as_date(self, field: schema.Field, value: str) -> bool:
        """Whether the field's normaliser, with this config's formats, reads `value` as a
        date (the reader's own rules, not a copy of them)."""
        import pandas as pd

        from governance.sources import normalise as norm

        cell = pd.Series([value], dtype="str")
        if field.kind is Kind.DATE:
            parsed = norm.normalise_date(cell, self.date_format)
        else:
            parsed = norm.normalise_timestamp(cell, self.timestamp_format, self.timezone)
        _, invalid = norm.implausible_to_invalid(*parsed)
        return not bool(invalid.iloc[0])

    def value_map(self, field: str) -> dict[str, str]:
        """Value map with keys trimmed and case-folded, as they are matched."""
        return {_norm_key(k): v.strip() for k, v in self.values.get(field, {}).items()}


_FLAG_SPELLINGS = tuple(
    sorted(FLAG_TRUE, key=lambda s: (len(s), s)) + sorted(FLAG_FALSE, key=lambda s: (len(s), s))
)


def _spellings(field: schema.Field) -> tuple[str, ...] | None:
    """The values (trimmed, case-folded) the normaliser of an enumerated or flag field
    accepts; None for other kinds."""
    if field.kind is Kind.ENUM:
        return field.values
    if field.kind is Kind.FLAG:
        return _FLAG_SPELLINGS
    return None


def _describe(field: schema.Field, allowed: tuple[str, ...]) -> str:
    if field.kind is Kind.FLAG:
        return f"the Y/N flag spellings ({', '.join(allowed)}; in any case)"
    return ", ".join(allowed)


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.__class__.__name__})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        duplicate = _duplicate_key(node)
        if duplicate is not None:
            key_path, line = duplicate
            raise ConfigError(f"{path}, line {line}: {key_path}: key given twice")
        bad_date = _impossible_date(node)
        if bad_date is not None:
            key_path, line = bad_date
            raise ConfigError(
                f"{path}, line {line}: {key_path or '(top level)'}: not a date (YAML reads an "
                "unquoted YYYY-MM-DD as one): correct it, or quote it if it is text"
            )
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}{where}: {problem}") from None


def _duplicate_key(
    node: yaml.Node | None, where: tuple[str, ...] = (), seen: set[int] | None = None
) -> tuple[str, int] | None:
    """The key path and line of the first key a YAML mapping gives twice (PyYAML would
    silently keep the last of them), or None."""
    seen = set() if seen is None else seen
    if node is None or id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key in keys:
                return ".".join((*where, key)), key_node.start_mark.line + 1
            keys.add(key)
            found = _duplicate_key(value_node, (*where, key), seen)
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _duplicate_key(item, (*where, str(i)), seen)
            if found is not None:
                return found
    return None


def _impossible_date(node: yaml.Node | None, where: tuple[str, ...] = ()) -> tuple[str, int] | None:
    """The key path and line of the first value YAML resolves to a date that does not exist
    (`2020-02-30`; PyYAML's loader raises a bare ValueError on it), or None."""
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
        try:
            yaml.SafeLoader("").construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return ".".join(where), node.start_mark.line + 1
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            found = _impossible_date(key_node, where) or _impossible_date(value_node, (*where, key))
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _impossible_date(item, (*where, str(i)))
            if found is not None:
                return found
    return None


_TYPE_NAMES = {
    "str": "text",
    "int": "an integer",
    "float": "a number",
    "bool": "true/false",
    "list": "a list",
    "dict": "a mapping",
    "NoneType": "nothing",
    "date": "a date",
}
_EXPECTED = {
    "string_type": "text",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "date_type": "a date",
    "literal_error": "",
}
"""Pydantic's wrong-type errors, and what each asked for."""


def _expected(err: Any) -> str:
    if err["type"] == "literal_error":
        return str(err.get("ctx", {}).get("expected", "one of its values"))
    return _EXPECTED[err["type"]]


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none", "date"})


def _key_path(loc: tuple[int | str, ...], raw: Any) -> str:
    """The error's location as keys of the file: pydantic adds the member type of a union
    (`sheet.str`), which is no key anyone wrote."""
    parts: list[str] = []
    current = raw
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            current = current[part]
        elif (
            isinstance(current, dict)
            and isinstance(part, str)
            and part not in _UNION_TAGS
            and "[" not in part
        ):
            current = None  # a required key that is missing
        else:
            continue
        parts.append(str(part))
    return ".".join(parts)


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model whose keys are at `loc` (list indexes skipped), if there is one."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(part)
        if info is None:
            return None
        current = _inner_model(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _yaml_bool_key(loc: tuple[int | str, ...], raw: Any) -> bool | None:
    """The key YAML read as a boolean (`yes: Y` is `True: Y`) where a text key was
    wanted, or None. Pydantic reports such a key at `<mapping>.1.[key]`."""
    if len(loc) < 2 or loc[-1] != "[key]":
        return None
    current = raw
    for part in loc[:-2]:
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    if not isinstance(current, dict):
        return None
    return next((k for k in current if isinstance(k, bool) and k == loc[-2]), None)


def validation_error(
    path: Path, exc: ValidationError, raw: Any = None, model: type[BaseModel] | None = None
) -> ConfigError:
    """One line: the file, the key path and what is wrong (never a value of the file)."""
    errors = exc.errors()
    err = errors[0]
    loc = tuple(err["loc"])
    where = _key_path(loc, raw) if raw is not None else ".".join(str(p) for p in loc)
    msg = err["msg"].removeprefix("Value error, ")
    problem = err.get("ctx", {}).get("error")
    if isinstance(problem, KeyProblem) and not loc:
        where, msg = problem.where, problem.message
    yaml_bool = _yaml_bool_key(loc, raw)
    if yaml_bool is not None:
        where = _key_path(loc[:-2], raw)
        return ConfigError(
            f"{path}: {where}: YAML read a key as {str(yaml_bool).lower()} (unquoted yes, no, "
            "on, off, true and false are booleans): quote it, e.g. 'yes': Y"
        )
    if err["type"] == "extra_forbidden" and model is not None:
        parent = _model_at(model, loc[:-1])
        if parent is not None:
            close = difflib.get_close_matches(str(loc[-1]), list(parent.model_fields), n=1)
            if close:
                msg += f" (did you mean {close[0]!r}?)"
    same = [e for e in errors if _key_path(tuple(e["loc"]), raw) == where] if raw else [err]
    if len(same) > 1 and all(e["type"] in _EXPECTED for e in same):
        # A value of the wrong type for a union (`sheet: str | int`): one problem, not two.
        wanted = " or ".join(_expected(e) for e in same)
        msg = f"Input should be {wanted}"
        errors = [err, *(e for e in errors if e not in same)]
    if err["type"] in _EXPECTED:
        got = _TYPE_NAMES.get(type(err.get("input")).__name__)
        if got:
            msg += f", not {got}"
        if err["type"] == "string_type" and isinstance(err.get("input"), bool):
            msg += " (YAML reads unquoted yes, no, on, off, true and false so: quote it)"
        elif err["type"] == "string_type" and isinstance(err.get("input"), date):
            msg += " (YAML reads an unquoted YYYY-MM-DD so: quote it)"
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ConfigError(f"{path}: {where or '(top level)'}: {msg}{suffix}")


def load_model(path: Path, model: type[M]) -> M:
    """Load a YAML file into a pydantic model; any problem is one ConfigError line."""
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(path, exc, raw, model) from None


def load_source_config(path: Path | str) -> tuple[SourceConfig, Path]:
    """Load and validate a source config; returns it with the directory its relative paths
    resolve against."""
    path = Path(path)
    return load_model(path, SourceConfig), path.resolve().parent


def default_config(source: str) -> SourceConfig:
    """The shipped config of a source (`include/config/sources/<source>.yaml`), or the plain
    default layout if that file is absent."""
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    path = SOURCES_DIR / f"{source}.yaml"
    if path.exists():
        return load_source_config(path)[0]
    return SourceConfig.model_validate({"source": source})


def resolve_export_path(config: SourceConfig, base_dir: Path) -> Path:
    if config.path is None:
        raise ConfigError(f"source {config.source!r}: no export path configured or given")
    path = Path(config.path).expanduser()
    return path if path.is_absolute() else base_dir / path
