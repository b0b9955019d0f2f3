"""Builders for intelligence records."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.intel import service as intel_service
from cyberfusion.intel.models import IntelObject
from cyberfusion.intel.schemas import IntelObjectCreate
from cyberfusion.sharing.schemas import LabelsIn


def indicator_content(value: str = "198.51.100.7") -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-11-02T10:00:00.000Z",
        "modified": "2026-11-02T10:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": "2026-11-02T10:00:00Z",
    }


def record(
    session: Session,
    actor: Actor,
    labels: LabelsIn | None = None,
    content: dict[str, Any] | None = None,
) -> IntelObject:
    return intel_service.create(
        session=session,
        actor=actor,
        object_in=IntelObjectCreate(
            content=content or indicator_content(), labels=labels or LabelsIn()
        ),
    )
