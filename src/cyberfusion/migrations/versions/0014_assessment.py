"""threat assessments: the figures of each assessment, their queries and their records

Revision ID: 0014_assessment
Revises: 0012
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_assessment"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_figure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("figure_id", sa.String(length=80), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_product_figure_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_figure")),
        sa.UniqueConstraint("product_id", "figure_id", name=op.f("uq_product_figure_product_id")),
    )
    op.create_table(
        "product_figure_record",
        sa.Column("figure_pk", sa.Integer(), nullable=False),
        sa.Column("intel_object_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["figure_pk"],
            ["product_figure.id"],
            name=op.f("fk_product_figure_record_figure_pk_product_figure"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["intel_object_id"],
            ["intel_object.id"],
            name=op.f("fk_product_figure_record_intel_object_id_intel_object"),
        ),
        sa.PrimaryKeyConstraint(
            "figure_pk", "intel_object_id", name=op.f("pk_product_figure_record")
        ),
    )
    op.create_index(
        op.f("ix_product_figure_record_intel_object_id"),
        "product_figure_record",
        ["intel_object_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_product_figure_record_intel_object_id"), table_name="product_figure_record"
    )
    op.drop_table("product_figure_record")
    op.drop_table("product_figure")
