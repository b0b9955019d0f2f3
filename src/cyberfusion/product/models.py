"""Tables of intelligence products: the register, their items, inbox deliveries, recipients'
feedback per indicator and the hub's recommended-action templates."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow


class ProductKind(enum.StrEnum):
    CAR = "car"  # Cyber Activity Report for one country, AS or network
    ASSESSMENT = "assessment"  # threat assessment: global, one region or one country


class Outcome(enum.StrEnum):
    """What the recipient did with one indicator of a product."""

    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    TAKEN_DOWN = "taken-down"
    FALSE_POSITIVE = "false-positive"
    NOT_APPLICABLE = "not-applicable"


class Product(Base):
    """The register: one row per issued version of a product. `document` is the product's
    content as data (every format renders from it), `content_hash` the SHA-256 of its canonical
    JSON. The product is labelled like any record: owner the issuer, TLP the strictest of its
    content, audience the recipient organisation, so the sharing filter applies to it too."""

    __tablename__ = "product"
    __table_args__ = (
        UniqueConstraint(
            "kind", "scope", "recipient_org_id", "period_start", "period_end", "version",
            name="uq_product_kind_recipient_period_version",
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    country_code: Mapped[str | None] = mapped_column(ForeignKey("country.iso2"), index=True)
    # What a CAR covers: "country:FR", "asn:AS64500" or "network:198.51.100.0/24". Versions
    # and "nothing new" count per scope, recipient and start of period.
    scope: Mapped[str] = mapped_column(String(80), default="", server_default="")
    recipient_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    tlp: Mapped[str] = mapped_column(String(16))
    label_id: Mapped[int] = mapped_column(ForeignKey("sharing_label.id"), index=True)
    document: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    item_count: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    issued_by: Mapped[str] = mapped_column(String(320))
    issued_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))


class ProductItem(Base):
    """One observable, as one record reported it, in one product, and the group it is in."""

    __tablename__ = "product_item"
    __table_args__ = (UniqueConstraint("product_id", "observable_id", "intel_object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    observable_id: Mapped[int] = mapped_column(ForeignKey("observable.id"), index=True)
    intel_object_id: Mapped[int] = mapped_column(ForeignKey("intel_object.id"), index=True)
    threat_group: Mapped[str] = mapped_column(String(32))


class ProductDelivery(Base):
    """A product in a recipient organisation's inbox; reading and acknowledging are recorded."""

    __tablename__ = "product_delivery"
    __table_args__ = (UniqueConstraint("product_id", "recipient_org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    recipient_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    read_by: Mapped[str | None] = mapped_column(String(320))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(320))


class ProductFeedback(Base):
    """A recipient's outcome for one item of a product. Rows accumulate (acknowledged, then
    investigating, then taken down): the latest per item is its current outcome."""

    __tablename__ = "product_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_item_id: Mapped[int] = mapped_column(
        ForeignKey("product_item.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))


class ActionTemplate(Base):
    """What a product says about one threat group: why it matters and the recommended national
    actions. Seeded from `product.groups`; the hub edits the text."""

    __tablename__ = "product_action_template"

    threat_group: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    why_it_matters: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text)  # one action a line
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(320))


class ProductBatch(Base):
    """One scheduled batch: every member country's CAR for one period. The row is the claim:
    its unique key lets one worker only issue a period's batch."""

    __tablename__ = "product_batch"
    __table_args__ = (UniqueConstraint("cadence", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cadence: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    countries: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)


class ProductFigure(Base):
    """One figure of an issued threat assessment and where it comes from: the query that
    produced it, in words, with its parameters. Its records are in `ProductFigureRecord`."""

    __tablename__ = "product_figure"
    __table_args__ = (UniqueConstraint("product_id", "figure_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    figure_id: Mapped[str] = mapped_column(String(80))
    label: Mapped[str] = mapped_column(String(300))
    query: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]]
    # The figure as computed, before any small-cell suppression of the published document.
    value: Mapped[float | None]
    record_count: Mapped[int] = mapped_column(Integer)


class ProductFigureRecord(Base):
    """A record behind a figure of an assessment."""

    __tablename__ = "product_figure_record"

    figure_pk: Mapped[int] = mapped_column(
        ForeignKey("product_figure.id", ondelete="CASCADE"), primary_key=True
    )
    intel_object_id: Mapped[int] = mapped_column(
        ForeignKey("intel_object.id"), primary_key=True, index=True
    )
