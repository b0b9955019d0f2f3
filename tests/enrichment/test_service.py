"""Enrichment of stored observables: flags, history, jurisdiction, overrides, describe."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import idna
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.config import get_settings
from cyberfusion.core.errors import Conflict, NotFound, PermissionDenied
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.enrichment import warninglist
from cyberfusion.enrichment.models import Enrichment, Jurisdiction, ObservableFlag
from cyberfusion.enrichment.warninglist import Warninglists
from cyberfusion.intake.models import Submission
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.normalize import is_known_tld
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account, intel
from tests.processes import alive

pytestmark = pytest.mark.usefixtures("shipped_lists")


def observable(session: Session, obs_type: str, value: str) -> Observable:
    row = Observable(
        obs_type=obs_type,
        value=value,
        digest=hashlib.sha256(f"{obs_type}\0{value}".encode()).hexdigest(),
    )
    session.add(row)
    session.flush()
    return row


def report(
    session: Session,
    actor: Actor,
    row: Observable,
    *,
    labels: LabelsIn | None = None,
    submission_id: int | None = None,
) -> Occurrence:
    """An occurrence of `row` in a new record of the actor's organisation."""
    record = intel.record(session, actor, labels=labels)
    occurrence = Occurrence(
        observable_id=row.id,
        intel_object_id=record.id,
        owner_org_id=record.owner_org_id,
        label_id=record.label_id,
        submission_id=submission_id,
    )
    session.add(occurrence)
    session.flush()
    return occurrence


# Reports anyone signed in may read; the factory's default is TLP:AMBER to the reporter only.
SHARED = LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)


def reader(session: Session) -> Actor:
    """The hub's analyst: a reader of the SHARED reports of other organisations."""
    return account.actor(session, org="hub", role=Role.HUB_ANALYST)


def flags_of(session: Session, row: Observable) -> list[tuple[str, str]]:
    return [
        (flag.source, flag.name)
        for flag in session.scalars(
            select(ObservableFlag)
            .where(ObservableFlag.observable_id == row.id)
            .order_by(ObservableFlag.source, ObservableFlag.name)
        )
    ]


def places_of(session: Session, row: Observable) -> list[tuple[str, str, str]]:
    return [
        (place.country_code, place.reason, place.source)
        for place in session.scalars(
            select(Jurisdiction)
            .where(Jurisdiction.observable_id == row.id)
            .order_by(Jurisdiction.country_code, Jurisdiction.reason)
        )
    ]


def current(session: Session, row: Observable) -> dict[str, dict[str, object]]:
    return {
        kind: entry["data"]
        for kind, entry in enrichment_service.describe(
            session=session, actor=reader(session), observable_id=row.id
        )["enrichment"].items()
    }


def list_name(slug: str) -> str:
    path = warninglist.shipped_lists_dir() / slug / "list.json"
    return str(json.loads(path.read_text(encoding="utf-8"))["name"])


def geoip_version() -> str:
    import geoip2fast

    data = geoip2fast.GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz")
    return f"{geoip2fast.__version__} {data.source_info}"


# --------------------------------------------------------------------------- addresses


def test_a_public_address_is_located_and_placed(session: Session) -> None:
    row = observable(session, "ipv4-addr", "81.2.69.142")
    summary = enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert summary == enrichment_service.EnrichmentSummary(
        observables=1, flags=0, enrichments=2, jurisdictions=1
    )
    assert current(session, row) == {
        "asn": {"as_organisation": "Andrews & Arnold Ltd", "as_network": "81.2.64.0/18"},
        "geo": {"country": "GB", "country_name": "United Kingdom", "network": "81.2.64.0/18"},
    }
    assert places_of(session, row) == [("GB", "hosted-in", "geoip2fast")]
    stored = session.scalars(select(Enrichment).where(Enrichment.observable_id == row.id)).all()
    assert {(e.kind, e.source, e.source_version) for e in stored} == {
        ("geo", "geoip2fast", geoip_version()),
        ("asn", "geoip2fast", geoip_version()),
    }


@pytest.mark.parametrize(
    ("obs_type", "value", "category", "lists"),
    [
        ("ipv4-addr", "10.1.2.3", "private-use or special-purpose", ["rfc1918", "rfc5735"]),
        ("ipv4-addr", "192.168.0.0/16", "private-use or special-purpose", ["rfc1918", "rfc5735"]),
        ("ipv4-addr", "127.0.0.1", "loopback", ["rfc5735"]),
        ("ipv4-addr", "100.64.1.1", "shared address space", ["rfc6598"]),
        ("ipv4-addr", "224.0.0.1", "multicast", ["multicast", "rfc5735"]),
        ("ipv6-addr", "fe80::1", "link-local", ["ipv6-linklocal"]),
        ("ipv6-addr", "fd00::1", "private-use or special-purpose", []),
        ("ipv6-addr", "2001:db8::1", "private-use or special-purpose", ["rfc3849"]),
    ],
)
def test_private_and_reserved_addresses_get_no_country(
    session: Session, obs_type: str, value: str, category: str, lists: list[str]
) -> None:
    row = observable(session, obs_type, value)
    report(session, account.actor(session, org="ncb-fr"), row, labels=SHARED)
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert current(session, row) == {}
    # No country hosts the address; the reporter's country is read from the report.
    assert places_of(session, row) == []
    assert [
        (place["country"], place["reason"])
        for place in enrichment_service.describe(
            session=session, actor=reader(session), observable_id=row.id
        )["jurisdictions"]
    ] == [("FR", "reported-by")]
    assert flags_of(session, row) == sorted(
        [("special-purpose", f"Special-purpose address ({category})")]
        + [("warninglist", list_name(slug)) for slug in lists]
    )


def test_a_cdn_address_is_flagged_with_the_list_name(session: Session) -> None:
    row = observable(session, "ipv4-addr", "104.16.0.1")
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert ("warninglist", list_name("cloudflare")) in flags_of(session, row)
    flag = session.scalars(
        select(ObservableFlag).where(
            ObservableFlag.observable_id == row.id, ObservableFlag.name == list_name("cloudflare")
        )
    ).one()
    path = warninglist.shipped_lists_dir() / "cloudflare" / "list.json"
    assert flag.data_version == str(json.loads(path.read_text())["version"])
    assert current(session, row)["asn"] == {
        "as_organisation": "CLOUDFLARENET",
        "as_network": "104.16.0.0/12",
    }


def test_ipv4_mapped_ipv6_meets_the_ipv4_address(session: Session) -> None:
    # The normaliser stores mapped addresses as IPv4; one stored as IPv6 anyway is the same.
    mapped = observable(session, "ipv6-addr", "::ffff:104.16.0.1")
    plain = observable(session, "ipv4-addr", "104.16.0.1")
    enrichment_service.enrich_observables(session=session, observable_ids=[mapped.id, plain.id])
    assert flags_of(session, mapped) == flags_of(session, plain)
    assert ("warninglist", list_name("cloudflare")) in flags_of(session, plain)
    assert current(session, mapped) == current(session, plain)
    assert current(session, plain)["asn"]["as_organisation"] == "CLOUDFLARENET"


def test_an_as_prefix_that_does_not_hold_the_address_is_ignored(session: Session) -> None:
    # geoip2fast answers the prefix before the address (195.20.48.0/23) for this one.
    row = observable(session, "ipv4-addr", "195.20.51.48")
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert sorted(current(session, row)) == ["geo"]
    assert current(session, row)["geo"]["country"] == "NL"


def test_a_block_across_countries_gets_no_country(session: Session) -> None:
    row = observable(session, "ipv4-addr", "81.0.0.0/8")
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert current(session, row) == {}
    assert places_of(session, row) == []


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("value", "data", "places"),
    [
        (
            "www.example.fr",
            {
                "registered_domain": "example.fr",
                "public_suffix": "fr",
                "service_suffix": None,
                "tld": "fr",
                "cctld_country": "FR",
            },
            [("FR", "cctld-of", "publicsuffixlist")],
        ),
        (
            "shop.example.co.uk",
            {
                "registered_domain": "example.co.uk",
                "public_suffix": "co.uk",
                "service_suffix": None,
                "tld": "uk",
                "cctld_country": "GB",
            },
            [("GB", "cctld-of", "publicsuffixlist")],
        ),
        (
            "evil.duckdns.org",
            {
                "registered_domain": "duckdns.org",
                "public_suffix": "org",
                "service_suffix": "duckdns.org",
                "tld": "org",
                "cctld_country": None,
            },
            [],
        ),
        (
            # Taiwan is not in the member registry: the enrichment says so, no jurisdiction.
            "example.com.tw",
            {
                "registered_domain": "example.com.tw",
                "public_suffix": "com.tw",
                "service_suffix": None,
                "tld": "tw",
                "cctld_country": "TW",
            },
            [],
        ),
        (
            "xn--e1afmkfd.xn--p1ai",
            {
                "registered_domain": "xn--e1afmkfd.xn--p1ai",
                "public_suffix": "xn--p1ai",
                "service_suffix": None,
                "tld": "xn--p1ai",
                "cctld_country": "RU",
            },
            [("RU", "cctld-of", "publicsuffixlist")],
        ),
        (
            "example.eu",
            {
                "registered_domain": "example.eu",
                "public_suffix": "eu",
                "service_suffix": None,
                "tld": "eu",
                "cctld_country": None,
            },
            [],
        ),
    ],
)
def test_domains(
    session: Session, value: str, data: dict[str, object], places: list[tuple[str, str, str]]
) -> None:
    row = observable(session, "domain-name", value)
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert current(session, row) == {"domain": data}
    assert places_of(session, row) == places


def test_google_is_flagged_by_top_site_lists(session: Session) -> None:
    row = observable(session, "domain-name", "google.com")
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    flags = flags_of(session, row)
    for slug in ("alexa", "tranco", "cisco_top1000"):
        assert ("warninglist", list_name(slug)) in flags
    assert (
        enrichment_service.describe(session=session, actor=reader(session), observable_id=row.id)[
            "noise"
        ]
        is True
    )


def test_urls(session: Session) -> None:
    site = observable(session, "url", "https://www.google.com/")
    page = observable(session, "url", "https://login.example.de:8443/verify.php")
    direct = observable(session, "url", "http://81.2.69.142/gate.php")
    enrichment_service.enrich_observables(
        session=session, observable_ids=[site.id, page.id, direct.id]
    )
    assert ("warninglist", list_name("tranco10k")) in flags_of(session, site)
    assert flags_of(session, page) == []
    assert current(session, page) == {
        "url": {
            "scheme": "https",
            "host": "login.example.de",
            "host_type": "domain-name",
            "port": 8443,
        },
        "domain": {
            "registered_domain": "example.de",
            "public_suffix": "de",
            "service_suffix": None,
            "tld": "de",
            "cctld_country": "DE",
        },
    }
    assert places_of(session, page) == [("DE", "cctld-of", "publicsuffixlist")]
    assert current(session, direct)["url"] == {
        "scheme": "http",
        "host": "81.2.69.142",
        "host_type": "ipv4-addr",
        "port": None,
    }
    assert current(session, direct)["geo"]["country"] == "GB"
    assert places_of(session, direct) == [("GB", "hosted-in", "geoip2fast")]


def test_email_addresses(session: Session) -> None:
    row = observable(session, "email-addr", "abuse@example.ng")
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert current(session, row)["email"] == {"domain": "example.ng"}
    assert current(session, row)["domain"]["cctld_country"] == "NG"
    assert places_of(session, row) == [("NG", "cctld-of", "publicsuffixlist")]
    assert flags_of(session, row) == [("warninglist", list_name("common-contact-emails"))]


# --------------------------------------------------------------------------- other types


@pytest.mark.parametrize(
    ("obs_type", "value", "kind", "data"),
    [
        ("md5", "0" * 31 + "1", "hash", {"algorithm": "MD5", "bits": 128}),
        ("sha1", "0" * 39 + "1", "hash", {"algorithm": "SHA-1", "bits": 160}),
        ("sha256", "0" * 63 + "1", "hash", {"algorithm": "SHA-256", "bits": 256}),
        ("sha512", "0" * 127 + "1", "hash", {"algorithm": "SHA-512", "bits": 512}),
        (
            "btc-address",
            "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
            "wallet",
            {"chain": "bitcoin", "currency": "BTC", "address_type": "p2pkh"},
        ),
        (
            "btc-address",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "wallet",
            {"chain": "bitcoin", "currency": "BTC", "address_type": "p2sh"},
        ),
        (
            "btc-address",
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            "wallet",
            {"chain": "bitcoin", "currency": "BTC", "address_type": "p2wpkh"},
        ),
        (
            "btc-address",
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr",
            "wallet",
            {"chain": "bitcoin", "currency": "BTC", "address_type": "p2tr"},
        ),
        (
            "eth-address",
            "0x52908400098527886e0f7030069857d2e4169ee7",
            "wallet",
            {"chain": "ethereum", "currency": "ETH", "address_type": "account", "evm": True},
        ),
        (
            "xmr-address",
            "4" + "A" * 94,
            "wallet",
            {"chain": "monero", "currency": "XMR", "address_type": "standard"},
        ),
        (
            "xmr-address",
            "8" + "A" * 94,
            "wallet",
            {"chain": "monero", "currency": "XMR", "address_type": "subaddress"},
        ),
        (
            "xmr-address",
            "4" + "A" * 105,
            "wallet",
            {"chain": "monero", "currency": "XMR", "address_type": "integrated"},
        ),
    ],
)
def test_hash_and_wallet_types(
    session: Session, obs_type: str, value: str, kind: str, data: dict[str, object]
) -> None:
    row = observable(session, obs_type, value)
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert current(session, row) == {kind: data}
    assert places_of(session, row) == []


def test_phone_numbers(session: Session) -> None:
    mobile = observable(session, "phone-number", "+2348031234567")
    fictional = observable(session, "phone-number", "+442079460958")
    global_number = observable(session, "phone-number", "+80012345678")
    enrichment_service.enrich_observables(
        session=session, observable_ids=[mobile.id, fictional.id, global_number.id]
    )
    assert current(session, mobile) == {
        "phone": {"country": "NG", "calling_code": 234, "number_type": "mobile", "valid": True}
    }
    assert places_of(session, mobile) == [("NG", "phone-number-of", "phonenumbers")]
    assert flags_of(session, fictional) == [("warninglist", list_name("phone_numbers"))]
    assert places_of(session, fictional) == [("GB", "phone-number-of", "phonenumbers")]
    assert current(session, global_number)["phone"]["country"] is None
    assert places_of(session, global_number) == []


def test_iban(session: Session) -> None:
    row = observable(session, "iban", "GB82WEST12345698765432")
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert current(session, row) == {"iban": {"country": "GB"}}
    assert places_of(session, row) == [("GB", "bank-account-in", "cyberfusion")]


def test_types_without_offline_data(session: Session) -> None:
    cve = observable(session, "cve", "CVE-2024-3094")
    asn = observable(session, "autonomous-system", "AS15169")
    summary = enrichment_service.enrich_observables(
        session=session, observable_ids=[cve.id, asn.id]
    )
    assert summary == enrichment_service.EnrichmentSummary(2, 0, 0, 0)


# --------------------------------------------------------------------------- reporters


def reported_by(session: Session, actor: Actor, row: Observable) -> list[tuple[str, str, str]]:
    return [
        (place["country"], place["reason"], place["source"])
        for place in enrichment_service.describe(
            session=session, actor=actor, observable_id=row.id
        )["jurisdictions"]
        if place["reason"] == "reported-by"
    ]


def test_reporting_organisations_countries(session: Session) -> None:
    row = observable(session, "domain-name", "reported-example.com")
    first = report(session, account.actor(session, org="ncb-fr"), row, labels=SHARED)
    report(session, account.actor(session, org="cert-ng"), row, labels=SHARED)
    report(session, account.actor(session, org="fr-cyber-unit"), row, labels=SHARED)
    # An organisation without a country adds none.
    report(session, account.actor(session, org="intl-regional-police"), row, labels=SHARED)
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    # Read from the reports, not stored.
    assert places_of(session, row) == []
    assert reported_by(session, reader(session), row) == [
        ("FR", "reported-by", "occurrence"),
        ("NG", "reported-by", "occurrence"),
    ]
    found = enrichment_service.reporting_countries(
        session=session, actor=reader(session), observable_id=row.id
    )
    assert [code for code, _ in found] == ["FR", "NG"]
    # France's first report is ncb-fr's; fr-cyber-unit's came after.
    assert found[0][1] == first.reported_at


def test_a_reporters_country_is_seen_only_by_who_may_read_the_report(session: Session) -> None:
    row = observable(session, "domain-name", "hidden-reporter-example.com")
    report(session, account.actor(session, org="ncb-fr"), row, labels=SHARED)
    # The factory's default: TLP:AMBER to cert-ng only.
    report(session, account.actor(session, org="cert-ng"), row)
    # ncb-br reads the French report, not the Nigerian one: that a Nigerian organisation
    # reported the value is part of the report it may not read.
    assert reported_by(session, account.actor(session, org="ncb-br"), row) == [
        ("FR", "reported-by", "occurrence")
    ]
    assert reported_by(session, account.actor(session, org="cert-ng"), row) == [
        ("FR", "reported-by", "occurrence"),
        ("NG", "reported-by", "occurrence"),
    ]


def test_enrich_submission_takes_the_submissions_observables(session: Session) -> None:
    actor = account.actor(session, org="ncb-ng")
    org = session.get(Organisation, actor.org_id)
    assert org is not None
    submission = Submission(
        org_id=org.id,
        via="test",
        source_format="csv",
        content_sha256="0" * 64,
        idempotency_key=hashlib.sha256(b"enrichment-test").hexdigest(),
        status="accepted",
        results={},
    )
    session.add(submission)
    session.flush()
    mine = observable(session, "domain-name", "submitted-example.com")
    other = observable(session, "domain-name", "not-submitted-example.com")
    report(session, actor, mine, submission_id=submission.id)
    report(session, actor, other)
    summary = enrichment_service.enrich_submission(session=session, submission_id=submission.id)
    assert summary.observables == 1
    assert sorted(current(session, mine)) == ["domain"]
    assert current(session, other) == {}


def test_without_refresh_known_observables_are_not_looked_up_again(session: Session) -> None:
    row = observable(session, "ipv4-addr", "81.2.69.142")
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    # As if the data had changed since: only a refresh looks again.
    session.execute(
        update(Enrichment)
        .where(Enrichment.observable_id == row.id, Enrichment.kind == "geo")
        .values(source_version="older")
    )
    report(session, account.actor(session, org="cert-br"), row, labels=SHARED)
    summary = enrichment_service.enrich_observables(
        session=session, observable_ids=[row.id], refresh=False
    )
    assert summary == enrichment_service.EnrichmentSummary(1, 0, 0, 0)
    assert places_of(session, row) == [("GB", "hosted-in", "geoip2fast")]
    # The new reporter's country is read from its report.
    assert reported_by(session, reader(session), row) == [("BR", "reported-by", "occurrence")]
    assert (
        enrichment_service.describe(session=session, actor=reader(session), observable_id=row.id)[
            "enrichment"
        ]["geo"]["source_version"]
        == "older"
    )
    # A new observable is enriched in full either way.
    fresh = observable(session, "ipv4-addr", "81.2.69.143")
    summary = enrichment_service.enrich_observables(
        session=session, observable_ids=[fresh.id], refresh=False
    )
    assert summary == enrichment_service.EnrichmentSummary(1, 0, 2, 1)
    # A refresh sees the changed version, finds the same answer and adds no row.
    summary = enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert summary == enrichment_service.EnrichmentSummary(1, 0, 0, 0)


# --------------------------------------------------------------------------- history


def test_enriching_again_adds_nothing_when_nothing_changed(session: Session) -> None:
    row = observable(session, "ipv4-addr", "104.16.0.1")
    report(session, account.actor(session, org="ncb-fr"), row)
    first = enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    again = enrichment_service.enrich_observables(session=session, observable_ids=[row.id] * 3)
    assert first.flags >= 1
    assert again == enrichment_service.EnrichmentSummary(1, 0, 0, 0)


def test_new_data_adds_a_row_and_keeps_history(session: Session) -> None:
    row = observable(session, "ipv4-addr", "81.2.69.142")
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    # As if the geolocation data had been older and said something else.
    session.execute(
        update(Enrichment)
        .where(Enrichment.observable_id == row.id, Enrichment.kind == "geo")
        .values(
            data={"country": "FR", "country_name": "France", "network": "81.2.0.0/16"},
            source_version="1.2.1 MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240101",
        )
    )
    summary = enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    assert summary.enrichments == 1
    history = enrichment_service.enrichment_history(
        session=session, observable_id=row.id, kind="geo"
    )
    assert [(entry["data"]["country"], entry["source_version"]) for entry in history] == [
        ("GB", geoip_version()),
        ("FR", "1.2.1 MAXMIND:GeoLite2-CountryASN-IPv4IPv6-en-20240101"),
    ]
    assert current(session, row)["geo"]["country"] == "GB"
    assert (
        enrichment_service.enrichment_history(session=session, observable_id=row.id, kind="phone")
        == []
    )


def test_batches_larger_than_one_round_trip(session: Session) -> None:
    rows = [observable(session, "ipv4-addr", f"81.2.{i // 250}.{i % 250 + 1}") for i in range(4500)]
    summary = enrichment_service.enrich_observables(
        session=session, observable_ids=[row.id for row in rows] + [10**9]
    )
    assert summary.observables == 4500
    stored = session.scalar(
        select(func.count(Jurisdiction.id)).where(
            Jurisdiction.observable_id.in_([row.id for row in rows])
        )
    )
    assert stored == summary.jurisdictions == 4500


def _stored(session: Session, ids: list[int]) -> tuple[list[tuple[object, ...]], ...]:
    return (
        sorted(
            (row.observable_id, row.kind, json.dumps(row.data, sort_keys=True))
            for row in session.scalars(select(Enrichment).where(Enrichment.observable_id.in_(ids)))
        ),
        sorted(
            (row.observable_id, row.country_code, row.reason)
            for row in session.scalars(
                select(Jurisdiction).where(Jurisdiction.observable_id.in_(ids))
            )
        ),
        sorted(
            (row.observable_id, row.source, row.name)
            for row in session.scalars(
                select(ObservableFlag).where(ObservableFlag.observable_id.in_(ids))
            )
        ),
    )


_MIXED = [
    ("ipv4-addr", "81.2.69.142"),
    ("ipv4-addr", "10.1.2.3"),
    ("ipv4-addr", "8.8.8.8"),
    ("domain-name", "login.example.fr"),
    ("domain-name", "google.com"),
    ("url", "http://81.2.69.142:8080/gate.php"),
    ("url", "https://pay.example.de/x"),
    ("email-addr", "boss@example.co.uk"),
    ("phone-number", "+33612345678"),
]


def _stored_if_enriched_here(
    session: Session, ids: list[int]
) -> tuple[enrichment_service.EnrichmentSummary, tuple[list[tuple[object, ...]], ...]]:
    """What enriching `ids` in this process, in one chunk, stores; rolled back after."""
    here = session.begin_nested()
    summary = enrichment_service.enrich_observables(session=session, observable_ids=ids)
    stored = _stored(session, ids)
    here.rollback()
    assert _stored(session, ids) == ([], [], [])
    return summary, stored


def test_several_chunks_store_what_one_chunk_stores(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of two observables (each chunk reads, works out and writes its own rows) store
    # the same rows as one chunk of all of them.
    rows = [observable(session, kind, value) for kind, value in _MIXED]
    ids = [row.id for row in rows]
    reporter = account.actor(session, org="ncb-fr")
    for row in rows:
        report(session, reporter, row)
    whole, expected = _stored_if_enriched_here(session, ids)

    monkeypatch.setattr(enrichment_service, "_CHUNK", 2)
    chunked = enrichment_service.enrich_observables(session=session, observable_ids=ids)
    assert chunked == whole
    assert _stored(session, ids) == expected
    enrichments, places, flags = expected
    assert len(enrichments) >= len(_MIXED) and places and flags


def _with_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch through one worker process, in chunks of two, read two chunks ahead."""
    settings = replace(get_settings(), enrichment_processes=1)
    monkeypatch.setattr(enrichment_service, "get_settings", lambda: settings)
    monkeypatch.setattr(enrichment_service, "_POOL_MIN", 1)
    monkeypatch.setattr(enrichment_service, "_CHUNK", 2)
    monkeypatch.setattr(enrichment_service, "_WINDOW", 2)


def test_a_worker_process_stores_what_this_process_stores(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [observable(session, kind, value) for kind, value in _MIXED]
    ids = [row.id for row in rows]
    whole, expected = _stored_if_enriched_here(session, ids)

    _with_worker(monkeypatch)
    ahead = enrichment_service.look_ahead(session=session, observable_ids=ids, refresh=True)
    assert ahead.in_worker
    elsewhere = enrichment_service.enrich_observables(
        session=session, observable_ids=ids, refresh=True, ahead=ahead
    )
    assert elsewhere == whole
    assert _stored(session, ids) == expected
    # The values each names came back with the facts.
    assert [ahead.parent(row.id, row.obs_type, "not asked") for row in rows] == [
        enrichment_service.parent_value(kind, value) for kind, value in _MIXED
    ]
    assert ahead.parent(rows[3].id, "domain-name", "login.example.fr") == (
        "domain-name",
        "example.fr",
    )


def test_facts_worked_out_ahead_are_for_their_observables_only(session: Session) -> None:
    rows = [observable(session, kind, value) for kind, value in _MIXED[:3]]
    ahead = enrichment_service.look_ahead(
        session=session, observable_ids=[row.id for row in rows[:2]], refresh=True
    )
    with pytest.raises(ValueError, match="other observables"):
        enrichment_service.enrich_observables(
            session=session, observable_ids=[row.id for row in rows], ahead=ahead
        )


def test_when_the_worker_dies_the_batch_is_worked_out_here(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [observable(session, kind, value) for kind, value in _MIXED]
    ids = [row.id for row in rows]
    _, expected = _stored_if_enriched_here(session, ids)

    _with_worker(monkeypatch)
    pool = enrichment_service._pool()
    assert pool is not None
    pool.submit(os.getpid).result()  # started
    for process in list(pool._processes.values()):  # type: ignore[attr-defined]
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    enrichment_service.enrich_observables(session=session, observable_ids=ids)
    assert _stored(session, ids) == expected
    # The next batch starts a new pool.
    assert enrichment_service._pool() is not pool


_START_AND_END = """
import os, signal, sys
from cyberfusion.enrichment import service
service.warm_up()
print(" ".join(str(pid) for pid in service._pool()._processes), flush=True)
if sys.argv[1] == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("ending", ["exits", "killed"])
def test_the_worker_processes_end_with_the_process_that_started_them(
    ending: str, tmp_path: Path
) -> None:
    # Output to a file, not a pipe: the workers inherit it, and a pipe would keep the killed
    # process unreaped (it counts as alive) until they closed it.
    output = tmp_path / "workers.txt"
    with output.open("w") as sink:
        started = subprocess.Popen(
            [sys.executable, "-c", _START_AND_END, ending],
            env={**os.environ, "CYBERFUSION_ENRICHMENT_PROCESSES": "1"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        started.wait(timeout=120)
    workers = [int(word) for word in output.read_text().split() if word.isdigit()]
    assert len(workers) == 1, output.read_text()
    deadline = time.monotonic() + 20
    while alive(workers[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(workers[0])


def test_nothing_to_do(session: Session) -> None:
    assert enrichment_service.enrich_observables(
        session=session, observable_ids=[]
    ) == enrichment_service.EnrichmentSummary(0, 0, 0, 0)


# --------------------------------------------------------------------------- overrides


SHARED = LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)


def flagged_google(session: Session, *, labels: LabelsIn = SHARED) -> ObservableFlag:
    row = observable(session, "domain-name", "google.com")
    report(session, account.actor(session, org="ncb-fr"), row, labels=labels)
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    return session.scalars(
        select(ObservableFlag).where(
            ObservableFlag.observable_id == row.id, ObservableFlag.name == list_name("alexa")
        )
    ).one()


def test_an_analyst_overrides_a_flag(session: Session) -> None:
    flag = flagged_google(session)
    analyst = account.actor(session, org="hub", role=Role.HUB_ANALYST)
    assert (
        session.scalar(
            select(func.count(Observable.id)).where(
                Observable.id == flag.observable_id,
                ~enrichment_service.noise_condition(Observable.id),
            )
        )
        == 0
    )
    overridden = enrichment_service.override_flag(session=session, actor=analyst, flag_id=flag.id)
    assert overridden.overridden_by == analyst.label
    assert isinstance(overridden.overridden_at, datetime)
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (entry.action, entry.target_type, entry.target_id, entry.actor) == (
        "observable_flag.override",
        "observable_flag",
        str(flag.id),
        analyst.label,
    )
    assert entry.details == {
        "observable_id": flag.observable_id,
        "source": "warninglist",
        "name": list_name("alexa"),
    }
    # Other lists still call it noise until they are overridden too.
    described = enrichment_service.describe(
        session=session, actor=reader(session), observable_id=flag.observable_id
    )
    assert described["noise"] is True
    for other in session.scalars(
        select(ObservableFlag).where(
            ObservableFlag.observable_id == flag.observable_id, ObservableFlag.id != flag.id
        )
    ):
        enrichment_service.override_flag(session=session, actor=analyst, flag_id=other.id)
    described = enrichment_service.describe(
        session=session, actor=reader(session), observable_id=flag.observable_id
    )
    assert described["noise"] is False
    assert (
        session.scalar(
            select(func.count(Observable.id)).where(
                Observable.id == flag.observable_id,
                ~enrichment_service.noise_condition(Observable.id),
            )
        )
        == 1
    )
    # Enriching again does not bring an overridden flag back.
    enrichment_service.enrich_observables(session=session, observable_ids=[flag.observable_id])
    assert (
        enrichment_service.describe(
            session=session, actor=reader(session), observable_id=flag.observable_id
        )["noise"]
        is False
    )


def test_overriding_twice_is_a_conflict(session: Session) -> None:
    flag = flagged_google(session)
    analyst = account.actor(session, org="hub", role=Role.HUB_ANALYST)
    enrichment_service.override_flag(session=session, actor=analyst, flag_id=flag.id)
    with pytest.raises(Conflict, match=rf"^observable flag {flag.id} \(warninglist 'Top 1000 "):
        enrichment_service.override_flag(session=session, actor=analyst, flag_id=flag.id)


def test_override_needs_the_validate_permission(session: Session) -> None:
    flag = flagged_google(session)
    officer = account.actor(session, org="ncb-fr", role=Role.OFFICER)
    with pytest.raises(PermissionDenied, match="intel:object:validate"):
        enrichment_service.override_flag(session=session, actor=officer, flag_id=flag.id)


def test_override_of_an_unseen_observable_is_not_found(session: Session) -> None:
    # Reported under TLP:RED to its owner only: the hub analyst cannot see any report of it.
    flag = flagged_google(
        session,
        labels=LabelsIn(tlp=Tlp.RED, audience=Audience.ORGANISATIONS, recipients=["ncb-fr"]),
    )
    analyst = account.actor(session, org="hub", role=Role.HUB_ANALYST)
    with pytest.raises(NotFound, match=rf"^observable flag {flag.id} does not exist$"):
        enrichment_service.override_flag(session=session, actor=analyst, flag_id=flag.id)
    with pytest.raises(NotFound, match=r"^observable flag 999999999 does not exist$"):
        enrichment_service.override_flag(session=session, actor=analyst, flag_id=999_999_999)


# --------------------------------------------------------------------------- describe


def test_describe(session: Session) -> None:
    row = observable(session, "ipv4-addr", "104.16.0.1")
    report(session, account.actor(session, org="ncb-fr"), row, labels=SHARED)
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    described = enrichment_service.describe(
        session=session, actor=reader(session), observable_id=row.id
    )
    assert sorted(described) == ["enrichment", "flags", "jurisdictions", "noise"]
    assert described["noise"] is True
    cloudflare = [f for f in described["flags"] if f["name"] == list_name("cloudflare")]
    assert len(cloudflare) == 1
    assert sorted(cloudflare[0]) == [
        "created_at",
        "data_version",
        "id",
        "name",
        "overridden_at",
        "overridden_by",
        "source",
    ]
    assert (cloudflare[0]["source"], cloudflare[0]["overridden_by"]) == ("warninglist", None)
    assert sorted(described["enrichment"]) == ["asn", "geo"]
    assert described["enrichment"]["asn"]["source"] == "geoip2fast"
    assert described["enrichment"]["asn"]["source_version"] == geoip_version()
    places = [(p["country"], p["reason"], p["source"]) for p in described["jurisdictions"]]
    assert ("FR", "reported-by", "occurrence") in places
    # JSON-ready: the lookup can return it as it is.
    assert json.loads(json.dumps(described)) == described


def test_describe_an_unknown_observable(session: Session) -> None:
    with pytest.raises(NotFound, match=r"^observable 999999999 does not exist$"):
        enrichment_service.describe(
            session=session, actor=reader(session), observable_id=999_999_999
        )


def test_describe_a_plain_observable(session: Session) -> None:
    row = observable(session, "cve", "CVE-2021-44228")
    assert enrichment_service.describe(
        session=session, actor=reader(session), observable_id=row.id
    ) == {
        "noise": False,
        "flags": [],
        "enrichment": {},
        "jurisdictions": [],
    }


# --------------------------------------------------------------------------- ccTLDs


def test_idn_cctlds_are_known_tlds() -> None:
    for label, iso2 in enrichment_service._IDN_CCTLDS.items():
        encoded = idna.encode(label).decode("ascii")
        assert is_known_tld(encoded), label
        assert enrichment_service.cctld_country(encoded) == iso2


@pytest.mark.parametrize(
    ("tld", "country"),
    [("fr", "FR"), ("uk", "GB"), ("gb", "GB"), ("com", None), ("eu", None), ("su", None)],
)
def test_cctld_country(tld: str, country: str | None) -> None:
    assert enrichment_service.cctld_country(tld) == country


def test_warm_up_loads_the_shipped_data(shipped_lists: Warninglists) -> None:
    enrichment_service.warm_up()
    assert enrichment_service._geoip.cache_info().currsize == 1
    assert warninglist.get() is shipped_lists


def test_records_are_untouched(session: Session) -> None:
    row = observable(session, "domain-name", "untouched-example.com")
    occurrence = report(session, account.actor(session, org="ncb-fr"), row)
    before = session.get(IntelObject, occurrence.intel_object_id)
    assert before is not None
    content = dict(before.content)
    enrichment_service.enrich_observables(session=session, observable_ids=[row.id])
    session.expire_all()
    after = session.get(IntelObject, occurrence.intel_object_id)
    assert after is not None
    assert after.content == content
