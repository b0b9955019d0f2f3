"""knowledge: MISP galaxy clusters as reference entries, and their aliases by normalised key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cyberfusion.core.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("canonical_key", sa.String(length=255), nullable=False),
        sa.Column("galaxy", sa.String(length=64), nullable=False),
        sa.Column("cluster_uuid", sa.String(length=36), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=32), nullable=True),
        sa.Column("stix_id", sa.String(length=100), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"],
            ["knowledge_entry.id"],
            name=op.f("fk_knowledge_entry_family_id_knowledge_entry"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_entry")),
        sa.UniqueConstraint("galaxy", "cluster_uuid", name=op.f("uq_knowledge_entry_galaxy")),
    )
    with op.batch_alter_table("knowledge_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_knowledge_entry_family_id"), ["family_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_knowledge_entry_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_knowledge_entry_stix_id"), ["stix_id"], unique=False)

    op.create_table(
        "knowledge_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("alias", sa.String(length=255), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("is_canonical", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["knowledge_entry.id"],
            name=op.f("fk_knowledge_alias_entry_id_knowledge_entry"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_alias")),
        sa.UniqueConstraint("entry_id", "alias", name=op.f("uq_knowledge_alias_entry_id")),
    )
    with op.batch_alter_table("knowledge_alias", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_knowledge_alias_key"), ["key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("knowledge_alias", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_alias_key"))

    op.drop_table("knowledge_alias")
    with op.batch_alter_table("knowledge_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_entry_stix_id"))
        batch_op.drop_index(batch_op.f("ix_knowledge_entry_kind"))
        batch_op.drop_index(batch_op.f("ix_knowledge_entry_family_id"))

    op.drop_table("knowledge_entry")
