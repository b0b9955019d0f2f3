from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.errors import Conflict, PermissionDenied, ValidationFailed
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.models import Country, OrgKind
from cyberfusion.registry.schemas import OrganisationCreate
from tests.factories import account as account_factory
from tests.factories import registry as registry_factory


def _audit_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_member_list_has_196_countries_in_five_regions(session: Session) -> None:
    members = registry_service.list_countries(session=session)
    assert len(members) == 196
    by_region: dict[str, int] = {}
    for country in members:
        by_region[country.region_code] = by_region.get(country.region_code, 0) + 1
    assert sorted(by_region) == ["africa", "americas", "asia_south_pacific", "europe", "mena"]
    assert session.get(Country, "FR").region_code == "europe"
    assert session.get(Country, "NG").region_code == "africa"
    assert session.get(Country, "JO").region_code == "mena"
    # Not members: the Democratic People's Republic of Korea and Tuvalu.
    assert session.get(Country, "KP") is None


def test_membership_is_data_a_new_row_adds_a_member(session: Session) -> None:
    rows = registry_service.member_rows()
    rows = [r for r in rows if r["iso2"] != "FR"] + [
        {"iso2": "KP", "iso3": "PRK", "name": "North Korea", "region": "asia_south_pacific"}
    ]
    assert registry_service.sync_members(session=session, rows=rows) == 196
    assert session.get(Country, "KP").is_member is True
    assert session.get(Country, "FR").is_member is False


def test_every_member_has_an_ncb_and_every_region_a_desk(session: Session) -> None:
    ncbs = registry_service.list_(session=session, kind=OrgKind.NCB)
    assert len(ncbs) == 196
    desks = registry_service.list_(session=session, kind=OrgKind.DESK)
    assert sorted(d.region_code for d in desks) == [
        "africa",
        "americas",
        "asia_south_pacific",
        "europe",
        "mena",
    ]
    assert {d.slug: d.operational for d in desks}["desk-mena"] is False


def test_create_organisation_writes_one_audit_entry(session: Session) -> None:
    before = _audit_count(session)
    org = registry_factory.organisation(session, kind=OrgKind.CERT, country="KE")
    assert org.region_code == "africa"
    assert _audit_count(session) == before + 1


@pytest.mark.parametrize(
    ("org_in", "error", "field"),
    [
        ({"slug": "cert-zz", "kind": "cert", "country": "ZZ"}, ValidationFailed, "country"),
        ({"slug": "cert-kp", "kind": "cert", "country": "KP"}, ValidationFailed, "country"),
        ({"slug": "ncb-fr", "kind": "cert", "country": "FR"}, Conflict, "slug"),
        ({"slug": "ncb-fr-2", "kind": "ncb", "country": "FR"}, Conflict, "kind"),
        ({"slug": "unit-x", "kind": "national_unit"}, ValidationFailed, "country"),
        ({"slug": "desk-x", "kind": "desk"}, ValidationFailed, "region"),
        ({"slug": "hub-2", "kind": "hub"}, Conflict, "kind"),
    ],
)
def test_bad_organisations_are_refused_naming_the_field(
    session: Session, org_in: dict[str, str], error: type[Exception], field: str
) -> None:
    before = registry_service.count(session=session)
    with pytest.raises(error) as excinfo:
        registry_service.create(
            session=session,
            actor=Actor.operator("test"),
            organisation_in=OrganisationCreate(name="x", **org_in),  # type: ignore[arg-type]
        )
    assert excinfo.value.field == field  # type: ignore[attr-defined]
    assert registry_service.count(session=session) == before


def test_only_administrators_add_organisations(session: Session) -> None:
    officer = account_factory.actor(session, role=Role.OFFICER)
    with pytest.raises(PermissionDenied):
        registry_service.create(
            session=session,
            actor=officer,
            organisation_in=OrganisationCreate(
                slug="cert-ke", name="x", kind=OrgKind.CERT, country="KE"
            ),
        )


def test_slug_format_is_checked() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        OrganisationCreate(slug="Bad Slug", name="x", kind=OrgKind.CERT)


def test_default_labels_are_checked_and_set(session: Session, cli) -> None:  # type: ignore[no-untyped-def]
    ok = cli("org", "defaults", "cert-fr", "--tlp", "green", "--audience", "community")
    assert ok.exit_code == 0, ok.output
    org = registry_service.get_by_slug_or_raise(session=session, slug="cert-fr")
    assert (org.default_tlp, org.default_audience) == ("green", "community")
    red = cli("org", "defaults", "cert-fr", "--tlp", "red", "--audience", "members")
    assert red.exit_code == 2
    assert "TLP:RED needs an explicit list" in red.output
    bad = cli("org", "defaults", "cert-fr", "--tlp", "purple", "--audience", "members")
    assert bad.exit_code == 2
    assert "(tlp)" in bad.output
    assert (org.default_tlp, org.default_audience) == ("green", "community")
