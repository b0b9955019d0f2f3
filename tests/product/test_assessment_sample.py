"""A sample threat assessment over the demo world with a month of reports from several sources
and countries, its PDF pages rendered to PNG (`pdftoppm -png -r 60`): always built and checked;
written to docs/products/ with CYBERFUSION_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.knowledge import service as knowledge_service
from cyberfusion.observable.models import Occurrence
from cyberfusion.product import assessment as assessment_service
from cyberfusion.product import assessment_render
from cyberfusion.product import service as product_service
from cyberfusion.product.models import ProductDelivery, ProductFeedback, ProductItem
from cyberfusion.product.schemas import AssessmentIssue, CarIssue, FeedbackIn, ProductFormat
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn
from tests.factories import account as account_factory
from tests.factories import product as product_factory
from tests.factories.knowledge import GALAXIES

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "products"
SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = datetime(2026, 11, 30, tzinfo=UTC)
# (address prefix, threat type): hosting networks of several countries (geoip2fast data).
ADDRESSES = [
    ("5.9.10.", "c2"),
    ("78.46.1.", "c2"),
    ("188.165.1.", "c2"),
    ("46.105.1.", "malware-download"),
    ("90.12.34.", "compromised"),
    ("41.58.10.", "c2"),
    ("105.112.1.", "victim"),
    ("177.10.10.", "c2"),
    ("200.147.1.", "compromised"),
    ("103.6.150.", "c2"),
    ("212.34.1.", "c2"),
    ("196.200.1.", "victim"),
]
NAMES = [
    ("fr", "phishing"),
    ("com.br", "phishing"),
    ("com.ng", "scam"),
    ("de", "malware-download"),
    ("com.sg", "phishing"),
    ("co.za", "scam"),
]
FAMILIES = ["Emotet", "Geodo", "AgentTesla", "Nitro", ""]


def _submit(session: Session, org: str, raw: str, when: datetime, labels: LabelsIn) -> None:
    role = Role.PARTNER_ANALYST  # both sources are partners: the hub validates them
    result = intake_service.submit(
        session=session,
        actor=account_factory.actor(session, org=org, role=role),
        raw=raw.encode(),
        options=SubmissionOptions(
            source_format=SourceFormat.CSV,
            labels=labels,
            evaluation=EvaluationIn(reliability="B", credibility=2, confidence=75),
        ),
    )
    assert result.rejected == 0, result.results
    enrichment_service.enrich_submission(session=session, submission_id=result.id)
    intel_service.validate_submission(
        session=session,
        actor=product_factory.hub(session),
        submission_id=result.id,
        decision="validated",
    )
    session.execute(
        update(Occurrence).where(Occurrence.submission_id == result.id).values(reported_at=when)
    )


def _world(session: Session) -> None:
    hub = product_factory.hub(session)
    knowledge_service.load_galaxies(session=session, actor=hub, data=GALAXIES)
    rng = random.Random(7)
    for week in range(4):
        for org, labels in (
            ("partner-northwind", LabelsIn(tlp="green", audience="community")),
            ("cert-fr", LabelsIn(tlp="amber", audience="members")),
        ):
            lines = ["type,value,threat_type,confidence,malware"]
            if week == 0:
                # Countries with one or two reports: small cells on the map.
                lines += ["ipv4-addr,116.12.1.9,c2,80,", "ipv4-addr,37.48.1.9,c2,80,"]
            for prefix, threat in ADDRESSES:
                for _ in range(rng.randint(0, 3 + week)):
                    family = rng.choice(FAMILIES) if threat == "malware-download" else ""
                    lines.append(f"ipv4-addr,{prefix}{rng.randint(2, 250)},{threat},80,{family}")
            for tld, threat in NAMES:
                for _ in range(rng.randint(0, 4 + week)):
                    family = rng.choice(FAMILIES) if threat == "malware-download" else ""
                    name = f"{threat[:5]}-{rng.randint(100, 999)}-{org[:4]}.{tld}"
                    lines.append(f"domain-name,{name},{threat},80,{family}")
            raw = "\n".join(dict.fromkeys(lines)) + "\n"
            _submit(session, org, raw, SINCE + timedelta(days=7 * week + 2), labels)
    # Reaction times: CARs for three countries, acknowledged and answered after some hours.
    for code, ack_hours, down_hours in (("FR", 5, 30), ("DE", 20, 70), ("NG", 48, 120)):
        result = product_service.issue_car(
            session=session, actor=hub, car_in=CarIssue(country=code, since=SINCE, until=UNTIL)
        )
        assert result.product is not None
        product = result.product
        officer = account_factory.actor(session, org=f"ncb-{code.lower()}", role=Role.OFFICER)
        product_service.acknowledge(session=session, actor=officer, product_id=product.id)
        items = session.scalars(
            select(ProductItem).where(ProductItem.product_id == product.id)
        ).all()
        for item in items[: max(1, len(items) // 2)]:
            product_service.give_feedback(
                session=session,
                actor=officer,
                product_id=product.id,
                feedback_in=FeedbackIn(item_id=item.id, outcome="taken-down"),
            )
        session.execute(
            update(ProductDelivery)
            .where(ProductDelivery.product_id == product.id)
            .values(acknowledged_at=product.issued_at + timedelta(hours=ack_hours))
        )
        session.execute(
            update(ProductFeedback)
            .where(ProductFeedback.product_item_id.in_([i.id for i in items]))
            .values(created_at=product.issued_at + timedelta(hours=down_hours))
        )
    session.flush()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs poppler's pdftoppm")
def test_sample_assessment(session: Session, tmp_path: Path) -> None:
    _world(session)
    product = assessment_service.issue_assessment(
        session=session,
        actor=product_factory.hub(session),
        assessment_in=AssessmentIssue(since=SINCE, until=UNTIL, audience="members"),  # type: ignore[arg-type]
    )
    doc = product.document
    assert doc["suppression"] == {"k": 5, "applied": True}
    assert {f["label"] for f in doc["sections"]["families"]} >= {"Emotet", "Agent Tesla"}
    assert len(doc["sections"]["trend"]) == 4
    assert any(f["suppressed"] for f in doc["sections"]["countries"])
    assert len(doc["sections"]["reaction_countries"]) == 12  # three countries, four figures
    rendered = assessment_render.render(product=product, fmt=ProductFormat.PDF, with_traces=True)
    pdf = tmp_path / "assessment-sample.pdf"
    pdf.write_bytes(rendered.content)
    target = SAMPLES if os.environ.get("CYBERFUSION_UPDATE_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("assessment-sample-page*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    # pdftoppm writes page-1.png (or page-01.png from ten pages on).
    for made in tmp_path.glob("page-*.png"):
        number = int(made.stem.removeprefix("page-"))
        made.replace(target / f"assessment-sample-page{number}.png")
    pages = sorted(target.glob("assessment-sample-page*.png"))
    assert 2 <= len(pages) <= 6
    for page in pages:
        assert page.stat().st_size > 5_000
