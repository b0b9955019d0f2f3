"""The real TAXII clients, unchanged, against a live `cyberfusion serve`: taxii2-client's
Server/ApiRoot/Collection/as_pages and stix2's TAXIICollectionSource/TAXIICollectionSink."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import requests
import stix2
from stix2 import Filter, TAXIICollectionSink, TAXIICollectionSource
from stix2.datastore import DataSourceError
from stix2validator import ValidationOptions, validate_string
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from tests.conftest import fresh_database


@dataclass(frozen=True)
class Live:
    base: str
    keys: dict[str, str]

    def server(self, who: str | None = None) -> Server:
        if who is None:
            return Server(f"{self.base}/taxii2/")
        # HTTP Basic with the API key as password; the user name is not looked at.
        return Server(f"{self.base}/taxii2/", user="taxii", password=self.keys[who])

    def root(self, who: str, name: str) -> ApiRoot:
        roots = {r.url.rstrip("/").rsplit("/", 1)[-1]: r for r in self.server(who).api_roots}
        return roots[name]

    def collection(self, who: str, root: str, alias: str) -> Collection:
        found = {c.alias: c for c in self.root(who, root).collections}
        return found[alias]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_live(
    tmp: Path, setup: Callable[[Callable[..., str]], None] | None = None
) -> Iterator[Live]:
    """A demo world on a fresh database, `setup` run with the CLI (run(*args) -> stdout),
    then `cyberfusion serve` on a free port until the block ends."""
    with fresh_database(tmp) as url:
        env = {
            **os.environ,
            "CYBERFUSION_DATABASE_URL": url,
            "CYBERFUSION_DATA_DIR": str(tmp / "data"),
            "CYBERFUSION_SECRET_KEY": "taxii-live-test-secret",
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
        if setup is not None:
            setup(run)
        keys = {
            who: run("apikey", "create", email).splitlines()[-1]
            for who, email in (
                ("fr", "officer@ncb-fr.cyberfusion.example"),
                ("ng", "officer@ncb-ng.cyberfusion.example"),
                ("br-viewer", "viewer@ncb-br.cyberfusion.example"),
            )
        }
        port = _free_port()
        log_path = tmp / "serve.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cyberfusion",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
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
                yield Live(base, keys)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with serve_live(tmp_path_factory.mktemp("taxii-live")) as server:
        yield server


def _indicators(count: int, label: str) -> list[stix2.Indicator]:
    return [
        stix2.Indicator(
            name=f"{label} {n}",
            pattern=f"[ipv4-addr:value = '198.51.100.{n}']",
            pattern_type="stix",
        )
        for n in range(count)
    ]


def test_discovery_api_roots_and_collections(live: Live) -> None:
    server = live.server("fr")
    assert server.title == "cyberfusion TAXII 2.1"
    assert [r.url for r in server.api_roots] == [
        f"{live.base}/taxii2/members/",
        f"{live.base}/taxii2/community/",
        f"{live.base}/taxii2/public/",
    ]
    assert server.default.url == f"{live.base}/taxii2/members/"
    members = server.default
    assert (members.title, members.versions) == (
        "Member law enforcement",
        ["application/taxii+json;version=2.1"],
    )
    assert [(c.alias, c.title, c.can_read, c.can_write) for c in members.collections] == [
        ("country-fr", "Law enforcement in France", True, True),
        ("region-europe", "Law enforcement in Europe", True, True),
        ("members", "All members", True, True),
    ]


def test_without_credentials_only_the_public_collection(live: Live) -> None:
    server = live.server()
    assert [r.url for r in server.api_roots] == [f"{live.base}/taxii2/public/"]
    (public,) = server.api_roots[0].collections
    assert (public.alias, public.can_read, public.can_write) == ("public", True, False)
    names = [o["name"] for o in public.get_objects()["objects"]]
    assert names == ["Phishing kit landing page"]


def test_add_objects_then_page_with_as_pages(live: Live) -> None:
    members = live.collection("fr", "members", "members")
    indicators = _indicators(7, "paged")
    status = members.add_objects(stix2.Bundle(*indicators).serialize())
    assert (status.status, status.total_count, status.success_count, status.failure_count) == (
        "complete",
        7,
        7,
        0,
    )
    polled = live.root("fr", "members").get_status(status.id)
    assert (polled.status, polled.success_count) == ("complete", 7)
    ids = [i.id for i in indicators]
    pages = list(as_pages(members.get_objects, per_request=3, id=ids))
    assert [len(p["objects"]) for p in pages] == [3, 3, 1]
    assert [o["id"] for p in pages for o in p["objects"]] == ids
    manifests = list(as_pages(members.get_manifest, per_request=5, id=ids))
    assert [[m["id"] for m in p["objects"]] for p in manifests] == [ids[:5], ids[5:]]


def test_stix2_source_and_sink_round_trip(live: Live) -> None:
    community = live.collection("fr", "community", "community")
    sink = TAXIICollectionSink(community)
    source = TAXIICollectionSource(community, items_per_page=2)
    malware = stix2.Malware(name=f"Sink test {uuid.uuid4().hex[:8]}", is_family=True)
    sink.add(malware)
    assert source.get(malware.id) == malware
    newer = malware.new_version(description="second version")
    sink.add(newer)
    assert source.get(malware.id) == newer
    assert [v.modified for v in source.all_versions(malware.id)] == [
        malware.modified,
        newer.modified,
    ]
    found = source.query([Filter("type", "=", "malware"), Filter("name", "=", malware.name)])
    assert found == [newer]


def test_what_one_country_shares_the_other_sees_by_audience(live: Live) -> None:
    fr_members = live.collection("fr", "members", "members")
    fr_country = live.collection("fr", "members", "country-fr")
    (for_members,) = _indicators(1, "for all members")
    (for_france,) = _indicators(1, "for France")
    fr_members.add_objects(stix2.Bundle(for_members).serialize())
    fr_country.add_objects(stix2.Bundle(for_france).serialize())
    ng_roots = live.root("ng", "members")
    assert [c.alias for c in ng_roots.collections] == ["country-ng", "region-africa", "members"]
    ng_members = TAXIICollectionSource(live.collection("ng", "members", "members"))
    assert ng_members.get(for_members.id) == for_members
    assert ng_members.get(for_france.id) is None
    # The French collection by its URL, with Nigeria's key: it does not exist for Nigeria.
    stranger = Collection(fr_country.url, user="taxii", password=live.keys["ng"])
    with pytest.raises(requests.HTTPError) as refused:
        stranger.refresh()
    assert refused.value.response.status_code == 404


def test_only_the_owner_deletes(live: Live) -> None:
    fr_members = live.collection("fr", "members", "members")
    (doomed,) = _indicators(1, "doomed")
    fr_members.add_objects(stix2.Bundle(doomed).serialize())
    ng_members = live.collection("ng", "members", "members")
    with pytest.raises(requests.HTTPError) as refused:
        ng_members.delete_object(doomed.id)
    assert refused.value.response.status_code == 403
    assert refused.value.response.json()["description"] == (
        f"only the owner organisation (ncb-fr) may delete {doomed.id}"
    )
    fr_members.delete_object(doomed.id)
    assert TAXIICollectionSource(fr_members).get(doomed.id) is None


def test_a_viewer_cannot_get_a_sink(live: Live) -> None:
    members = live.collection("br-viewer", "members", "members")
    assert (members.can_read, members.can_write) == (True, False)
    with pytest.raises(DataSourceError):
        TAXIICollectionSink(members)
    found = TAXIICollectionSource(members).query([Filter("name", "=", "Scam call centre number")])
    assert [o.name for o in found] == ["Scam call centre number"]


def test_a_value_list_reaches_the_clients_as_valid_indicators(live: Live) -> None:
    tag = uuid.uuid4().hex[:10]
    values = [f"cdn-{tag}.com", f"http://gate-{tag}.net/p.php", f"203.0.113.{int(tag[:2], 16)}"]
    response = httpx.post(
        f"{live.base}/api/v1/submissions",
        headers={"Authorization": f"Bearer {live.keys['fr']}"},
        json={
            "format": "csv",
            "content": "\n".join(values) + "\n",
            "labels": {"tlp": "green", "audience": "members"},
        },
        timeout=60,
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    grouping_id = answer["results"][-1]["id"]
    members = live.collection("ng", "members", "members")
    since = answer["received_at"].replace("+00:00", "Z")
    pages = list(as_pages(members.get_objects, per_request=2, added_after=_before(since)))
    assert [len(page["objects"]) for page in pages] == [2, 2]
    grouping, *indicators = [obj for page in pages for obj in page["objects"]]
    assert grouping["id"] == grouping_id
    assert grouping["object_refs"][1:] == [obj["id"] for obj in indicators]
    assert sorted(obj["name"] for obj in indicators) == sorted(values)
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [grouping, *indicators]}
    result = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
    assert [str(error) for error in result.errors] == []
    # stix2 parses each one, and finds it by its id.
    source = TAXIICollectionSource(members)
    found = source.get(indicators[0]["id"])
    assert (found.type, found.pattern) == ("indicator", indicators[0]["pattern"])


def _before(stamp: str) -> str:
    """A TAXII timestamp one microsecond before an ISO one."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(microseconds=1)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
