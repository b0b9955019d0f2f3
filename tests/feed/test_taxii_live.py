"""TAXII feed in from our own TAXII 2.1 server: a live `cyberfusion serve` on 127.0.0.1 with its
own database, read by a feed of this test's database, checkpoint included."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from taxii2client.v21 import Collection

from cyberfusion.feed import service as feed_service
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.registry.models import Organisation
from cyberfusion.taxii import service as taxii_service
from tests.conftest import fresh_database
from tests.feed.conftest import _free_port, make_feed


@dataclass(frozen=True)
class Live:
    base: str
    key: str

    @property
    def community(self) -> str:
        # By id: taxii2-client checks that the collection's id is the one in the URL.
        community_id = taxii_service.collection_id(taxii_service.CollectionKind.COMMUNITY)
        return f"{self.base}/taxii2/community/collections/{community_id}/"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp: Path = tmp_path_factory.mktemp("feed-taxii-live")
    with fresh_database(tmp) as url:
        env = {
            **os.environ,
            "CYBERFUSION_DATABASE_URL": url,
            "CYBERFUSION_DATA_DIR": str(tmp / "data"),
            "CYBERFUSION_SECRET_KEY": "feed-taxii-live-test-secret",
        }

        def run(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "cyberfusion", *args],
                env=env,
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout

        run("db", "upgrade")
        run("demo", "--no-activity")
        key = run("apikey", "create", "officer@ncb-fr.cyberfusion.example").splitlines()[-1]
        port = _free_port()
        log_path = tmp / "serve.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "cyberfusion", "serve", "--port", str(port)],
                env=env,
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 30
                healthy = False
                while not healthy and time.monotonic() < deadline:
                    assert server.poll() is None, log_path.read_text()
                    try:
                        healthy = httpx.get(f"{base}/healthz", timeout=2).status_code == 200
                    except httpx.TransportError:
                        time.sleep(0.1)
                assert healthy, log_path.read_text()
                yield Live(base, key)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=10)


def _indicator(value: str) -> dict[str, str]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_DNS, value)}",
        "created": "2026-10-05T00:00:00.000Z",
        "modified": "2026-10-05T00:00:00.000Z",
        "pattern": f"[domain-name:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": "2026-10-05T00:00:00Z",
    }


def _values(session: Session, org: str) -> set[str]:
    org_id = session.scalars(select(Organisation.id).where(Organisation.slug == org)).one()
    return set(
        session.scalars(
            select(Observable.value)
            .join(Occurrence, Occurrence.observable_id == Observable.id)
            .where(Occurrence.owner_org_id == org_id)
        )
    )


def test_taxii_feed_from_our_own_server(session: Session, live: Live) -> None:
    published = Collection(live.community, user="taxii", password=live.key)
    published.add_objects({"objects": [_indicator("live-first.example.org")]})
    feed = make_feed(
        session,
        org="cert-fr",
        name="cyberfusion-taxii",
        kind="taxii",
        source=live.community,
        auth={"username": "taxii", "password": live.key},
    )
    first = feed_service.run(session=session, feed=feed, trigger="cli", worker="test")
    assert (first.status, first.error, first.rejected) == ("succeeded", None, 0)
    # The demo's community record and ours.
    assert {"203.0.113.10", "live-first.example.org"} <= _values(session, "cert-fr")
    checkpoint = feed.checkpoint["added_after"]
    published.add_objects({"objects": [_indicator("live-second.example.org")]})
    second = feed_service.run(session=session, feed=feed, trigger="cli", worker="test")
    assert (second.status, second.accepted, second.duplicates) == ("succeeded", 1, 0)
    assert "live-second.example.org" in _values(session, "cert-fr")
    assert feed.checkpoint["added_after"] > checkpoint
