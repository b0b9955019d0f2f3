"""Tables of sharing labels.

Records do not carry their labels inline: they point at a `SharingLabel` row, one per distinct
combination of owner, TLP, audience and handling. A bulk submission of 100,000 objects under the
same labels shares one row, and the read filter evaluates the actor's rights over the few label
rows instead of over every record.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow


class Tlp(enum.StrEnum):
    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"

    @property
    def rank(self) -> int:
        return TLP_ORDER.index(self)

    @property
    def marking_definition_id(self) -> str:
        return TLP_MARKING_IDS[self]


TLP_ORDER = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)

# The OASIS TLP 2.0 extension's marking-definition ids.
TLP_MARKING_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

# TLP 1.0 marking-definition ids (the ones the `stix2` library knows) read as their TLP 2.0 level.
TLP1_MARKING_IDS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
}
TLP_BY_MARKING_ID = {**{v: k for k, v in TLP_MARKING_IDS.items()}, **TLP1_MARKING_IDS}


def strictest_tlp(marking_refs: object) -> Tlp | None:
    """The strictest TLP among STIX `object_marking_refs` (TLP 2.0 or 1.0 ids); None if none."""
    if not isinstance(marking_refs, list):
        return None
    found = [TLP_BY_MARKING_ID[ref] for ref in marking_refs if ref in TLP_BY_MARKING_ID]
    return max(found, key=lambda t: t.rank) if found else None


class Audience(enum.StrEnum):
    """From narrowest to widest; `organisations` is an explicit list."""

    ORGANISATION = "organisation"
    ORGANISATIONS = "organisations"
    COUNTRY = "country"
    REGION = "region"
    MEMBERS = "members"
    COMMUNITY = "community"
    PUBLIC = "public"

    @property
    def rank(self) -> int:
        return list(Audience).index(self)


class Reliability(enum.StrEnum):
    """Source reliability (Admiralty-style, as used by police intelligence handling codes)."""

    A = "A"  # reliable
    B = "B"  # mostly reliable
    C = "C"  # sometimes reliable
    X = "X"  # unknown / untested


class SharingLabel(Base):
    __tablename__ = "sharing_label"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 over the canonical form: the same labels always resolve to the same row.
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    tlp: Mapped[str] = mapped_column(String(16))
    audience: Mapped[str] = mapped_column(String(16))
    audience_country: Mapped[str | None] = mapped_column(ForeignKey("country.iso2"))
    audience_region: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    no_further_dissemination: Mapped[bool] = mapped_column(Boolean, default=False)
    no_judicial_use: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_owner_before_action: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    recipient_rows: Mapped[list[SharingLabelRecipient]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )

    @property
    def recipient_org_ids(self) -> list[int]:
        return sorted(row.org_id for row in self.recipient_rows)


class SharingLabelRecipient(Base):
    __tablename__ = "sharing_label_recipient"

    label_id: Mapped[int] = mapped_column(
        ForeignKey("sharing_label.id", ondelete="CASCADE"), primary_key=True
    )
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), primary_key=True, index=True)
