"""Fuzzing every parser: bad input gets an answer, never an uncaught exception (never a 500)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from cyberfusion.intake.csv_format import parse_csv
from cyberfusion.intake.misp import parse_misp_event
from cyberfusion.intake.parsed import ParseResult
from cyberfusion.observable.extract import extract
from cyberfusion.stix.validate import validate_bundle

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def api_headers(session: Session) -> dict[str, str]:
    from tests.factories import account as account_factory

    user = account_factory.user(session, org="ncb-fr")
    return {"Authorization": f"Bearer {account_factory.api_key(session, user)}"}


NOW = datetime(2026, 11, 29, tzinfo=UTC)
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=6)
    ),
    max_leaves=30,
)


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """Replace, delete or retype one node somewhere in a valid document."""
    doc = copy.deepcopy(doc)
    node = doc
    for _ in range(data.draw(st.integers(0, 6))):
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if isinstance(node[key], dict | list) and node[key]:
                node = node[key]
                continue
            break
        if isinstance(node, list) and node:
            index = data.draw(st.integers(0, len(node) - 1))
            if isinstance(node[index], dict | list) and node[index]:
                node = node[index]
                continue
            break
        break
    if isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node)))
        if data.draw(st.booleans()):
            del node[key]
        else:
            node[key] = data.draw(json_values)
    elif isinstance(node, list) and node:
        node[data.draw(st.integers(0, len(node) - 1))] = data.draw(json_values)
    return doc


def _golden(kind: str, suffix: str) -> list[Any]:
    return [orjson.loads(p.read_bytes()) for p in sorted((GOLDEN / kind).glob(f"*{suffix}"))]


MISP_DOCS = _golden("misp", ".in.json")
STIX_DOCS = [
    {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [item["content"] for item in doc["objects"]],
    }
    for doc in _golden("misp", ".expected.json")
]


@FUZZ
@given(doc=json_values)
def test_misp_parser_survives_any_json(doc: Any) -> None:
    assert isinstance(parse_misp_event(doc), ParseResult)


@FUZZ
@given(data=st.data())
def test_misp_parser_survives_mutated_real_events(data: st.DataObject) -> None:
    doc = _mutate(data.draw(st.sampled_from(MISP_DOCS)), data)
    assert isinstance(parse_misp_event(doc), ParseResult)


@FUZZ
@given(data=st.data())
def test_stix_gate_survives_mutated_bundles(data: st.DataObject) -> None:
    assert len(STIX_DOCS) >= 5
    bundle = _mutate(data.draw(st.sampled_from(STIX_DOCS)), data)
    objects, problems = validate_bundle(bundle)
    assert isinstance(objects, list)
    assert all(p.reason for p in problems)


@FUZZ
@given(doc=json_values)
def test_stix_gate_survives_any_json(doc: Any) -> None:
    objects, problems = validate_bundle(doc)
    assert isinstance(objects, list) and isinstance(problems, list)


@FUZZ
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_csv_parser_survives_any_text(text: str) -> None:
    assert isinstance(parse_csv(text, default_time=NOW), ParseResult)


@FUZZ
@given(
    rows=st.lists(
        st.lists(
            st.text(alphabet="abc,;\t\"'.:/1234567890 -\n", max_size=20), min_size=1, max_size=8
        ),
        max_size=8,
    )
)
def test_csv_parser_survives_csv_like_text(rows: list[list[str]]) -> None:
    text = "type,value,first_seen,last_seen,threat_type,malware,confidence,comment\n" + "\n".join(
        ",".join(r) for r in rows
    )
    assert isinstance(parse_csv(text, default_time=NOW), ParseResult)


@FUZZ
@given(text=st.text(max_size=600))
def test_extraction_survives_any_text(text: str) -> None:
    for found in extract(text):
        assert text[found.start : found.end] == found.raw


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=300) | json_values.map(orjson.dumps),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/csv",
            "text/plain",
            "application/stix+json",
            "application/xml",
            "",
        ]
    ),
    fmt=st.sampled_from(["auto", "stix", "misp", "csv", "text"]),
)
def test_the_submission_endpoint_never_answers_500(
    client,
    api_headers: dict[str, str],
    body: bytes,
    content_type: str,
    fmt: str,  # type: ignore[no-untyped-def]
) -> None:
    response = client.post(
        f"/api/v1/submissions?format={fmt}&partial=true",
        content=body,
        headers={**api_headers, "Content-Type": content_type},
    )
    assert response.status_code in (200, 201, 401, 413, 415, 422), response.text
    assert response.headers["content-type"].startswith(
        ("application/json", "application/problem+json")
    )
