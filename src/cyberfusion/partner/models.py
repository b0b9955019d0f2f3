"""Tables of the partner domain: data-sharing agreements."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow
from cyberfusion.registry.models import Organisation


class AgreementStatus(enum.StrEnum):
    """Computed from the dates and the suspension, never stored: it changes with the calendar."""

    PENDING = "pending"  # signed, not yet in force
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"


class Agreement(Base):
    """A data-sharing agreement between the platform and one partner organisation."""

    __tablename__ = "agreement"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    # The reference the legal office files the signed text under; one agreement each.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    signed_on: Mapped[date] = mapped_column(Date)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    scope: Mapped[str] = mapped_column(Text, default="")
    # The most sensitive TLP the agreement lets the partner receive (informative: the sharing
    # rules decide what a partner reads).
    max_tlp: Mapped[str] = mapped_column(String(16))
    suspended_at: Mapped[datetime | None]
    suspended_by: Mapped[str | None] = mapped_column(String(320))
    suspension_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship(lazy="joined")
