"""Tables of submissions: what arrived, from whom, and the answer given."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow


class Submission(Base):
    __tablename__ = "submission"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    via: Mapped[str] = mapped_column(String(16))
    source_format: Mapped[str] = mapped_column(String(16))
    # SHA-256 of the bytes received.
    content_sha256: Mapped[str] = mapped_column(String(64))
    # SHA-256 over organisation, format, content hash and options: the same submission sent
    # again finds this row and gets the same answer.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    partial: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16))
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Correlation (flags, enrichment, links, corroboration, notices) runs in the submission's
    # transaction ("done" at once) unless the submission is large: then "pending" until a job
    # takes it ("running") and finishes it ("done"), or "failed" with the reason.
    correlation: Mapped[str] = mapped_column(
        String(16), default="done", server_default="done", index=True
    )
    correlation_claimed_at: Mapped[datetime | None]
    correlated_at: Mapped[datetime | None]
    correlation_error: Mapped[str | None] = mapped_column(String(500))
