"""Tables of TAXII: the status of each Add Objects request, kept for clients to poll."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow


class TaxiiStatus(Base):
    """One POST to a collection's objects endpoint and the answer given (TAXII 2.1 §4.3.1).

    The platform stores a POST before answering, so a status is complete from the start; it is
    kept so that clients that poll the status endpoint, as taxii2-client does, find it."""

    __tablename__ = "taxii_status"

    # The status identifier clients see: a random UUID, as the specification asks.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    api_root: Mapped[str] = mapped_column(String(32))
    collection_id: Mapped[str] = mapped_column(String(36))
    # Statuses are visible to the organisation that posted only.
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # None when every object was refused before reaching intake.
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id"))
    status: Mapped[str] = mapped_column(String(16))
    request_timestamp: Mapped[datetime]
    total_count: Mapped[int] = mapped_column(Integer)
    success_count: Mapped[int] = mapped_column(Integer)
    failure_count: Mapped[int] = mapped_column(Integer)
    pending_count: Mapped[int] = mapped_column(Integer)
    # {"successes": [...], "failures": [...], "pendings": [...]}: status-details lists.
    details: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
