"""Parse CSV lists of indicators (the documented header, or one column of values) into STIX 2.1.

The columns, the threat_type words and what becomes what are documented in docs/formats.md
("CSV"). Ids derive from the content, so parsing the same file twice gives identical objects.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cyberfusion.intake.parsed import (
    ObjectCollector,
    ParsedObject,
    ParseError,
    ParseResult,
    indicator_pattern,
    stable_id,
    stix_timestamp,
)
from cyberfusion.observable.normalize import InvalidObservable, detect, normalise_typed
from cyberfusion.observable.types import ObservableType

COLUMNS = (
    "type",
    "value",
    "first_seen",
    "last_seen",
    "threat_type",
    "malware",
    "confidence",
    "comment",
)

# STIX 2.1 indicator-type-ov, each with the words feeds and analysts use for it. A word not
# listed becomes "unknown"; the word itself is always kept in `labels`.
_THREAT_TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "malicious-activity": (
        "malicious", "malicious-activity", "malware", "c2", "cnc", "c&c", "command-and-control",
        "botnet", "bot", "phishing", "phish", "scam", "fraud", "ransomware", "exploit",
        "exploit-kit", "spam", "miner", "cryptominer", "cryptojacking", "ddos", "payload",
        "payload-delivery", "malware-download", "dropper", "loader", "rat", "stealer",
        "infostealer", "trojan", "backdoor", "skimmer", "magecart", "bruteforce", "brute-force",
        "attack", "exfiltration", "extortion", "money-mule", "mule",
    ),
    "anomalous-activity": (
        "anomalous", "anomalous-activity", "suspicious", "scanner", "scanning", "scan",
    ),
    "anonymization": (
        "anonymization", "anonymisation", "anonymizer", "tor", "tor-exit", "vpn", "proxy",
    ),
    "attribution": ("attribution", "actor", "threat-actor", "apt"),
    "benign": ("benign", "whitelist", "allowlist", "clean", "legitimate", "false-positive"),
    "compromised": ("compromised", "hacked", "infected", "victim", "defaced"),
    "unknown": ("unknown", "other"),
}  # fmt: skip
THREAT_TYPES: dict[str, str] = {
    word: indicator_type for indicator_type, words in _THREAT_TYPE_WORDS.items() for word in words
}

_ONE_WORD_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_WORD_SEPARATORS = re.compile(r"[\s_]+")
_SNIFF_LINES = 50


class _Invalid(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


@dataclass
class _Malware:
    content: dict[str, Any]
    source: str
    first: datetime


def parse_csv(
    text: str,
    *,
    default_time: datetime,
    resolve_sdo: Callable[[str, str], str | None] | None = None,
) -> ParseResult:
    """Parse a CSV list of indicators; `default_time` is valid_from when a row has no first_seen.

    `resolve_sdo(stix_type, name)` gives the id of a known family (the reference knowledge's
    `sdo_resolver`); a malware it knows takes that id.
    """
    return _CsvParser(default_time, resolve_sdo).parse(text)


class _CsvParser:
    def __init__(
        self, default_time: datetime, resolve_sdo: Callable[[str, str], str | None] | None
    ) -> None:
        self.default_time = default_time
        self.resolve_sdo = resolve_sdo
        self.errors: list[ParseError] = []
        self.collector = ObjectCollector()
        self.first_row: dict[str, int] = {}
        self.malware: dict[str, _Malware] = {}

    def parse(self, text: str) -> ParseResult:
        # Comment lines become empty lines, so csv's line count is still the file's.
        lines = [
            "\n" if line.lstrip().startswith("#") else line
            for line in text.removeprefix("\ufeff").splitlines(keepends=True)
        ]
        delimiter = _sniff_delimiter(lines)
        reader = csv.reader(io.StringIO("".join(lines)), delimiter=delimiter)
        header: list[str] | None = None
        single_column = False
        row_number = 0
        while True:
            row_number = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self.errors.append(ParseError(f"row {row_number}", "", f"unreadable CSV: {exc}"))
                break
            if not any(cell.strip() for cell in cells):
                continue
            if header is None and not single_column:
                if len(cells) > 1:
                    header = self._header(cells, row_number=row_number)
                    if header is None:
                        break
                    continue
                single_column = True
                if _is_one_word_header(cells[0]):
                    continue
            source = f"row {row_number}"
            try:
                if header is not None:
                    self._documented_row(_row_fields(header, cells), source=source)
                else:
                    self._value_row(delimiter.join(cells).strip(), source=source)
            except _Invalid as exc:
                self.errors.append(ParseError(source, exc.field, exc.reason))

        for malware in self.malware.values():
            self.collector.add(ParsedObject(malware.content, malware.source, generated=True))
        return ParseResult(objects=self.collector.objects(), errors=self.errors)

    def _header(self, cells: list[str], *, row_number: int) -> list[str] | None:
        """The column names in file order; None (with an error) when the file cannot be read."""
        source = f"row {row_number}"
        names = [cell.strip().lower() for cell in cells]
        known = ", ".join(COLUMNS)
        seen: set[str] = set()
        for name in names:
            if name in seen:
                self.errors.append(ParseError(source, name, f"column {name!r} appears twice"))
            seen.add(name)
            if name not in COLUMNS:
                self.errors.append(
                    ParseError(
                        source,
                        name,
                        f"unknown column {name!r}: its values are not imported "
                        f"(the columns are {known})",
                    )
                )
        if "value" not in names:
            self.errors.append(
                ParseError(
                    source,
                    "value",
                    f"the header has no value column (the columns are {known}); "
                    "no row was imported",
                )
            )
            return None
        return names

    def _documented_row(self, fields: dict[str, str], *, source: str) -> None:
        raw_value = fields.get("value", "")
        if not raw_value:
            raise _Invalid("value", "the value is empty")
        obs_type, value = _typed_value(fields.get("type", ""), raw_value)
        first_seen = _time(fields.get("first_seen", ""), "first_seen")
        last_seen = _time(fields.get("last_seen", ""), "last_seen")
        valid_from = first_seen or self.default_time
        if last_seen is not None and first_seen is not None and last_seen < first_seen:
            raise _Invalid("last_seen", "last_seen is before first_seen")
        extra: dict[str, Any] = {}
        if last_seen is not None and last_seen > valid_from:
            extra["valid_until"] = stix_timestamp(last_seen)
        threat_type = fields.get("threat_type", "")
        if threat_type:
            word = _WORD_SEPARATORS.sub("-", threat_type.lower())
            extra["indicator_types"] = [THREAT_TYPES.get(word, "unknown")]
            extra["labels"] = [threat_type]
        confidence = fields.get("confidence", "")
        if confidence:
            extra["confidence"] = _confidence(confidence)
        if fields.get("comment"):
            extra["description"] = fields["comment"]
        indicator_id = self._indicator(
            obs_type, value, valid_from=valid_from, extra=extra, source=source
        )
        malware_name = fields.get("malware", "")
        if indicator_id is not None and malware_name:
            self._indicates_malware(
                indicator_id, malware_name, valid_from=valid_from, source=source
            )

    def _value_row(self, raw_value: str, *, source: str) -> None:
        detected = detect(raw_value)
        if detected is None:
            raise _Invalid("value", _undetected(raw_value))
        obs_type, value = detected
        self._indicator(obs_type, value, valid_from=self.default_time, extra={}, source=source)

    def _indicator(
        self,
        obs_type: ObservableType,
        value: str,
        *,
        valid_from: datetime,
        extra: dict[str, Any],
        source: str,
    ) -> str | None:
        indicator_id = stable_id("indicator", obs_type.value, value)
        try:
            pattern = indicator_pattern(obs_type, value)
        except ValueError as exc:
            raise _Invalid("value", str(exc)) from exc
        content: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": indicator_id,
            "created": stix_timestamp(valid_from),
            "modified": stix_timestamp(valid_from),
            "name": value,
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": stix_timestamp(valid_from),
            **extra,
        }
        held = self.collector.add(ParsedObject(content, source))
        if held is not None:
            raise _Invalid(
                "value",
                f"{obs_type.value} {value} is already on row {self.first_row[indicator_id]} "
                "with other first_seen, last_seen, threat_type, confidence or comment; "
                "give each observable one row",
            )
        self.first_row.setdefault(indicator_id, int(source.removeprefix("row ")))
        return indicator_id

    def _indicates_malware(
        self, indicator_id: str, name: str, *, valid_from: datetime, source: str
    ) -> None:
        # The id comes from the lower-cased name so "Emotet" and "emotet" are one malware, in
        # this file and across files and formats (the MISP parser does the same).
        malware_id = stable_id("malware", name.lower())
        known = self.resolve_sdo("malware", name) if self.resolve_sdo is not None else None
        if known is not None and known.startswith("malware--"):
            # "agenttesla" and "Negasteal" are the family the reference knowledge calls
            # Agent Tesla: one malware across files, formats and organisations.
            malware_id = known
        held = self.malware.get(malware_id)
        if held is None:
            content = {
                "type": "malware",
                "spec_version": "2.1",
                "id": malware_id,
                "created": stix_timestamp(valid_from),
                "modified": stix_timestamp(valid_from),
                "name": name,
                "is_family": True,
            }
            self.malware[malware_id] = _Malware(content, source, valid_from)
        elif valid_from < held.first:
            held.first = valid_from
            held.content["created"] = held.content["modified"] = stix_timestamp(valid_from)
        relationship = {
            "type": "relationship",
            "spec_version": "2.1",
            "id": stable_id("relationship", "indicates", indicator_id, malware_id),
            "created": stix_timestamp(valid_from),
            "modified": stix_timestamp(valid_from),
            "relationship_type": "indicates",
            "source_ref": indicator_id,
            "target_ref": malware_id,
        }
        self.collector.add(ParsedObject(relationship, source, generated=True))


def _sniff_delimiter(lines: list[str]) -> str:
    sample = "".join([line for line in lines if line.strip()][:_SNIFF_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        # One column, or nothing to compare: the delimiter does not matter.
        return ","


def _is_one_word_header(cell: str) -> bool:
    text = cell.strip()
    return _ONE_WORD_HEADER.fullmatch(text) is not None and detect(text) is None


def _row_fields(header: list[str], cells: list[str]) -> dict[str, str]:
    stripped = [cell.strip() for cell in cells]
    if len(stripped) > len(header) and any(stripped[len(header) :]):
        raise _Invalid(
            "",
            f"the row has {len(stripped)} cells, the header {len(header)} columns",
        )
    # A short row leaves its last columns empty, as spreadsheets write them.
    fields: dict[str, str] = {}
    for name, cell in zip(header, stripped, strict=False):
        if name in COLUMNS:
            fields.setdefault(name, cell)
    return fields


def _typed_value(raw_type: str, raw_value: str) -> tuple[ObservableType, str]:
    if not raw_type:
        detected = detect(raw_value)
        if detected is None:
            raise _Invalid("value", _undetected(raw_value))
        return detected
    try:
        obs_type = ObservableType(raw_type.lower())
    except ValueError:
        allowed = ", ".join(member.value for member in ObservableType)
        raise _Invalid(
            "type", f"unknown type {raw_type!r} (one of {allowed}, or empty to detect)"
        ) from None
    try:
        return normalise_typed(obs_type, raw_value)
    except InvalidObservable as exc:
        raise _Invalid("value", exc.reason) from exc


def _undetected(raw_value: str) -> str:
    return (
        f"{raw_value!r} is not an IP address, domain, URL, e-mail address, hash, CVE, wallet, "
        "phone number, IBAN or AS number"
    )


def _time(raw: str, field_name: str) -> datetime | None:
    """An ISO 8601 date or date-time (UTC when no offset is given), or epoch seconds."""
    if not raw:
        return None
    if raw.isdigit():
        try:
            return datetime.fromtimestamp(int(raw), UTC)
        except (OverflowError, OSError, ValueError):
            raise _Invalid(field_name, f"{raw!r} is out of range for a timestamp") from None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise _Invalid(
            field_name,
            f"{raw!r} is not a date or time (expected ISO 8601: 2024-03-01 or "
            "2024-03-01T12:00:00Z)",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _confidence(raw: str) -> int:
    if not raw.isdigit() or int(raw) > 100:
        raise _Invalid("confidence", f"{raw!r} is not a whole number from 0 to 100")
    return int(raw)
