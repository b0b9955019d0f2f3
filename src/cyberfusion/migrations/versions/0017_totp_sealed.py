"""TOTP seeds sealed at rest: a wider column, and the seeds stored in clear sealed in place

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cyberfusion.core import seal

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSE = "totp seed"  # account.models.TOTP_SEAL_PURPOSE, frozen here as migrations must be
users = sa.table("user_account", sa.column("id", sa.Integer), sa.column("totp_secret", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.alter_column(
            "totp_secret", existing_type=sa.String(length=64), type_=sa.String(length=128)
        )
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.totp_secret)).all()
    for user_id, secret in rows:
        if secret is not None and not seal.is_sealed(secret):
            bind.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(totp_secret=seal.seal(secret, purpose=PURPOSE))
            )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.totp_secret)).all()
    for user_id, secret in rows:
        if secret is not None and seal.is_sealed(secret):
            bind.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(totp_secret=seal.unseal(secret, purpose=PURPOSE))
            )
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.alter_column(
            "totp_secret", existing_type=sa.String(length=128), type_=sa.String(length=64)
        )
