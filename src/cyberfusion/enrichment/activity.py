"""Activity by country: how many observables concern each country, as far as a reader may see.

This feeds the world map of the web UI. A country counts an observable when the observable's
jurisdiction names it (hosted in, ccTLD of, victim in, ...) and the reader may read at least one
report of it, reported in the period asked for; values flagged as noise that nobody overrode do
not count, as in products. "Reported by" is a separate view: it says who reports, not where the
threat is, and mixing both would count a French CERT's report of a Nigerian host for France.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.enrichment.models import Jurisdiction, JurisdictionReason
from cyberfusion.observable.models import Occurrence
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
    report = [
        Occurrence.observable_id == Jurisdiction.observable_id,
        sharing_service.readable_condition(actor, Occurrence),
    ]
    if since is not None:
        report.append(Occurrence.reported_at >= since)
    if until is not None:
        report.append(Occurrence.reported_at < until)
    reason = (
        Jurisdiction.reason == JurisdictionReason.REPORTED_BY.value
        if view is ActivityView.REPORTED_BY
        else Jurisdiction.reason != JurisdictionReason.REPORTED_BY.value
    )
    counted = func.count(Jurisdiction.observable_id.distinct())
    rows = session.execute(
        select(Jurisdiction.country_code, counted)
        .where(
            reason,
            exists().where(*report),
            ~enrichment_service.noise_condition(Jurisdiction.observable_id),
        )
        .group_by(Jurisdiction.country_code)
        .order_by(counted.desc(), Jurisdiction.country_code)
    ).all()
    return {str(code): int(n) for code, n in rows}
