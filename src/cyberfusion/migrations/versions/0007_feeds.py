"""feeds: feeds in with their runs, and the events of the MISP feed out

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cyberfusion.core.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("labels", _JSON, nullable=True),
        sa.Column("settings", _JSON, nullable=False),
        sa.Column("auth", _JSON, nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("max_bytes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("checkpoint", _JSON, nullable=False),
        sa.Column("next_run_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("claimed_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_org_id"], ["organisation.id"], name=op.f("fk_feed_owner_org_id_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed")),
        sa.UniqueConstraint("name", name=op.f("uq_feed_name")),
    )
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_next_run_at"), ["next_run_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_feed_owner_org_id"), ["owner_org_id"], unique=False)

    op.create_table(
        "feed_out_event",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("event_uuid", sa.String(length=36), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "day", name=op.f("pk_feed_out_event")),
        sa.UniqueConstraint("event_uuid", name=op.f("uq_feed_out_event_event_uuid")),
    )
    op.create_table(
        "feed_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("details", _JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feed.id"], name=op.f("fk_feed_run_feed_id_feed"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_run")),
    )
    with op.batch_alter_table("feed_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feed_run_feed_id"), ["feed_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feed_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_run_feed_id"))
    op.drop_table("feed_run")
    op.drop_table("feed_out_event")
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_owner_org_id"))
        batch_op.drop_index(batch_op.f("ix_feed_next_run_at"))
    op.drop_table("feed")
