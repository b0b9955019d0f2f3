"""I/O shapes of the member registry."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cyberfusion.registry.models import OrgKind

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")


class OrganisationCreate(BaseModel):
    slug: str = Field(description="lower-case letters, digits and hyphens, 3 to 64 characters")
    name: str = Field(min_length=1, max_length=200)
    kind: OrgKind
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 code")
    region: str | None = Field(default=None, description="region code, for desks")
    operational: bool = False

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG_RE.match(value):
            raise ValueError(
                "must be 3 to 64 lower-case letters, digits or hyphens, "
                "starting and ending with a letter or digit"
            )
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return value.upper() if value else None


class OrganisationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    kind: str
    country_code: str | None
    region_code: str | None
    operational: bool
    is_active: bool


class CountryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    iso2: str
    iso3: str
    name: str
    region_code: str
    is_member: bool
