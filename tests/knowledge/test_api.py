"""REST: resolving a name to its family, open to anyone (the reference knowledge is TLP:CLEAR)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.intake.parsed import stable_id
from cyberfusion.knowledge import service as knowledge_service
from tests.factories import account
from tests.factories.knowledge import GALAXIES

URL = "/api/v1/knowledge/resolve"


@pytest.fixture
def loaded(session: Session) -> None:
    hub = account.actor(session, org="hub", role=Role.HUB_ANALYST)
    knowledge_service.load_galaxies(session=session, actor=hub, data=GALAXIES)


def test_resolve_needs_no_authentication(client: TestClient, loaded: None) -> None:
    response = client.get(URL, params={"name": "negasteal"})
    assert response.status_code == 200
    assert response.json() == {
        "kind": "malware",
        "name": "Agent Tesla",
        "stix_id": stable_id("malware", "agent tesla"),
        "galaxy": "malpedia",
        "cluster_uuid": "b88e29cf-79d9-42bc-b369-0383b5e04380",
        "description": "A .NET based information stealer.",
        "external_id": None,
        "aliases": ["AgenTesla", "AgentTesla", "Negasteal", "Agent Tesla - S0331"],
        "sources": [
            {
                "galaxy": "malpedia",
                "cluster_uuid": "b88e29cf-79d9-42bc-b369-0383b5e04380",
                "name": "Agent Tesla",
                "stix_id": stable_id("malware", "agent tesla"),
                "external_id": None,
            },
            {
                "galaxy": "tool",
                "cluster_uuid": "f8cd62cb-b9d3-4352-8f46-0961cfde104c",
                "name": "Agent Tesla",
                "stix_id": stable_id("malware", "agent tesla"),
                "external_id": None,
            },
            {
                "galaxy": "mitre-malware",
                "cluster_uuid": "e7a5229f-05eb-440e-b982-9a6d2b2b87c8",
                "name": "Agent Tesla",
                "stix_id": stable_id("malware", "agent tesla"),
                "external_id": "S0331",
            },
        ],
    }


def test_resolve_by_kind(client: TestClient, loaded: None) -> None:
    response = client.get(URL, params={"name": "Fancy Bear", "kind": "threat-actor"})
    assert response.status_code == 200
    body = response.json()
    assert (body["kind"], body["name"], body["stix_id"]) == (
        "threat-actor",
        "APT28",
        stable_id("threat-actor", "apt28"),
    )
    tool = client.get(URL, params={"name": "mimikatz", "kind": "tool"}).json()
    assert (tool["galaxy"], tool["name"], tool["external_id"]) == (
        "mitre-tool",
        "Mimikatz",
        "S0002",
    )


def test_unknown_name_is_404(client: TestClient, loaded: None) -> None:
    response = client.get(URL, params={"name": "Negasteal", "kind": "threat-actor"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "no threat-actor named 'Negasteal' in the reference knowledge"
    )


def test_ambiguous_name_is_409_with_the_candidates(client: TestClient, loaded: None) -> None:
    response = client.get(URL, params={"name": "Nitro"})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "'Nitro' names several families: malware Nitro (malpedia); "
        "threat-actor Nitro (threat-actor) (give kind= to choose among kinds)"
    )
    chosen = client.get(URL, params={"name": "Nitro", "kind": "malware"})
    assert chosen.status_code == 200
    assert chosen.json()["stix_id"] == stable_id("malware", "nitro")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"name": "Emotet", "kind": "campaign"}, "query.kind"), ({"name": ""}, "query.name")],
)
def test_bad_parameters_are_422(
    client: TestClient, loaded: None, params: dict[str, str], field: str
) -> None:
    response = client.get(URL, params=params)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_empty_knowledge_base_is_404(client: TestClient) -> None:
    response = client.get(URL, params={"name": "Emotet"})
    assert response.status_code == 404
    assert response.json()["detail"] == "no entry named 'Emotet' in the reference knowledge"
