"""taxii speed: intel_object's date-added index becomes (created_at, id), the TAXII page key,
and its STIX id index covers the version rules (stix_id, modified, spec_version, label_id, id)

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The composite index serves every query the single-column one served (its prefix), and
    # lets a page start exactly after the previous page's (created_at, id).
    with op.batch_alter_table("intel_object", schema=None) as batch_op:
        batch_op.create_index("ix_intel_object_created_at_id", ["created_at", "id"], unique=False)
        batch_op.drop_index("ix_intel_object_created_at")
        # Covering: the "is there another (readable) version" probe of each row of a page
        # reads the index only, not one table row per probe.
        batch_op.create_index(
            "ix_intel_object_stix_id_version",
            ["stix_id", "modified", "spec_version", "label_id", "id"],
            unique=False,
        )
        batch_op.drop_index("ix_intel_object_stix_id")


def downgrade() -> None:
    with op.batch_alter_table("intel_object", schema=None) as batch_op:
        batch_op.create_index("ix_intel_object_stix_id", ["stix_id"], unique=False)
        batch_op.drop_index("ix_intel_object_stix_id_version")
        batch_op.create_index("ix_intel_object_created_at", ["created_at"], unique=False)
        batch_op.drop_index("ix_intel_object_created_at_id")
