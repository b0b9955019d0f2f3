"""merge: partner agreements, threat assessment figures and CAR scopes, written side by side

Revision ID: 0016
Revises: 0013_agreements, 0014_assessment, 0015_car_scope
Create Date: 2026-11-29
"""

from collections.abc import Sequence

revision: str = "0016"
down_revision: tuple[str, ...] = ("0013_agreements", "0014_assessment", "0015_car_scope")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to do: the three branches touch different tables."""


def downgrade() -> None:
    """Nothing to do."""
