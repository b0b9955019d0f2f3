"""taxii: the status of each Add Objects request

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cyberfusion.core.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "taxii_status",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("api_root", sa.String(length=32), nullable=False),
        sa.Column("collection_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "request_timestamp", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("success_count", sa.Integer(), nullable=False),
        sa.Column("failure_count", sa.Integer(), nullable=False),
        sa.Column("pending_count", sa.Integer(), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_taxii_status_org_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submission.id"],
            name=op.f("fk_taxii_status_submission_id_submission"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_taxii_status_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taxii_status")),
    )
    with op.batch_alter_table("taxii_status", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_taxii_status_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_taxii_status_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("taxii_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taxii_status_org_id"))
        batch_op.drop_index(batch_op.f("ix_taxii_status_created_at"))

    op.drop_table("taxii_status")
