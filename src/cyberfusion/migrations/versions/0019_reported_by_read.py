"""The "reported by" jurisdictions read from the reports, no longer stored

A stored row said that an organisation of a country had reported the value, and every reader of
the value's jurisdictions saw it, including readers who may not read that report: a hit/no-hit
answer ("a match exists") then named the reporter's country. Readers now take the reporting
countries from the occurrences they may read (`enrichment.service.reporting_countries`), and
the rows (about a quarter of what the correlation job wrote) go. The downgrade writes them again
from the occurrences, as the enrichment did (member countries only).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASON = "reported-by"  # JurisdictionReason.REPORTED_BY, frozen here as migrations must be

jurisdiction = sa.table(
    "jurisdiction",
    sa.column("observable_id", sa.Integer),
    sa.column("country_code", sa.String),
    sa.column("reason", sa.String),
    sa.column("source", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
occurrence = sa.table(
    "occurrence",
    sa.column("observable_id", sa.Integer),
    sa.column("owner_org_id", sa.Integer),
    sa.column("reported_at", sa.DateTime(timezone=True)),
)
organisation = sa.table(
    "organisation", sa.column("id", sa.Integer), sa.column("country_code", sa.String)
)
country = sa.table("country", sa.column("iso2", sa.String), sa.column("is_member", sa.Boolean))


def upgrade() -> None:
    op.execute(jurisdiction.delete().where(jurisdiction.c.reason == REASON))


def downgrade() -> None:
    reporters = (
        sa.select(
            occurrence.c.observable_id,
            organisation.c.country_code,
            sa.literal(REASON),
            sa.literal("occurrence"),
            sa.func.min(occurrence.c.reported_at),
        )
        .join(organisation, organisation.c.id == occurrence.c.owner_org_id)
        .join(country, country.c.iso2 == organisation.c.country_code)
        .where(country.c.is_member.is_(True))
        .group_by(occurrence.c.observable_id, organisation.c.country_code)
    )
    op.execute(
        jurisdiction.insert().from_select(
            ["observable_id", "country_code", "reason", "source", "created_at"], reporters
        )
    )
