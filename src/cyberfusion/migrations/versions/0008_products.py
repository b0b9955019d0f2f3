"""products: the product register, items, inbox deliveries, feedback and action templates

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cyberfusion.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("period_start", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("countries", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_batch")),
        sa.UniqueConstraint("cadence", "period_start", name=op.f("uq_product_batch_cadence")),
    )
    op.create_table(
        "product_action_template",
        sa.Column("threat_group", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("why_it_matters", sa.Text(), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("updated_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("threat_group", name=op.f("pk_product_action_template")),
    )
    op.create_table(
        "product",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("recipient_org_id", sa.Integer(), nullable=False),
        sa.Column("period_start", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period_end", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("issued_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=320), nullable=False),
        sa.Column("issued_by_org_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["country_code"], ["country.iso2"], name=op.f("fk_product_country_code_country")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_org_id"],
            ["organisation.id"],
            name=op.f("fk_product_issued_by_org_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["label_id"], ["sharing_label.id"], name=op.f("fk_product_label_id_sharing_label")
        ),
        sa.ForeignKeyConstraint(
            ["recipient_org_id"],
            ["organisation.id"],
            name=op.f("fk_product_recipient_org_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product")),
        sa.UniqueConstraint(
            "kind",
            "recipient_org_id",
            "period_start",
            "period_end",
            "version",
            name="uq_product_kind_recipient_period_version",
        ),
    )
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_content_hash"), ["content_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_country_code"), ["country_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_issued_at"), ["issued_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_label_id"), ["label_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_product_recipient_org_id"), ["recipient_org_id"], unique=False
        )

    op.create_table(
        "product_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("recipient_org_id", sa.Integer(), nullable=False),
        sa.Column("delivered_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_by", sa.String(length=320), nullable=True),
        sa.Column("acknowledged_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_product_delivery_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_org_id"],
            ["organisation.id"],
            name=op.f("fk_product_delivery_recipient_org_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_delivery")),
        sa.UniqueConstraint(
            "product_id", "recipient_org_id", name=op.f("uq_product_delivery_product_id")
        ),
    )
    with op.batch_alter_table("product_delivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_delivery_recipient_org_id"), ["recipient_org_id"], unique=False
        )

    op.create_table(
        "product_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("observable_id", sa.Integer(), nullable=False),
        sa.Column("intel_object_id", sa.Integer(), nullable=False),
        sa.Column("threat_group", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["intel_object_id"],
            ["intel_object.id"],
            name=op.f("fk_product_item_intel_object_id_intel_object"),
        ),
        sa.ForeignKeyConstraint(
            ["observable_id"],
            ["observable.id"],
            name=op.f("fk_product_item_observable_id_observable"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_product_item_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_item")),
        sa.UniqueConstraint(
            "product_id",
            "observable_id",
            "intel_object_id",
            name=op.f("uq_product_item_product_id"),
        ),
    )
    with op.batch_alter_table("product_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_item_intel_object_id"), ["intel_object_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_product_item_observable_id"), ["observable_id"], unique=False
        )

    op.create_table(
        "product_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_item_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", cyberfusion.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisation.id"], name=op.f("fk_product_feedback_org_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["product_item_id"],
            ["product_item.id"],
            name=op.f("fk_product_feedback_product_item_id_product_item"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_feedback")),
    )
    with op.batch_alter_table("product_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_feedback_org_id"), ["org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_product_feedback_product_item_id"), ["product_item_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("product_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_feedback_product_item_id"))
        batch_op.drop_index(batch_op.f("ix_product_feedback_org_id"))

    op.drop_table("product_feedback")
    with op.batch_alter_table("product_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_item_observable_id"))
        batch_op.drop_index(batch_op.f("ix_product_item_intel_object_id"))

    op.drop_table("product_item")
    with op.batch_alter_table("product_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_delivery_recipient_org_id"))

    op.drop_table("product_delivery")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_recipient_org_id"))
        batch_op.drop_index(batch_op.f("ix_product_label_id"))
        batch_op.drop_index(batch_op.f("ix_product_issued_at"))
        batch_op.drop_index(batch_op.f("ix_product_country_code"))
        batch_op.drop_index(batch_op.f("ix_product_content_hash"))

    op.drop_table("product")
    op.drop_table("product_action_template")
    op.drop_table("product_batch")
