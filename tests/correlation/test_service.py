"""Correlation at intake (links, corroboration, notices) and reading it back."""

from __future__ import annotations

import uuid

import idna
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.errors import NotFound
from cyberfusion.correlation import service as correlation_service
from cyberfusion.correlation.models import ObservableAssessment, ObservableLink
from cyberfusion.intel import service as intel_service
from cyberfusion.notification.models import Notification
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.models import Observable
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory
from tests.factories import correlation as factory
from tests.factories import registry as registry_factory

IP = "91.243.44.10"
BLOCK = "91.243.44.0/24"
NAME = "cf-test-phish-kit.xyz"


def _unique(prefix: str = "n") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}.{NAME}"


def _observable(session: Session, obs_type: str, value: str) -> Observable:
    return session.scalars(
        select(Observable).where(Observable.digest == observable_service.digest(obs_type, value))
    ).one()


def _notices(session: Session, org: str, submission_id: int | None = None) -> list[Notification]:
    org_id = registry_factory.by_slug(session, org).id
    rows = session.scalars(
        select(Notification)
        .where(Notification.recipient_org_id == org_id)
        .order_by(Notification.id)
    ).all()
    if submission_id is None:
        return list(rows)
    return [
        n
        for n in rows
        if n.payload.get("submission_id") == submission_id
        or submission_id in n.payload.get("submissions", [])
    ]


def _links(session: Session, observable: Observable) -> dict[str, str]:
    rows = session.execute(
        select(ObservableLink.kind, Observable.value)
        .join(Observable, Observable.id == ObservableLink.target_id)
        .where(ObservableLink.observable_id == observable.id)
    ).all()
    return dict(rows)


# --------------------------------------------------------------------------- links


def test_a_url_is_linked_to_its_host_and_the_host_to_its_registered_domain(
    session: Session,
) -> None:
    host = _unique("login.")
    url = f"http://{host}/verify"
    factory.report(session, "cert-fr", [("url", url)])
    assert _links(session, _observable(session, "url", url)) == {"host": host}
    assert _links(session, _observable(session, "domain-name", host)) == {"registered-domain": NAME}


def test_an_email_address_is_linked_to_its_domain(session: Session) -> None:
    domain = _unique("mail.")
    factory.report(session, "cert-fr", [("email-addr", f"boss@{domain}")])
    observable = _observable(session, "email-addr", f"boss@{domain}")
    assert _links(session, observable) == {"email-domain": domain}


def test_deriving_links_again_adds_nothing(session: Session) -> None:
    url = f"http://{_unique()}/x"
    factory.report(session, "cert-fr", [("url", url)])
    observable = _observable(session, "url", url)
    assert correlation_service.derive_links(session=session, observable_ids=[observable.id]) == 0


def test_the_host_of_a_url_on_a_top_site_is_flagged_as_noise(session: Session) -> None:
    factory.report(session, "cert-fr", [("url", "https://google.com/url?q=evil")])
    result = correlation_service.correlate_value(
        session=session,
        actor=factory.reporter(session, "cert-fr"),
        raw="https://google.com/url?q=evil",
    )
    # The host is noise: not offered as related, and a top site joins nothing.
    assert [r.value for r in result.related] == []


def _resolution_bundle(name: str, address: str) -> list[dict[str, object]]:
    objects: list[dict[str, object]] = [
        {
            "type": "domain-name",
            "spec_version": "2.1",
            "id": "domain-name--" + str(uuid.uuid4()),
            "value": name,
        },
        {
            "type": "ipv4-addr",
            "spec_version": "2.1",
            "id": "ipv4-addr--" + str(uuid.uuid4()),
            "value": address,
        },
    ]
    objects.append(
        {
            "type": "relationship",
            "spec_version": "2.1",
            "id": "relationship--" + str(uuid.uuid4()),
            "created": "2026-11-01T00:00:00.000Z",
            "modified": "2026-11-01T00:00:00.000Z",
            "relationship_type": "resolves-to",
            "source_ref": objects[0]["id"],
            "target_ref": objects[1]["id"],
        }
    )
    return objects


def test_a_stated_resolution_links_the_name_to_the_address(session: Session) -> None:
    name = _unique()
    objects = _resolution_bundle(name, "45.148.10.5")
    factory.report_bundle(session, "cert-fr", objects)
    assert _links(session, _observable(session, "domain-name", name))["resolves-to"] == (
        "45.148.10.5"
    )
    # URL -> host -> address, from a URL another organisation reported.
    url = f"https://{name}/pay"
    factory.report(session, "cert-ng", [("url", url)])
    result = correlation_service.correlate_value(
        session=session, actor=factory.reporter(session, "cert-ng"), raw=url
    )
    related = {(r.relation, r.value) for r in result.related}
    assert ("host", name) in related
    assert ("host-resolves-to", "45.148.10.5") in related


def test_a_resolution_stated_where_the_reader_may_not_look_relates_nothing(
    session: Session,
) -> None:
    # cert-fr states, for itself alone, that the name resolves to the address; cert-ng
    # reports both values on their own. That they belong together is cert-fr's to know.
    name = _unique()
    factory.report_bundle(
        session,
        "cert-fr",
        _resolution_bundle(name, "45.148.10.6"),
        LabelsIn(tlp="amber", audience="organisation"),
    )
    factory.report(session, "cert-ng", [("domain-name", name), ("ipv4-addr", "45.148.10.6")])
    outsider = factory.reporter(session, "cert-ng")
    for raw, relation, other in (
        (name, "resolves-to", "45.148.10.6"),
        ("45.148.10.6", "resolved-from", name),
    ):
        related = correlation_service.correlate_value(session=session, actor=outsider, raw=raw)
        assert (relation, other) not in {(r.relation, r.value) for r in related.related}
        mine = correlation_service.correlate_value(
            session=session, actor=factory.reporter(session, "cert-fr"), raw=raw
        )
        assert (relation, other) in {(r.relation, r.value) for r in mine.related}


def test_an_address_lists_the_names_resolving_to_it_before_the_urls_on_it(
    session: Session,
) -> None:
    address = "45.148.10.7"
    # The URLs come first (their observables have the lower ids), the name later.
    factory.report(session, "cert-ng", [("url", f"http://{address}/{i}") for i in range(3)])
    name = _unique()
    factory.report_bundle(session, "cert-fr", _resolution_bundle(name, address))
    actor = factory.reporter(session, "cert-fr")
    everything = correlation_service.correlate_value(session=session, actor=actor, raw=address)
    assert [r.relation for r in everything.related] == ["resolved-from"] + ["url-on-host"] * 3
    first = correlation_service.correlate_value(session=session, actor=actor, raw=address, limit=1)
    assert [(r.relation, r.value) for r in first.related] == [("resolved-from", name)]


# --------------------------------------------------------------------------- beyond exact


def test_an_address_inside_a_reported_block_correlates_with_it(session: Session) -> None:
    factory.report(session, "cert-fr", [("ipv4-addr", BLOCK)])
    factory.report(session, "cert-ng", [("ipv4-addr", IP)])
    result = correlation_service.correlate_value(
        session=session, actor=factory.reporter(session, "cert-ng"), raw=IP
    )
    contained = [r for r in result.related if r.relation == "contained-in"]
    assert [(r.value, [rep.organisation for rep in r.reports]) for r in contained] == [
        (BLOCK, ["cert-fr"])
    ]
    # And the other way: the block lists the addresses reported inside it.
    result = correlation_service.correlate_value(
        session=session, actor=factory.reporter(session, "cert-fr"), raw=BLOCK
    )
    assert [(r.relation, r.value) for r in result.related] == [("contains", IP)]


def test_a_subdomain_and_its_parent_correlate_both_ways(session: Session) -> None:
    parent = _unique("p")
    child = "a.b." + parent
    factory.report(session, "cert-fr", [("domain-name", parent)])
    factory.report(session, "cert-ng", [("domain-name", child)])
    down = correlation_service.correlate_value(
        session=session, actor=factory.reporter(session, "cert-fr"), raw=parent
    )
    assert ("subdomain", child) in {(r.relation, r.value) for r in down.related}
    up = correlation_service.correlate_value(
        session=session, actor=factory.reporter(session, "cert-ng"), raw=child
    )
    parents = [(r.value, [x.organisation for x in r.reports]) for r in up.related]
    assert (parent, ["cert-fr"]) in parents


def test_names_below_are_those_under_the_name_exactly(session: Session) -> None:
    # An underscore matches any character in SQL's LIKE: 'x_y' must not take in 'xzy'.
    parent = _unique("x_y")
    below = [f"n{i}.{parent}" for i in range(3)]
    lookalike = "n9." + parent.replace("x_y", "xzy", 1)
    factory.report(
        session,
        "cert-fr",
        [("domain-name", value) for value in [parent, *below, lookalike]],
    )
    actor = factory.reporter(session, "cert-fr")
    found = correlation_service.correlate_value(session=session, actor=actor, raw=parent)
    assert sorted(r.value for r in found.related if r.relation == "subdomain") == below


# --------------------------------------------------------------------------- corroboration


def _assessment(session: Session, value: str) -> dict[str, object] | None:
    hub = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    return correlation_service.correlate_value(session=session, actor=hub, raw=value).assessment


def test_two_organisations_corroborate_and_their_confidence_adds_up(session: Session) -> None:
    value = _unique()
    factory.report(session, "cert-fr", [("domain-name", value)], confidence=60)
    observable = _observable(session, "domain-name", value)
    # One organisation: single-source, and no row stored for it.
    assert session.get(ObservableAssessment, observable.id) is None
    first = _assessment(session, value)
    assert first is not None
    assert (first["assessment"], first["reporters"], first["confidence"]) == (
        "single-source",
        1,
        60,
    )
    factory.report(session, "cert-ng", [("domain-name", value)], confidence=60)
    row = session.get(ObservableAssessment, observable.id)
    assert row is not None
    assert (row.assessment, row.reporters, row.confidence) == ("corroborated", 2, 84)
    second = _assessment(session, value)
    assert second is not None
    assert (second["assessment"], second["reporters"], second["scope"]) == (
        "corroborated",
        2,
        "all reports",
    )


def test_assessing_again_rewrites_only_what_changed(session: Session) -> None:
    value = _unique()
    factory.report(session, "cert-fr", [("domain-name", value)], confidence=60)
    factory.report(session, "cert-ng", [("domain-name", value)], confidence=60)
    observable = _observable(session, "domain-name", value)
    row = session.get(ObservableAssessment, observable.id)
    assert row is not None
    written_at = row.updated_at
    # Nothing new was reported: the stored answer stays as it is, time stamp included.
    assert correlation_service.assess(session=session, observable_ids=[observable.id]) == 1
    session.expire_all()
    again = session.get(ObservableAssessment, observable.id)
    assert again is not None
    assert (again.reporters, again.confidence, again.updated_at) == (2, 84, written_at)
    # A third organisation changes the answer: the row is replaced.
    factory.report(session, "cert-br", [("domain-name", value)], confidence=50)
    session.expire_all()
    third = session.get(ObservableAssessment, observable.id)
    assert third is not None
    assert (third.reporters, third.reports, third.confidence) == (3, 3, 92)
    assert third.updated_at >= written_at


def test_the_same_organisation_twice_does_not_corroborate(session: Session) -> None:
    value = _unique()
    factory.report(session, "cert-fr", [("domain-name", value)], confidence=60)
    factory.report(
        session,
        "cert-fr",
        [("domain-name", value)],
        LabelsIn(tlp="amber", audience="community"),
        confidence=80,
    )
    assert session.get(ObservableAssessment, _observable(session, "domain-name", value).id) is None
    found = _assessment(session, value)
    assert found is not None
    assert (found["assessment"], found["reporters"], found["reports"], found["confidence"]) == (
        "single-source",
        1,
        2,
        80,
    )


def test_a_rejected_record_does_not_corroborate(session: Session) -> None:
    value = _unique()
    factory.report(session, "cert-fr", [("domain-name", value)])
    second = factory.report(session, "cert-ng", [("domain-name", value)])
    hub = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    intel_service.validate_submission(
        session=session, actor=hub, submission_id=second.id, decision="rejected"
    )
    observable = _observable(session, "domain-name", value)
    # Rejecting the second report re-assessed the value in the same transaction.
    session.expire_all()
    assert session.get(ObservableAssessment, observable.id) is None
    # Validated after all: it corroborates again.
    intel_service.validate_submission(
        session=session, actor=hub, submission_id=second.id, decision="validated"
    )
    session.expire_all()
    row = session.get(ObservableAssessment, observable.id)
    assert row is not None
    assert (row.assessment, row.reporters) == ("corroborated", 2)


def test_combined_confidence() -> None:
    assert correlation_service.combined_confidence([60]) == 60
    assert correlation_service.combined_confidence([60, 60]) == 84
    assert correlation_service.combined_confidence([100, 10]) == 100
    assert correlation_service.combined_confidence([]) == 0


# --------------------------------------------------------------------------- notices


def test_a_match_notifies_both_sides_by_name_when_both_may_read(session: Session) -> None:
    value = _unique()
    factory.report(session, "cert-fr", [("domain-name", value)])
    second = factory.report(session, "cert-ng", [("domain-name", value)])
    to_submitter = _notices(session, "cert-ng", second.id)
    to_holder = _notices(session, "cert-fr", second.id)
    assert [(n.kind, n.payload["counterpart"], n.payload["values"]) for n in to_submitter] == [
        ("match", "cert-fr", [value])
    ]
    assert [(n.kind, n.payload["counterpart"], n.payload["readable"]) for n in to_holder] == [
        ("match", "cert-ng", True)
    ]


def test_a_match_on_a_record_the_submitter_may_not_read_is_a_bare_hit(session: Session) -> None:
    value = _unique()
    factory.report(
        session, "cert-fr", [("domain-name", value)], LabelsIn(tlp="amber", audience="organisation")
    )
    second = factory.report(session, "cert-ng", [("domain-name", value)])
    (to_submitter,) = _notices(session, "cert-ng", second.id)
    assert to_submitter.payload["counterpart"] is None
    assert to_submitter.payload["record_ids"] == []
    assert "cert-fr" not in to_submitter.summary
    # The holder is told who reported its value, as with any hit.
    holder = [n for n in _notices(session, "cert-fr") if n.payload.get("counterpart") == "cert-ng"]
    assert holder[-1].payload["values"] == [value]


def test_the_holder_does_not_get_the_submission_it_may_not_read(session: Session) -> None:
    value = _unique()
    factory.report(session, "cert-fr", [("domain-name", value)])
    factory.report(
        session, "cert-ng", [("domain-name", value)], LabelsIn(tlp="amber", audience="organisation")
    )
    holder = [n for n in _notices(session, "cert-fr") if n.payload.get("counterpart") == "cert-ng"]
    assert [(n.payload["submission_id"], n.payload["readable"]) for n in holder] == [(None, False)]


def test_noise_raises_no_match(session: Session) -> None:
    factory.report(session, "cert-fr", [("domain-name", "google.com")])
    second = factory.report(session, "cert-ng", [("domain-name", "google.com")])
    assert _notices(session, "cert-ng", second.id) == []


def test_one_notice_per_pair_of_organisations_however_many_values(session: Session) -> None:
    values = [("domain-name", _unique()) for _ in range(30)]
    factory.report(session, "cert-fr", values)
    second = factory.report(session, "cert-ng", values)
    (notice,) = _notices(session, "cert-ng", second.id)
    assert notice.payload["count"] == 30
    assert len(notice.payload["values"]) == 20


def test_operational_data_of_two_countries_raises_deconfliction(session: Session) -> None:
    value = _unique()
    factory.report(session, "ncb-fr", [("domain-name", value)], factory.MEMBERS)
    second = factory.report(session, "ncb-ng", [("domain-name", value)], factory.MEMBERS)
    for party in ("ncb-fr", "ncb-ng"):
        notices = [n for n in _notices(session, party) if n.kind == "deconfliction"]
        assert [n.payload["parties"] for n in notices][-1:] == [["ncb-fr", "ncb-ng"]]
    for desk in ("desk-europe", "desk-africa"):
        notices = [n for n in _notices(session, desk) if n.kind == "deconfliction"]
        assert notices[-1].payload["parties"] == ["ncb-fr", "ncb-ng"]
        # The desk coordinates; the selectors stay with the parties.
        assert "values" not in notices[-1].payload
    assert second.accepted == 1


def test_community_data_raises_no_deconfliction(session: Session) -> None:
    value = _unique()
    factory.report(session, "ncb-fr", [("domain-name", value)])
    second = factory.report(session, "ncb-ng", [("domain-name", value)])
    assert [n.kind for n in _notices(session, "ncb-ng", second.id)] == ["match"]


def test_one_country_raises_no_deconfliction(session: Session) -> None:
    value = _unique()
    factory.report(session, "ncb-fr", [("domain-name", value)], factory.MEMBERS)
    second = factory.report(session, "fr-cyber-unit", [("domain-name", value)], factory.MEMBERS)
    assert [n.kind for n in _notices(session, "fr-cyber-unit", second.id)] == ["match"]


# --------------------------------------------------------------------------- reading


def test_correlation_hides_what_the_actor_may_not_read_and_tells_the_owner(
    session: Session,
) -> None:
    parent = _unique("h")
    factory.report(
        session,
        "cert-fr",
        [("domain-name", parent)],
        LabelsIn(tlp="amber", audience="organisation"),
    )
    child = "x." + parent
    factory.report(session, "cert-ng", [("domain-name", child)])
    officer = account_factory.actor(session, org="ncb-ng", role=Role.OFFICER)
    before = len(_notices(session, "cert-fr"))
    result = correlation_service.correlate_value(session=session, actor=officer, raw=child)
    (related,) = [r for r in result.related if r.value == parent]
    assert related.reports == []
    assert related.hidden_match is True
    hits = [n for n in _notices(session, "cert-fr")[before:] if n.kind == "hit"]
    assert [n.payload["asked_by_org"] for n in hits] == ["ncb-ng"]


def test_without_the_lookup_permission_hidden_records_are_not_even_hinted(
    session: Session,
) -> None:
    value = _unique()
    factory.report(
        session, "cert-fr", [("domain-name", value)], LabelsIn(tlp="amber", audience="organisation")
    )
    viewer = account_factory.actor(session, org="ncb-br", role=Role.VIEWER)
    result = correlation_service.correlate_value(session=session, actor=viewer, raw=value)
    assert (result.known, result.hidden_match, result.assessment, result.enrichment) == (
        False,
        False,
        None,
        None,
    )


def test_the_readers_assessment_counts_only_what_it_may_read(session: Session) -> None:
    value = _unique()
    factory.report(session, "cert-fr", [("domain-name", value)])
    factory.report(
        session, "cert-ng", [("domain-name", value)], LabelsIn(tlp="amber", audience="organisation")
    )
    viewer = account_factory.actor(session, org="ncb-br", role=Role.VIEWER)
    result = correlation_service.correlate_value(session=session, actor=viewer, raw=value)
    assert result.assessment is not None
    assert (result.assessment["reporters"], result.assessment["scope"]) == (
        1,
        "reports you may read",
    )
    assert result.enrichment is not None
    assert result.enrichment["enrichment"]["domain"]["data"]["tld"] == "xyz"


def test_correlating_an_id_the_actor_may_not_read_is_not_found(session: Session) -> None:
    value = _unique()
    factory.report(
        session, "cert-fr", [("domain-name", value)], LabelsIn(tlp="amber", audience="organisation")
    )
    observable = _observable(session, "domain-name", value)
    viewer = account_factory.actor(session, org="ncb-br", role=Role.VIEWER)
    with pytest.raises(NotFound):
        correlation_service.correlate(session=session, actor=viewer, observable_id=observable.id)


def test_a_lookup_does_not_reveal_a_value_only_others_may_read(session: Session) -> None:
    value = _unique()
    factory.report(
        session, "cert-fr", [("domain-name", value)], LabelsIn(tlp="amber", audience="organisation")
    )
    viewer = account_factory.actor(session, org="ncb-br", role=Role.VIEWER)
    found = observable_service.lookup(session=session, actor=viewer, raw=value)
    assert (found.observable_id, found.occurrences, found.hidden_match) == (None, [], False)


def test_a_value_nobody_reported_is_not_known_to_a_lookup(session: Session) -> None:
    host = _unique("only-host.")
    factory.report(session, "cert-fr", [("url", f"http://{host}/x")])
    officer = account_factory.actor(session, org="ncb-fr", role=Role.OFFICER)
    found = observable_service.lookup(session=session, actor=officer, raw=host)
    assert (found.observable_id, found.occurrences, found.hidden_match) == (None, [], False)


@pytest.mark.parametrize(
    ("obs_type", "spellings"),
    [
        ("domain-name", ["{n}.cf-test.xyz", "{N}.CF-TEST.XYZ.", "{n}.cf-test.xyz."]),
        ("domain-name", ["bücher-{n}.de", "{idn}", "BÜCHER-{N}.DE"]),
        (
            "url",
            [
                "http://{n}.cf-test.xyz/a%7eb",
                "HTTP://{N}.CF-TEST.XYZ:80/a~b",
                "http://{n}.cf-test.xyz./a%7Eb",
            ],
        ),
        ("ipv6-addr", ["::ffff:91.243.44.77", "91.243.44.77"]),
    ],
)
def test_every_spelling_of_a_value_meets_on_one_observable(
    session: Session, obs_type: str, spellings: list[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    orgs = ["cert-fr", "cert-ng", "cert-br"]
    idn = idna.encode(f"bücher-{tag}.de").decode()
    for org, spelling in zip(orgs, spellings, strict=False):
        value = spelling.format(n=tag, N=tag.upper(), idn=idn)
        factory.report(session, org, [(obs_type, value)])
    first = spellings[0].format(n=tag, N=tag.upper(), idn=idn)
    hub = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    found = correlation_service.correlate_value(session=session, actor=hub, raw=first)
    assert sorted(r.organisation for r in found.reports) == sorted(orgs[: len(spellings)])


def test_a_homograph_is_another_value(session: Session) -> None:
    tag = uuid.uuid4().hex[:6]
    latin, cyrillic = f"paypal-{tag}.xyz", f"p\u0430ypal-{tag}.xyz"  # U+0430: Cyrillic a
    factory.report(session, "cert-fr", [("domain-name", latin)])
    factory.report(session, "cert-ng", [("domain-name", cyrillic)])
    hub = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    found = correlation_service.correlate_value(session=session, actor=hub, raw=cyrillic)
    assert found.value.startswith("xn--")
    assert [r.organisation for r in found.reports] == ["cert-ng"]
