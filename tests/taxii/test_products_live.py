"""taxii2-client, unchanged, reading an organisation's products collection from a live
`cyberfusion serve`: the products were issued with `cyberfusion report car`, and the collection
gives back what their STIX files hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import as_pages

from cyberfusion.core.time import utcnow
from tests.taxii.test_clients import Live, serve_live

NETWORK = "90.12.32.0/21"


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Live, list[Path]]]:
    """Two versions of the CAR of a network for France's NCB, their STIX files kept."""
    tmp = tmp_path_factory.mktemp("taxii-products")
    since = (utcnow() - timedelta(days=1)).date().isoformat()
    files = [tmp / "v1.json", tmp / "v2.json"]

    def setup(run: Callable[..., str]) -> None:
        for index, rows in enumerate(
            (
                "ipv4-addr,90.12.34.56,c2,80\nipv4-addr,90.12.35.7,malware,70\n",
                "ipv4-addr,90.12.36.9,phishing,70\n",
            )
        ):
            source = tmp / f"rows{index}.csv"
            source.write_text("type,value,threat_type,confidence\n" + rows)
            run(
                "import", str(source), "--org", "ncb-ng", "--format", "csv",
                "--tlp", "amber", "--audience", "members",
            )  # fmt: skip
            run(
                "report", "car", "--network", NETWORK, "--to", "ncb-fr", "--since", since,
                "--format", "stix", "--out", str(files[index]),
            )  # fmt: skip

    with serve_live(tmp, setup) as live:
        yield live, files


def _bundles(files: list[Path]) -> list[list[dict[str, Any]]]:
    return [orjson.loads(path.read_bytes())["objects"] for path in files]


def test_the_recipient_reads_its_products_with_taxii2_client(
    issued: tuple[Live, list[Path]],
) -> None:
    live, files = issued
    first, second = _bundles(files)
    assert first[0]["name"] == f"Cyber Activity Report: network {NETWORK}"
    collection = live.collection("fr", "community", "products-ncb-fr")
    assert (collection.title, collection.can_read, collection.can_write) == (
        "Products for NCB France",
        True,
        False,
    )
    # Unread until objects are read; the manifest alone does not read them.
    inbox = f"{live.base}/api/v1/products/inbox"
    auth = {"Authorization": f"Bearer {live.keys['fr']}"}
    manifest = collection.get_manifest(version="all")["objects"]
    assert len(httpx.get(inbox, params={"unread": "true"}, headers=auth).json()) == 2

    pages = list(as_pages(collection.get_objects, per_request=3, version="all"))
    assert [len(page["objects"]) for page in pages[:-1]] == [3] * (len(pages) - 1)
    objects = [o for page in pages for o in page["objects"]]
    expected: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for bundle in (first, second):
        for obj in bundle:
            key = (obj["id"], obj.get("modified", obj.get("created")))
            if key not in seen:
                seen.add(key)
                expected.append(obj)
    assert objects == expected
    assert [m["id"] for m in manifest] == [o["id"] for o in expected]
    assert httpx.get(inbox, params={"unread": "true"}, headers=auth).json() == []

    reports = collection.get_objects(type="report")["objects"]
    assert [r["id"] for r in reports] == [first[0]["id"], second[0]["id"]]
    assert collection.get_object(second[0]["id"])["objects"] == [second[0]]
    versions = collection.object_versions(first[1]["id"])["versions"]
    assert versions == [first[1]["created"], second[1]["created"]]
    newer = collection.get_objects(added_after=manifest[0]["date_added"])["objects"]
    assert [o["type"] for o in newer] == ["report", "identity", "indicator"]


def test_nobody_else_learns_it_exists(issued: tuple[Live, list[Path]]) -> None:
    live, _ = issued
    mine = live.collection("fr", "community", "products-ncb-fr")
    aliases = [c.alias for c in live.root("ng", "community").collections]
    assert aliases == ["org-ncb-ng", "products-ncb-ng", "community"]
    response = httpx.get(
        f"{live.base}/taxii2/community/collections/{mine.id}/objects/",
        auth=("taxii", live.keys["ng"]),
        headers={"Accept": "application/taxii+json;version=2.1"},
    )
    assert response.status_code == 404
    empty = live.collection("ng", "community", "products-ncb-ng")
    assert empty.get_objects() == {"more": False}
    # The client refuses to write to it (can_write is false), and so does the server.
    with pytest.raises(TAXIIServiceException, match="does not allow writing"):
        mine.add_objects({"objects": [{"type": "indicator"}]})
    refused = httpx.post(
        f"{live.base}/taxii2/community/collections/{mine.id}/objects/",
        auth=("taxii", live.keys["fr"]),
        headers={
            "Accept": "application/taxii+json;version=2.1",
            "Content-Type": "application/taxii+json;version=2.1",
        },
        content=b'{"objects": [{"type": "indicator"}]}',
    )
    assert refused.status_code == 403
