"""The bounded graph: what it shows, what it hides, where sources meet, and its limits."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.errors import NotFound, ValidationFailed
from cyberfusion.correlation import graph as graph_service
from cyberfusion.correlation.models import RecordKnowledge
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel.models import IntelObject
from cyberfusion.knowledge import service as knowledge_service
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.models import Observable
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory
from tests.factories import correlation as factory
from tests.factories.knowledge import GALAXIES

NAME = "cf-test-phish-kit.xyz"


def _id(session: Session, obs_type: str, value: str) -> int:
    return session.scalars(
        select(Observable.id).where(Observable.digest == observable_service.digest(obs_type, value))
    ).one()


def _malware(name: str, aliases: list[str] | None = None) -> dict[str, object]:
    content: dict[str, object] = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-01T00:00:00.000Z",
        "name": name,
        "is_family": True,
    }
    if aliases:
        content["aliases"] = aliases
    return content


def _record(session: Session, stix_id: str) -> IntelObject:
    return session.scalars(select(IntelObject).where(IntelObject.stix_id == stix_id)).one()


def test_records_naming_one_family_by_different_names_meet(session: Session) -> None:
    hub = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    knowledge_service.load_galaxies(session=session, actor=hub, data=GALAXIES)
    first, second, unknown = _malware("Emotet"), _malware("Geodo"), _malware("Nothing-known-7")
    factory.report_bundle(session, "cert-fr", [first])
    factory.report_bundle(session, "cert-ng", [second, unknown])
    links = {
        row.intel_object_id: row
        for row in session.scalars(
            select(RecordKnowledge).where(
                RecordKnowledge.intel_object_id.in_(
                    [_record(session, o["id"]).id for o in (first, second, unknown)]  # type: ignore[misc]
                )
            )
        )
    }
    a, b = _record(session, str(first["id"])), _record(session, str(second["id"]))
    assert links[a.id].entry_id == links[b.id].entry_id
    assert (links[a.id].matched_name, links[b.id].matched_name) == ("Emotet", "Geodo")
    assert _record(session, str(unknown["id"])).id not in links
    graph = graph_service.neighbourhood(
        session=session, actor=hub, around=f"object:{a.id}", depth=2, limit=50
    )
    assert f"object:{b.id}" in graph.nodes
    family = f"knowledge:{links[a.id].entry_id}"
    assert graph.nodes[family]["label"] == "Emotet"
    assert (f"object:{b.id}", family, "names") in graph.edges


def test_the_graph_leaves_out_what_the_actor_may_not_read(session: Session) -> None:
    host = f"q{uuid.uuid4().hex[:8]}.{NAME}"
    factory.report(session, "cert-fr", [("url", f"http://{host}/open")])
    factory.report(
        session,
        "cert-ng",
        [("url", f"http://{host}/secret")],
        LabelsIn(tlp="amber", audience="organisation"),
    )
    viewer = account_factory.actor(session, org="ncb-br", role=Role.VIEWER)
    start = _id(session, "url", f"http://{host}/open")
    graph = graph_service.neighbourhood(
        session=session, actor=viewer, around=f"observable:{start}", depth=3, limit=100
    )
    labels = {node["label"] for node in graph.nodes.values()}
    assert f"http://{host}/open" in labels
    assert host in labels  # implied by the URL the viewer may read
    assert f"http://{host}/secret" not in labels
    hidden = _id(session, "url", f"http://{host}/secret")
    with pytest.raises(NotFound):
        graph_service.neighbourhood(
            session=session, actor=viewer, around=f"observable:{hidden}", depth=1, limit=10
        )


def test_the_limit_bounds_the_graph_and_says_so(session: Session) -> None:
    host = f"w{uuid.uuid4().hex[:8]}.{NAME}"
    factory.report(session, "cert-fr", [("url", f"http://{host}/{n}") for n in range(30)])
    analyst = factory.reporter(session, "cert-fr")
    start = _id(session, "url", f"http://{host}/0")
    graph = graph_service.neighbourhood(
        session=session, actor=analyst, around=f"observable:{start}", depth=4, limit=10
    )
    assert len(graph.nodes) == 10
    assert graph.truncated is True
    whole = graph_service.neighbourhood(
        session=session, actor=analyst, around=f"observable:{start}", depth=4, limit=500
    )
    assert whole.truncated is False
    urls = [n for n in whole.nodes.values() if n["type"] == "url"]
    assert len(urls) == 30
    # One campaign: every URL on the host, in one cluster.
    assert len({n["cluster"] for n in urls}) == 1


def test_noise_is_not_walked_through(session: Session) -> None:
    factory.report(
        session,
        "cert-fr",
        [("url", "https://google.com/a-cf-test"), ("url", "https://google.com/b-cf-test")],
    )
    analyst = factory.reporter(session, "cert-fr")
    start = _id(session, "url", "https://google.com/a-cf-test")
    graph = graph_service.neighbourhood(
        session=session, actor=analyst, around=f"observable:{start}", depth=2, limit=100
    )
    google = [n for n in graph.nodes.values() if n["label"] == "google.com"]
    assert [n["noise"] for n in google] == [True]
    # Both URLs are in the graph only through the record that reported them together.
    edges_to_google = [e for e in graph.edges if e[1] == google[0]["id"]]
    assert len(edges_to_google) == 1


@pytest.mark.parametrize(
    ("around", "depth", "limit"),
    [("x:1", 1, 10), ("observable:abc", 1, 10), ("observable:1", 5, 10), ("observable:1", 1, 0)],
)
def test_bad_parameters(session: Session, around: str, depth: int, limit: int) -> None:
    analyst = factory.reporter(session, "cert-fr")
    with pytest.raises(ValidationFailed):
        graph_service.neighbourhood(
            session=session, actor=analyst, around=around, depth=depth, limit=limit
        )


def test_addresses_in_the_graph_meet_on_their_autonomous_system(session: Session) -> None:
    name = f"as{uuid.uuid4().hex[:8]}.{NAME}"
    # Value lists: one record (a grouping) per list, so each list's values meet on it.
    for org, address in (("cert-fr", "45.148.10.5"), ("cert-ng", "45.148.10.6")):
        intake_service.submit(
            session=session,
            actor=factory.reporter(session, org),
            raw=f"{name}\n{address}\n".encode(),
            options=SubmissionOptions(source_format=SourceFormat.CSV, labels=factory.COMMUNITY),
        )
    hub = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    start = _id(session, "domain-name", name)
    graph = graph_service.neighbourhood(
        session=session, actor=hub, around=f"observable:{start}", depth=3, limit=50
    )
    network = "as:Pptechnology Limited"
    assert graph.nodes[network]["kind"] == "autonomous-system"
    for address in ("45.148.10.5", "45.148.10.6"):
        node = f"observable:{_id(session, 'ipv4-addr', address)}"
        assert (node, network, "announced-by") in graph.edges
