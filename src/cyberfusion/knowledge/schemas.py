"""I/O shapes of reference knowledge."""

from __future__ import annotations

from pydantic import BaseModel, Field


class KnowledgeSourceRead(BaseModel):
    """One galaxy cluster of the family."""

    galaxy: str
    cluster_uuid: str
    name: str
    stix_id: str = Field(description="the STIX object this cluster is stored as")
    external_id: str | None = Field(description="the MITRE ATT&CK id, where there is one")


class KnowledgeEntryRead(BaseModel):
    """A family: the entry of the preferred galaxy, with every name of every cluster of it."""

    kind: str = Field(description="malware, threat-actor, tool or attack-pattern")
    name: str
    stix_id: str = Field(description="the STIX object that stands for the family")
    galaxy: str
    cluster_uuid: str
    description: str | None
    external_id: str | None
    aliases: list[str] = Field(description="every other name of the family")
    sources: list[KnowledgeSourceRead]
