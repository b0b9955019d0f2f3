"""I/O shapes of data-sharing agreements."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, model_validator

from cyberfusion.partner.models import AgreementStatus
from cyberfusion.sharing.models import Tlp


class AgreementCreate(BaseModel):
    organisation: str = Field(description="slug of the partner organisation")
    title: str = Field(min_length=1, max_length=200)
    reference: str = Field(
        min_length=1, max_length=64, description="the reference of the signed text; unique"
    )
    signed_on: date
    valid_from: date
    valid_until: date | None = Field(default=None, description="absent: open-ended")
    scope: str = Field(default="", max_length=4000, description="what the partner shares")
    max_tlp: Tlp = Field(description="the most sensitive TLP the partner may receive")

    @model_validator(mode="after")
    def _dates(self) -> AgreementCreate:
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until must not be before valid_from")
        return self


class AgreementUpdate(BaseModel):
    """Only the fields sent change; `valid_until: null` makes the agreement open-ended."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    reference: str | None = Field(default=None, min_length=1, max_length=64)
    signed_on: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    scope: str | None = Field(default=None, max_length=4000)
    max_tlp: Tlp | None = None


class AgreementSuspend(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


class AgreementRead(BaseModel):
    id: int
    organisation: str
    organisation_name: str
    title: str
    reference: str
    signed_on: date
    valid_from: date
    valid_until: date | None
    scope: str
    max_tlp: Tlp
    status: AgreementStatus
    suspended_at: datetime | None
    suspended_by: str | None
    suspension_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
