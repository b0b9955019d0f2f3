"""intake

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cyberfusion.core.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "observable",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("obs_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observable")),
        sa.UniqueConstraint("digest", name=op.f("uq_observable_digest")),
    )
    with op.batch_alter_table("observable", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_observable_obs_type"), ["obs_type"], unique=False)

    op.create_table(
        "submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("source_format", sa.String(length=16), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column(
            "results",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("received_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_submission_org_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_submission_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submission")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_submission_idempotency_key")),
    )
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submission_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_submission_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "occurrence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observable_id", sa.Integer(), nullable=False),
        sa.Column("intel_object_id", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("reported_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["intel_object_id"],
            ["intel_object.id"],
            name=op.f("fk_occurrence_intel_object_id_intel_object"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["label_id"], ["sharing_label.id"], name=op.f("fk_occurrence_label_id_sharing_label")
        ),
        sa.ForeignKeyConstraint(
            ["observable_id"],
            ["observable.id"],
            name=op.f("fk_occurrence_observable_id_observable"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisation.id"],
            name=op.f("fk_occurrence_owner_org_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
            name=op.f("fk_occurrence_submission_id_submission"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_occurrence")),
        sa.UniqueConstraint(
            "observable_id", "intel_object_id", name=op.f("uq_occurrence_observable_id")
        ),
    )
    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_occurrence_intel_object_id"), ["intel_object_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_occurrence_label_id"), ["label_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_occurrence_owner_org_id"), ["owner_org_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_occurrence_submission_id"), ["submission_id"], unique=False
        )

    with op.batch_alter_table("intel_object", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("submitted_by_user_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("submitted_via", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("source_format", sa.String(length=16), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_intel_object_submission_id"), ["submission_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_intel_object_submission_id_submission"),
            "submission",
            ["submission_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_intel_object_submitted_by_user_id_user_account"),
            "user_account",
            ["submitted_by_user_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("intel_object", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_intel_object_submitted_by_user_id_user_account"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_intel_object_submission_id_submission"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_intel_object_submission_id"))
        batch_op.drop_column("source_format")
        batch_op.drop_column("submitted_via")
        batch_op.drop_column("submitted_by_user_id")
        batch_op.drop_column("submission_id")

    with op.batch_alter_table("occurrence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_occurrence_submission_id"))
        batch_op.drop_index(batch_op.f("ix_occurrence_owner_org_id"))
        batch_op.drop_index(batch_op.f("ix_occurrence_label_id"))
        batch_op.drop_index(batch_op.f("ix_occurrence_intel_object_id"))

    op.drop_table("occurrence")
    with op.batch_alter_table("submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submission_received_at"))
        batch_op.drop_index(batch_op.f("ix_submission_org_id"))

    op.drop_table("submission")
    with op.batch_alter_table("observable", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observable_obs_type"))

    op.drop_table("observable")
