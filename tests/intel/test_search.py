"""Searching, counting and versions of records: every answer stays inside the sharing filter."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from cyberfusion.core.errors import ValidationFailed
from cyberfusion.core.time import utcnow
from cyberfusion.intel import service as intel_service
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory
from tests.factories import intel as intel_factory


def _named(
    name: str, *, stix_id: str | None = None, modified: str = "2026-11-02T10:00:00.000Z"
) -> dict[str, Any]:
    content = intel_factory.indicator_content()
    content.update({"name": name, "modified": modified})
    if stix_id:
        content["id"] = stix_id
    return content


def test_search_matches_text_and_filters_inside_what_the_actor_may_read(
    session: Session,
) -> None:
    word = uuid.uuid4().hex[:12]
    fr = account_factory.actor(session, org="ncb-fr")
    br = account_factory.actor(session, org="ncb-br")
    shared = intel_factory.record(
        session,
        fr,
        LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
        _named(f"Shared {word} server"),
    )
    own = intel_factory.record(
        session,
        fr,
        LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION),
        _named(f"French {word} case (100% sure_)"),
    )
    found, total = intel_service.search(session=session, actor=fr, text=word.upper())
    assert ([r.id for r in found], total) == ([own.id, shared.id], 2)
    # Brazil reads the community record only; the count does not betray the other.
    found, total = intel_service.search(session=session, actor=br, text=word)
    assert ([r.id for r in found], total) == ([shared.id], 1)
    assert intel_service.search(session=session, actor=br, text=own.stix_id) == ([], 0)

    def ids(**filters: object) -> list[int]:
        found, _ = intel_service.search(session=session, actor=fr, text=word, **filters)  # type: ignore[arg-type]
        return [r.id for r in found]

    assert ids(tlp="amber") == [own.id]
    assert ids(tlp="red") == []
    assert ids(stix_type="indicator") == [own.id, shared.id]
    assert ids(stix_type="malware") == []
    assert ids(status="unvalidated") == [own.id, shared.id]
    assert ids(status="validated") == []
    assert ids(since=utcnow() + timedelta(days=1)) == []
    assert ids(until=utcnow() + timedelta(days=1)) == [own.id, shared.id]
    # LIKE wildcards in the text are literal characters.
    assert intel_service.search(session=session, actor=fr, text="100% sure_")[1] == 1
    assert intel_service.search(session=session, actor=fr, text=f"{word}%server")[1] == 0
    by_id, _ = intel_service.search(session=session, actor=fr, text=own.stix_id)
    assert [r.id for r in by_id] == [own.id]


def test_search_pages_with_limit_and_offset(session: Session) -> None:
    word = uuid.uuid4().hex[:12]
    fr = account_factory.actor(session, org="ncb-fr")
    made = [intel_factory.record(session, fr, content=_named(f"{word} {n}")).id for n in range(3)]
    first, total = intel_service.search(session=session, actor=fr, text=word, limit=2)
    second, _ = intel_service.search(session=session, actor=fr, text=word, limit=2, offset=2)
    assert total == 3
    assert [r.id for r in first + second] == sorted(made, reverse=True)


def test_count_by_type_and_status_counts_readable_records_only(session: Session) -> None:
    fr = account_factory.actor(session, org="ncb-fr")
    br = account_factory.actor(session, org="ncb-br")
    before_fr = intel_service.count_by(session=session, actor=fr, column="stix_type")
    before_br = intel_service.count_by(session=session, actor=br, column="status")
    intel_factory.record(session, fr, LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION))
    after_fr = intel_service.count_by(session=session, actor=fr, column="stix_type")
    assert after_fr["indicator"] == before_fr["indicator"] + 1
    assert intel_service.count_by(session=session, actor=br, column="status") == before_br
    assert sum(after_fr.values()) == intel_service.count(session=session, actor=fr)
    with pytest.raises(ValidationFailed) as raised:
        intel_service.count_by(session=session, actor=fr, column="owner_org_id")
    assert raised.value.detail == "records are counted by stix_type or status, not 'owner_org_id'"
    assert raised.value.field == "column"


def test_versions_are_newest_first_and_filtered(session: Session) -> None:
    fr = account_factory.actor(session, org="ncb-fr")
    br = account_factory.actor(session, org="ncb-br")
    stix_id = f"indicator--{uuid.uuid4()}"
    community = LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    old = intel_factory.record(
        session, fr, community, _named("v1", stix_id=stix_id, modified="2026-11-01T00:00:00.000Z")
    )
    new = intel_factory.record(
        session,
        fr,
        LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION),
        _named("v2", stix_id=stix_id, modified="2026-11-03T00:00:00.000Z"),
    )
    assert [v.id for v in intel_service.versions(session=session, actor=fr, stix_id=stix_id)] == [
        new.id,
        old.id,
    ]
    assert [v.id for v in intel_service.versions(session=session, actor=br, stix_id=stix_id)] == [
        old.id
    ]


def test_weekly_counts_bucket_readable_records_by_week_received(session: Session) -> None:
    fr = account_factory.actor(session, org="ncb-fr")
    br = account_factory.actor(session, org="ncb-br")
    now = utcnow()
    until = now + timedelta(hours=1)
    before_fr = intel_service.weekly_counts(session=session, actor=fr, weeks=3, until=until)
    before_br = intel_service.weekly_counts(session=session, actor=br, weeks=3, until=until)
    community = LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    records = [
        intel_factory.record(session, fr, community, content=_named(f"w{n}")) for n in range(3)
    ]
    own = intel_factory.record(session, fr, LabelsIn(tlp=Tlp.AMBER), content=_named("own"))
    records[0].created_at = now - timedelta(days=8)  # the week before this one
    records[1].created_at = now - timedelta(days=30)  # before the three weeks
    session.flush()
    after_fr = intel_service.weekly_counts(session=session, actor=fr, weeks=3, until=until)
    after_br = intel_service.weekly_counts(session=session, actor=br, weeks=3, until=until)
    assert [start for start, _ in after_fr] == [until - timedelta(weeks=w) for w in (3, 2, 1)]
    assert [a - b for (_, a), (_, b) in zip(after_fr, before_fr, strict=True)] == [0, 1, 2]
    assert [a - b for (_, a), (_, b) in zip(after_br, before_br, strict=True)] == [0, 1, 1]
    assert own.created_at > until - timedelta(weeks=1)
