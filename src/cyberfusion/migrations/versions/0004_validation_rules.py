"""validation rules, organisation default labels

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cyberfusion.core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "validation_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("min_confidence", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_validation_rule_org_id_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_rule")),
    )
    with op.batch_alter_table("validation_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_validation_rule_org_id"), ["org_id"], unique=False)
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("default_tlp", sa.String(length=16), server_default="amber", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "default_audience",
                sa.String(length=16),
                server_default="organisation",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_column("default_audience")
        batch_op.drop_column("default_tlp")
    with op.batch_alter_table("validation_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_validation_rule_org_id"))

    op.drop_table("validation_rule")
