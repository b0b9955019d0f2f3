"""Tables of what offline enrichment learns about observables: noise flags, enrichment history and
the countries each observable concerns."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow


class FlagSource(enum.StrEnum):
    # A MISP warninglist shipped by pymispwarninglists; the flag's name is the list's name.
    WARNINGLIST = "warninglist"
    # An address of the IANA special-purpose registries (private, loopback, documentation, ...),
    # as Python's `ipaddress` knows them.
    SPECIAL_PURPOSE = "special-purpose"


class EnrichmentKind(enum.StrEnum):
    GEO = "geo"
    ASN = "asn"
    DOMAIN = "domain"
    URL = "url"
    EMAIL = "email"
    HASH = "hash"
    WALLET = "wallet"
    PHONE = "phone"
    IBAN = "iban"


class JurisdictionReason(enum.StrEnum):
    HOSTED_IN = "hosted-in"  # the address's country in the geolocation data
    CCTLD_OF = "cctld-of"  # the country of the domain's (or URL host's, e-mail domain's) ccTLD
    PHONE_NUMBER_OF = "phone-number-of"  # the country the number is allocated to
    BANK_ACCOUNT_IN = "bank-account-in"  # the IBAN's country
    VICTIM_IN = "victim-in"  # a victim of the activity is in that country (set by analysts)
    REPORTED_BY = "reported-by"  # an organisation of that country reported the observable


class ObservableFlag(Base):
    """An observable found on a noise list. An active flag (not overridden) keeps it out of
    correlation alerts and products; an analyst's override lifts that, and is audited."""

    __tablename__ = "observable_flag"
    __table_args__ = (UniqueConstraint("observable_id", "source", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    observable_id: Mapped[int] = mapped_column()  # observable.id, no foreign key: see 0018
    source: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    # The list's own version (MISP lists are versioned one by one), or the registry's.
    data_version: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    overridden_by: Mapped[str | None] = mapped_column(String(320))  # the actor's label
    overridden_at: Mapped[datetime | None] = mapped_column()


class Enrichment(Base):
    """One enrichment of one kind of one observable. Enriching again with other data or another
    data version adds a row: the highest id per (observable, kind) is current, the rest history."""

    __tablename__ = "enrichment"
    __table_args__ = (Index("ix_enrichment_observable_id_kind", "observable_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    observable_id: Mapped[int] = mapped_column()  # observable.id, no foreign key: see 0018
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(String(32))  # geoip2fast, publicsuffixlist, ...
    source_version: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Jurisdiction(Base):
    """A member country an observable concerns, and why. Cyber Activity Reports are routed to
    countries by this table. Rows are kept when later data disagrees: the observable did concern
    that country when the row was written."""

    __tablename__ = "jurisdiction"
    __table_args__ = (UniqueConstraint("observable_id", "country_code", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    observable_id: Mapped[int] = mapped_column()  # observable.id, no foreign key: see 0018
    country_code: Mapped[str] = mapped_column(String(2), index=True)  # country.iso2
    reason: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
