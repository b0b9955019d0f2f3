"""Tables of the member registry."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow


class OrgKind(enum.StrEnum):
    HUB = "hub"
    DESK = "desk"
    NCB = "ncb"
    NATIONAL_UNIT = "national_unit"
    CERT = "cert"
    PRIVATE_PARTNER = "private_partner"
    INTERNATIONAL_ORG = "international_org"


class Region(Base):
    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Country(Base):
    __tablename__ = "country"

    iso2: Mapped[str] = mapped_column(String(2), primary_key=True)
    iso3: Mapped[str] = mapped_column(String(3), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    is_member: Mapped[bool] = mapped_column(Boolean, default=True)

    region: Mapped[Region] = relationship(lazy="joined")


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    country_code: Mapped[str | None] = mapped_column(ForeignKey("country.iso2"), index=True)
    # Desks serve a region; organisations with a country take the country's region.
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    # A desk is "operational" when it runs operations, not only coordination.
    operational: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Labels for this organisation's submissions when neither the content nor the submission
    # carries any.
    default_tlp: Mapped[str] = mapped_column(String(16), default="amber", server_default="amber")
    default_audience: Mapped[str] = mapped_column(
        String(16), default="organisation", server_default="organisation"
    )

    country: Mapped[Country | None] = relationship(lazy="joined")
