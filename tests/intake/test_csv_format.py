"""CSV lists -> STIX 2.1 indicators: golden files, both shapes, delimiters, row errors."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cyberfusion.core.canonical import canonical_json
from cyberfusion.intake.csv_format import THREAT_TYPES, parse_csv
from cyberfusion.intake.parsed import ParseError, ParseResult, stable_id
from cyberfusion.stix.validate import validate_object

GOLDEN = Path(__file__).parent / "golden" / "csv"
CASES = sorted(path.name.removesuffix(".in.csv") for path in GOLDEN.glob("*.in.csv"))
# Set to rewrite the expected files from the parser's output (then review the diff).
UPDATE = os.environ.get("CYBERFUSION_UPDATE_GOLDEN") == "1"
DEFAULT_TIME = datetime(2024, 1, 1, tzinfo=UTC)


def as_json(result: ParseResult) -> dict[str, Any]:
    return {
        "objects": [
            {
                "source": parsed.source,
                "tlp": parsed.tlp.value if parsed.tlp else None,
                "audience": parsed.audience.value if parsed.audience else None,
                "generated": parsed.generated,
                "content": parsed.content,
            }
            for parsed in result.objects
        ],
        "errors": [
            {"source": error.source, "field": error.field, "reason": error.reason}
            for error in result.errors
        ],
    }


def parse_case(case: str) -> ParseResult:
    # newline="" keeps the file's own line endings, as an upload would.
    with (GOLDEN / f"{case}.in.csv").open(encoding="utf-8", newline="") as handle:
        return parse_csv(handle.read(), default_time=DEFAULT_TIME)


def parse(text: str) -> ParseResult:
    return parse_csv(text, default_time=DEFAULT_TIME)


def contents(result: ParseResult, stix_type: str) -> list[dict[str, Any]]:
    return [parsed.content for parsed in result.objects if parsed.content["type"] == stix_type]


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    result = parse_case(case)
    expected_path = GOLDEN / f"{case}.expected.json"
    if UPDATE:
        text = json.dumps(as_json(result), indent=2, ensure_ascii=False) + "\n"
        expected_path.write_text(text, encoding="utf-8")
    assert as_json(result) == json.loads(expected_path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES)
def test_golden_objects_are_valid_stix(case: str) -> None:
    problems = [
        problem
        for position, parsed in enumerate(parse_case(case).objects)
        for problem in validate_object(parsed.content, index=position)
    ]
    assert problems == []


@pytest.mark.parametrize("case", CASES)
def test_reparsing_gives_byte_identical_objects(case: str) -> None:
    first = [canonical_json(parsed.content) for parsed in parse_case(case).objects]
    second = [canonical_json(parsed.content) for parsed in parse_case(case).objects]
    assert first == second


def test_maltrail_list_imports_every_trail() -> None:
    result = parse_case("maltrail_emotet")
    assert result.errors == []
    assert len(result.objects) == 30


# -- the documented header ---------------------------------------------------------------------


def test_one_row_with_every_column() -> None:
    result = parse(
        "type,value,first_seen,last_seen,threat_type,malware,confidence,comment\n"
        "domain-name,Evil.Example.COM,2024-03-01,2024-03-09T12:00:00Z,C2,Qakbot,75,"
        '"C2, port 443"\n'
    )
    indicator_id = stable_id("indicator", "domain-name", "evil.example.com")
    malware_id = stable_id("malware", "qakbot")
    assert result.errors == []
    assert [parsed.content for parsed in result.objects] == [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": indicator_id,
            "created": "2024-03-01T00:00:00.000Z",
            "modified": "2024-03-01T00:00:00.000Z",
            "name": "evil.example.com",
            "pattern": "[domain-name:value = 'evil.example.com']",
            "pattern_type": "stix",
            "valid_from": "2024-03-01T00:00:00.000Z",
            "valid_until": "2024-03-09T12:00:00.000Z",
            "indicator_types": ["malicious-activity"],
            "labels": ["C2"],
            "confidence": 75,
            "description": "C2, port 443",
        },
        {
            "type": "relationship",
            "spec_version": "2.1",
            "id": stable_id("relationship", "indicates", indicator_id, malware_id),
            "created": "2024-03-01T00:00:00.000Z",
            "modified": "2024-03-01T00:00:00.000Z",
            "relationship_type": "indicates",
            "source_ref": indicator_id,
            "target_ref": malware_id,
        },
        {
            "type": "malware",
            "spec_version": "2.1",
            "id": malware_id,
            "created": "2024-03-01T00:00:00.000Z",
            "modified": "2024-03-01T00:00:00.000Z",
            "name": "Qakbot",
            "is_family": True,
        },
    ]
    assert [parsed.generated for parsed in result.objects] == [False, True, True]
    assert {(parsed.tlp, parsed.audience) for parsed in result.objects} == {(None, None)}


@pytest.mark.parametrize(
    ("word", "indicator_type"),
    [
        ("c2", "malicious-activity"),
        ("C&C", "malicious-activity"),
        ("Botnet", "malicious-activity"),
        ("phishing", "malicious-activity"),
        ("malware_download", "malicious-activity"),
        ("Command and Control", "malicious-activity"),
        ("scanner", "anomalous-activity"),
        ("tor exit", "anonymization"),
        ("APT", "attribution"),
        ("allowlist", "benign"),
        ("compromised", "compromised"),
        ("sinkhole", "unknown"),
    ],
)
def test_threat_type_words(word: str, indicator_type: str) -> None:
    result = parse(f"value,threat_type\n198.51.100.1,{word}\n")
    (indicator,) = contents(result, "indicator")
    assert indicator["indicator_types"] == [indicator_type]
    assert indicator["labels"] == [word]


def test_every_mapped_word_is_an_indicator_type_of_the_vocabulary() -> None:
    vocabulary = {
        "anomalous-activity",
        "anonymization",
        "benign",
        "compromised",
        "malicious-activity",
        "attribution",
        "unknown",
    }
    assert set(THREAT_TYPES.values()) == vocabulary


def test_valid_from_defaults_and_valid_until_only_after_it() -> None:
    result = parse(
        "value,first_seen,last_seen\n"
        "198.51.100.1,,2023-06-01\n"
        "198.51.100.2,2024-02-01,2024-02-01\n"
        "198.51.100.3,1706745600,1706832000\n"
    )
    windows = [
        (indicator["valid_from"], indicator.get("valid_until"))
        for indicator in contents(result, "indicator")
    ]
    assert windows == [
        ("2024-01-01T00:00:00.000Z", None),
        ("2024-02-01T00:00:00.000Z", None),
        ("2024-02-01T00:00:00.000Z", "2024-02-02T00:00:00.000Z"),
    ]
    assert result.errors == []


def test_malware_is_created_at_its_earliest_row_and_named_as_first_written() -> None:
    result = parse(
        "value,first_seen,malware\n198.51.100.1,2024-03-05,IcedID\n198.51.100.2,2024-03-01,icedid\n"
    )
    (malware,) = contents(result, "malware")
    assert (malware["name"], malware["created"], malware["modified"]) == (
        "IcedID",
        "2024-03-01T00:00:00.000Z",
        "2024-03-01T00:00:00.000Z",
    )
    assert len(contents(result, "relationship")) == 2


def test_the_same_row_twice_is_one_indicator() -> None:
    result = parse("value,malware\nevil.example.com,A\nEVIL.example.com,B\n")
    assert len(contents(result, "indicator")) == 1
    assert sorted(malware["name"] for malware in contents(result, "malware")) == ["A", "B"]
    assert result.errors == []


def test_the_same_observable_with_other_columns_is_an_error() -> None:
    result = parse("value,confidence\nevil.example.com,50\nevil.example.com,90\n")
    assert result.errors == [
        ParseError(
            "row 3",
            "value",
            "domain-name evil.example.com is already on row 2 with other first_seen, last_seen, "
            "threat_type, confidence or comment; give each observable one row",
        )
    ]


def test_header_without_value_column_imports_nothing() -> None:
    result = parse("type,indicator\nipv4-addr,198.51.100.1\n")
    assert result.objects == []
    assert [(error.source, error.field) for error in result.errors] == [
        ("row 1", "indicator"),
        ("row 1", "value"),
    ]


def test_duplicate_column_is_reported() -> None:
    result = parse("value,comment,comment\n198.51.100.1,a,b\n")
    assert result.errors == [ParseError("row 1", "comment", "column 'comment' appears twice")]
    assert contents(result, "indicator")[0]["description"] == "a"


def test_short_rows_leave_the_last_columns_empty() -> None:
    result = parse("value,threat_type,comment\n198.51.100.1\n")
    assert result.errors == []
    assert "labels" not in contents(result, "indicator")[0]


def test_type_given_but_value_of_another_type() -> None:
    result = parse("type,value\nsha256,d41d8cd98f00b204e9800998ecf8427e\n")
    assert result.errors == [
        ParseError(
            "row 2",
            "value",
            "'d41d8cd98f00b204e9800998ecf8427e' is not a SHA-256 hash: expected 64 hexadecimal "
            "characters, found 32",
        )
    ]


# -- delimiters, comments, rows ----------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_are_sniffed(delimiter: str) -> None:
    text = delimiter.join(["value", "malware", "comment"]) + "\n"
    text += delimiter.join(["198.51.100.1", "Emotet", "first"]) + "\n"
    text += delimiter.join(["evil.example.com", "Emotet", "second"]) + "\n"
    result = parse(text)
    assert result.errors == []
    assert [indicator["description"] for indicator in contents(result, "indicator")] == [
        "first",
        "second",
    ]


def test_bom_crlf_comments_and_blank_lines_keep_file_row_numbers() -> None:
    text = "\ufeff# export of 2024-03-01\r\n\r\nvalue,confidence\r\n# note\r\nbad value,\r\n"
    result = parse(text)
    assert result.errors == [
        ParseError(
            "row 5",
            "value",
            "'bad value' is not an IP address, domain, URL, e-mail address, hash, CVE, wallet, "
            "phone number, IBAN or AS number",
        )
    ]


def test_quoted_cell_spanning_lines_counts_from_its_first_line() -> None:
    result = parse('value,comment\n198.51.100.1,"two\nlines"\n198.51.100.2,200x\nnope,\n')
    assert [error.source for error in result.errors] == ["row 5"]
    assert contents(result, "indicator")[0]["description"] == "two\nlines"


# -- one column --------------------------------------------------------------------------------


def test_single_column_without_header_detects_each_type() -> None:
    result = parse("hxxps://evil[.]example[.]com/a\n203.0.113.9\nuser[@]example.com\n")
    assert [indicator["pattern"] for indicator in contents(result, "indicator")] == [
        "[url:value = 'https://evil.example.com/a']",
        "[ipv4-addr:value = '203.0.113.9']",
        "[email-addr:value = 'user@example.com']",
    ]
    assert result.errors == []


@pytest.mark.parametrize("header", ["ioc", "Indicators", "value", "domain_name"])
def test_single_column_with_a_one_word_header(header: str) -> None:
    result = parse(f"{header}\nevil.example.com\n")
    assert result.errors == []
    assert [indicator["name"] for indicator in contents(result, "indicator")] == [
        "evil.example.com"
    ]


def test_single_column_first_row_that_is_a_value_is_not_a_header() -> None:
    result = parse("evil.example.com\n198.51.100.1\n")
    assert len(contents(result, "indicator")) == 2


def test_empty_file_gives_nothing() -> None:
    result = parse("\ufeff# nothing here\n\n")
    assert (result.objects, result.errors) == ([], [])
