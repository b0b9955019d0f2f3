"""merge: products, user locale, TAXII speed and correlation, written side by side

Revision ID: 0012
Revises: 0008, 0009, 0010, 0011
Create Date: 2026-11-29
"""

from collections.abc import Sequence

revision: str = "0012"
down_revision: tuple[str, ...] = ("0008", "0009", "0010", "0011")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to do: the four branches touch different tables."""


def downgrade() -> None:
    """Nothing to do."""
