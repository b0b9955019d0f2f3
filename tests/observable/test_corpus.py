"""The labelled extraction corpus (tests/observable/corpus/*.jsonl): every case exactly as labelled.

Each line is {"id", "text", "expected": [{"type", "value"}], "tags"}; expected values are the
canonical forms. bench/extract.py scores ioc-finder on the same cases.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cyberfusion.observable.extract import extract
from cyberfusion.observable.normalize import normalise_typed
from cyberfusion.observable.types import ObservableType as T

CORPUS = Path(__file__).parent / "corpus"


def _load() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            case = json.loads(line)
            case["where"] = f"{path.name}:{number}"
            cases.append(case)
    return cases


CASES = _load()


def test_corpus_has_enough_cases_of_every_kind() -> None:
    assert len(CASES) >= 220
    assert sum(1 for case in CASES if not case["expected"]) >= 80
    tags = {tag for case in CASES for tag in case["tags"]}
    assert tags >= {
        "phishing", "advisory", "chat", "log", "sms", "ransom", "crypto", "bank", "multilingual",
        "fr", "es", "ar", "ru", "zh", "idn", "confusable", "fullwidth", "zero-width", "defanged",
        "negative", "version", "filenames", "abbreviation", "code", "uuid", "mac", "oid",
    }  # fmt: skip


def test_cases_are_well_formed() -> None:
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids))
    for case in CASES:
        assert set(case) == {"id", "text", "expected", "tags", "where"}, case["where"]
        assert isinstance(case["text"], str) and case["text"], case["where"]
        assert case["tags"] and all(isinstance(tag, str) for tag in case["tags"]), case["where"]
        pairs = [(item["type"], item["value"]) for item in case["expected"]]
        assert len(pairs) == len(set(pairs)), f"{case['where']}: duplicate expected value"


def test_expected_values_are_canonical() -> None:
    for case in CASES:
        for item in case["expected"]:
            obs_type = T(item["type"])
            assert normalise_typed(obs_type, item["value"]) == (obs_type, item["value"]), (
                f"{case['where']} ({case['id']}): {item['value']!r} is not canonical"
            )


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case: dict[str, Any]) -> None:
    found = extract(case["text"])
    assert {(item.obs_type.value, item.value) for item in found} == {
        (item["type"], item["value"]) for item in case["expected"]
    }
    # Offsets point at the text as written, whatever was refanged or skipped.
    assert [case["text"][item.start : item.end] for item in found] == [item.raw for item in found]
