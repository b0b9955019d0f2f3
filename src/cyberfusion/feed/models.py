"""Tables of feeds: what to pull and when, each run's outcome, and the MISP feed we publish."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow


class Feed(Base):
    """A source polled on a schedule; what it brings in belongs to `owner_org_id`."""

    __tablename__ = "feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # A URL (http, https, file) or, for trusted feeds, a local path.
    source: Mapped[str] = mapped_column(Text)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    # LabelsIn as JSON; None: the organisation's defaults.
    labels: Mapped[dict[str, Any] | None]
    # Per kind: {"evaluation": {...}, "csv": {...}}.
    settings: Mapped[dict[str, Any]]
    # Credentials, never returned by the API: {"username", "password"} or {"token"}.
    auth: Mapped[dict[str, Any] | None]
    interval_seconds: Mapped[int] = mapped_column(Integer)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    max_bytes: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Set up by the local operator: may read local files and reach private addresses.
    trusted: Mapped[bool] = mapped_column(default=False)
    # Where the next run resumes: TAXII `added_after`, MISP event timestamps, HTTP validators.
    checkpoint: Mapped[dict[str, Any]]
    next_run_at: Mapped[datetime] = mapped_column(index=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # A worker (or a manual run) holds the feed while it runs.
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedRun(Base):
    """One run of a feed: when, how it ended, what it brought in, why it failed."""

    __tablename__ = "feed_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feed.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # running, succeeded or failed.
    status: Mapped[str] = mapped_column(String(16))
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # {"submissions": [ids], "problems": [first rejection reasons]}.
    details: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)


class FeedOutEvent(Base):
    """The timestamp our MISP feed announces for one event (one scope, one day).

    MISP fetches an event again only when its manifest timestamp grows, so the timestamp moves
    when what the event holds changes (a record validated, relabelled or superseded later),
    not only when records are added."""

    __tablename__ = "feed_out_event"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    event_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Seconds since the epoch, as MISP writes timestamps.
    timestamp: Mapped[int] = mapped_column(BigInteger)
