"""TAXII 2.1 resources as they go on the wire (OASIS Standard, 10 June 2021, sections 3-5).

Property names are the specification's exactly (§3.8); optional properties that have no value
are left out rather than sent empty, since TAXII forbids empty lists (§2, `list`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"


class _Resource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def wire(self) -> dict[str, Any]:
        """The JSON object to send: unset optional properties omitted."""
        return self.model_dump(mode="json", exclude_none=True)


class ErrorMessage(_Resource):
    """§3.6.1 Error Message."""

    title: str
    description: str | None = None
    http_status: str | None = Field(default=None, description="equal to the HTTP status code")


class Discovery(_Resource):
    """§4.1.1 Discovery Resource."""

    title: str
    description: str | None = None
    contact: str | None = None
    default: str | None = None
    api_roots: list[str] | None = None


class ApiRootResource(_Resource):
    """§4.2.1 API Root Resource."""

    title: str
    description: str | None = None
    versions: list[str]
    max_content_length: int


class StatusDetails(_Resource):
    """§4.3.1 `status-details`: one object of an Add Objects request."""

    id: str
    version: str
    message: str | None = None


class StatusResource(_Resource):
    """§4.3.1 Status Resource."""

    id: str
    status: str
    request_timestamp: str | None = None
    total_count: int
    success_count: int
    successes: list[StatusDetails] | None = None
    failure_count: int
    failures: list[StatusDetails] | None = None
    pending_count: int
    pendings: list[StatusDetails] | None = None


class CollectionResource(_Resource):
    """§5.2.1 Collection Resource."""

    id: str
    title: str
    description: str | None = None
    alias: str | None = None
    can_read: bool
    can_write: bool
    media_types: list[str] | None = None


class CollectionsResource(_Resource):
    """§5.1.1 Collections Resource."""

    collections: list[CollectionResource] | None = None


class ManifestRecord(_Resource):
    """§5.3.1 `manifest-record`."""

    id: str
    date_added: str
    version: str
    media_type: str | None = None


class ManifestResource(_Resource):
    """§5.3.1 Manifest Resource."""

    more: bool | None = None
    next: str | None = None
    objects: list[ManifestRecord] | None = None


class Envelope(_Resource):
    """§3.7 Envelope Resource."""

    more: bool | None = None
    next: str | None = None
    objects: list[dict[str, Any]] | None = None


class VersionsResource(_Resource):
    """§5.8.1 Versions Resource."""

    more: bool | None = None
    next: str | None = None
    versions: list[str] | None = None
