"""Tables of reference knowledge: one entry per galaxy cluster, and its names by normalised key."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cyberfusion.core.db import Base
from cyberfusion.core.time import utcnow


class KnowledgeKind(enum.StrEnum):
    MALWARE = "malware"
    THREAT_ACTOR = "threat-actor"
    TOOL = "tool"
    ATTACK_PATTERN = "attack-pattern"


class KnowledgeEntry(Base):
    """One cluster of one MISP galaxy, stored as the STIX SDO `stix_id` (owned by the hub).

    Clusters of several galaxies that name the same family (Agent Tesla in malpedia, in the
    tool galaxy and in MITRE's malware galaxy) are one family: `family_id` points at the entry
    whose galaxy is preferred for that kind (lowest `rank`), and resolution answers with it.
    """

    __tablename__ = "knowledge_entry"
    __table_args__ = (UniqueConstraint("galaxy", "cluster_uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(255))
    # The cluster's value as the galaxy writes it (its MISP tag is misp-galaxy:<galaxy>="<value>").
    value: Mapped[str] = mapped_column(String(255))
    # alias_key(name): entries of one kind with the same key are one family.
    canonical_key: Mapped[str] = mapped_column(String(255))
    galaxy: Mapped[str] = mapped_column(String(64))
    cluster_uuid: Mapped[str] = mapped_column(String(36))
    # The galaxy's preference within its kind (0 first): decides the family head and ties.
    rank: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)
    # The MITRE ATT&CK id (S0331, G0007, T1566) where the galaxy gives one.
    external_id: Mapped[str | None] = mapped_column(String(32))
    stix_id: Mapped[str] = mapped_column(String(100), index=True)
    family_id: Mapped[int | None] = mapped_column(
        ForeignKey("knowledge_entry.id", ondelete="SET NULL"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeAlias(Base):
    """A name of an entry, as the galaxy spells it, under its normalised key. One key may name
    several entries (a tool and a malware, two actors sharing a vendor name): all are kept,
    and resolution ranks them."""

    __tablename__ = "knowledge_alias"
    __table_args__ = (UniqueConstraint("entry_id", "alias"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), index=True)
    alias: Mapped[str] = mapped_column(String(255))
    entry_id: Mapped[int] = mapped_column(ForeignKey("knowledge_entry.id", ondelete="CASCADE"))
    # True when the key is the entry's own name's (matches of the name beat synonyms).
    is_canonical: Mapped[bool] = mapped_column(default=False)
