"""I/O shapes of sharing labels and evaluations."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cyberfusion.sharing.models import Audience, Reliability, Tlp


class LabelsIn(BaseModel):
    """What an owner sets on a record. Defaults: TLP:AMBER to the owner's organisation."""

    model_config = ConfigDict(extra="forbid")

    tlp: Tlp = Tlp.AMBER
    audience: Audience = Audience.ORGANISATION
    audience_country: str | None = Field(
        default=None, description="for audience=country; default: the owner's country"
    )
    audience_region: str | None = Field(
        default=None, description="for audience=region; default: the owner's region"
    )
    recipients: list[str] = Field(
        default_factory=list, description="organisation slugs, for audience=organisations"
    )
    no_further_dissemination: bool = False
    no_judicial_use: bool = False
    contact_owner_before_action: bool = False


class EvaluationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reliability: Reliability = Reliability.X
    credibility: int = Field(default=4, ge=1, le=4)
    confidence: int = Field(default=50, ge=0, le=100)


class LabelsRead(BaseModel):
    owner: str
    tlp: str
    audience: str
    audience_country: str | None
    audience_region: str | None
    recipients: list[str]
    no_further_dissemination: bool
    no_judicial_use: bool
    contact_owner_before_action: bool
