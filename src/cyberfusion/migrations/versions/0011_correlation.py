"""correlation: links derived from values or stated by reports, corroboration, records naming
reference families, and the correlation state of submissions

Revision ID: 0011
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cyberfusion.core.db

revision: str = "0011"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "observable_assessment",
        sa.Column("observable_id", sa.Integer(), nullable=False),
        sa.Column("reporters", sa.Integer(), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("assessment", sa.String(length=24), nullable=False),
        sa.Column("confidence", sa.Integer(), nullable=False),
        sa.Column(
            "first_reported_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_reported_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("updated_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["observable_id"],
            ["observable.id"],
            name=op.f("fk_observable_assessment_observable_id_observable"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("observable_id", name=op.f("pk_observable_assessment")),
    )
    with op.batch_alter_table("observable_assessment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_observable_assessment_assessment"), ["assessment"], unique=False
        )

    op.create_table(
        "observable_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observable_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("intel_object_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["intel_object_id"],
            ["intel_object.id"],
            name=op.f("fk_observable_link_intel_object_id_intel_object"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["observable_id"],
            ["observable.id"],
            name=op.f("fk_observable_link_observable_id_observable"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["observable.id"],
            name=op.f("fk_observable_link_target_id_observable"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observable_link")),
        sa.UniqueConstraint(
            "observable_id",
            "kind",
            "target_id",
            "intel_object_id",
            name=op.f("uq_observable_link_observable_id"),
        ),
    )
    with op.batch_alter_table("observable_link", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observable_link_target_id_kind", ["target_id", "kind"], unique=False
        )

    op.create_table(
        "record_knowledge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intel_object_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("matched_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["knowledge_entry.id"],
            name=op.f("fk_record_knowledge_entry_id_knowledge_entry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["intel_object_id"],
            ["intel_object.id"],
            name=op.f("fk_record_knowledge_intel_object_id_intel_object"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_knowledge")),
        sa.UniqueConstraint(
            "intel_object_id", "entry_id", name=op.f("uq_record_knowledge_intel_object_id")
        ),
    )
    with op.batch_alter_table("record_knowledge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_record_knowledge_entry_id"), ["entry_id"], unique=False
        )

    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("correlation", sa.String(length=16), server_default="done", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "correlation_claimed_at",
                cyberfusion.core.db.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "correlated_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("correlation_error", sa.String(length=500), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_submission_correlation"), ["correlation"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_correlation"))
        batch_op.drop_column("correlation_error")
        batch_op.drop_column("correlated_at")
        batch_op.drop_column("correlation_claimed_at")
        batch_op.drop_column("correlation")
    with op.batch_alter_table("record_knowledge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_knowledge_entry_id"))
    op.drop_table("record_knowledge")
    with op.batch_alter_table("observable_link", schema=None) as batch_op:
        batch_op.drop_index("ix_observable_link_target_id_kind")
    op.drop_table("observable_link")
    with op.batch_alter_table("observable_assessment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observable_assessment_assessment"))
    op.drop_table("observable_assessment")
