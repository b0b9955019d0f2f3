"""Benchmark: Cyber Activity Reports for every member country from N validated observables.

Usage: .venv/bin/python bench/products.py [--n 100000] [--db sqlite,postgresql] [--pdfs 5]
           [--data PATH] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Each database is new (a SQLite file in a temporary directory, or a PostgreSQL database created
for the run and dropped after), migrated and loaded with the demo world (196 member countries,
one NCB each). The world is then written straight into the tables, as intake and enrichment
would have left it (intake and enrichment have their own benchmarks):

- N observables, spread evenly over the 196 member countries: two thirds domain names built
  from real Maltrail malware domains (../shared/data/maltrail-static.tar.gz) under the
  country's ccTLD (jurisdiction "cctld-of"), one third IPv4 addresses hosted there ("hosted-in",
  with an `asn` enrichment naming one of 50 networks);
- one indicator per observable, its `labels` cycling through the threat words (c2, phishing,
  malware-download, compromised, scam, victim, other), 90 % validated;
- labels: 60 % TLP:GREEN community (a private partner), 30 % TLP:AMBER members (an NCB),
  10 % TLP:AMBER country-only of a national unit (which the hub may not read: filtered out);
- 1 % of the observables flagged as noise.

Measured, per database: `product.service.issue_all_cars` for all 196 countries in one
transaction, commit included (the figure the issue asks for); the same selection as plain
queries without the sharing filter and noise condition (the peer: the cost of the choke point
and the document); HTML rendering of every product; and PDF rendering (WeasyPrint) of the
--pdfs largest products, per PDF. Prints the figures and the ratios. Writes only temporary
files.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from intake import DEFAULT_DATA, DEFAULT_PG, fresh_database, maltrail_domains

THREAT_WORDS = ("c2", "phishing", "malware-download", "compromised", "scam", "victim", "other")
NAMESPACE = uuid.UUID("0c5b7d1e-4a8f-4c1e-b2a4-7e1f3f7d9a21")
CHUNK = 20_000
PERIOD_START = datetime(2026, 11, 1, tzinfo=UTC)


def _labels(session: Session) -> list[tuple[int, int]]:
    """(owner org id, label id) of the three label sets, in the mix's order."""
    from cyberfusion.registry import service as registry_service
    from cyberfusion.sharing import service as sharing_service
    from cyberfusion.sharing.schemas import LabelsIn

    out = []
    for slug, labels in (
        ("partner-northwind", LabelsIn(tlp="green", audience="community")),
        ("ncb-ng", LabelsIn(tlp="amber", audience="members")),
        ("fr-cyber-unit", LabelsIn(tlp="amber", audience="country")),
    ):
        owner = registry_service.get_by_slug_or_raise(session=session, slug=slug)
        label = sharing_service.resolve(session=session, owner=owner, labels_in=labels)
        out.append((owner.id, label.id))
    return out


def populate(engine: Engine, n: int, domains: list[str]) -> float:
    """Write the world; returns the seconds it took (not part of the figures)."""
    from cyberfusion.enrichment.models import Enrichment, Jurisdiction, ObservableFlag
    from cyberfusion.intel.models import IntelObject
    from cyberfusion.observable.models import Observable, Occurrence
    from cyberfusion.registry.models import Country

    started = time.perf_counter()
    with Session(engine) as session:
        countries = [
            (c.iso2, c.iso2.lower())
            for c in session.scalars(
                select(Country).where(Country.is_member.is_(True)).order_by(Country.iso2)
            )
        ]
        labels = _labels(session)
        session.commit()
        first_obs = (session.scalar(select(func.max(Observable.id))) or 0) + 1
        first_rec = (session.scalar(select(func.max(IntelObject.id))) or 0) + 1
        reported = PERIOD_START + timedelta(days=3)
        for start in range(0, n, CHUNK):
            observables, records, occurrences, places, asns, flags = [], [], [], [], [], []
            for i in range(start, min(n, start + CHUNK)):
                code, tld = countries[i % len(countries)]
                obs_id, rec_id = first_obs + i, first_rec + i
                if i % 3 == 2:
                    value = f"{(i >> 16) % 223 + 1}.{(i >> 8) & 255}.{i & 255}.{i % 7 + 1}"
                    obs_type, reason = "ipv4-addr", "hosted-in"
                    asns.append(
                        {
                            "observable_id": obs_id,
                            "kind": "asn",
                            "data": {
                                "as_organisation": f"Hosting network {i % 50:02d}",
                                "as_network": f"{value}/24",
                            },
                            "source": "bench",
                            "source_version": "1",
                            "created_at": reported,
                        }
                    )
                else:
                    base = domains[i % len(domains)].rsplit(".", 1)[0]
                    value = f"n{i}.{base}.{tld}"
                    obs_type, reason = "domain-name", "cctld-of"
                observables.append(
                    {
                        "id": obs_id,
                        "obs_type": obs_type,
                        "value": value,
                        "digest": hashlib.sha256(f"{obs_type}\0{value}".encode()).hexdigest(),
                        "created_at": reported,
                    }
                )
                owner_id, label_id = labels[0 if i % 10 < 6 else 1 if i % 10 < 9 else 2]
                stix_id = f"indicator--{uuid.uuid5(NAMESPACE, str(i))}"
                content = {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": stix_id,
                    "created": "2026-11-04T00:00:00.000Z",
                    "modified": "2026-11-04T00:00:00.000Z",
                    "pattern": f"[{obs_type}:value = '{value}']",
                    "pattern_type": "stix",
                    "valid_from": "2026-11-04T00:00:00Z",
                    "indicator_types": ["malicious-activity"],
                    "labels": [THREAT_WORDS[(i // 7) % len(THREAT_WORDS)]],
                }
                records.append(
                    {
                        "id": rec_id,
                        "stix_id": stix_id,
                        "stix_type": "indicator",
                        "spec_version": "2.1",
                        "modified": reported,
                        "content": content,
                        "content_hash": hashlib.sha256(stix_id.encode()).hexdigest(),
                        "owner_org_id": owner_id,
                        "label_id": label_id,
                        "reliability": "ABCX"[i % 4],
                        "credibility": i % 4 + 1,
                        "confidence": 50 + i % 50,
                        "status": "validated" if i % 10 != 3 else "unvalidated",
                        "created_at": reported,
                    }
                )
                occurrences.append(
                    {
                        "observable_id": obs_id,
                        "intel_object_id": rec_id,
                        "owner_org_id": owner_id,
                        "label_id": label_id,
                        "reported_at": reported,
                    }
                )
                places.append(
                    {
                        "observable_id": obs_id,
                        "country_code": code,
                        "reason": reason,
                        "source": "bench",
                        "created_at": reported,
                    }
                )
                if i % 100 == 42:
                    flags.append(
                        {
                            "observable_id": obs_id,
                            "source": "warninglist",
                            "name": "bench noise",
                            "data_version": "1",
                            "created_at": reported,
                        }
                    )
            for model, rows in (
                (Observable, observables),
                (IntelObject, records),
                (Occurrence, occurrences),
                (Jurisdiction, places),
                (Enrichment, asns),
                (ObservableFlag, flags),
            ):
                if rows:
                    session.execute(insert(model), rows)
            session.commit()
        if engine.dialect.name == "postgresql":
            # Ids were given explicitly: move the sequences past them.
            for statement in (
                "SELECT setval(pg_get_serial_sequence('observable', 'id'), "
                "(SELECT max(id) FROM observable))",
                "SELECT setval(pg_get_serial_sequence('intel_object', 'id'), "
                "(SELECT max(id) FROM intel_object))",
            ):
                session.execute(text(statement))
            session.execute(text("ANALYZE"))
            session.commit()
        else:
            session.execute(text("ANALYZE"))
            session.commit()
    return time.perf_counter() - started


def hub_actor(session: Session) -> Any:
    from cyberfusion.account import service as account_service

    user = account_service.get_by_email_or_raise(
        session=session, email="analyst@hub.cyberfusion.example"
    )
    return account_service.actor_for(user, via="bench")


def peer_queries(engine: Engine, until: datetime) -> tuple[float, int]:
    """The same selection as plain queries, without the sharing filter, the noise condition or
    building anything: what the products cost over reading the rows."""
    from cyberfusion.enrichment.models import Jurisdiction
    from cyberfusion.intel.models import IntelObject
    from cyberfusion.observable.models import Observable, Occurrence
    from cyberfusion.registry.models import Country

    started = time.perf_counter()
    rows = 0
    with Session(engine) as session:
        codes = session.scalars(select(Country.iso2).where(Country.is_member.is_(True))).all()
        for code in codes:
            rows += len(
                session.execute(
                    select(
                        Occurrence.observable_id,
                        Observable.obs_type,
                        Observable.value,
                        IntelObject.id,
                        IntelObject.content,
                    )
                    .join(IntelObject, IntelObject.id == Occurrence.intel_object_id)
                    .join(Observable, Observable.id == Occurrence.observable_id)
                    .where(
                        Occurrence.observable_id.in_(
                            select(Jurisdiction.observable_id).where(
                                Jurisdiction.country_code == code
                            )
                        ),
                        Occurrence.reported_at >= PERIOD_START,
                        Occurrence.reported_at < until,
                        IntelObject.status == "validated",
                    )
                ).all()
            )
    return time.perf_counter() - started, rows


def bench(kind: str, pg_url: str, tmp: Path, n: int, domains: list[str], pdfs: int) -> float:
    from cyberfusion.product import render
    from cyberfusion.product import service as product_service
    from cyberfusion.product.models import Product

    with fresh_database(kind, pg_url, tmp) as engine:
        setup = populate(engine, n, domains)
        print(f"[{kind}] world of {n:,} observables written in {setup:.1f} s (not measured)")
        until = PERIOD_START + timedelta(days=7)
        peer, peer_rows = peer_queries(engine, until)
        started = time.perf_counter()
        with Session(engine) as session:
            results = product_service.issue_all_cars(
                session=session, actor=hub_actor(session), since=PERIOD_START, until=until
            )
            session.commit()
            total = time.perf_counter() - started
            issued = [r.product for _, r in results if r.product is not None]
            items = sum(p.item_count for p in issued)
        print(
            f"[{kind}] issue_all_cars: {len(issued)} CARs of {len(results)} countries, "
            f"{items:,} items, {total:.1f} s ({total / len(results) * 1000:.0f} ms per country, "
            f"{items / total:,.0f} items/s)"
        )
        print(
            f"[{kind}] peer, plain queries without sharing filter or documents: {peer:.1f} s "
            f"for {peer_rows:,} rows; ratio products/peer {total / peer:.2f}"
        )
        with Session(engine) as session:
            products = session.scalars(select(Product).order_by(Product.item_count.desc())).all()
            started = time.perf_counter()
            for product in products:
                render.render_html(session=session, product=product)
            html = time.perf_counter() - started
            print(
                f"[{kind}] HTML of all {len(products)} products: {html:.1f} s "
                f"({html / len(products) * 1000:.0f} ms each)"
            )
            times = []
            for product in products[:pdfs]:
                started = time.perf_counter()
                pdf = render.render_pdf(session=session, product=product)
                times.append(time.perf_counter() - started)
                print(
                    f"[{kind}] PDF of product {product.id} ({product.country_code}, "
                    f"{product.item_count} items): {times[-1]:.1f} s, {len(pdf) / 1024:.0f} KiB"
                )
            if times:
                print(f"[{kind}] PDF: median {statistics.median(times):.1f} s per report")
        return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="validated observables")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--pdfs", type=int, default=5, help="PDFs to render (largest first)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pg-url", default=os.environ.get("CYBERFUSION_BENCH_PG", DEFAULT_PG))
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    domains = maltrail_domains(args.data, 20_000)
    totals = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        for kind in filter(None, args.db.split(",")):
            totals[kind] = bench(kind, args.pg_url, Path(tmp_dir), args.n, domains, args.pdfs)
    if {"sqlite", "postgresql"} <= set(totals):
        print(
            f"all countries: SQLite {totals['sqlite']:.1f} s, PostgreSQL "
            f"{totals['postgresql']:.1f} s; ratio PostgreSQL/SQLite "
            f"{totals['postgresql'] / totals['sqlite']:.2f}"
        )


if __name__ == "__main__":
    main()
