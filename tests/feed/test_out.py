"""Feeds out: tiers, blocklists (text and CSV), and the MISP feed loaded with PyMISP."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from pymisp import MISPEvent
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.core.errors import NotFound, Unauthenticated
from cyberfusion.core.time import utcnow
from cyberfusion.export.service import StatusFilter
from cyberfusion.feed import out
from cyberfusion.feed import service as feed_service
from cyberfusion.feed.schemas import BlocklistKind, Tier
from cyberfusion.intake.csv_format import COLUMNS
from cyberfusion.intake.schemas import SourceFormat
from cyberfusion.intel import service as intel_service
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account
from tests.feed.conftest import make_feed, submit

# One value per label set, each a domain of its own; the tier tests read which come out.
FR_VALUES = {
    "org": ("fr-org-only.cf-test.xyz", LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION)),
    "country": ("fr-country.cf-test.xyz", LabelsIn(tlp=Tlp.AMBER, audience=Audience.COUNTRY)),
    "region": ("fr-region.cf-test.xyz", LabelsIn(tlp=Tlp.AMBER, audience=Audience.REGION)),
    "members": ("fr-members.cf-test.xyz", LabelsIn(tlp=Tlp.GREEN, audience=Audience.MEMBERS)),
    "community": (
        "fr-community.cf-test.xyz",
        LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
    ),
    "public": ("fr-public.cf-test.xyz", LabelsIn(tlp=Tlp.CLEAR, audience=Audience.PUBLIC)),
}
NG_COMMUNITY = "ng-community.cf-test.xyz"
NG_TO_FR = "ng-to-fr.cf-test.xyz"
PARTNER = "partner-unvalidated.cf-test.xyz"


@dataclass(frozen=True)
class World:
    since: datetime
    # The day the records were stored: their MISP feed event is that day's.
    day: str
    fr: Actor
    ng: Actor
    partner: Actor
    partner_record: int


@pytest.fixture
def world(session: Session) -> World:
    since = utcnow() - timedelta(microseconds=1)
    fr = account.actor(session, org="ncb-fr")
    ng = account.actor(session, org="ncb-ng")
    partner = account.actor(session, org="partner-northwind", role=Role.PARTNER_ANALYST)
    for value, labels in FR_VALUES.values():
        submit(session, fr, f"{value}\n", labels)
    # One IP and one URL beside the domains, for the other blocklists.
    submit(
        session,
        fr,
        "91.243.44.201\n91.243.45.0/24\nhttp://fr-community.cf-test.xyz/gate.php\n",
        FR_VALUES["community"][1],
    )
    submit(session, ng, f"{NG_COMMUNITY}\n", LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY))
    submit(
        session,
        ng,
        f"{NG_TO_FR}\n",
        LabelsIn(tlp=Tlp.RED, audience=Audience.ORGANISATIONS, recipients=["ncb-fr"]),
    )
    result = submit(
        session, partner, f"{PARTNER}\n", LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    )
    record_id = next(r.record_id for r in result.results if r.record_id is not None)
    return World(since, since.date().isoformat(), fr, ng, partner, record_id)


def _domains(
    session: Session,
    actor: Actor,
    tier: Tier,
    since: datetime,
    status: StatusFilter = StatusFilter.VALIDATED,
) -> list[str]:
    chunks = out.blocklist_text(
        session=session,
        actor=actor,
        tier=tier,
        kind=BlocklistKind.DOMAIN,
        status=status,
        since=since,
    )
    return sorted(b"".join(chunks).decode().splitlines())


WIDE = sorted([FR_VALUES["community"][0], FR_VALUES["public"][0], NG_COMMUNITY])


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        (
            Tier.ORG,
            sorted([value for value, _ in FR_VALUES.values()] + [NG_COMMUNITY, NG_TO_FR]),
        ),
        (
            Tier.COUNTRY,
            sorted([FR_VALUES[k][0] for k in ("country", "region", "members")] + WIDE),
        ),
        (Tier.REGION, sorted([FR_VALUES[k][0] for k in ("region", "members")] + WIDE)),
        (Tier.MEMBERS, sorted([FR_VALUES["members"][0], *WIDE])),
        (Tier.COMMUNITY, WIDE),
        (Tier.PUBLIC, [FR_VALUES["public"][0]]),
    ],
)
def test_each_tier_holds_what_is_shared_at_least_as_widely(
    session: Session, world: World, tier: Tier, expected: list[str]
) -> None:
    assert _domains(session, world.fr, tier, world.since) == expected


def test_another_country_gets_the_shared_tiers_only(session: Session, world: World) -> None:
    assert _domains(session, world.ng, Tier.ORG, world.since) == sorted(
        [FR_VALUES["members"][0], NG_TO_FR, *WIDE]
    )
    assert _domains(session, world.ng, Tier.COUNTRY, world.since) == sorted(
        [FR_VALUES["members"][0], *WIDE]
    )


def test_tiers_an_organisation_does_not_belong_to_do_not_exist(
    session: Session, world: World
) -> None:
    for tier in (Tier.COUNTRY, Tier.REGION, Tier.MEMBERS):
        with pytest.raises(NotFound, match=f"no {tier.value} feeds for your organisation"):
            _domains(session, world.partner, tier, world.since)
    assert _domains(session, world.partner, Tier.COMMUNITY, world.since) == WIDE
    anonymous = Actor.anonymous()
    with pytest.raises(Unauthenticated, match="the community feeds need credentials"):
        _domains(session, anonymous, Tier.COMMUNITY, world.since)
    assert _domains(session, anonymous, Tier.PUBLIC, world.since) == [FR_VALUES["public"][0]]
    desk = account.actor(session, org="desk-africa", role=Role.DESK_OFFICER)
    with pytest.raises(NotFound, match="no country feeds"):
        _domains(session, desk, Tier.COUNTRY, world.since)
    assert _domains(session, desk, Tier.REGION, world.since) == sorted(
        [FR_VALUES["members"][0], *WIDE]
    )


def test_unvalidated_records_only_when_asked(session: Session, world: World) -> None:
    assert PARTNER not in _domains(session, world.fr, Tier.COMMUNITY, world.since)
    assert _domains(session, world.fr, Tier.COMMUNITY, world.since, StatusFilter.ANY) == sorted(
        [*WIDE, PARTNER]
    )
    assert _domains(session, world.fr, Tier.COMMUNITY, world.since, StatusFilter.UNVALIDATED) == [
        PARTNER
    ]


def test_ip_and_url_blocklists(session: Session, world: World) -> None:
    ips = out.blocklist_text(
        session=session,
        actor=world.fr,
        tier=Tier.COMMUNITY,
        kind=BlocklistKind.IP,
        since=world.since,
    )
    # One value a line, in the order values were first stored (intake stores them in digest
    # order).
    text = b"".join(ips)
    assert text.endswith(b"\n")
    assert sorted(text.splitlines()) == [b"91.243.44.201", b"91.243.45.0/24"]
    urls = out.blocklist_text(
        session=session,
        actor=world.fr,
        tier=Tier.COMMUNITY,
        kind=BlocklistKind.URL,
        since=world.since,
    )
    assert b"".join(urls) == b"http://fr-community.cf-test.xyz/gate.php\n"


def _indicator(stix_id: str, modified: str, pattern: str, **extra: object) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id,
        "created": "2026-10-01T00:00:00.000Z",
        "modified": modified,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-10-01T00:00:00Z",
        **extra,
    }


def test_latest_versions_only_and_revoked_left_out(session: Session) -> None:
    since = utcnow() - timedelta(microseconds=1)
    fr = account.actor(session, org="ncb-fr")
    moved = "indicator--4a1c2b3d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
    revoked = "indicator--5b2d3c4e-6f70-4b8c-9dae-1f2a3b4c5d6e"
    bundle = {
        "type": "bundle",
        "id": "bundle--6c3e4d5f-7081-4c9d-aebf-2a3b4c5d6e7f",
        "objects": [
            _indicator(moved, "2026-10-01T00:00:00.000Z", "[domain-name:value = 'v1.cf-test.xyz']"),
            _indicator(moved, "2026-10-02T00:00:00.000Z", "[domain-name:value = 'v2.cf-test.xyz']"),
            _indicator(
                revoked, "2026-10-01T00:00:00.000Z", "[domain-name:value = 'rv.cf-test.xyz']"
            ),
            _indicator(
                revoked,
                "2026-10-03T00:00:00.000Z",
                "[domain-name:value = 'rv.cf-test.xyz']",
                revoked=True,
            ),
        ],
    }
    result = submit(
        session,
        fr,
        json.dumps(bundle),
        LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
        SourceFormat.STIX,
    )
    assert result.accepted == 4
    assert _domains(session, fr, Tier.COMMUNITY, since) == ["v2.cf-test.xyz"]


def test_csv_blocklist_has_the_intake_header_and_reads_back(session: Session, world: World) -> None:
    raw = b"".join(
        out.blocklist_csv(
            session=session,
            actor=world.fr,
            tier=Tier.MEMBERS,
            kinds=[BlocklistKind.DOMAIN, BlocklistKind.IP],
            since=world.since,
        )
    )
    rows = list(csv.reader(io.StringIO(raw.decode())))
    assert tuple(rows[0]) == COLUMNS
    by_value = {row[1]: row for row in rows[1:]}
    assert sorted(by_value) == sorted(
        [FR_VALUES["members"][0], *WIDE, "91.243.44.201", "91.243.45.0/24"]
    )
    row = by_value[NG_COMMUNITY]
    assert (row[0], row[4], row[5], row[6], row[7]) == ("domain-name", "", "", "50", "")
    assert row[2] == row[3]
    assert datetime.fromisoformat(row[2].replace("Z", "+00:00")) >= world.since.replace(
        microsecond=0
    )
    # Another organisation imports the blocklist as it is.
    cert = account.actor(session, org="cert-fr", role=Role.PARTNER_ANALYST)
    imported = submit(session, cert, raw.decode())
    assert (imported.status, imported.accepted, imported.rejected) == ("accepted", 6, 0)


# -- MISP feed ---------------------------------------------------------------------------------


def _event(session: Session, actor: Actor, tier: Tier, event_uuid: str) -> MISPEvent:
    event = MISPEvent()
    event.load(out.misp_event(session=session, actor=actor, tier=tier, event_uuid=event_uuid))
    return event


def test_misp_feed_loads_in_pymisp_and_matches_the_blocklist(
    session: Session, world: World, tmp_path: Path
) -> None:
    manifest = out.misp_manifest(session=session, actor=world.fr, tier=Tier.COMMUNITY)
    today = world.day
    scope_uuid = out.event_uuid_for("community", today)
    # The demo world's records were stored earlier today (or on another day): other entries.
    assert scope_uuid in manifest
    entry = manifest[scope_uuid]
    assert (entry["date"], entry["Orgc"], entry["Tag"], entry["analysis"]) == (
        today,
        out.ORGC,
        [{"name": "tlp:green"}],
        2,
    )
    event = _event(session, world.fr, Tier.COMMUNITY, scope_uuid)
    assert (event.uuid, event.info, event.published) == (
        scope_uuid,
        f"cyberfusion feed (community): indicators stored on {today}",
        True,
    )
    assert event.Orgc.name == "cyberfusion"
    assert int(event.timestamp.timestamp()) == entry["timestamp"]
    values = {a.value for a in event.attributes}
    # The event holds the day's records, as the blocklist of what was stored since midnight.
    midnight = datetime.fromisoformat(f"{today}T00:00:00+00:00") - timedelta(microseconds=1)
    listed = {
        item.value
        for item in out.listed_values(
            session=session, actor=world.fr, tier=Tier.COMMUNITY, since=midnight
        )
    }
    assert values == listed
    assert {*WIDE, "91.243.44.201", "http://fr-community.cf-test.xyz/gate.php"} <= values
    assert FR_VALUES["members"][0] not in values and PARTNER not in values
    # The manifest is what PyMISP's own feed generator makes of the event file.
    feed_dir = tmp_path / "feed"
    feed_dir.mkdir()
    (feed_dir / f"{scope_uuid}.json").write_bytes(
        out.misp_event(session=session, actor=world.fr, tier=Tier.COMMUNITY, event_uuid=scope_uuid)
    )
    from pymisp.tools import feed_meta_generator

    feed_meta_generator(feed_dir)
    generated = json.loads((feed_dir / "manifest.json").read_text())
    assert generated[scope_uuid]["timestamp"] == entry["timestamp"]
    assert generated[scope_uuid]["info"] == entry["info"]
    assert [t["name"] for t in generated[scope_uuid]["Tag"]] == ["tlp:green"]
    hashes = b"".join(out.misp_hashes(session=session, actor=world.fr, tier=Tier.COMMUNITY))
    assert sorted(hashes.decode().splitlines()) == sorted(
        (feed_dir / "hashes.csv").read_text().splitlines()
    )
    assert (
        f"{hashlib.md5(NG_COMMUNITY.encode()).hexdigest()},{scope_uuid}"
        in hashes.decode().splitlines()
    )


def test_manifest_timestamp_moves_only_when_the_event_changes(
    session: Session, world: World
) -> None:
    first = out.misp_manifest(session=session, actor=world.fr, tier=Tier.COMMUNITY)
    again = out.misp_manifest(session=session, actor=world.fr, tier=Tier.COMMUNITY)
    assert again == first
    event_uuid = out.event_uuid_for("community", world.day)
    # The partner's record is validated later: the day's event gains it, its timestamp moves.
    hub = account.actor(session, org="hub", role=Role.HUB_ANALYST)
    intel_service.validate(
        session=session, actor=hub, record_id=world.partner_record, decision="validated"
    )
    changed = out.misp_manifest(session=session, actor=world.fr, tier=Tier.COMMUNITY)
    assert changed[event_uuid]["timestamp"] > first[event_uuid]["timestamp"]
    event = _event(session, world.fr, Tier.COMMUNITY, event_uuid)
    assert PARTNER in {a.value for a in event.attributes}
    assert int(event.timestamp.timestamp()) == changed[event_uuid]["timestamp"]


def test_misp_event_of_another_scope_is_not_found(session: Session, world: World) -> None:
    manifest = out.misp_manifest(session=session, actor=world.fr, tier=Tier.MEMBERS)
    members_uuid = out.event_uuid_for("members", world.day)
    assert members_uuid in manifest
    with pytest.raises(NotFound, match=f"no event {members_uuid} in this feed"):
        out.misp_event(
            session=session, actor=world.fr, tier=Tier.COMMUNITY, event_uuid=members_uuid
        )
    public = out.misp_manifest(session=session, actor=Actor.anonymous(), tier=Tier.PUBLIC)
    public_uuid = out.event_uuid_for("public", world.day)
    assert public_uuid in public
    event = _event(session, Actor.anonymous(), Tier.PUBLIC, public_uuid)
    values = {a.value for a in event.attributes}
    assert FR_VALUES["public"][0] in values and NG_COMMUNITY not in values
    assert [t.name for t in event.tags] == ["tlp:clear"]


def test_misp_feed_out_is_read_back_by_feed_in_as_another_organisation(
    session: Session, world: World, tmp_path: Path
) -> None:
    feed_dir = tmp_path / "published"
    feed_dir.mkdir()
    manifest = out.misp_manifest(session=session, actor=world.fr, tier=Tier.COMMUNITY)
    (feed_dir / "manifest.json").write_bytes(orjson.dumps(manifest))
    for event_uuid in manifest:
        (feed_dir / f"{event_uuid}.json").write_bytes(
            out.misp_event(
                session=session, actor=world.fr, tier=Tier.COMMUNITY, event_uuid=event_uuid
            )
        )
    feed = make_feed(
        session,
        org="cert-br",
        name="from-cyberfusion",
        kind="misp",
        source=str(feed_dir),
        labels={"tlp": "green", "audience": "community"},
    )
    result = feed_service.run(session=session, feed=feed, trigger="cli", worker="test")
    assert (result.status, result.error, result.rejected) == ("succeeded", None, 0)
    cert_br = session.scalars(select(Organisation.id).where(Organisation.slug == "cert-br")).one()
    own = set(
        session.scalars(
            select(Observable.value)
            .join(Occurrence, Occurrence.observable_id == Observable.id)
            .where(Occurrence.owner_org_id == cert_br)
        )
    )
    assert {*WIDE, "91.243.44.201", "http://fr-community.cf-test.xyz/gate.php"} <= own
    again = feed_service.run(session=session, feed=feed, trigger="cli", worker="test")
    assert (again.accepted, again.details["submissions"]) == (0, [])


def test_values_a_warninglist_flags_are_left_out_until_cleared(
    session: Session, world: World
) -> None:
    from cyberfusion.enrichment.models import ObservableFlag

    observable_id = session.scalars(
        select(Observable.id).where(Observable.value == NG_COMMUNITY)
    ).one()
    flag = ObservableFlag(
        observable_id=observable_id,
        source="warninglist",
        name="List of known hosting domains",
        data_version="1",
    )
    session.add(flag)
    session.flush()
    without = sorted(set(WIDE) - {NG_COMMUNITY})
    assert _domains(session, world.fr, Tier.COMMUNITY, world.since) == without
    event_uuid = out.event_uuid_for("community", world.day)
    assert event_uuid in out.misp_manifest(session=session, actor=world.fr, tier=Tier.COMMUNITY)
    values = {a.value for a in _event(session, world.fr, Tier.COMMUNITY, event_uuid).attributes}
    assert NG_COMMUNITY not in values and FR_VALUES["community"][0] in values
    flag.overridden_at = utcnow()
    flag.overridden_by = "analyst@hub.cyberfusion.example"
    session.flush()
    assert _domains(session, world.fr, Tier.COMMUNITY, world.since) == WIDE
