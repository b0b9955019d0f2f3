"""Activity by country: how many observables concern each country, as far as a reader may see.

This feeds the world map of the web UI. A country counts an observable when the observable's
jurisdiction names it (hosted in, ccTLD of, victim in, ...) and the reader may read at least one
report of it, reported in the period asked for; values flagged as noise that nobody overrode do
not count, as in products. "Reported by" is a separate view: it says who reports, not where the
threat is, and mixing both would count a French CERT's report of a Nigerian host for France. It
counts, per member country, the observables reported by its organisations in reports the reader
may read: who reported a value is part of the report.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.enrichment.models import Jurisdiction
from cyberfusion.observable.models import Occurrence
from cyberfusion.registry.models import Country, Organisation
from cyberfusion.sharing import service as sharing_service


class ActivityView(enum.StrEnum):
    CONCERNED = "concerned"  # where the activity is: every reason but "reported by"
    REPORTED_BY = "reported-by"  # where the reports come from


def country_activity(
    *,
    session: Session,
    actor: Actor,
    view: ActivityView = ActivityView.CONCERNED,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, int]:
    """Distinct observables per country (ISO alpha-2), largest first, for what `actor` may read."""
    if view is ActivityView.REPORTED_BY:
        return _reported_by(session, actor, since, until)
    report = [
        Occurrence.observable_id == Jurisdiction.observable_id,
        sharing_service.readable_condition(actor, Occurrence),
        *_period(since, until),
    ]
    counted = func.count(Jurisdiction.observable_id.distinct())
    rows = session.execute(
        select(Jurisdiction.country_code, counted)
        .where(
            exists().where(*report),
            ~enrichment_service.noise_condition(Jurisdiction.observable_id),
        )
        .group_by(Jurisdiction.country_code)
        .order_by(counted.desc(), Jurisdiction.country_code)
    ).all()
    return {str(code): int(n) for code, n in rows}


def _period(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(Occurrence.reported_at >= since)
    if until is not None:
        conditions.append(Occurrence.reported_at < until)
    return conditions


def _reported_by(
    session: Session, actor: Actor, since: datetime | None, until: datetime | None
) -> dict[str, int]:
    counted = func.count(Occurrence.observable_id.distinct())
    rows = session.execute(
        select(Organisation.country_code, counted)
        .join(Organisation, Organisation.id == Occurrence.owner_org_id)
        .join(Country, Country.iso2 == Organisation.country_code)
        .where(
            Country.is_member.is_(True),
            sharing_service.readable_condition(actor, Occurrence),
            *_period(since, until),
            ~enrichment_service.noise_condition(Occurrence.observable_id),
        )
        .group_by(Organisation.country_code)
        .order_by(counted.desc(), Organisation.country_code)
    ).all()
    return {str(code): int(n) for code, n in rows}
