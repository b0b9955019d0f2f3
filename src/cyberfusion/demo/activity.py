"""Demo activity: a few hundred made-up indicators from several organisations, through intake.

`make run` loads it after the demo world so that the map, the graph, correlation notices and
products (the week's Cyber Activity Reports, issued by the hub) have something to show. Every
value is invented: each name is a random six-character token between two words, registered
directly under a country-code TLD (so the map has countries to colour) and vanishingly
unlikely to exist. No IP address, phone number or account is used: any valid one belongs to
someone (even Ofcom's drama numbers fail libphonenumber's checks). The set is the same on
every machine (a fixed seed) and loading it twice changes nothing (intake is idempotent, and
reports are issued only when there is something new).

Tests and the live test servers load it only where they need it (`cyberfusion demo --no-activity`
leaves it out): the rest rely on the small demo world alone.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.core.time import utcnow
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.product import service as product_service
from cyberfusion.registry import service as registry_service
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn

SEED = 2026
# ccTLD and how much activity each gets (a long tail, as in real reporting).
WEIGHTS = {
    "ng": 40, "br": 34, "fr": 30, "in": 26, "ru": 24, "id": 20, "vn": 18, "de": 16, "tr": 14,
    "ua": 12, "za": 12, "mx": 10, "ph": 10, "gh": 9, "ke": 8, "pl": 8, "ro": 7, "it": 7,
    "es": 6, "ar": 6, "co": 6, "eg": 5, "ma": 5, "pk": 5, "th": 4, "my": 4, "cl": 4, "pe": 3,
    "jo": 3, "sg": 3, "au": 3, "jp": 2, "kr": 2, "ca": 2, "nz": 1, "is": 1,
}  # fmt: skip
# Where a registry takes names only below a second level (the public suffix list says which).
SECOND_LEVEL = {"za": "co.za"}
THREATS = (
    ("phishing", ""),
    ("c2", "Emotet"),
    ("malware-distribution", "AgentTesla"),
    ("c2", "QakBot"),
    ("scam", ""),
    ("phishing", ""),
)
WORDS = (
    "secure", "login", "verify", "invoice", "update", "account", "parcel", "pay", "wallet",
    "support", "billing", "tax", "refund", "bank", "portal", "mail", "cloud", "track",
)  # fmt: skip
# Who reports, with what labels (and with the role each would submit with). The hub's analyst
# validates what the CERTs sent; the private partners' data waits in the validation queue.
VALIDATED = ("cert-fr", "cert-br", "cert-ng")
SOURCES = (
    ("cert-fr", Role.PARTNER_ANALYST, LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)),
    ("cert-br", Role.PARTNER_ANALYST, LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)),
    ("cert-ng", Role.PARTNER_ANALYST, LabelsIn(tlp=Tlp.AMBER, audience=Audience.MEMBERS)),
    (
        "partner-northwind",
        Role.PARTNER_ANALYST,
        LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
    ),
    ("partner-bluewave", Role.PARTNER_ANALYST, LabelsIn(tlp=Tlp.AMBER, audience=Audience.MEMBERS)),
    ("ncb-fr", Role.OFFICER, LabelsIn(tlp=Tlp.AMBER, audience=Audience.COUNTRY)),
)
HUB_ANALYST = "analyst@hub.cyberfusion.example"  # a demo account (demo/service.py)
HEADER = ("type", "value", "threat_type", "malware", "confidence", "comment")


@dataclass(frozen=True)
class Row:
    obs_type: str
    value: str
    threat: str
    malware: str
    confidence: int


def rows() -> list[Row]:
    """The made-up indicators: domains, URLs on them, sender addresses."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible made-up data, not secrets
    out: list[Row] = []
    for tld, weight in WEIGHTS.items():
        for n in range(weight):
            threat, malware = THREATS[(n + len(tld)) % len(THREATS)]
            token = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(6))
            suffix = SECOND_LEVEL.get(tld, tld)
            domain = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{token}.{suffix}"
            confidence = rng.choice((50, 60, 70, 80, 90))
            out.append(Row("domain-name", domain, threat, malware, confidence))
            if n % 2 == 0:
                path = f"/{rng.choice(WORDS)}/{token}"
                out.append(
                    Row("url", f"https://{rng.choice(WORDS)}.{domain}{path}", threat, "", 70)
                )
            if threat == "phishing" and n % 3 == 0:
                out.append(Row("email-addr", f"{rng.choice(WORDS)}@{domain}", threat, "", 60))
    return out


def _csv(chunk: list[Row], source: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for row in chunk:
        writer.writerow(
            (row.obs_type, row.value, row.threat, row.malware, row.confidence, f"demo: {source}")
        )
    return buffer.getvalue().encode()


def load_activity(*, session: Session) -> int:
    """Submit the demo activity from its sources, then issue the week's Cyber Activity Reports
    (the countries the validated CERT data concerns get one; a second load finds nothing new);
    returns how many values were submitted."""
    every = rows()
    rng = random.Random(SEED + 1)  # noqa: S311 - as above
    # The hub's demo analyst validates and issues, so registers and audit name a person.
    hub_analyst = account_service.get_by_email(session=session, email=HUB_ANALYST)
    analyst = (
        account_service.actor_for(hub_analyst, via="demo")
        if hub_analyst is not None
        else Actor.for_organisation(
            registry_service.get_by_slug_or_raise(session=session, slug="hub"),
            roles=(Role.HUB_ANALYST.value,),
            via="demo",
        )
    )
    submitted = 0
    for index, (slug, role, labels) in enumerate(SOURCES):
        org = registry_service.get_by_slug_or_raise(session=session, slug=slug)
        actor = Actor.for_organisation(org, roles=(role.value,), via="demo")
        # Each source reports its share, and a third of the next source's share too: the
        # values two organisations report are what correlation and corroboration show.
        mine = [row for n, row in enumerate(every) if n % len(SOURCES) == index]
        shared = [
            row for n, row in enumerate(every) if n % len(SOURCES) == (index + 1) % len(SOURCES)
        ]
        chunk = mine + [row for row in shared if rng.random() < 0.33]
        result = intake_service.submit(
            session=session,
            actor=actor,
            raw=_csv(chunk, slug),
            options=SubmissionOptions(source_format=SourceFormat.CSV, labels=labels),
        )
        if result.rejected:
            first = next(r for r in result.results if r.status == "rejected")
            raise RuntimeError(f"demo activity of {slug} rejected: {first.source}: {first.reason}")
        if slug in VALIDATED and not result.replayed:
            intel_service.validate_submission(
                session=session,
                actor=analyst,
                submission_id=result.id,
                decision="validated",
                reason="demo: CERT data checked by the fusion centre",
            )
        submitted += len(chunk)
    # Whole days, so that loading again the same day asks for the same period: nothing new.
    tomorrow = datetime.combine(utcnow().date() + timedelta(days=1), time.min, UTC)
    product_service.issue_all_cars(
        session=session, actor=analyst, since=tomorrow - timedelta(days=8), until=tomorrow
    )
    return submitted
