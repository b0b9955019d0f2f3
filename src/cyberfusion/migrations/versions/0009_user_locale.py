"""user locale: NULL until the user picks a language, so the browser's choice applies till then

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.alter_column("locale", existing_type=sa.String(length=8), nullable=True)
    # Nobody could choose a language before this revision: every "en" is the old default, not
    # a choice, and would hide the browser's Accept-Language.
    op.execute(sa.text("UPDATE user_account SET locale = NULL WHERE locale = 'en'"))


def downgrade() -> None:
    op.execute(sa.text("UPDATE user_account SET locale = 'en' WHERE locale IS NULL"))
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.alter_column("locale", existing_type=sa.String(length=8), nullable=False)
