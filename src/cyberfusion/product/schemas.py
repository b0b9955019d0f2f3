"""I/O shapes of intelligence products, their inbox, feedback and action templates."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cyberfusion.product.models import Outcome


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


class CarIssue(BaseModel):
    """Issue the Cyber Activity Report of one country for [since, until)."""

    model_config = ConfigDict(extra="forbid")

    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2 code")
    since: datetime | date
    until: datetime | date | None = Field(default=None, description="default: now")

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _ordered(self) -> CarIssue:
        if self.until is not None and as_period_bound(self.until) <= as_period_bound(self.since):
            raise ValueError("until must be after since")
        return self


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
