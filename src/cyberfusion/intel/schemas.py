"""I/O shapes of intelligence records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn, LabelsRead


class IntelObjectCreate(BaseModel):
    content: dict[str, Any] = Field(description="one STIX 2.1 object")
    labels: LabelsIn = Field(default_factory=LabelsIn)
    evaluation: EvaluationIn = Field(default_factory=EvaluationIn)


class IntelObjectRead(BaseModel):
    id: int
    stix_id: str
    stix_type: str
    modified: datetime
    content: dict[str, Any]
    content_hash: str
    owner: str
    labels: LabelsRead
    reliability: str
    credibility: int
    confidence: int
    status: str
    created_at: datetime
