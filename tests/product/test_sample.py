"""A sample Cyber Activity Report from several sources, its PDF pages rendered to PNG: always
built and checked; written to docs/products/ with CYBERFUSION_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
from pathlib import Path

import pypdfium2
from sqlalchemy.orm import Session

from cyberfusion.product import render
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn
from tests.factories import product as product_factory

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "products"

NORTHWIND = """ipv4-addr,90.12.34.56,c2,85
ipv4-addr,90.12.40.7,c2,80
url,http://update-flash.fr/dl/setup.exe,malware-download,75
domain-name,secure-banque-login.fr,phishing,80
url,https://espace-client-ameli.fr/connexion,phishing,70
"""
CERT = """url,http://boulangerie-dupont.fr/wp-content/plugins/x.php,compromised,60
ipv4-addr,90.12.50.21,compromised,55
domain-name,crypto-placement-or.fr,scam,65
phone-number,+33 1 86 95 00 00,scam,60
"""


def test_sample_car(session: Session, tmp_path: Path) -> None:
    product_factory.submit(session, "partner-northwind", NORTHWIND)
    product_factory.submit(
        session,
        "cert-fr",
        CERT,
        LabelsIn(tlp="amber", audience="members"),
        evaluation=EvaluationIn(reliability="A", credibility=2, confidence=60),
    )
    product = product_factory.issue(session, "FR").product
    assert product is not None
    assert product.tlp == "amber"
    assert [g["key"] for g in product.document["groups"]] == [
        "botnet-c2",
        "phishing",
        "malware-distribution",
        "compromised-websites",
        "victim-ips",
        "scam-infrastructure",
    ]
    pdf = pypdfium2.PdfDocument(render.render_pdf(session=session, product=product))
    target = SAMPLES if os.environ.get("CYBERFUSION_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    assert 1 <= len(pdf) <= 4
    for index in range(len(pdf)):
        image = pdf[index].render(scale=1.4).to_pil()
        path = target / f"car-sample-page{index + 1}.png"
        image.save(path, optimize=True)
        assert path.stat().st_size > 10_000
    (target / "car-sample.csv").write_text(render.render_csv(session=session, product=product))
