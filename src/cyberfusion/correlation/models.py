"""Tables of correlation: links derived from values, and each observable's corroboration.

Nothing here grows with pairs of reports. A link joins an observable to one that its value
implies (a URL to its host, a name to its registered domain, an e-mail address to its domain)
or that a report states (a name resolves to an address): a bounded number per observable. Who
else reported a value is a lookup on `occurrence`; the assessment is one row per observable.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow


class LinkKind(enum.StrEnum):
    HOST = "host"  # url -> the domain name or address it points to
    REGISTERED_DOMAIN = "registered-domain"  # name below a registered domain -> that domain
    EMAIL_DOMAIN = "email-domain"  # e-mail address -> its domain
    RESOLVES_TO = "resolves-to"  # domain name -> address, as a report states it


class Assessment(enum.StrEnum):
    """The information assessment of an observable, from how many independent organisations
    reported it (the hub's analysts may set it higher by validation)."""

    SINGLE_SOURCE = "single-source"
    CORROBORATED = "corroborated"


class ObservableLink(Base):
    __tablename__ = "observable_link"
    __table_args__ = (
        UniqueConstraint("observable_id", "kind", "target_id", "intel_object_id"),
        Index("ix_observable_link_target_id_kind", "target_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # observable.id both; no foreign keys (migration 0018, `cyberfusion db check`).
    observable_id: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int] = mapped_column()
    # The intel object that stated the link (resolves-to); None for links implied by the value.
    intel_object_id: Mapped[int | None] = mapped_column(
        ForeignKey("intel_object.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ObservableAssessment(Base):
    """How many independent organisations reported an observable, and the confidence their
    reports add up to, for observables that two or more organisations reported (no row:
    single-source). Recomputed from `occurrence` when a submission reports the observable."""

    __tablename__ = "observable_assessment"

    # observable.id; no foreign key (migration 0018, `cyberfusion db check`).
    observable_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    reporters: Mapped[int] = mapped_column(Integer)
    reports: Mapped[int] = mapped_column(Integer)
    assessment: Mapped[str] = mapped_column(String(24), index=True)
    confidence: Mapped[int] = mapped_column(Integer)
    first_reported_at: Mapped[datetime]
    last_reported_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecordKnowledge(Base):
    """A record (a STIX malware, tool, threat-actor or intrusion-set object, whoever wrote it)
    that names a family of the reference knowledge, by its name or one of its aliases: how
    reports of the same family from different sources meet. The record's content is untouched.
    """

    __tablename__ = "record_knowledge"
    __table_args__ = (UniqueConstraint("intel_object_id", "entry_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    intel_object_id: Mapped[int] = mapped_column(ForeignKey("intel_object.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_entry.id", ondelete="CASCADE"), index=True
    )
    matched_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
