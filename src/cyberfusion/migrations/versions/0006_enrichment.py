"""enrichment: warninglist flags, enrichment history, jurisdiction of observables

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cyberfusion.core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enrichment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observable_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_version", sa.String(length=100), nullable=False),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["observable_id"],
            ["observable.id"],
            name=op.f("fk_enrichment_observable_id_observable"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrichment")),
    )
    with op.batch_alter_table("enrichment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrichment_observable_id_kind", ["observable_id", "kind"], unique=False
        )

    op.create_table(
        "observable_flag",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observable_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("data_version", sa.String(length=100), nullable=False),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("overridden_by", sa.String(length=320), nullable=True),
        sa.Column("overridden_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["observable_id"],
            ["observable.id"],
            name=op.f("fk_observable_flag_observable_id_observable"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observable_flag")),
        sa.UniqueConstraint(
            "observable_id", "source", "name", name=op.f("uq_observable_flag_observable_id")
        ),
    )
    op.create_table(
        "jurisdiction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observable_id", sa.Integer(), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["country_code"], ["country.iso2"], name=op.f("fk_jurisdiction_country_code_country")
        ),
        sa.ForeignKeyConstraint(
            ["observable_id"],
            ["observable.id"],
            name=op.f("fk_jurisdiction_observable_id_observable"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jurisdiction")),
        sa.UniqueConstraint(
            "observable_id", "country_code", "reason", name=op.f("uq_jurisdiction_observable_id")
        ),
    )
    with op.batch_alter_table("jurisdiction", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jurisdiction_country_code"), ["country_code"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("jurisdiction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jurisdiction_country_code"))

    op.drop_table("jurisdiction")
    op.drop_table("observable_flag")
    with op.batch_alter_table("enrichment", schema=None) as batch_op:
        batch_op.drop_index("ix_enrichment_observable_id_kind")

    op.drop_table("enrichment")
