"""Threat assessments on the database: what they count, exact figures for the hub, small-cell
suppression for wider audiences, the trace of every figure, sharing, TLP and the register."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core import config
from cyberfusion.core.errors import NotFound, PermissionDenied, ValidationFailed
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.intel.models import IntelObject
from cyberfusion.knowledge import service as knowledge_service
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.product import assessment as assessment_service
from cyberfusion.product import assessment_render
from cyberfusion.product.assessment import Figure, suppress_partition
from cyberfusion.product.models import Product, ProductFigure
from cyberfusion.product.schemas import AssessmentIssue, ProductFormat
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn
from tests.factories import account as account_factory
from tests.factories import product as product_factory
from tests.factories.knowledge import GALAXIES

SINCE = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
UNTIL = datetime(2026, 11, 23, tzinfo=UTC)  # three weeks later
WEEK1, WEEK2, WEEK3 = (datetime(2026, 11, day, 10, tzinfo=UTC) for day in (3, 11, 18))


def _rows(prefix: str, count: int, threat: str, tld: str = "fr") -> str:
    return "".join(f"domain-name,{prefix}{n}.{tld},{threat},80\n" for n in range(count))


def _reported(session: Session, submission_id: int, when: datetime) -> None:
    """Move a submission's occurrences to a known time, so weeks are fixed."""
    session.execute(
        update(Occurrence).where(Occurrence.submission_id == submission_id).values(reported_at=when)
    )
    session.flush()


def _submit(
    session: Session,
    org: str,
    rows: str,
    when: datetime,
    labels: LabelsIn | None = None,
    **kwargs: Any,
) -> int:
    result = product_factory.submit(session, org, rows, labels, **kwargs)
    _reported(session, result.id, when)
    return result.id


def _record_id(session: Session, obs_type: str, value: str) -> int:
    observable_id = session.scalars(
        select(Observable.id).where(Observable.digest == observable_service.digest(obs_type, value))
    ).one()
    return session.scalars(
        select(Occurrence.intel_object_id).where(Occurrence.observable_id == observable_id)
    ).one()


def _issue(session: Session, **fields: Any) -> Product:
    fields.setdefault("since", SINCE)
    fields.setdefault("until", UNTIL)
    return assessment_service.issue_assessment(
        session=session,
        actor=product_factory.hub(session),
        assessment_in=AssessmentIssue.model_validate(fields),
    )


def _texts(product: Product, section: str) -> dict[str, str]:
    return {f["id"]: f["text"] for f in product.document["sections"][section]}


def _trace_ids(session: Session, product: Product, figure_id: str) -> list[int]:
    trace = assessment_service.figure_trace(
        session=session,
        actor=product_factory.hub(session),
        product_id=product.id,
        figure_id=figure_id,
        limit=1000,
    )
    assert trace.record_count == len(trace.record_ids)
    return trace.record_ids


def test_hub_assessment_of_a_country_has_exact_figures_and_traces(session: Session) -> None:
    _submit(
        session,
        "partner-northwind",
        "ipv4-addr,90.12.34.56,c2,85\nipv4-addr,90.12.40.7,c2,80\n" + _rows("phish", 3, "phishing"),
        WEEK1,
    )
    _submit(session, "partner-northwind", _rows("scam", 2, "scam"), WEEK3)
    # Attributed to Nigeria only: not in France's assessment.
    _submit(session, "partner-northwind", _rows("elsewhere", 2, "phishing", "ng"), WEEK1)

    product = _issue(session, scope="country", country="FR")

    assert (product.kind, product.country_code, product.version, product.tlp) == (
        "assessment",
        "FR",
        1,
        "green",
    )
    assert product.item_count == 7
    doc = product.document
    assert doc["headline"]["records"]["text"] == "7"
    assert doc["suppression"] == {"k": None, "applied": False}
    assert _texts(product, "trend") == {
        "week-2026-11-02": "5",
        "week-2026-11-09": "0",
        "week-2026-11-16": "2",
    }
    assert _texts(product, "types") == {
        "type-botnet-c2": "2",
        "type-phishing": "3",
        "type-scam-infrastructure": "2",
    }
    assert _texts(product, "countries") == {"country-FR": "7"}
    assert _texts(product, "networks") == {"network-1": "2"}
    assert doc["sections"]["networks"][0]["label"] == "Orange"
    assert doc["map"] == {"counts": {"FR": 7}, "suppressed": [], "names": {"FR": "France"}}

    c2 = sorted(_record_id(session, "ipv4-addr", ip) for ip in ("90.12.34.56", "90.12.40.7"))
    assert _trace_ids(session, product, "type-botnet-c2") == c2
    assert _trace_ids(session, product, "network-1") == c2
    scams = sorted(_record_id(session, "domain-name", f"scam{n}.fr") for n in range(2))
    assert _trace_ids(session, product, "week-2026-11-16") == scams
    assert len(_trace_ids(session, product, "records")) == 7
    figure = session.scalars(
        select(ProductFigure).where(
            ProductFigure.product_id == product.id, ProductFigure.figure_id == "type-phishing"
        )
    ).one()
    assert figure.value == 3
    assert figure.parameters["threat_group"] == "phishing"
    assert figure.parameters["scope_code"] == "FR"
    assert figure.query.startswith("Count of validated records the issuer may read")
    assert "2026-11-02T00:00:00Z" in figure.query

    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "product.issue").order_by(AuditEntry.seq)
    ).all()[-1]
    assert entry.target_id == str(product.id)
    assert entry.details["records"] == 7


def test_only_validated_records_the_hub_may_read_count(session: Session) -> None:
    _submit(session, "partner-northwind", _rows("counted", 2, "phishing"), WEEK1)
    # A French NCB record for France's law enforcement only: the hub may not read it.
    _submit(
        session,
        "ncb-fr",
        _rows("national", 1, "phishing"),
        WEEK1,
        LabelsIn(tlp="amber", audience="country"),
    )
    # A partner's record no analyst has validated.
    _submit(session, "cert-fr", _rows("waiting", 1, "phishing"), WEEK1, validate=False)
    # Outside the period.
    _submit(session, "partner-northwind", _rows("late", 1, "phishing"), UNTIL)

    product = _issue(session, scope="country", country="FR")

    counted = sorted(_record_id(session, "domain-name", f"counted{n}.fr") for n in range(2))
    assert _trace_ids(session, product, "records") == counted
    hidden = _record_id(session, "domain-name", "national0.fr")
    assert session.get(IntelObject, hidden).status == "validated"  # type: ignore[union-attr]
    assert product.document["headline"]["records"]["text"] == "2"


def test_noise_is_left_out(session: Session) -> None:
    _submit(session, "partner-northwind", "domain-name,phish-real.fr,phishing,80\n", WEEK1)
    _submit(session, "partner-northwind", "ipv4-addr,8.8.8.8,c2,80\n", WEEK1)
    product = _issue(session, scope="global")
    values = {
        session.get(Observable, o).value  # type: ignore[union-attr]
        for (o,) in session.execute(
            select(Occurrence.observable_id).where(
                Occurrence.intel_object_id.in_(_trace_ids(session, product, "records"))
            )
        )
    }
    assert "phish-real.fr" in values
    assert "8.8.8.8" not in values  # on the public DNS resolvers' warninglist


def test_hub_assessment_takes_the_strictest_tlp_it_counts(session: Session) -> None:
    _submit(session, "partner-northwind", _rows("green", 1, "phishing"), WEEK1)
    _submit(
        session,
        "cert-fr",
        _rows("amber", 1, "phishing"),
        WEEK1,
        LabelsIn(tlp="amber", audience="members"),
        evaluation=EvaluationIn(reliability="A", credibility=2, confidence=60),
    )
    product = _issue(session, scope="region", region="europe")
    assert product.tlp == "amber"
    assert product.document["scope"] == {"kind": "region", "code": "europe", "name": "Europe"}
    hub = product_factory.hub(session)
    # The hub's own assessment is for the hub alone: no NCB reads it.
    officer = account_factory.actor(session, org="ncb-fr", role=Role.OFFICER)
    with pytest.raises(NotFound):
        assessment_service.get_or_raise(session=session, actor=officer, product_id=product.id)
    assert (
        assessment_service.get_or_raise(session=session, actor=hub, product_id=product.id).id
        == product.id
    )


def test_published_assessment_suppresses_small_cells_and_a_complement(session: Session) -> None:
    _submit(session, "partner-northwind", _rows("cc", 6, "c2"), WEEK1)
    _submit(session, "partner-northwind", _rows("ph", 2, "phishing"), WEEK2)
    _submit(session, "partner-northwind", _rows("sc", 7, "scam"), WEEK3)
    _submit(session, "partner-northwind", _rows("ng", 3, "scam", "ng"), WEEK3)

    product = _issue(session, scope="global", audience="members")

    doc = product.document
    assert doc["suppression"] == {"k": 5, "applied": True}
    assert (product.tlp, doc["headline"]["records"]["text"], product.item_count) == (
        "amber",
        "18",
        18,
    )
    # Weeks: 6, 2, 10. The 2 is withheld, and the next smallest (6) with it, or 18 - 10 = 8
    # would give it back.
    assert _texts(product, "trend") == {
        "week-2026-11-02": "x",
        "week-2026-11-09": "< 5",
        "week-2026-11-16": "10",
    }
    assert [f["value"] for f in doc["sections"]["trend"]] == [None, None, 10]
    assert _texts(product, "types") == {
        "type-botnet-c2": "x",
        "type-phishing": "< 5",
        "type-scam-infrastructure": "10",
    }
    assert _texts(product, "countries") == {"country-FR": "15", "country-NG": "< 5"}
    assert doc["map"]["counts"] == {"FR": 15}
    assert doc["map"]["suppressed"] == ["NG"]
    assert doc["summary"]["records"] == "18"
    # The hub still traces every figure to its records, suppressed or not.
    phishing = sorted(_record_id(session, "domain-name", f"ph{n}.fr") for n in range(2))
    assert _trace_ids(session, product, "type-phishing") == phishing
    # Members read it; the rendered copy a member reads has no trace links and no small figure.
    officer = account_factory.actor(session, org="ncb-br", role=Role.OFFICER)
    readable = assessment_service.get_or_raise(
        session=session, actor=officer, product_id=product.id
    )
    html = assessment_render.render_html(product=readable, with_traces=False)
    assert 'class="trace"' not in html
    assert "/figures/" not in html
    assert 'data-figure="type-phishing">&lt; 5</span>' in html
    hub_html = assessment_render.render_html(product=product, with_traces=True)
    assert f'href="/api/v1/assessments/{product.id}/figures/type-phishing"' in hub_html


def test_small_total_is_withheld_everywhere(session: Session) -> None:
    _submit(session, "partner-northwind", _rows("few", 3, "phishing"), WEEK1)
    product = _issue(session, scope="country", country="FR", audience="community", tlp="green")
    assert product.tlp == "green"
    assert product.item_count == 0
    assert product.document["headline"]["records"] == {
        "id": "records",
        "label": "Records counted",
        "value": None,
        "text": "< 5",
        "suppressed": "small",
    }
    assert _texts(product, "types") == {"type-phishing": "< 5"}


def test_k_comes_from_the_configuration(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYBERFUSION_SMALL_CELL_K", "3")
    config.get_settings.cache_clear()
    try:
        _submit(session, "partner-northwind", _rows("three", 3, "phishing"), WEEK1)
        _submit(session, "partner-northwind", _rows("two", 2, "scam"), WEEK1)
        product = _issue(session, scope="country", country="FR", audience="members")
    finally:
        monkeypatch.delenv("CYBERFUSION_SMALL_CELL_K")
        config.get_settings.cache_clear()
    assert product.document["suppression"]["k"] == 3
    assert _texts(product, "types") == {"type-phishing": "x", "type-scam-infrastructure": "< 3"}


def test_top_malware_families_come_from_the_reference_knowledge(session: Session) -> None:
    hub = product_factory.hub(session)
    knowledge_service.load_galaxies(session=session, actor=hub, data=GALAXIES)
    raw = (
        "type,value,threat_type,confidence,malware\n"
        "domain-name,emotet-a.fr,malware-download,80,Emotet\n"
        "domain-name,emotet-b.fr,malware-download,80,Geodo\n"
        "domain-name,tesla.fr,malware-download,80,AgentTesla\n"
        "domain-name,nofamily.fr,malware-download,80,\n"
    )
    partner = account_factory.actor(session, org="partner-northwind", role=Role.PARTNER_ANALYST)
    result = intake_service.submit(
        session=session,
        actor=partner,
        raw=raw.encode(),
        options=SubmissionOptions(
            source_format=SourceFormat.CSV,
            labels=LabelsIn(tlp="green", audience="community"),
            evaluation=EvaluationIn(reliability="B", credibility=2, confidence=70),
        ),
    )
    enrichment_service.enrich_submission(session=session, submission_id=result.id)
    intel_service.validate_submission(
        session=session, actor=hub, submission_id=result.id, decision="validated"
    )
    _reported(session, result.id, WEEK1)

    product = _issue(session, scope="country", country="FR")

    families = {f["label"]: f["text"] for f in product.document["sections"]["families"]}
    assert families == {"Emotet": "2", "Agent Tesla": "1"}
    emotet = next(f for f in product.document["sections"]["families"] if f["label"] == "Emotet")
    expected = sorted(_record_id(session, "domain-name", f"emotet-{x}.fr") for x in "ab")
    assert _trace_ids(session, product, emotet["id"]) == expected


def test_trace_is_for_the_issuing_hub_only(session: Session) -> None:
    _submit(session, "partner-northwind", _rows("t", 6, "phishing"), WEEK1)
    product = _issue(session, scope="global", audience="members")
    officer = account_factory.actor(session, org="ncb-fr", role=Role.OFFICER)
    with pytest.raises(PermissionDenied):
        assessment_service.figure_trace(
            session=session, actor=officer, product_id=product.id, figure_id="records"
        )
    with pytest.raises(NotFound):
        assessment_service.figure_trace(
            session=session,
            actor=product_factory.hub(session),
            product_id=product.id,
            figure_id="no-such-figure",
        )
    page = assessment_service.figure_trace(
        session=session,
        actor=product_factory.hub(session),
        product_id=product.id,
        figure_id="records",
        limit=4,
        offset=4,
    )
    assert (page.record_count, len(page.record_ids), page.offset) == (6, 2, 4)
    assert page.record_ids == _trace_ids(session, product, "records")[4:]


def test_versions_and_refusals(session: Session) -> None:
    first = _issue(session, scope="global")
    france = _issue(session, scope="country", country="FR")
    again = _issue(session, scope="global")
    # Versions count per scope: France's first assessment is its version 1.
    assert (first.version, france.version, again.version) == (1, 1, 2)
    assert (first.scope, france.scope) == ("global", "country:FR")
    assert first.document["headline"]["records"]["text"] == "0"
    with pytest.raises(ValidationFailed) as region:
        _issue(session, scope="region", region="atlantis")
    assert region.value.field == "region"
    with pytest.raises(ValidationFailed):
        _issue(session, scope="global", audience="members", tlp="red")
    officer = account_factory.actor(session, org="ncb-fr", role=Role.OFFICER)
    with pytest.raises(PermissionDenied):
        assessment_service.issue_assessment(
            session=session,
            actor=officer,
            assessment_in=AssessmentIssue(since=SINCE, until=UNTIL),
        )
    with pytest.raises(ValueError, match="country"):
        AssessmentIssue(scope="country", since=SINCE)  # type: ignore[arg-type]


def test_pdf_renders(session: Session) -> None:
    _submit(session, "partner-northwind", _rows("pdf", 6, "phishing"), WEEK1)
    product = _issue(session, scope="country", country="FR", audience="members")
    rendered = assessment_render.render(product=product, fmt=ProductFormat.PDF, with_traces=False)
    assert rendered.content.startswith(b"%PDF-")
    assert rendered.filename == f"assessment-fr-20261102-20261123-v{product.version}.pdf"


def _cells(*values: int) -> list[Figure]:
    return [Figure(f"c{i}", f"c{i}", v, set(), "", {}, text=str(v)) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((10, 12, 20), ["10", "12", "20"]),
        ((3, 12, 20), ["< 5", "x", "20"]),
        ((1, 1, 0, 30, 40), ["< 5", "< 5", "0", "x", "40"]),  # 1 + 1 < 5: one more
        ((2, 4, 30), ["< 5", "< 5", "30"]),  # two cells adding up to 6: enough
        ((0, 0, 30), ["0", "0", "30"]),
        ((4,), ["< 5"]),
    ],
)
def test_partition_suppression(values: tuple[int, ...], expected: list[str]) -> None:
    cells = _cells(*values)
    suppress_partition(cells, 5)
    assert [c.text for c in cells] == expected
