"""GET /api/v1/export over HTTP, and `cyberfusion export` at the command line."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from pymisp import MISPEvent
from sqlalchemy.orm import Session

from cyberfusion.core.time import utcnow
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.sharing.models import TLP_MARKING_IDS, Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from cyberfusion.stix.upgrade import tlp2_marking_definition
from tests.factories import account

TS = "2024-03-01T10:00:00.000Z"


def _key(session: Session, org: str = "ncb-fr") -> dict[str, str]:
    user = account.user(session, org=org)
    return {"Authorization": f"Bearer {account.api_key(session, user)}"}


def _indicator(value: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": TS,
        "modified": TS,
        "name": value,
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": TS,
    }


def _store(session: Session, labels: dict[str, LabelsIn]) -> tuple[str, dict[str, dict[str, Any]]]:
    """One indicator per label set, owned by ncb-fr; returns (a time before them, indicators)."""
    since = (utcnow() - timedelta(milliseconds=1)).isoformat()
    owner = account.actor(session, org="ncb-fr")
    indicators = {}
    for number, (name, label_set) in enumerate(labels.items(), start=1):
        indicators[name] = _indicator(f"198.51.100.{number}")
        bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [indicators[name]]}
        result = intake_service.submit(
            session=session,
            actor=owner,
            raw=orjson.dumps(bundle),
            options=SubmissionOptions(source_format=SourceFormat.STIX, labels=label_set),
        )
        assert result.status == "accepted"
    return since, indicators


PUBLIC = LabelsIn(tlp=Tlp.CLEAR, audience=Audience.PUBLIC)
COMMUNITY = LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
STRICT = LabelsIn(tlp=Tlp.AMBER_STRICT, audience=Audience.ORGANISATION)


def test_stix_export_is_streamed_as_a_stix_bundle(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    since, indicators = _store(session, {"public": PUBLIC, "community": COMMUNITY})

    with client.stream(
        "GET",
        "/api/v1/export",
        params={"format": "stix", "added_after": since},
        headers=_key(session, org="ncb-ng"),
    ) as response:
        chunks = list(response.iter_bytes())

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/stix+json;version=2.1"
    assert "content-length" not in response.headers  # streamed, not built whole
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="cyberfusion-export-')
    assert disposition.endswith('.json"')
    bundle = orjson.loads(b"".join(chunks))
    assert bundle["objects"] == [
        {**indicators["public"], "object_marking_refs": [TLP_MARKING_IDS[Tlp.CLEAR]]},
        {**indicators["community"], "object_marking_refs": [TLP_MARKING_IDS[Tlp.GREEN]]},
        tlp2_marking_definition(Tlp.CLEAR),
        tlp2_marking_definition(Tlp.GREEN),
    ]


def test_anonymous_callers_get_public_tlp_clear_only(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    since, indicators = _store(
        session, {"public": PUBLIC, "community": COMMUNITY, "strict": STRICT}
    )

    stix = client.get("/api/v1/export", params={"added_after": since})
    rows = client.get("/api/v1/export", params={"format": "csv", "added_after": since})

    assert stix.status_code == 200
    assert [obj["id"] for obj in stix.json()["objects"]] == [
        indicators["public"]["id"],
        TLP_MARKING_IDS[Tlp.CLEAR],
    ]
    assert [row["value"] for row in csv.DictReader(io.StringIO(rows.text))] == ["198.51.100.1"]


def test_csv_and_misp_exports_have_their_media_types(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    since, _ = _store(session, {"community": COMMUNITY})
    headers = _key(session, org="ncb-ng")

    as_csv = client.get(
        "/api/v1/export", params={"format": "csv", "added_after": since}, headers=headers
    )
    as_misp = client.get(
        "/api/v1/export", params={"format": "misp", "added_after": since}, headers=headers
    )

    assert (as_csv.status_code, as_csv.headers["content-type"]) == (200, "text/csv; charset=utf-8")
    assert as_csv.headers["content-disposition"].endswith('.csv"')
    assert as_csv.text == (
        "type,value,first_seen,last_seen,threat_type,malware,confidence,comment\r\n"
        "ipv4-addr,198.51.100.1,2024-03-01T10:00:00.000Z,,,,50,\r\n"
    )
    assert (as_misp.status_code, as_misp.headers["content-type"]) == (200, "application/json")
    event = MISPEvent()
    event.load(as_misp.text)
    assert [(a.type, a.value, a.to_ids) for a in event.attributes] == [
        ("ip-dst", "198.51.100.1", True)
    ]


def test_types_and_tlp_may_repeat_or_be_comma_separated(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    since, indicators = _store(session, {"community": COMMUNITY, "strict": STRICT})
    headers = _key(session, org="ncb-fr")
    after = quote(since)

    # `+` left unencoded in a query string arrives as a space: amber+strict still works.
    strict = client.get(
        f"/api/v1/export?added_after={after}&type=malware,indicator&tlp=amber+strict",
        headers=headers,
    )
    both = client.get(
        f"/api/v1/export?added_after={after}&tlp=green&tlp=amber%2Bstrict", headers=headers
    )
    none = client.get(f"/api/v1/export?added_after={after}&type=malware", headers=headers)

    assert [obj["id"] for obj in strict.json()["objects"]] == [
        indicators["strict"]["id"],
        TLP_MARKING_IDS[Tlp.AMBER_STRICT],
    ]
    assert len(both.json()["objects"]) == 4
    assert none.json() == {"type": "bundle", "id": none.json()["id"], "objects": []}


def test_bad_filters_are_problems_naming_the_field(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    headers = _key(session)

    bad_tlp = client.get("/api/v1/export?tlp=purple", headers=headers)
    bad_type = client.get("/api/v1/export?type=Indicator", headers=headers)
    bad_format = client.get("/api/v1/export?format=pdf", headers=headers)
    bad_range = client.get(
        "/api/v1/export?added_after=2026-01-02T00:00:00Z&added_before=2026-01-01T00:00:00Z",
        headers=headers,
    )

    assert bad_tlp.status_code == 422
    assert bad_tlp.headers["content-type"] == "application/problem+json"
    assert (bad_tlp.json()["field"], bad_tlp.json()["detail"]) == (
        "tlp",
        "Input should be 'clear', 'green', 'amber', 'amber+strict' or 'red' (got 'purple')",
    )
    assert (bad_type.status_code, bad_type.json()["field"]) == (422, "types")
    assert bad_format.status_code == 422
    assert bad_format.json()["errors"][0]["field"] == "query.format"
    assert (bad_range.status_code, bad_range.json()["field"]) == (422, "added_before")


def test_a_bad_api_key_is_refused_not_downgraded_to_public(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/export", headers={"Authorization": "Bearer not-a-key"})

    assert response.status_code == 401


# -- the command line --------------------------------------------------------------------------


def test_cli_export_writes_csv_to_standard_output(cli, session: Session) -> None:  # type: ignore[no-untyped-def]
    since, _ = _store(session, {"community": COMMUNITY, "strict": STRICT})

    result = cli("export", "--as", "ncb-ng", "--format", "csv", "--since", since)

    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == (
        b"type,value,first_seen,last_seen,threat_type,malware,confidence,comment\r\n"
        b"ipv4-addr,198.51.100.1,2024-03-01T10:00:00.000Z,,,,50,\r\n"
    )


def test_cli_export_writes_stix_to_a_file(cli, session: Session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    since, indicators = _store(session, {"community": COMMUNITY, "strict": STRICT})
    target = tmp_path / "export.json"

    result = cli(
        "export", "--as", "ncb-fr", "--type", "indicator", "--tlp", "amber+strict",
        "--since", since, "--out", str(target),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    written = target.read_bytes()
    assert result.stderr == f"wrote {len(written):,} bytes to {target}\n"
    assert [obj["id"] for obj in orjson.loads(written)["objects"]] == [
        indicators["strict"]["id"],
        TLP_MARKING_IDS[Tlp.AMBER_STRICT],
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export.json"]


def test_cli_export_refuses_bad_options_naming_them(cli, session: Session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "export.json"

    bad_since = cli("export", "--as", "ncb-fr", "--since", "yesterday")
    bad_format = cli("export", "--as", "ncb-fr", "--format", "pdf")
    unknown_org = cli("export", "--as", "ncb-xx", "--out", str(target))

    assert bad_since.exit_code == 2
    assert " ".join(bad_since.stderr.split()) == (
        "error (--since): Input should be a valid datetime or date, input is too short "
        "(got 'yesterday')"
    )
    assert bad_format.exit_code == 2
    assert bad_format.stderr == "error (--format): 'pdf' is not stix, misp or csv\n"
    assert unknown_org.exit_code == 2
    assert "ncb-xx" in unknown_org.stderr
    assert list(tmp_path.iterdir()) == []
