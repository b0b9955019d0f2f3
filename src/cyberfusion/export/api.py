"""REST route of exports: what the caller may read, streamed as STIX 2.1, MISP or CSV."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from cyberfusion.api.deps import DbSession, OptionalActor
from cyberfusion.core.time import utcnow
from cyberfusion.export import service as export_service
from cyberfusion.export.service import ExportFormat, StatusFilter

router = APIRouter(tags=["export"])


def _split(values: list[str] | None) -> list[str]:
    """Repeated parameters and comma-separated lists alike; a space reads as `+`, which an
    unencoded `amber+strict` in a query string becomes."""
    return [
        part.strip().replace(" ", "+")
        for value in values or []
        for part in value.split(",")
        if part.strip()
    ]


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the export, streamed",
            "content": {media: {} for media in export_service.MEDIA_TYPES.values()},
        },
        422: {"description": "a filter is invalid: `field` names it"},
    },
)
def export(
    session: DbSession,
    actor: OptionalActor,
    export_format: Annotated[
        ExportFormat, Query(alias="format", description="stix, misp or csv")
    ] = ExportFormat.STIX,
    types: Annotated[
        list[str] | None,
        Query(
            alias="type",
            description="STIX type (for CSV and MISP also observable type); repeat or "
            "separate with commas",
        ),
    ] = None,
    added_after: Annotated[datetime | None, Query(description="stored after (UTC)")] = None,
    added_before: Annotated[datetime | None, Query(description="stored before (UTC)")] = None,
    modified_after: Annotated[
        datetime | None, Query(description="STIX modified after (UTC)")
    ] = None,
    tlp: Annotated[
        list[str] | None,
        Query(description="current TLP: clear, green, amber, amber+strict, red; repeat or comma"),
    ] = None,
    status: StatusFilter = StatusFilter.ANY,
    limit: Annotated[int | None, Query(ge=1)] = None,
    all_versions: bool = False,
) -> StreamingResponse:
    """Everything the caller may read that matches the filters, latest versions only unless
    `all_versions`. Without credentials: public TLP:CLEAR records only. Formats and mappings:
    docs/formats.md ("Export")."""
    filters = export_service.parse_filters(
        {
            "types": _split(types),
            "added_after": added_after,
            "added_before": added_before,
            "modified_after": modified_after,
            "tlp": _split(tlp),
            "status": status,
            "limit": limit,
            "all_versions": all_versions,
        }
    )
    # Checks and filter errors happen here, before the first byte: once streaming has begun
    # the status line is gone.
    chunks = export_service.export(
        session=session, actor=actor, export_format=export_format, filters=filters
    )
    name = f"cyberfusion-export-{utcnow():%Y%m%dT%H%M%SZ}"
    return StreamingResponse(
        chunks,
        media_type=export_service.MEDIA_TYPES[export_format],
        headers={
            "Content-Disposition": (
                f'attachment; filename="{name}{export_service.FILE_SUFFIXES[export_format]}"'
            )
        },
    )
