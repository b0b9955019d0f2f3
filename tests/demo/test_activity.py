"""The demo activity: made-up values only, accepted whole by intake, idempotent, spread wide."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.demo import activity
from cyberfusion.enrichment.models import Jurisdiction
from cyberfusion.intake.models import Submission
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable.models import Occurrence
from cyberfusion.product.models import Product


def test_the_values_are_invented_names_under_country_code_domains() -> None:
    rows = activity.rows()
    assert rows == activity.rows()  # the same on every machine
    assert {row.obs_type for row in rows} == {"domain-name", "url", "email-addr"}
    domains = [row.value for row in rows if row.obs_type == "domain-name"]
    assert len(domains) == len(set(domains)) == sum(activity.WEIGHTS.values())
    for domain in domains:
        label, _, suffix = domain.partition(".")
        assert suffix in set(activity.WEIGHTS) | set(activity.SECOND_LEVEL.values())
        assert len(label.split("-")) == 3


def test_loading_stores_everything_once_and_again_changes_nothing(session: Session) -> None:
    submitted = activity.load_activity(session=session)
    assert submitted > len(activity.rows())  # a third of each neighbour's share reported twice
    occurrences = session.scalar(select(func.count()).select_from(Occurrence))
    submissions = session.scalar(select(func.count()).select_from(Submission))
    products = session.scalar(select(func.count()).select_from(Product))
    # The week's reports: the countries the validated CERT data concerns, France among them.
    cars = set(session.scalars(select(Product.country_code).where(Product.kind == "car")))
    assert "FR" in cars and len(cars) > 10
    assert activity.load_activity(session=session) == submitted
    assert session.scalar(select(func.count()).select_from(Occurrence)) == occurrences
    assert session.scalar(select(func.count()).select_from(Submission)) == submissions
    assert session.scalar(select(func.count()).select_from(Product)) == products
    countries = session.scalars(
        select(Jurisdiction.country_code).where(Jurisdiction.reason == "cctld-of").distinct()
    ).all()
    assert set(countries) == {tld.upper() for tld in activity.WEIGHTS}
    statuses = dict(
        session.execute(
            select(IntelObject.status, func.count())
            .where(IntelObject.stix_type == "indicator", IntelObject.submission_id.is_not(None))
            .group_by(IntelObject.status)
        ).all()
    )
    assert statuses["validated"] > 0  # the CERTs' data, checked by the hub
    assert statuses["unvalidated"] > 0  # the private partners' data, waiting in the queue
