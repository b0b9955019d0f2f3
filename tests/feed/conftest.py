"""Fixtures for feeds: a local HTTP server of fixture files, a medallion TAXII server, records."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.feed import service as feed_service
from cyberfusion.feed.models import Feed
from cyberfusion.feed.schemas import FeedCreate
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account

MEDALLION_USER = ("feeds", "medallion-test-password")
COLLECTION_ID = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class FixtureServer:
    """Files under `root`, served at `base` (http://127.0.0.1:<port>)."""

    root: Path
    base: str

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def write(self, name: str, content: bytes | str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path


@pytest.fixture
def fixture_server(tmp_path: Path) -> Iterator[FixtureServer]:
    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FixtureServer(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def indicator(value_pattern: str, number: int) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, f'feed-test/{number}')}",
        "created": "2026-10-01T09:00:00.000Z",
        "modified": "2026-10-01T09:00:00.000Z",
        "name": f"test indicator {number}",
        "pattern": value_pattern,
        "pattern_type": "stix",
        "valid_from": "2026-10-01T09:00:00Z",
    }


def _manifest_entry(obj: dict[str, Any], date_added: str) -> dict[str, Any]:
    return {
        "id": obj["id"],
        "date_added": date_added,
        "version": obj["modified"],
        "media_type": "application/stix+json;version=2.1",
    }


@dataclass(frozen=True)
class Medallion:
    base: str
    collection_url: str
    objects: list[dict[str, Any]]


@pytest.fixture
def medallion(tmp_path: Path) -> Iterator[Medallion]:
    """The OASIS reference TAXII 2.1 server, with one collection of three indicators added at
    three different times, pages of two objects."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    objects = [
        indicator("[ipv4-addr:value = '198.51.100.61']", 1),
        indicator("[domain-name:value = 'taxii-one.example.com']", 2),
        indicator("[url:value = 'http://taxii-three.example.com/payload']", 3),
    ]
    added = ["2026-10-01T10:00:00.000Z", "2026-10-02T10:00:00.000Z", "2026-10-03T10:00:00.000Z"]
    data = {
        "/discovery": {
            "title": "fixture",
            "description": "feed tests",
            "contact": "nobody",
            "default": f"{base}/api1/",
            "api_roots": [f"{base}/api1/"],
        },
        "api1": {
            "information": {
                "title": "api1",
                "description": "feed tests",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 9765625,
            },
            "status": [],
            "collections": [
                {
                    "id": COLLECTION_ID,
                    "title": "Indicators",
                    "description": "feed tests",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": objects,
                    "manifest": [
                        _manifest_entry(obj, stamp)
                        for obj, stamp in zip(objects, added, strict=True)
                    ],
                }
            ],
        },
    }
    (tmp_path / "medallion-data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(tmp_path / "medallion-data.json"),
        },
        "users": {MEDALLION_USER[0]: MEDALLION_USER[1]},
        "taxii": {"max_page_size": 2},
    }
    (tmp_path / "medallion.json").write_text(json.dumps(config))
    log_path = tmp_path / "medallion.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "medallion.scripts.run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                str(tmp_path / "medallion.json"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            ready = False
            while not ready and time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text()
                try:
                    httpx.get(f"{base}/taxii2/", timeout=2)
                    ready = True
                except httpx.TransportError:
                    time.sleep(0.1)
            assert ready, log_path.read_text()
            yield Medallion(base, f"{base}/api1/collections/{COLLECTION_ID}/", objects)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def make_feed(
    session: Session, *, org: str = "ncb-fr", trusted: bool = True, **fields: Any
) -> Feed:
    """A feed set up by the local operator (trusted) for `org`."""
    actor = account.actor(session, org=org)
    return feed_service.create(
        session=session,
        actor=actor,
        feed_in=FeedCreate.model_validate(fields),
        trusted=trusted,
    )


def submit(
    session: Session,
    actor: Actor,
    content: str,
    labels: LabelsIn | None = None,
    source_format: SourceFormat = SourceFormat.CSV,
) -> SubmissionRead:
    return intake_service.submit(
        session=session,
        actor=actor,
        raw=content.encode(),
        options=SubmissionOptions(source_format=source_format, labels=labels),
    )


@contextmanager
def in_session(session: Session) -> Iterator[Session]:
    """A unit of work inside the test's transaction (what `transaction()` is in production)."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
