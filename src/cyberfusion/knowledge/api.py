"""REST routes of reference knowledge: name resolution, open to everyone (it is TLP:CLEAR)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cyberfusion.api.deps import DbSession
from cyberfusion.core.errors import Conflict, NotFound
from cyberfusion.knowledge import service as knowledge_service
from cyberfusion.knowledge.models import KnowledgeKind
from cyberfusion.knowledge.schemas import KnowledgeEntryRead

router = APIRouter(tags=["knowledge"])


@router.get(
    "/knowledge/resolve",
    response_model=KnowledgeEntryRead,
    responses={
        404: {"description": "no family of the reference knowledge has this name"},
        409: {"description": "several families have this name: the detail lists them"},
    },
)
def resolve_name(
    session: DbSession,
    name: Annotated[str, Query(min_length=1, max_length=255, description="any name or alias")],
    kind: Annotated[KnowledgeKind | None, Query(description="only families of this kind")] = None,
) -> KnowledgeEntryRead:
    """The family a malware, threat-actor, tool or attack-pattern name belongs to, with all its
    aliases. Case, diacritics, spaces, hyphens, underscores and dots do not matter. No
    authentication: the reference knowledge is TLP:CLEAR and public."""
    found = knowledge_service.lookup(
        session=session, name=name, kind=kind.value if kind is not None else None
    )
    if found.entry is not None:
        return knowledge_service.to_read(session=session, entry=found.entry)
    what = kind.value if kind is not None else "entry"
    if not found.candidates:
        raise NotFound(f"no {what} named {name!r} in the reference knowledge", field="name")
    listed = "; ".join(
        f"{candidate.kind} {candidate.name} ({candidate.galaxy})" for candidate in found.candidates
    )
    hint = "" if kind is not None else " (give kind= to choose among kinds)"
    raise Conflict(f"{name!r} names several families: {listed}{hint}", field="name")
