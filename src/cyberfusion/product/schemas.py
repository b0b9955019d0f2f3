"""I/O shapes of intelligence products, their inbox, feedback and action templates."""

from __future__ import annotations

import enum
import ipaddress
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cyberfusion.product.models import Outcome
from cyberfusion.sharing.models import Tlp


class ProductFormat(enum.StrEnum):
    HTML = "html"
    PDF = "pdf"
    STIX = "stix"
    CSV = "csv"


def as_period_bound(value: datetime | date) -> datetime:
    """A date is its midnight UTC; a naive datetime is UTC."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CarScope(enum.StrEnum):
    COUNTRY = "country"
    ASN = "asn"
    NETWORK = "network"


class CarIssue(BaseModel):
    """Issue the Cyber Activity Report of one country, autonomous system or network (CIDR
    range) for [since, until). A country's report goes to its NCB; an AS's or a network's to
    the organisation named in `to` (the network owner's CERT, the country's NCB, ...)."""

    model_config = ConfigDict(extra="forbid")

    country: str | None = Field(
        default=None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2 code"
    )
    asn: int | None = Field(
        default=None, ge=1, le=4294967295, description="autonomous system number"
    )
    network: str | None = Field(
        default=None,
        max_length=64,
        description="an IPv4 or IPv6 CIDR range without host bits: 198.51.100.0/24",
    )
    to: str | None = Field(
        default=None,
        max_length=100,
        description="slug of the recipient organisation: required for asn and network, not "
        "given for a country (its NCB)",
    )
    since: datetime | date
    until: datetime | date | None = Field(default=None, description="default: now")

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return None if value is None else value.upper()

    @field_validator("network")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            network = ipaddress.ip_network(value.strip(), strict=True)
        except ValueError as error:
            # ipaddress says "has host bits set" for 198.51.100.7/24; keep its words.
            raise ValueError(f"{value!r} is not a CIDR range: {error}") from None
        return network.compressed

    @model_validator(mode="after")
    def _ordered(self) -> CarIssue:
        given = [name for name in ("country", "asn", "network") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of country, asn and network"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.country is None and not self.to:
            raise ValueError(
                f"{given[0]}: name the recipient organisation in `to` (the network owner's CERT "
                "or the country's NCB)"
            )
        if self.country is not None and self.to is not None:
            raise ValueError("to: a country's report goes to its NCB; do not name a recipient")
        if self.until is not None and as_period_bound(self.until) <= as_period_bound(self.since):
            raise ValueError("until must be after since")
        return self

    @property
    def scope(self) -> tuple[CarScope, str]:
        """(kind, value) as the register keeps it: FR, AS64500, 198.51.100.0/24."""
        if self.asn is not None:
            return CarScope.ASN, f"AS{self.asn}"
        if self.network is not None:
            return CarScope.NETWORK, self.network
        assert self.country is not None
        return CarScope.COUNTRY, self.country


class DeliveryRead(BaseModel):
    recipient: str
    delivered_at: datetime
    read_at: datetime | None
    read_by: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class ProductRead(BaseModel):
    id: int
    kind: str
    version: int
    country: str | None
    scope: str = Field(
        default="", description="what a CAR covers: country:FR, asn:AS64500, network:CIDR"
    )
    recipient: str
    period_start: datetime
    period_end: datetime
    tlp: str
    content_hash: str
    item_count: int
    issued_at: datetime
    issued_by: str
    summary: dict[str, Any]
    delivery: DeliveryRead | None = Field(
        default=None, description="the reader's own delivery of the product, if it is a recipient"
    )


class CarIssueResult(BaseModel):
    issued: bool = Field(description="true when this call issued a new product or version")
    detail: str
    product: ProductRead | None


class ProductItemRead(BaseModel):
    id: int
    group: str
    observable_type: str
    value: str
    record_id: int
    stix_id: str
    outcome: str | None = Field(description="the latest feedback outcome, if any")


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: int = Field(description="the item of the product (see its items)")
    outcome: Outcome
    comment: str = Field(default="", max_length=4000)


class FeedbackRead(BaseModel):
    id: int
    item_id: int
    organisation: str
    outcome: str
    comment: str
    created_at: datetime
    created_by: str


class ActionTemplateRead(BaseModel):
    threat_group: str
    title: str
    why_it_matters: str
    actions: list[str]
    updated_at: datetime
    updated_by: str


class ActionTemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    why_it_matters: str = Field(min_length=1, max_length=4000)
    actions: list[str] = Field(min_length=1, max_length=20)

    @field_validator("actions")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        cleaned = [action.strip() for action in value]
        for index, action in enumerate(cleaned):
            if not action:
                raise ValueError(f"action {index} is empty")
            if "\n" in action:
                raise ValueError(f"action {index} spans several lines: one action per entry")
        return cleaned


class CountryStats(BaseModel):
    country: str
    products: int
    acknowledged: int
    median_ack_hours: float | None
    items: int
    with_feedback: int
    taken_down: int
    false_positives: int
    takedown_rate: float | None = Field(description="items taken down / items, 0 to 1")


class ProviderStats(BaseModel):
    as_organisation: str
    items: int
    taken_down: int
    median_takedown_hours: float | None = Field(
        description="median time from the product's issue to the takedown feedback"
    )


class AssessmentScope(enum.StrEnum):
    GLOBAL = "global"
    REGION = "region"
    COUNTRY = "country"


class AssessmentAudience(enum.StrEnum):
    """Who reads a threat assessment: the hub alone, or readers beyond it (then small cells
    are suppressed)."""

    HUB = "hub"
    ORGANISATIONS = "organisations"
    REGION = "region"
    MEMBERS = "members"
    COMMUNITY = "community"


class AssessmentIssue(BaseModel):
    """Issue a threat assessment for [since, until): global, one region or one country."""

    model_config = ConfigDict(extra="forbid")

    scope: AssessmentScope = AssessmentScope.GLOBAL
    country: str | None = Field(
        default=None, min_length=2, max_length=2, description="for scope country: ISO alpha-2"
    )
    region: str | None = Field(default=None, description="for scope region: a desk's region")
    since: datetime | date
    until: datetime | date | None = Field(default=None, description="default: now")
    audience: AssessmentAudience = Field(
        default=AssessmentAudience.HUB,
        description="hub: the issuer alone, exact figures; any other audience: small cells "
        "suppressed",
    )
    recipients: list[str] = Field(
        default_factory=list, description="organisation slugs, for audience organisations"
    )
    audience_region: str | None = Field(default=None, description="for audience region")
    tlp: Tlp | None = Field(
        default=None,
        description="for an assessment beyond the hub (default amber); the hub's own takes the "
        "strictest TLP of what it counts",
    )

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None

    @model_validator(mode="after")
    def _consistent(self) -> AssessmentIssue:
        if self.until is not None and as_period_bound(self.until) <= as_period_bound(self.since):
            raise ValueError("until must be after since")
        if (self.scope == AssessmentScope.COUNTRY) != (self.country is not None):
            raise ValueError("give country exactly when scope is country")
        if (self.scope == AssessmentScope.REGION) != (self.region is not None):
            raise ValueError("give region exactly when scope is region")
        if self.audience == AssessmentAudience.HUB and self.tlp is not None:
            raise ValueError("the hub's own assessment takes the strictest TLP it counts: no tlp")
        return self


class FigureTraceRead(BaseModel):
    """Where one figure of an assessment comes from: its query and the records behind it."""

    product_id: int
    figure_id: str
    label: str
    query: str
    parameters: dict[str, Any]
    value: float | None = Field(description="as computed, before any suppression")
    record_count: int
    record_ids: list[int] = Field(description="this page of the records, by id")
    limit: int
    offset: int


class AssessmentFormat(enum.StrEnum):
    HTML = "html"
    PDF = "pdf"
