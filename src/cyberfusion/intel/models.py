"""Tables of intelligence records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow
from cyberfusion.sharing.models import SharingLabel


class IntelObject(Base):
    """One version of one STIX object, as one organisation reported it. Never updated in place:
    a new version is a new row; labels change by pointing at another label row."""

    __tablename__ = "intel_object"
    __table_args__ = (
        UniqueConstraint("owner_org_id", "stix_id", "modified"),
        # Date-added order: TAXII pages are keyset ranges on (created_at, id), so a page starts
        # in the index where the previous one ended, however many rows share a created_at.
        Index("ix_intel_object_created_at_id", "created_at", "id"),
        # Every version of one object, and what the version rules compare (TAXII's first/last,
        # the export's latest), read from the index alone: no table row fetched per probe.
        Index(
            "ix_intel_object_stix_id_version",
            "stix_id",
            "modified",
            "spec_version",
            "label_id",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stix_id: Mapped[str] = mapped_column(String(100))
    stix_type: Mapped[str] = mapped_column(String(64), index=True)
    spec_version: Mapped[str] = mapped_column(String(8), default="2.1")
    modified: Mapped[datetime]
    content: Mapped[dict[str, Any]]
    # SHA-256 of the canonical JSON of `content`.
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("sharing_label.id"), index=True)
    reliability: Mapped[str] = mapped_column(String(1), default="X")
    # Information assessment: 1 confirmed, 2 probably true, 3 possibly true, 4 cannot be judged.
    credibility: Mapped[int] = mapped_column(Integer, default=4)
    confidence: Mapped[int] = mapped_column(Integer, default=50)
    status: Mapped[str] = mapped_column(String(16), default="unvalidated", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Provenance: how the version arrived.
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submission.id"), index=True)
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_via: Mapped[str | None] = mapped_column(String(16))
    source_format: Mapped[str | None] = mapped_column(String(16))

    label: Mapped[SharingLabel] = relationship(lazy="joined")


class ValidationRule(Base):
    """Records from `org_id` with at least `min_confidence` enter as validated, without waiting
    for an analyst (e.g. "partner X, confidence >= 80")."""

    __tablename__ = "validation_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    min_confidence: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)
