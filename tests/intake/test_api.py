"""POST /api/v1/submissions and GET /api/v1/observables/lookup over HTTP."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

import cyberfusion.intake.api as intake_api
from cyberfusion.intel.models import IntelObject
from tests.factories import account as account_factory


def _key(session: Session, org: str = "ncb-fr") -> dict[str, str]:
    user = account_factory.user(session, org=org)
    return {"Authorization": f"Bearer {account_factory.api_key(session, user)}"}


def test_csv_body_is_accepted_with_per_object_results(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    headers = {**_key(session), "Content-Type": "text/csv"}
    body = b"type,value\nipv4-addr,198.51.100.77\ndomain-name,evil.example.org\n"
    response = client.post(
        "/api/v1/submissions?tlp=green&audience=community", content=body, headers=headers
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["status"] == "accepted"
    assert data["source_format"] == "csv"
    assert [r["status"] for r in data["results"]] == ["accepted", "accepted"]
    again = client.post(
        "/api/v1/submissions?tlp=green&audience=community", content=body, headers=headers
    )
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["id"] == data["id"]


def test_envelope_and_lookup(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    headers = _key(session)
    response = client.post(
        "/api/v1/submissions",
        headers=headers,
        json={
            "format": "text",
            "content": "callback to hxxp://c2[.]example[.]net/gate.php",
            "labels": {"tlp": "amber", "audience": "members"},
        },
    )
    assert response.status_code == 201, response.text
    lookup = client.get(
        "/api/v1/observables/lookup",
        headers=_key(session, org="ncb-ng"),
        params={"value": "c2.example.net"},
    )
    assert lookup.status_code == 200
    data = lookup.json()
    assert (data["type"], data["value"], data["known"]) == ("domain-name", "c2.example.net", True)
    assert [(o["organisation"], o["tlp"], o["audience"]) for o in data["occurrences"]] == [
        ("ncb-fr", "amber", "members")
    ]


def test_refused_submission_answers_422_with_the_report(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    headers = {**_key(session), "Content-Type": "text/csv"}
    response = client.post(
        "/api/v1/submissions",
        headers=headers,
        content=b"type,value\nipv4-addr,10.0.0.300\nipv4-addr,198.51.100.1\n",
    )
    assert response.status_code == 422
    data = response.json()
    assert data["status"] == "rejected"
    assert data["accepted"] == 0
    assert data["results"][0]["source"] == "row 2"
    assert data["results"][0]["property"] == "value"


def test_wrong_content_type_and_oversized_bodies(client, session: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cyberfusion.core import config

    headers = _key(session)
    response = client.post(
        "/api/v1/submissions",
        content=b"<xml/>",
        headers={**headers, "Content-Type": "application/xml"},
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    settings = config.get_settings()
    monkeypatch.setattr(
        config,
        "get_settings",
        lambda: settings.__class__(**{**settings.__dict__, "max_submission_bytes": 100}),
    )
    import cyberfusion.intake.api as intake_api

    monkeypatch.setattr(intake_api, "get_settings", config.get_settings)
    big = client.post(
        "/api/v1/submissions", content=b"x" * 101, headers={**headers, "Content-Type": "text/plain"}
    )
    assert big.status_code == 413


def test_submitting_needs_a_key(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/submissions", content=b"1.2.3.4", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 401


# -- multipart uploads, streamed to a temporary file -------------------------------------------

BOUNDARY = "cyberfusion-test-boundary"


def _multipart(data: bytes, *, filename: str = "list.txt", fmt: str | None = None) -> bytes:
    parts = []
    if fmt is not None:
        disposition = 'Content-Disposition: form-data; name="format"'
        parts.append(f"--{BOUNDARY}\r\n{disposition}\r\n\r\n{fmt}\r\n".encode())
    parts.append(
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _request(body: bytes, chunk: int) -> tuple[Any, list[int]]:
    """A Starlette request whose body arrives in `chunk`-byte pieces; and the list of the
    pieces handed out so far."""
    from starlette.requests import Request

    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    handed: list[int] = []

    async def receive() -> dict[str, Any]:
        index = len(handed)
        handed.append(index)
        return {
            "type": "http.request",
            "body": pieces[index],
            "more_body": index < len(pieces) - 1,
        }

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/submissions",
        "headers": [
            (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
        ],
    }
    return Request(scope, receive), handed


def _limit(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    from cyberfusion.core import config

    settings = config.get_settings()
    patched = settings.__class__(**{**settings.__dict__, "max_submission_bytes": limit})
    monkeypatch.setattr(intake_api, "get_settings", lambda: patched)


def test_a_multipart_file_is_spooled_to_disk_as_it_arrives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = b"".join(f"198.51.100.{n % 250}\n".encode() for n in range(20_000))
    request, handed = _request(_multipart(data, fmt="csv"), chunk=4096)
    upload = asyncio.run(intake_api._stream_multipart(request))
    with upload.file:
        # A file on disk holding exactly the part, not the body in memory.
        assert os.fstat(upload.file.fileno()).st_size == len(data)
        assert upload.file.read() == data
    assert (upload.filename, upload.fields) == ("list.txt", {"format": "csv"})
    assert len(handed) > 50


def test_a_body_over_the_limit_is_413_as_soon_as_it_passes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _limit(monkeypatch, 10_000)
    spools: list[Any] = []
    real = tempfile.TemporaryFile

    def spool(*args: Any, **kwargs: Any) -> Any:
        spools.append(real(*args, **kwargs))
        return spools[-1]

    monkeypatch.setattr(intake_api.tempfile, "TemporaryFile", spool)
    request, handed = _request(_multipart(b"x" * 100_000), chunk=1000)
    with pytest.raises(intake_api.PayloadTooLarge) as refused:
        asyncio.run(intake_api._stream_multipart(request))
    assert refused.value.detail == "the body is over the limit of 10000 bytes"
    # Reading stopped at the chunk that crossed the limit, and the spooled part is gone.
    assert len(handed) == 11
    assert [s.closed for s in spools] == [True]


def test_a_multipart_list_upload_is_stored_with_the_file_name(
    client: Any, session: Session
) -> None:
    data = b"".join(f"http://drop-{uuid.uuid4().hex[:8]}.com/x.exe\n".encode() for _ in range(30))
    response = client.post(
        "/api/v1/submissions?tlp=green&audience=community",
        headers=_key(session),
        files={"file": ("drops.txt", data, "text/plain")},
        data={"format": "csv"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["status"], body["accepted"], body["rejected"]) == ("accepted", 30, 0)
    grouping = session.get(IntelObject, body["results"][-1]["record_id"])
    assert grouping is not None
    assert grouping.content["name"] == f"drops.txt (value list, submission {body['id']})"


def test_multipart_mistakes_are_named(client: Any, session: Session, monkeypatch: Any) -> None:
    headers = _key(session)
    no_file = client.post(
        "/api/v1/submissions", headers=headers, data={"format": "csv"}, files={"other": ("a", b"1")}
    )
    assert no_file.status_code == 422
    assert no_file.json()["detail"] == "a multipart submission needs a `file` field"
    bad_format = client.post(
        "/api/v1/submissions",
        headers=headers,
        files={"file": ("a.txt", b"198.51.100.9\n")},
        data={"format": "xml"},
    )
    assert bad_format.status_code == 422
    assert bad_format.json()["detail"].startswith("'xml' is not a format: use one of auto, ")
    _limit(monkeypatch, 100)
    big = client.post("/api/v1/submissions", headers=headers, files={"file": ("a.txt", b"1" * 500)})
    assert big.status_code == 413
