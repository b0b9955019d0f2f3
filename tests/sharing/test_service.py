"""The sharing choke point: property tests against an independent model of the rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role, permissions_for
from cyberfusion.account.schemas import Actor
from cyberfusion.core.errors import PermissionDenied, ValidationFailed
from cyberfusion.intel import service as intel_service
from cyberfusion.intel.models import IntelObject
from cyberfusion.notification.models import Notification
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.models import Audience, SharingLabel, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory
from tests.factories import intel as intel_factory

# A cross-section of the demo world: every kind, several countries and regions.
WORLD = [
    "hub",
    "desk-africa",
    "desk-europe",
    "desk-mena",
    "ncb-fr",
    "ncb-ng",
    "ncb-br",
    "ncb-jo",
    "ncb-de",
    "fr-cyber-unit",
    "ng-cyber-unit",
    "cert-fr",
    "cert-ng",
    "cert-jo",
    "partner-northwind",
    "partner-bluewave",
    "intl-regional-police",
]
COUNTRIES = [None, "FR", "NG", "BR", "JO", "DE", "JP"]
REGIONS = [None, "africa", "europe", "mena", "americas"]

SLOW = settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Org:
    id: int
    slug: str
    kind: str
    country: str | None
    region: str | None


def _orgs(session: Session) -> dict[str, Org]:
    rows = session.scalars(select(Organisation).where(Organisation.slug.in_(WORLD))).all()
    return {o.slug: Org(o.id, o.slug, o.kind, o.country_code, o.region_code) for o in rows}


def _actor(org: Org) -> Actor:
    roles = (Role.OFFICER.value,)
    return Actor(
        user_id=None,
        email=f"reader@{org.slug}",
        org_id=org.id,
        org_slug=org.slug,
        org_kind=org.kind,
        country_code=org.country,
        region_code=org.region,
        roles=roles,
        permissions=permissions_for(roles),
        via="test",
    )


def expected_readers(label: SharingLabel, orgs: dict[str, Org]) -> set[str]:
    """The rules of docs/sharing.md written out plainly, independent of the SQL filter."""
    readers = set()
    recipients = set(label.recipient_org_ids)
    for org in orgs.values():
        law_enforcement = org.kind in ("ncb", "national_unit")
        member = law_enforcement or org.kind in ("desk", "hub")
        broad = label.tlp in ("clear", "green", "amber")
        audience = label.audience
        if (
            org.id == label.owner_org_id
            or (label.tlp == "clear" and audience == "public")
            or (audience == "organisations" and org.id in recipients)
            or (broad and audience == "community")
            or (broad and audience == "members" and member)
            or (
                broad
                and audience == "region"
                and (law_enforcement or org.kind == "desk")
                and org.region == label.audience_region
            )
            or (
                broad
                and audience == "country"
                and law_enforcement
                and org.country == label.audience_country
            )
        ):
            readers.add(org.slug)
    return readers


@st.composite
def labels_for(draw: st.DrawFn, orgs: list[str]) -> tuple[str, LabelsIn]:
    owner = draw(st.sampled_from(orgs))
    audience = draw(st.sampled_from(list(Audience)))
    labels = LabelsIn(
        tlp=draw(st.sampled_from(list(Tlp))),
        audience=audience,
        audience_country=draw(st.sampled_from(COUNTRIES)) if audience == Audience.COUNTRY else None,
        audience_region=draw(st.sampled_from(REGIONS)) if audience == Audience.REGION else None,
        recipients=draw(st.lists(st.sampled_from(orgs), max_size=4, unique=True))
        if audience == Audience.ORGANISATIONS
        else [],
        no_further_dissemination=draw(st.booleans()),
        no_judicial_use=draw(st.booleans()),
        contact_owner_before_action=draw(st.booleans()),
    )
    return owner, labels


def _insert(session: Session, owner: Org, label: SharingLabel) -> IntelObject:
    record = IntelObject(
        stix_id=f"indicator--{uuid.uuid4()}",
        stix_type="indicator",
        modified=intel_service._EPOCH,
        content={},
        content_hash="0" * 64,
        owner_org_id=owner.id,
        label_id=label.id,
    )
    session.add(record)
    session.flush()
    return record


def _readable_ids(session: Session, actor: Actor, records: dict[int, SharingLabel]) -> set[int]:
    """What the choke point lets the actor read among the example's records."""
    return set(
        session.scalars(
            select(IntelObject.id).where(
                IntelObject.id.in_(list(records)),
                sharing_service.readable_condition(actor, IntelObject),
            )
        )
    )


@SLOW
@given(data=st.data())
def test_every_actor_reads_exactly_what_the_rules_allow(
    session: Session, data: st.DataObject
) -> None:
    """Across random worlds of up to six records: each actor's reads through the choke point
    equal the rules' readers; the owner always reads; TLP:RED and AMBER+STRICT
    reach only listed organisations; anonymous reads only TLP:CLEAR public."""
    orgs = _orgs(session)
    drawn = data.draw(st.lists(labels_for(sorted(orgs)), min_size=1, max_size=6))
    savepoint = session.begin_nested()
    try:
        records: dict[int, SharingLabel] = {}
        for owner_slug, labels_in in drawn:
            owner = orgs[owner_slug]
            owner_row = session.get(Organisation, owner.id)
            assert owner_row is not None
            try:
                label = sharing_service.resolve(
                    session=session, owner=owner_row, labels_in=labels_in
                )
            except ValidationFailed:
                continue
            records[_insert(session, owner, label).id] = label
        for slug, org in orgs.items():
            actor = _actor(org)
            seen = _readable_ids(session, actor, records)
            expected = {
                rid for rid, label in records.items() if slug in expected_readers(label, orgs)
            }
            assert seen == expected, (
                slug,
                [(records[r].tlp, records[r].audience) for r in seen ^ expected],
            )
            for rid, label in records.items():
                if label.owner_org_id == org.id:
                    assert rid in seen
                if label.tlp in ("red", "amber+strict") and rid in seen:
                    assert org.id == label.owner_org_id or org.id in label.recipient_org_ids
        anonymous = _readable_ids(session, Actor.anonymous(), records)
        assert anonymous == {
            rid
            for rid, label in records.items()
            if label.tlp == "clear" and label.audience == "public"
        }
    finally:
        savepoint.rollback()


@SLOW
@given(data=st.data())
def test_labels_that_break_the_rules_are_refused(session: Session, data: st.DataObject) -> None:
    """RED without a list, AMBER+STRICT beyond named organisations and non-CLEAR public never
    resolve; every label that resolves satisfies the TLP caps."""
    orgs = _orgs(session)
    owner_slug, labels_in = data.draw(labels_for(sorted(orgs)))
    owner = session.get(Organisation, orgs[owner_slug].id)
    assert owner is not None
    savepoint = session.begin_nested()
    try:
        try:
            label = sharing_service.resolve(session=session, owner=owner, labels_in=labels_in)
        except ValidationFailed as exc:
            assert exc.field in ("recipients", "audience", "audience_country", "audience_region")
            return
        if label.tlp == "red":
            assert label.audience == "organisations"
            assert label.recipient_org_ids or labels_in.recipients == [owner.slug]
        if label.tlp == "amber+strict":
            assert label.audience in ("organisation", "organisations")
        if label.audience == "public":
            assert label.tlp == "clear"
    finally:
        savepoint.rollback()


def test_same_labels_resolve_to_one_row(session: Session) -> None:
    owner = session.scalars(select(Organisation).where(Organisation.slug == "ncb-fr")).one()
    labels = LabelsIn(
        tlp=Tlp.AMBER, audience=Audience.ORGANISATIONS, recipients=["ncb-ng", "ncb-br"]
    )
    first = sharing_service.resolve(session=session, owner=owner, labels_in=labels)
    same = sharing_service.resolve(
        session=session,
        owner=owner,
        labels_in=labels.model_copy(update={"recipients": ["ncb-br", "ncb-ng"]}),
    )
    assert first.id == same.id


@pytest.mark.parametrize(
    ("labels", "field", "message"),
    [
        ({"tlp": "red", "audience": "members"}, "recipients", "TLP:RED needs an explicit list"),
        ({"tlp": "red", "audience": "organisations"}, "recipients", "at least one recipient"),
        ({"tlp": "amber+strict", "audience": "country"}, "audience", r"AMBER\+STRICT"),
        ({"tlp": "green", "audience": "public"}, "audience", "only TLP:CLEAR"),
        (
            {"tlp": "amber", "audience": "organisations", "recipients": ["nope"]},
            "recipients",
            "unknown recipient organisation 'nope'",
        ),
        (
            {"tlp": "amber", "audience": "country", "audience_country": "ZZ"},
            "audience_country",
            "'ZZ' is not",
        ),
        (
            {"tlp": "amber", "audience": "region", "audience_region": "atlantis"},
            "audience_region",
            "unknown region 'atlantis'",
        ),
        (
            {"tlp": "amber", "audience": "members", "recipients": ["ncb-ng"]},
            "recipients",
            "only for audience organisations",
        ),
    ],
)
def test_bad_labels_are_refused_and_store_nothing(
    session: Session, labels: dict[str, object], field: str, message: str
) -> None:
    actor = account_factory.actor(session, org="ncb-fr")
    before = session.scalar(select(func.count()).select_from(IntelObject))
    with pytest.raises(ValidationFailed, match=message) as excinfo:
        intel_factory.record(session, actor, LabelsIn.model_validate(labels))
    assert excinfo.value.field == field
    assert session.scalar(select(func.count()).select_from(IntelObject)) == before


def test_only_the_owner_widens_or_lowers(session: Session) -> None:
    owner = account_factory.actor(session, org="ncb-fr")
    record = intel_factory.record(
        session, owner, LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATIONS, recipients=["hub"])
    )
    hub_analyst = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    for wider, reason in [
        (LabelsIn(tlp=Tlp.AMBER, audience=Audience.MEMBERS), "widens the audience"),
        (
            LabelsIn(tlp=Tlp.GREEN, audience=Audience.ORGANISATIONS, recipients=["hub"]),
            "lowers the marking",
        ),
        (
            LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATIONS, recipients=["hub", "ncb-ng"]),
            "adds recipient organisations",
        ),
    ]:
        with pytest.raises(PermissionDenied, match=reason):
            intel_service.relabel(
                session=session, actor=hub_analyst, record_id=record.id, labels_in=wider
            )
        session.refresh(record)
        assert record.label.tlp == "amber" and record.label.audience == "organisations"
    # Tightening is allowed to a reader; widening to the owner.
    intel_service.relabel(
        session=session,
        actor=hub_analyst,
        record_id=record.id,
        labels_in=LabelsIn(tlp=Tlp.RED, audience=Audience.ORGANISATIONS, recipients=["hub"]),
    )
    assert record.label.tlp == "red"
    intel_service.relabel(
        session=session,
        actor=owner,
        record_id=record.id,
        labels_in=LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
    )
    assert (record.label.tlp, record.label.audience) == ("green", "community")


def test_hit_no_hit_reveals_existence_only_and_tells_the_owner(session: Session) -> None:
    owner = account_factory.actor(session, org="ncb-fr")
    record = intel_factory.record(
        session,
        owner,
        LabelsIn(tlp=Tlp.RED, audience=Audience.ORGANISATIONS, recipients=["ncb-ng"]),
    )
    asker = account_factory.actor(session, org="cert-fr", role=Role.PARTNER_ANALYST)
    result = sharing_service.hit_check(
        session=session,
        actor=asker,
        model=IntelObject,
        condition=IntelObject.stix_id == record.stix_id,
        query_summary=record.stix_id,
    )
    assert result.readable == []
    assert result.hidden_match is True
    notes = session.scalars(
        select(Notification).where(
            Notification.recipient_org_id == owner.org_id, Notification.kind == "hit"
        )
    ).all()
    assert len(notes) == 1
    assert notes[0].payload["asked_by_org"] == "cert-fr"
    assert notes[0].payload["asked_by_user"] == asker.email
    assert notes[0].payload["record_ids"] == [record.id]

    recipient = account_factory.actor(session, org="ncb-ng")
    result = sharing_service.hit_check(
        session=session,
        actor=recipient,
        model=IntelObject,
        condition=IntelObject.stix_id == record.stix_id,
        query_summary=record.stix_id,
    )
    assert [r.id for r in result.readable] == [record.id]
    assert result.hidden_match is False
    assert (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.recipient_org_id == owner.org_id)
        )
        == 1
    )


def test_unreadable_record_is_not_found_not_forbidden(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    owner = account_factory.actor(session, org="ncb-fr")
    record = intel_factory.record(
        session, owner, LabelsIn(tlp=Tlp.AMBER, audience=Audience.COUNTRY)
    )
    outsider = account_factory.user(session, org="ncb-ng")
    insider = account_factory.user(session, org="fr-cyber-unit")
    for user, status in [(outsider, 404), (insider, 200)]:
        key = account_factory.api_key(session, user)
        response = client.get(
            f"/api/v1/objects/{record.id}", headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == status
    assert client.get(f"/api/v1/objects/{record.id}").status_code == 404


def test_public_clear_records_are_readable_without_login(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    owner = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    public = intel_factory.record(session, owner, LabelsIn(tlp=Tlp.CLEAR, audience=Audience.PUBLIC))
    community = intel_factory.record(
        session, owner, LabelsIn(tlp=Tlp.CLEAR, audience=Audience.COMMUNITY)
    )
    response = client.get("/api/v1/objects?limit=1000")
    assert response.status_code == 200
    ids = {item["id"] for item in response.json()}
    assert public.id in ids
    assert community.id not in ids
    assert all(
        item["labels"]["tlp"] == "clear" and item["labels"]["audience"] == "public"
        for item in response.json()
    )
