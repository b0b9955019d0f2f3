"""Member registry logic: load the member list from data, manage organisations."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from importlib import resources

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.errors import Conflict, NotFound, ValidationFailed
from cyberfusion.registry.models import Country, Organisation, OrgKind, Region
from cyberfusion.registry.schemas import OrganisationCreate

REGIONS = {
    "africa": "Africa",
    "americas": "Americas",
    "asia_south_pacific": "Asia and South Pacific",
    "europe": "Europe",
    "mena": "Middle East and North Africa",
}


def member_rows() -> list[dict[str, str]]:
    """The member list shipped with the package: one CSV row a country (data, not code)."""
    text = resources.files("cyberfusion.registry").joinpath("data/member_countries.csv")
    with text.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def sync_members(*, session: Session, rows: Sequence[dict[str, str]] | None = None) -> int:
    """Make the country table match the member list; countries no longer listed stay, as
    non-members, because records may still refer to them. Returns the member count."""
    rows = member_rows() if rows is None else rows
    for code, name in REGIONS.items():
        region = session.get(Region, code)
        if region is None:
            session.add(Region(code=code, name=name))
        elif region.name != name:
            region.name = name
    session.flush()
    listed = set()
    for row in rows:
        iso2 = row["iso2"].upper()
        if row["region"] not in REGIONS:
            raise ValidationFailed(
                f"member list row {iso2}: unknown region {row['region']!r}", field="region"
            )
        listed.add(iso2)
        country = session.get(Country, iso2)
        if country is None:
            session.add(
                Country(
                    iso2=iso2,
                    iso3=row["iso3"],
                    name=row["name"],
                    region_code=row["region"],
                    is_member=True,
                )
            )
        else:
            country.iso3, country.name = row["iso3"], row["name"]
            country.region_code, country.is_member = row["region"], True
    for country in session.scalars(select(Country).where(Country.is_member.is_(True))):
        if country.iso2 not in listed:
            country.is_member = False
    session.flush()
    return len(listed)


def get_country_or_raise(*, session: Session, code: str, field: str = "country") -> Country:
    country = session.get(Country, code.upper())
    if country is None or not country.is_member:
        raise ValidationFailed(
            f"{code!r} is not the ISO 3166-1 alpha-2 code of a member country", field=field
        )
    return country


def list_countries(*, session: Session) -> Sequence[Country]:
    return session.scalars(
        select(Country).where(Country.is_member.is_(True)).order_by(Country.iso2)
    ).all()


def list_regions(*, session: Session) -> Sequence[Region]:
    """The five regions of the desks."""
    return session.scalars(select(Region).order_by(Region.code)).all()


def get_by_slug(*, session: Session, slug: str) -> Organisation | None:
    return session.scalars(select(Organisation).where(Organisation.slug == slug)).one_or_none()


def get_by_slug_or_raise(*, session: Session, slug: str, field: str = "org") -> Organisation:
    org = get_by_slug(session=session, slug=slug)
    if org is None:
        raise NotFound(f"no organisation with slug {slug!r}", field=field)
    return org


def list_(*, session: Session, kind: OrgKind | None = None) -> Sequence[Organisation]:
    query = select(Organisation).order_by(Organisation.slug)
    if kind is not None:
        query = query.where(Organisation.kind == kind.value)
    return session.scalars(query).all()


def count(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Organisation)) or 0


def create(*, session: Session, actor: Actor, organisation_in: OrganisationCreate) -> Organisation:
    actor.require(Permission.REGISTRY_ORGANISATION_MANAGE)
    if get_by_slug(session=session, slug=organisation_in.slug) is not None:
        raise Conflict(f"an organisation with slug {organisation_in.slug!r} exists", field="slug")
    kind = organisation_in.kind
    country = None
    if organisation_in.country:
        country = get_country_or_raise(session=session, code=organisation_in.country)
    elif kind in (OrgKind.NCB, OrgKind.NATIONAL_UNIT):
        raise ValidationFailed(
            f"an organisation of kind {kind.value} needs a country", field="country"
        )
    region_code = country.region_code if country else None
    if kind == OrgKind.DESK:
        if organisation_in.region not in REGIONS:
            raise ValidationFailed(
                f"a desk needs a region, one of {', '.join(REGIONS)}", field="region"
            )
        region_code = organisation_in.region
    elif organisation_in.region is not None:
        raise ValidationFailed(
            "only desks take a region; others take it from their country", field="region"
        )
    if kind == OrgKind.NCB and country is not None:
        existing = session.scalars(
            select(Organisation).where(
                Organisation.kind == OrgKind.NCB.value, Organisation.country_code == country.iso2
            )
        ).first()
        if existing is not None:
            raise Conflict(
                f"{country.iso2} already has a National Central Bureau ({existing.slug})",
                field="kind",
            )
    if kind == OrgKind.HUB:
        hub = session.scalars(
            select(Organisation).where(Organisation.kind == OrgKind.HUB.value)
        ).first()
        if hub is not None:
            raise Conflict(f"the platform already has a hub ({hub.slug})", field="kind")
    org = Organisation(
        slug=organisation_in.slug,
        name=organisation_in.name,
        kind=kind.value,
        country_code=country.iso2 if country else None,
        region_code=region_code,
        operational=organisation_in.operational if kind == OrgKind.DESK else False,
    )
    session.add(org)
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="organisation.create",
        target_type="organisation",
        target_id=org.id,
        details={
            "slug": org.slug,
            "kind": org.kind,
            "country": org.country_code,
            "region": org.region_code,
        },
    )
    return org


def set_default_labels(
    *, session: Session, actor: Actor, slug: str, tlp: str, audience: str
) -> Organisation:
    """The labels an organisation's submissions get when nothing else says; checked against
    the sharing rules like any label (no TLP:RED default: it needs named recipients)."""
    actor.require(Permission.REGISTRY_ORGANISATION_MANAGE)
    from pydantic import ValidationError

    from cyberfusion.sharing import service as sharing_service
    from cyberfusion.sharing.schemas import LabelsIn

    org = get_by_slug_or_raise(session=session, slug=slug)
    try:
        labels = LabelsIn.model_validate({"tlp": tlp, "audience": audience})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(f"{first['msg']}", field=str(first["loc"][0])) from exc
    sharing_service.normalise(session=session, owner=org, labels_in=labels)
    org.default_tlp, org.default_audience = labels.tlp.value, labels.audience.value
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="organisation.default_labels",
        target_type="organisation",
        target_id=org.id,
        details={"tlp": tlp, "audience": audience},
    )
    return org
