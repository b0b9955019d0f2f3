"""`cyberfusion report car`: one country or all, every format, nothing written when nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.time import utcnow
from cyberfusion.product.models import Product, ProductDelivery
from tests.factories import product as product_factory

ROWS = """ipv4-addr,90.12.34.56,c2,80
domain-name,phish-bank.fr,phishing,70
domain-name,scam-invest.de,scam,60
"""


@pytest.mark.parametrize(
    ("fmt", "starts"),
    [("html", b"<!DOCTYPE html>"), ("pdf", b"%PDF-"), ("stix", b"{"), ("csv", b"product_id,")],
)
def test_report_car_writes_the_country_report(
    cli, session: Session, tmp_path: Path, fmt: str, starts: bytes
) -> None:  # type: ignore[no-untyped-def]
    product_factory.submit(session, "partner-northwind", ROWS)
    target = tmp_path / f"fr.{fmt}"
    since = utcnow().date().isoformat()
    result = cli("report", "car", "FR", "--since", since, "--format", fmt, "--out", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(starts)
    assert f"wrote {target}" in result.output
    product = session.scalars(select(Product).where(Product.country_code == "FR")).one()
    assert product.content_hash in result.output
    delivery = session.scalars(
        select(ProductDelivery).where(ProductDelivery.product_id == product.id)
    ).one()
    assert delivery.recipient_org_id == product.recipient_org_id
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "product.issue").order_by(AuditEntry.seq)
    ).all()[-1]
    assert entry.target_id == str(product.id)
    if fmt == "stix":
        bundle = orjson.loads(target.read_bytes())
        assert bundle["objects"][0]["type"] == "report"
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(target.read_text())))
        assert [r["value"] for r in rows] == ["90.12.34.56", "phish-bank.fr"]


def test_running_again_writes_the_registered_product_without_a_new_version(
    cli, session: Session, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    product_factory.submit(session, "partner-northwind", ROWS)
    since, until = utcnow().date().isoformat(), "2099-01-01"
    args = ("report", "car", "FR", "--since", since, "--until", until, "--out")
    assert cli(*args, str(tmp_path / "a.html")).exit_code == 0
    again = cli(*args, str(tmp_path / "b.csv"), "--format", "csv")
    assert again.exit_code == 0, again.output
    assert "nothing new since product" in again.output
    assert (tmp_path / "b.csv").exists()
    versions = session.scalars(select(Product.version).where(Product.country_code == "FR")).all()
    assert versions == [1]


def test_nothing_to_report_writes_nothing_and_says_so(
    cli, session: Session, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "jp.pdf"
    result = cli(
        "report", "car", "JP", "--since", "2026-01-01", "--format", "pdf", "--out", str(target)
    )
    assert result.exit_code == 0, result.output
    assert "nothing to report for JP" in result.output
    assert "nothing written" in result.output
    assert not target.exists()


def test_all_countries_into_a_directory(cli, session: Session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    product_factory.submit(session, "partner-northwind", ROWS)
    since = utcnow().date().isoformat()
    result = cli("report", "car", "--all", "--since", since, "--out", str(tmp_path / "cars"))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "cars").iterdir())
    assert len(names) == 2
    assert names[0].startswith("car-de-") and names[1].startswith("car-fr-")
    assert all(name.endswith("-v1.html") for name in names)
    assert "2 reports (2 newly issued)" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("FR", "--since", "yesterday", "--out", "x"), "--since"),
        (("FR", "--since", "2026-01-01", "--format", "docx", "--out", "x"), "--format"),
        (("--since", "2026-01-01", "--out", "x"), "give a country code or --all"),
        (("FR", "--all", "--since", "2026-01-01", "--out", "x"), "give a country code or --all"),
        (("ZZ", "--since", "2026-01-01", "--out", "x"), "member country"),
        (("FR", "--since", "2026-02-01", "--until", "2026-01-01", "--out", "x"), "--until"),
        (("FR", "--since", "2026-01-01", "--out", "/nonexistent/dir/fr.pdf"), "--out"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(
    cli, session: Session, args: tuple[str, ...], message: str
) -> None:  # type: ignore[no-untyped-def]
    result = cli("report", "car", *args)
    assert result.exit_code == 2
    assert message in result.output
