"""Rows that refer to an observable or a country that does not exist.

The tables derived from observables carry no foreign keys (migration 0018: on PostgreSQL the
per-row checks were a quarter of the correlation job). What keeps them whole instead:
observables are never deleted, the derived rows are written only by the enrichment and the
correlation for observables read in the same transaction, and jurisdiction only for member
countries. This check says whether that held: `cyberfusion db check` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from cyberfusion.correlation.models import ObservableAssessment, ObservableLink
from cyberfusion.enrichment.models import Enrichment, Jurisdiction, ObservableFlag
from cyberfusion.observable.models import Observable
from cyberfusion.registry.models import Country

# Ids quoted per broken reference; the count says how many rows there are in all.
_SAMPLE = 10


@dataclass(frozen=True)
class BrokenReference:
    """Rows of `table` whose `column` names a row `refers_to` does not have."""

    table: str
    column: str
    refers_to: str
    rows: int
    sample: list[str]  # the missing values, at most _SAMPLE of them

    def describe(self) -> str:
        shown = ", ".join(self.sample)
        more = ", ..." if self.rows > len(self.sample) else ""
        return (
            f"{self.table}.{self.column}: {self.rows} row(s) refer to no {self.refers_to} "
            f"({shown}{more})"
        )


def _references() -> list[tuple[Any, Any, Any]]:
    """(referring model, referring column, referred column) of the references kept without a
    foreign key."""
    return [
        (ObservableFlag, ObservableFlag.observable_id, Observable.id),
        (Enrichment, Enrichment.observable_id, Observable.id),
        (Jurisdiction, Jurisdiction.observable_id, Observable.id),
        (Jurisdiction, Jurisdiction.country_code, Country.iso2),
        (ObservableLink, ObservableLink.observable_id, Observable.id),
        (ObservableLink, ObservableLink.target_id, Observable.id),
        (ObservableAssessment, ObservableAssessment.observable_id, Observable.id),
    ]


def broken_references(*, session: Session) -> list[BrokenReference]:
    """Every reference of the derived tables that leads nowhere; empty when all is well. Reads
    each derived table once (an anti-join on the referred table's primary key)."""
    found: list[BrokenReference] = []
    for model, column, referred in _references():
        missing = ~exists().where(referred == column)
        rows = session.scalar(select(func.count()).select_from(model).where(missing)) or 0
        if not rows:
            continue
        sample = session.scalars(
            select(column).where(missing).distinct().order_by(column).limit(_SAMPLE)
        ).all()
        found.append(
            BrokenReference(
                table=model.__tablename__,
                column=column.key,
                refers_to=f"{referred.class_.__tablename__}.{referred.key}",
                rows=rows,
                sample=[str(value) for value in sample],
            )
        )
    return found
