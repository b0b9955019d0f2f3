"""I/O shapes of submissions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn


class SourceFormat(enum.StrEnum):
    AUTO = "auto"
    STIX = "stix"
    MISP = "misp"
    CSV = "csv"
    TEXT = "text"


class SubmissionOptions(BaseModel):
    """How to read a submission and the labels for objects whose content carries none."""

    model_config = ConfigDict(extra="forbid")

    source_format: SourceFormat = SourceFormat.AUTO
    labels: LabelsIn | None = Field(
        default=None, description="default labels; the organisation's defaults when absent"
    )
    evaluation: EvaluationIn = Field(default_factory=EvaluationIn)
    partial: bool = Field(
        default=False, description="store the valid objects even when others are rejected"
    )


class ObjectResult(BaseModel):
    index: int
    source: str
    id: str | None
    type: str | None
    status: str = Field(description="accepted, duplicate or rejected")
    property: str | None = None
    reason: str | None = None
    record_id: int | None = None


class SubmissionRead(BaseModel):
    id: int
    status: str = Field(description="accepted, partial or rejected")
    source_format: str
    received_at: datetime
    content_sha256: str
    accepted: int
    duplicates: int
    rejected: int
    replayed: bool = Field(description="true when this exact submission was received before")
    correlation: str = Field(
        default="done",
        description="done (flags, enrichment, correlation and notices applied with the "
        "submission), or pending/running for a large submission a background job correlates "
        "shortly after, or failed",
    )
    results: list[ObjectResult]


class EnvelopeIn(BaseModel):
    """`{"format": ..., "content": ...}` for CSV and text (and STIX or MISP as a string)."""

    model_config = ConfigDict(extra="forbid")

    format: SourceFormat
    content: str | dict[str, Any]
    labels: LabelsIn | None = None
    evaluation: EvaluationIn | None = None
    partial: bool = False
