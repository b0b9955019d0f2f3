"""Load the demo world, reproducibly and idempotently."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor, UserCreate
from cyberfusion.intel import service as intel_service
from cyberfusion.intel.schemas import IntelObjectCreate
from cyberfusion.partner import service as partner_service
from cyberfusion.partner.schemas import AgreementCreate
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.models import OrgKind
from cyberfusion.registry.schemas import OrganisationCreate
from cyberfusion.sharing.models import Audience, Reliability, Tlp
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn

DEMO_PASSWORD = "Demo-Password-2026!"  # noqa: S105  (published on purpose: demo accounts only)
DESK_OPERATIONAL = {
    "africa": True,
    "americas": True,
    "asia_south_pacific": True,
    "europe": True,
    "mena": False,
}

# slug, name, kind, country
PARTNERS = [
    ("cert-fr", "CERT-FR", OrgKind.CERT, "FR"),
    ("cert-br", "CERT.br", OrgKind.CERT, "BR"),
    ("cert-ng", "ngCERT", OrgKind.CERT, "NG"),
    ("cert-sg", "SingCERT", OrgKind.CERT, "SG"),
    ("cert-jo", "JO-CERT", OrgKind.CERT, "JO"),
    ("fr-cyber-unit", "French national cybercrime unit", OrgKind.NATIONAL_UNIT, "FR"),
    ("ng-cyber-unit", "Nigerian national cybercrime unit", OrgKind.NATIONAL_UNIT, "NG"),
    (
        "partner-northwind",
        "Northwind Threat Research (demo partner)",
        OrgKind.PRIVATE_PARTNER,
        "GB",
    ),
    (
        "partner-bluewave",
        "Bluewave Hosting abuse desk (demo partner)",
        OrgKind.PRIVATE_PARTNER,
        "SG",
    ),
    (
        "intl-regional-police",
        "Regional police cooperation body (demo)",
        OrgKind.INTERNATIONAL_ORG,
        None,
    ),
]

# e-mail, organisation, role
USERS = [
    ("admin@hub.cyberfusion.example", "hub", Role.ADMIN),
    ("analyst@hub.cyberfusion.example", "hub", Role.HUB_ANALYST),
    ("officer@desk-africa.cyberfusion.example", "desk-africa", Role.DESK_OFFICER),
    ("officer@ncb-fr.cyberfusion.example", "ncb-fr", Role.OFFICER),
    ("officer@ncb-ng.cyberfusion.example", "ncb-ng", Role.OFFICER),
    ("analyst@partner-northwind.cyberfusion.example", "partner-northwind", Role.PARTNER_ANALYST),
    ("viewer@ncb-br.cyberfusion.example", "ncb-br", Role.VIEWER),
]


def demo_totp_secret(email: str) -> str:
    """Reproducible per e-mail, so the printed instructions stay valid across reloads."""
    digest = hashlib.sha256(f"cyberfusion-demo:{email}".encode()).digest()
    return base64.b32encode(digest[:20]).decode()


def _stable_id(kind: str, name: str) -> str:
    return f"{kind}--{uuid.uuid5(uuid.NAMESPACE_URL, 'cyberfusion-demo/' + name)}"


@dataclass(frozen=True)
class DemoUser:
    email: str
    org: str
    role: str
    totp_secret: str | None


def _org(session: Session, actor: Actor, org_in: OrganisationCreate) -> None:
    if registry_service.get_by_slug(session=session, slug=org_in.slug) is None:
        registry_service.create(session=session, actor=actor, organisation_in=org_in)


def load(*, session: Session, actor: Actor) -> list[DemoUser]:
    registry_service.sync_members(session=session)
    _org(
        session,
        actor,
        OrganisationCreate(slug="hub", name="Cybercrime Fusion Centre", kind=OrgKind.HUB),
    )
    for code, name in registry_service.REGIONS.items():
        _org(
            session,
            actor,
            OrganisationCreate(
                slug=f"desk-{code.replace('_', '-')}",
                name=f"{name} desk",
                kind=OrgKind.DESK,
                region=code,
                operational=DESK_OPERATIONAL[code],
            ),
        )
    for country in registry_service.list_countries(session=session):
        _org(
            session,
            actor,
            OrganisationCreate(
                slug=f"ncb-{country.iso2.lower()}",
                name=f"NCB {country.name}",
                kind=OrgKind.NCB,
                country=country.iso2,
            ),
        )
    for slug, name, kind, country_code in PARTNERS:
        _org(
            session,
            actor,
            OrganisationCreate(slug=slug, name=name, kind=kind, country=country_code),
        )
    _agreements(session, actor)
    users = []
    for email, org_slug, role in USERS:
        user = account_service.get_by_email(session=session, email=email)
        if user is None:
            user = account_service.create(
                session=session,
                actor=actor,
                user_in=UserCreate(
                    email=email, org_slug=org_slug, roles=[role], password=DEMO_PASSWORD
                ),
            )
            if user.totp_required:
                user.totp_secret = demo_totp_secret(email)
        users.append(DemoUser(email, org_slug, role.value, user.totp_secret))
    _records(session)
    return users


def _agreements(session: Session, actor: Actor) -> None:
    """One data-sharing agreement per demo partner (CERTs, private and international
    partners), keyed by its reference so that loading again adds none."""
    taken = {a.reference for a in partner_service.list_(session=session, actor=actor)}
    for slug, name, kind, _ in PARTNERS:
        reference = f"DSA-2026-{slug.upper()}"
        if kind not in partner_service.PARTNER_KINDS or reference in taken:
            continue
        partner_service.create(
            session=session,
            actor=actor,
            agreement_in=AgreementCreate(
                organisation=slug,
                title=f"Data-sharing agreement with {name}",
                reference=reference,
                signed_on=date(2026, 1, 15),
                valid_from=date(2026, 2, 1),
                valid_until=date(2028, 1, 31),
                scope="Indicators of compromise and phishing reports, both ways.",
                # Private companies receive less than national CERTs.
                max_tlp=Tlp.GREEN if kind == OrgKind.PRIVATE_PARTNER else Tlp.AMBER,
            ),
        )


def _user_actor(session: Session, email: str) -> Actor:
    user = account_service.get_by_email_or_raise(session=session, email=email)
    return account_service.actor_for(user, via="demo")


def _indicator(name: str, pattern: str, description: str) -> dict[str, object]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": _stable_id("indicator", name),
        "created": "2026-11-01T09:00:00.000Z",
        "modified": "2026-11-01T09:00:00.000Z",
        "name": name,
        "description": description,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-01T09:00:00Z",
    }


def _records(session: Session) -> None:
    """A handful of records under different labels, so each demo user sees a different world."""
    samples: list[tuple[str, dict[str, object], LabelsIn, EvaluationIn]] = [
        (
            "analyst@hub.cyberfusion.example",
            _indicator(
                "Phishing kit landing page",
                "[url:value = 'http://login-verify.example.net/']",
                "Credential phishing page impersonating a bank; public advisory.",
            ),
            LabelsIn(tlp=Tlp.CLEAR, audience=Audience.PUBLIC),
            EvaluationIn(reliability=Reliability.A, credibility=1, confidence=90),
        ),
        (
            "analyst@partner-northwind.cyberfusion.example",
            _indicator(
                "Botnet C2 server",
                "[ipv4-addr:value = '203.0.113.10']",
                "Command-and-control server seen in partner telemetry.",
            ),
            LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
            EvaluationIn(reliability=Reliability.B, credibility=2, confidence=75),
        ),
        (
            "officer@ncb-fr.cyberfusion.example",
            _indicator(
                "Ransomware negotiation site",
                "[domain-name:value = 'pay-now.example.org']",
                "Site used in an ongoing French investigation.",
            ),
            LabelsIn(tlp=Tlp.AMBER, audience=Audience.COUNTRY),
            EvaluationIn(reliability=Reliability.B, credibility=2, confidence=70),
        ),
        (
            "officer@ncb-fr.cyberfusion.example",
            _indicator(
                "Money mule wallet",
                "[x-cryptocurrency-wallet:value = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq']",
                "Wallet shared with Nigeria for a joint case only.",
            ),
            LabelsIn(
                tlp=Tlp.RED,
                audience=Audience.ORGANISATIONS,
                recipients=["ncb-ng"],
                contact_owner_before_action=True,
            ),
            EvaluationIn(reliability=Reliability.A, credibility=2, confidence=80),
        ),
        (
            "officer@ncb-ng.cyberfusion.example",
            _indicator(
                "BEC sender domain",
                "[domain-name:value = 'invoice-update.example.com']",
                "Business e-mail compromise sender, shared with the Africa region.",
            ),
            LabelsIn(tlp=Tlp.AMBER, audience=Audience.REGION),
            EvaluationIn(reliability=Reliability.C, credibility=3, confidence=60),
        ),
        (
            "officer@desk-africa.cyberfusion.example",
            _indicator(
                "Scam call centre number",
                "[x-phone-number:value = '+2348000000000']",
                "Number reported by several victims; for member law enforcement.",
            ),
            LabelsIn(tlp=Tlp.GREEN, audience=Audience.MEMBERS),
            EvaluationIn(reliability=Reliability.B, credibility=3, confidence=55),
        ),
    ]
    for email, content, labels, evaluation in samples:
        intel_service.create(
            session=session,
            actor=_user_actor(session, email),
            object_in=IntelObjectCreate(content=content, labels=labels, evaluation=evaluation),
        )
