"""Builders for organisations."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.models import Organisation, OrgKind
from cyberfusion.registry.schemas import OrganisationCreate

_counter = itertools.count(1)


def organisation(
    session: Session,
    *,
    kind: OrgKind = OrgKind.CERT,
    country: str | None = "FR",
    region: str | None = None,
    slug: str | None = None,
) -> Organisation:
    return registry_service.create(
        session=session,
        actor=Actor.operator("test"),
        organisation_in=OrganisationCreate(
            slug=slug or f"test-org-{next(_counter)}",
            name="Test organisation",
            kind=kind,
            country=country,
            region=region,
        ),
    )


def by_slug(session: Session, slug: str) -> Organisation:
    return registry_service.get_by_slug_or_raise(session=session, slug=slug)
