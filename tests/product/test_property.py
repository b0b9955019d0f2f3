"""No leak (DESIGN invariant 5), as a property over generated multi-country worlds: no product
contains a record its recipient could not read directly, nor a record attributed only to another
country; and every record that should be in a report is. A country's threat assessment for the
hub counts and traces exactly the validated records the hub may read about that country."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cyberfusion.account.schemas import Actor
from cyberfusion.core.errors import NotFound
from cyberfusion.core.time import utcnow
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.enrichment.models import Jurisdiction
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable.models import Occurrence
from cyberfusion.product import assessment as assessment_service
from cyberfusion.product import service as product_service
from cyberfusion.product.models import Product, ProductFigure, ProductFigureRecord, ProductItem
from cyberfusion.product.schemas import AssessmentIssue, CarIssue
from cyberfusion.sharing.models import Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory
from tests.factories import product as product_factory

COUNTRIES = ("FR", "DE", "NG")
OWNERS = ("ncb-fr", "ncb-de", "ncb-ng", "fr-cyber-unit", "cert-fr", "cert-ng", "partner-northwind")
RECIPIENTS = ("ncb-fr", "ncb-de", "ncb-ng", "hub", "cert-fr")
TLDS = ("fr", "de", "ng", "com")


@st.composite
def labels(draw: st.DrawFn) -> LabelsIn:
    kind = draw(
        st.sampled_from(
            ("public", "community", "members", "region", "country", "organisation", "named")
        )
    )
    if kind == "public":
        return LabelsIn(tlp="clear", audience="public")
    if kind == "named":
        tlp = draw(st.sampled_from(("green", "amber", "amber+strict", "red")))
        recipients = draw(st.lists(st.sampled_from(RECIPIENTS), min_size=1, max_size=3))
        return LabelsIn(
            tlp=tlp,
            audience="organisations",
            recipients=recipients,
            no_further_dissemination=draw(st.booleans()),
        )
    if kind == "organisation":
        return LabelsIn(tlp=draw(st.sampled_from(("amber", "amber+strict"))))
    return LabelsIn(tlp=draw(st.sampled_from(("clear", "green", "amber"))), audience=kind)


@dataclass(frozen=True)
class Report:
    owner: str
    value: str
    labels: LabelsIn
    validated: bool


reports = st.builds(
    Report,
    owner=st.sampled_from(OWNERS),
    value=st.builds(
        lambda n, tld: f"host{n}.{tld}",
        st.integers(min_value=0, max_value=4),
        st.sampled_from(TLDS),
    ),
    labels=labels(),
    validated=st.booleans(),
)


def _readable(session: Session, actor: Actor, record_id: int) -> bool:
    try:
        intel_service.get_or_raise(session=session, actor=actor, record_id=record_id)
    except NotFound:
        return False
    return True


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=st.lists(reports, min_size=1, max_size=8))
# Always tried: a record only the hub may read, beside one France's bureau may read too, so the
# hub's assessment counts more than France's CAR may hold.
@example(
    world=[
        Report(
            "partner-northwind",
            "host1.fr",
            LabelsIn(tlp="amber", audience="organisations", recipients=["hub"]),
            True,
        ),
        Report("cert-fr", "host2.fr", LabelsIn(tlp="green", audience="members"), True),
    ]
)
def test_no_product_leaks(session: Session, world: list[Report]) -> None:
    savepoint = session.begin_nested()
    try:
        _check_world(session, world)
    finally:
        savepoint.rollback()


def _check_world(session: Session, world: list[Report]) -> None:
    for report in world:
        actor = account_factory.actor(session, org=report.owner)
        result = intake_service.submit(
            session=session,
            actor=actor,
            raw=f"{product_factory.HEADER}domain-name,{report.value},c2,70\n".encode(),
            options=SubmissionOptions(source_format=SourceFormat.CSV, labels=report.labels),
        )
        enrichment_service.enrich_submission(session=session, submission_id=result.id)
        # The world decides which records an analyst validated (whoever may read them).
        session.execute(
            update(IntelObject)
            .where(IntelObject.submission_id == result.id)
            .values(status="validated" if report.validated else "unvalidated")
        )
    session.flush()
    session.expire_all()
    hub = product_factory.hub(session)
    now = utcnow()
    for code in COUNTRIES:
        recipient_org = product_service.national_bureau(session=session, country_code=code)
        recipient = product_service.recipient_actor(recipient_org)
        result = product_service.issue_car(
            session=session,
            actor=hub,
            car_in=CarIssue(
                country=code, since=now - timedelta(hours=1), until=now + timedelta(hours=1)
            ),
        )
        got: set[tuple[int, int]] = set()
        if result.product is not None:
            product: Product = result.product
            got = {
                (o, r)
                for o, r in session.execute(
                    select(ProductItem.observable_id, ProductItem.intel_object_id).where(
                        ProductItem.product_id == product.id
                    )
                )
            }
            for observable_id, record_id in got:
                # Readable directly by the recipient (and by the hub that keeps the register).
                assert _readable(session, recipient, record_id), (code, record_id)
                assert _readable(session, hub, record_id), (code, record_id)
                record = session.get(IntelObject, record_id)
                assert record is not None and record.status == "validated"
                assert Tlp(record.label.tlp).rank <= Tlp(product.tlp).rank
                # Attributed to this country, for a reason that places it there.
                reasons = set(
                    session.scalars(
                        select(Jurisdiction.reason).where(
                            Jurisdiction.observable_id == observable_id,
                            Jurisdiction.country_code == code,
                        )
                    )
                )
                assert reasons & set(product_service.CAR_REASONS), (code, observable_id)
            # Nobody but the recipient and the issuer reads the product.
            for other in COUNTRIES:
                if other == code:
                    continue
                stranger = product_service.recipient_actor(
                    product_service.national_bureau(session=session, country_code=other)
                )
                readable = product_service.list_(session=session, actor=stranger)
                assert product.id not in {p.id for p in readable}
        # Complete: every validated record of a value under this ccTLD that both may read.
        expected = {
            (occurrence.observable_id, occurrence.intel_object_id)
            for occurrence, record in session.execute(
                select(Occurrence, IntelObject).join(
                    IntelObject, IntelObject.id == Occurrence.intel_object_id
                )
            ).all()
            if record.status == "validated"
            and record.content["pattern"].endswith(f".{code.lower()}']")
            and _readable(session, recipient, record.id)
            and _readable(session, hub, record.id)
        }
        assert got == expected, code
        event(f"{code}: {'a report' if got else 'no report'}")
        # The hub's own assessment of the country: what the hub may read, whoever else may.
        hub_scope = {
            record.id
            for record in session.scalars(select(IntelObject))
            if record.status == "validated"
            and record.stix_type == "indicator"
            and record.content["pattern"].endswith(f".{code.lower()}']")
            and _readable(session, hub, record.id)
        }
        if hub_scope > {record for _, record in expected}:
            event("the hub's assessment counts records the country's CAR may not hold")
        _check_assessment(session, hub, code, hub_scope)


def _check_assessment(session: Session, hub: Actor, code: str, in_scope: set[int]) -> None:
    """A country's threat assessment for the hub counts exactly the validated records the hub may
    read that are attributed to the country, and every figure traces to records among them."""
    now = utcnow()
    product = assessment_service.issue_assessment(
        session=session,
        actor=hub,
        assessment_in=AssessmentIssue(
            scope="country",
            country=code,
            since=now - timedelta(hours=1),
            until=now + timedelta(hours=1),
        ),
    )
    traced = {
        figure_id: set(record_ids) for figure_id, record_ids in _traces(session, product.id).items()
    }
    for figure_id, record_ids in traced.items():
        assert record_ids <= in_scope, (code, figure_id, record_ids - in_scope)
    assert traced["records"] == in_scope, code


def _traces(session: Session, product_id: int) -> dict[str, list[int]]:
    rows = session.execute(
        select(ProductFigure.figure_id, ProductFigureRecord.intel_object_id)
        .join(ProductFigureRecord, ProductFigureRecord.figure_pk == ProductFigure.id, isouter=True)
        .where(ProductFigure.product_id == product_id)
    ).all()
    traces: dict[str, list[int]] = {}
    for figure_id, record_id in rows:
        traces.setdefault(figure_id, [])
        if record_id is not None:
            traces[figure_id].append(record_id)
    return traces
