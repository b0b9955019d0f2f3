"""The tables derived from observables (flags, enrichment, jurisdiction, links, assessments)
without foreign keys to `observable` and `country`

Every row inserted into a table with a foreign key pays a lookup and a row lock of the row it
refers to; the correlation job writes about five derived rows per new value, and on PostgreSQL
those checks were a quarter of the job (docs/benchmarks.md). Observables are never deleted, the
rows are written only by the enrichment and the correlation for observables read in the same
transaction, and jurisdiction only for member countries; `cyberfusion db check` finds any row
that refers to nothing. The foreign key of a link to the record that stated it stays.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referred table, referred column, on delete)
DROPPED = [
    ("observable_flag", "observable_id", "observable", "id", "CASCADE"),
    ("enrichment", "observable_id", "observable", "id", "CASCADE"),
    ("jurisdiction", "observable_id", "observable", "id", "CASCADE"),
    ("jurisdiction", "country_code", "country", "iso2", None),
    ("observable_link", "observable_id", "observable", "id", "CASCADE"),
    ("observable_link", "target_id", "observable", "id", "CASCADE"),
    ("observable_assessment", "observable_id", "observable", "id", "CASCADE"),
]


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def upgrade() -> None:
    for table in dict.fromkeys(row[0] for row in DROPPED):
        with op.batch_alter_table(table) as batch_op:
            for name, column, referred, _, _ in DROPPED:
                if name == table:
                    batch_op.drop_constraint(_name(table, column, referred), type_="foreignkey")


def downgrade() -> None:
    for table in dict.fromkeys(row[0] for row in DROPPED):
        with op.batch_alter_table(table) as batch_op:
            for name, column, referred, referred_column, ondelete in DROPPED:
                if name == table:
                    batch_op.create_foreign_key(
                        _name(table, column, referred),
                        referred,
                        [column],
                        [referred_column],
                        ondelete=ondelete,
                    )
