"""Tables of observables (each normalised value once) and their occurrences."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow

_IP_TYPES = "obs_type IN ('ipv4-addr', 'ipv6-addr')"


class Observable(Base):
    """One normalised value of one type, stored once however often it is reported."""

    __tablename__ = "observable"
    __table_args__ = (
        # Addresses and blocks by their text: the prefix ranges of a network's Cyber Activity
        # Report (product.service). IP values only: URLs can outgrow an index entry.
        Index(
            "ix_observable_ip_value",
            "obs_type",
            "value",
            postgresql_ops={"value": "text_pattern_ops"},
            postgresql_where=text(_IP_TYPES),
            sqlite_where=text(_IP_TYPES),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    obs_type: Mapped[str] = mapped_column(String(32), index=True)
    value: Mapped[str] = mapped_column(Text)
    # SHA-256 of "<type>\0<value>": a fixed-size unique key, since URLs can outgrow an index.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Occurrence(Base):
    """An observable as one object of one organisation reported it. Correlation is a lookup on
    this table by observable; it grows with reports, never with pairs of reports. It carries the
    reporting object's label, so the sharing filter applies to it directly."""

    __tablename__ = "occurrence"
    __table_args__ = (UniqueConstraint("observable_id", "intel_object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    observable_id: Mapped[int] = mapped_column(ForeignKey("observable.id"))
    intel_object_id: Mapped[int] = mapped_column(
        ForeignKey("intel_object.id", ondelete="CASCADE"), index=True
    )
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("sharing_label.id"), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id"), index=True)
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
