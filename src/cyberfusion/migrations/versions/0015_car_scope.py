"""car scope: a product's scope (country, ASN or network) in the register and in its versions'
key, and an index of the IP observables' text for Cyber Activity Reports of a network

Revision ID: 0015_car_scope
Revises: 0012
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_car_scope"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IP_TYPES = "obs_type IN ('ipv4-addr', 'ipv6-addr')"


def upgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=80), server_default="", nullable=False)
        )
    # Every product so far is a country's report.
    op.execute(
        "UPDATE product SET scope = 'country:' || country_code "
        "WHERE kind = 'car' AND country_code IS NOT NULL"
    )
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_constraint("uq_product_kind_recipient_period_version", type_="unique")
        batch_op.create_unique_constraint(
            "uq_product_kind_recipient_period_version",
            ["kind", "scope", "recipient_org_id", "period_start", "period_end", "version"],
        )
    # Addresses and blocks by their text, for the prefix ranges a network's report looks up;
    # only IP values, so URLs (which can outgrow an index entry) stay out. text_pattern_ops
    # lets PostgreSQL range-scan it for LIKE 'prefix%' whatever the database's collation.
    op.create_index(
        "ix_observable_ip_value",
        "observable",
        ["obs_type", "value"],
        unique=False,
        postgresql_ops={"value": "text_pattern_ops"},
        postgresql_where=sa.text(_IP_TYPES),
        sqlite_where=sa.text(_IP_TYPES),
    )


def downgrade() -> None:
    op.drop_index("ix_observable_ip_value", table_name="observable")
    op.execute("DELETE FROM product WHERE scope NOT LIKE 'country:%' AND kind = 'car'")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_constraint("uq_product_kind_recipient_period_version", type_="unique")
        batch_op.create_unique_constraint(
            "uq_product_kind_recipient_period_version",
            ["kind", "recipient_org_id", "period_start", "period_end", "version"],
        )
        batch_op.drop_column("scope")
