"""Threat assessments: global, one region's or one country's threat picture for a period, with
every figure traceable to the query and the records behind it.

What an assessment counts: a *record* (a validated intelligence object the issuer, the hub, may
read through the sharing choke point) that reported at least one observable within the period
(an occurrence the hub may read), leaving out observables flagged as noise, as the Cyber
Activity Report does. For a country, only observables attributed to it for a reason that places
them there (`product.service.CAR_REASONS`); for a region, to one of its countries; globally,
every such record. Every figure is a number of distinct records, so the records behind a figure
are exactly as many as the figure says.

- trend: records by the week (Monday, UTC) of their first occurrence in the period;
- threat types: records by the threat group of `product.groups` (a record reporting observables
  of several groups is in the first of them, so the groups partition the records);
- malware families: records that `indicates` (STIX relationship, validated and readable) a
  malware record linked to a family of the reference knowledge (`RecordKnowledge`);
- hosting networks: records with an observable in the AS organisation of the enrichment;
- countries: records with an observable attributed to the country (the world map);
- reaction times: `product.service.country_stats` and `provider_stats` over the products
  whose period overlaps the assessment's, for the scope's countries and networks.

An assessment for the hub alone shows exact figures and takes the strictest TLP of what it
counts. One for any wider audience (organisations, a region, members, community) suppresses
small cells (`CYBERFUSION_SMALL_CELL_K`) and takes the TLP the issuer gives (default AMBER): it
carries counts and reference names (families, networks, countries), no record content. See
docs/products.md, "Threat assessment", for the suppression rules and why.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, insert, literal, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.canonical import content_hash
from cyberfusion.core.config import get_settings
from cyberfusion.core.errors import NotFound, ValidationFailed
from cyberfusion.core.time import as_utc, utcnow
from cyberfusion.correlation.models import RecordKnowledge
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.enrichment.models import Jurisdiction
from cyberfusion.intel.models import IntelObject
from cyberfusion.knowledge.models import KnowledgeEntry, KnowledgeKind
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.product import groups as groups_table
from cyberfusion.product import service as product_service
from cyberfusion.product.models import (
    Product,
    ProductFigure,
    ProductFigureRecord,
    ProductItem,
    ProductKind,
)
from cyberfusion.product.schemas import (
    AssessmentAudience,
    AssessmentIssue,
    AssessmentScope,
    FigureTraceRead,
    as_period_bound,
)
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.models import Country, Organisation, OrgKind, Region
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.models import Audience, SharingLabel, Tlp
from cyberfusion.sharing.schemas import LabelsIn

TOP = 10  # entries of each "top" list
_HANDLING = ("no_further_dissemination", "no_judicial_use", "contact_owner_before_action")
_AUDIENCES = {
    AssessmentAudience.ORGANISATIONS: Audience.ORGANISATIONS,
    AssessmentAudience.REGION: Audience.REGION,
    AssessmentAudience.MEMBERS: Audience.MEMBERS,
    AssessmentAudience.COMMUNITY: Audience.COMMUNITY,
}


# --------------------------------------------------------------------------- figures


@dataclass
class Figure:
    """One figure as computed: its id, label, value, the records behind it and its query."""

    figure_id: str
    label: str
    value: float | None
    records: set[int]
    query: str
    parameters: dict[str, Any]
    # What the document shows, and why a value is withheld ("small", "complementary").
    text: str = ""
    suppressed: str | None = None
    # For figures derived from counts (medians, rates): the counts they rest on.
    basis: tuple[int, ...] = field(default_factory=tuple)
    unit: str = ""  # "" a count, "h" hours, "%" a rate from 0 to 1

    def as_document(self) -> dict[str, Any]:
        return {
            "id": self.figure_id,
            "label": self.label,
            "value": None if self.suppressed else self.value,
            "text": self.text,
            "suppressed": self.suppressed,
        }


def _text(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if unit == "%":
        return f"{round(100 * value, 1):g}%"
    number = f"{value:g}" if value != int(value) else str(int(value))
    return f"{number} h" if unit == "h" else number


def suppress_counts(figures: Sequence[Figure], k: int) -> None:
    """Counts from 1 to k-1 become "< k". A zero stays: it discloses no record."""
    for figure in figures:
        if figure.value is not None and 0 < figure.value < k:
            figure.suppressed, figure.text = "small", f"< {k}"


def suppress_partition(cells: Sequence[Figure], k: int) -> None:
    """Small-cell suppression of a table whose cells add up to a published total (the trend,
    the threat types): after the small cells, the smallest other non-zero cells are withheld
    too ("complementary", shown as "x") until the withheld cells are at least two and add up
    to at least k, so that no withheld cell can be found by subtracting the shown ones from the
    total."""
    suppress_counts(cells, k)
    withheld = [c for c in cells if c.suppressed]
    if not withheld:
        return
    others = sorted(
        (c for c in cells if not c.suppressed and (c.value or 0) > 0),
        key=lambda c: (c.value or 0, c.figure_id),
    )
    while others and (len(withheld) < 2 or sum(c.value or 0 for c in withheld) < k):
        cell = others.pop(0)
        cell.suppressed, cell.text = "complementary", "x"
        withheld.append(cell)


def suppress_derived(figure: Figure, k: int) -> None:
    """A median or a rate is withheld when a count it rests on is below k: a rate and its
    denominator give back the numerator."""
    if figure.value is not None and any(n < k for n in figure.basis):
        figure.suppressed, figure.text = "small", f"n < {k}"


# --------------------------------------------------------------------------- collecting


@dataclass(frozen=True)
class Scope:
    kind: AssessmentScope
    code: str | None
    name: str
    countries: tuple[str, ...]  # the countries whose attribution puts a record in scope

    def describe(self) -> str:
        if self.kind == AssessmentScope.GLOBAL:
            return "whatever country they concern"
        if self.kind == AssessmentScope.REGION:
            return (
                f"with an observable attributed ({', '.join(product_service.CAR_REASONS)}) to a "
                f"country of the region {self.code}"
            )
        return (
            f"with an observable attributed ({', '.join(product_service.CAR_REASONS)}) to "
            f"{self.code}"
        )


def resolve_scope(*, session: Session, assessment_in: AssessmentIssue) -> Scope:
    if assessment_in.scope == AssessmentScope.COUNTRY:
        assert assessment_in.country is not None
        country = registry_service.get_country_or_raise(session=session, code=assessment_in.country)
        return Scope(AssessmentScope.COUNTRY, country.iso2, country.name, (country.iso2,))
    if assessment_in.scope == AssessmentScope.REGION:
        region = session.get(Region, assessment_in.region or "")
        if region is None:
            raise ValidationFailed(
                f"unknown region {assessment_in.region!r}; regions: "
                f"{', '.join(registry_service.REGIONS)}",
                field="region",
            )
        codes = session.scalars(
            select(Country.iso2).where(Country.region_code == region.code).order_by(Country.iso2)
        ).all()
        return Scope(AssessmentScope.REGION, region.code, region.name, tuple(codes))
    return Scope(AssessmentScope.GLOBAL, None, "Global", ())


def assessment_conditions(
    *, issuer: Actor, scope: Scope, since: datetime, until: datetime
) -> list[ColumnElement[bool]]:
    """What an (occurrence, record) pair meets to count, for a query joining Occurrence and
    IntelObject: the CAR's rules, with the hub as the only reader."""
    conditions = [
        Occurrence.reported_at >= since,
        Occurrence.reported_at < until,
        IntelObject.status == "validated",
        sharing_service.readable_condition(issuer, IntelObject),
        sharing_service.readable_condition(issuer, Occurrence),
        ~enrichment_service.noise_condition(Occurrence.observable_id),
    ]
    if scope.kind != AssessmentScope.GLOBAL:
        codes = [literal(code, String(), literal_execute=True) for code in scope.countries]
        conditions.append(
            Occurrence.observable_id.in_(
                select(Jurisdiction.observable_id).where(
                    Jurisdiction.country_code.in_(codes),
                    Jurisdiction.reason.in_(product_service.CAR_REASONS),
                )
            )
        )
    return conditions


@dataclass
class Counted:
    """One counted record: when it was first reported in the period, its group, observables."""

    record_id: int
    stix_id: str
    label_id: int
    first: datetime
    group: str
    observables: set[int]


def collect(
    *, session: Session, issuer: Actor, scope: Scope, since: datetime, until: datetime
) -> dict[int, Counted]:
    order = {key: index for index, key in enumerate(groups_table.GROUP_KEYS)}
    counted: dict[int, Counted] = {}
    rows = session.execute(
        select(
            IntelObject.id,
            IntelObject.stix_id,
            IntelObject.label_id,
            IntelObject.content,
            Observable.id,
            Observable.obs_type,
            Occurrence.reported_at,
        )
        .join(IntelObject, IntelObject.id == Occurrence.intel_object_id)
        .join(Observable, Observable.id == Occurrence.observable_id)
        .where(*assessment_conditions(issuer=issuer, scope=scope, since=since, until=until))
    )
    for record_id, stix_id, label_id, content, observable_id, obs_type, reported_at in rows:
        group = groups_table.classify(content, obs_type)
        at = as_utc(reported_at)
        entry = counted.get(record_id)
        if entry is None:
            counted[record_id] = Counted(record_id, stix_id, label_id, at, group, {observable_id})
            continue
        entry.observables.add(observable_id)
        entry.first = min(entry.first, at)
        if order[group] < order[entry.group]:
            entry.group = group
    return counted


def _chunks(values: Sequence[Any], size: int = 2000) -> Iterable[Sequence[Any]]:
    # Below SQLite's bound-parameter limit.
    for start in range(0, len(values), size):
        yield values[start : start + size]


def attributed_countries(session: Session, observable_ids: Iterable[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for chunk in _chunks(sorted(set(observable_ids))):
        for observable_id, code in session.execute(
            select(Jurisdiction.observable_id, Jurisdiction.country_code).where(
                Jurisdiction.observable_id.in_(chunk),
                Jurisdiction.reason.in_(product_service.CAR_REASONS),
            )
        ):
            found[observable_id].add(code)
    return found


def families(
    session: Session, issuer: Actor, counted: dict[int, Counted]
) -> dict[int, tuple[str, set[int]]]:
    """Family (head entry id) -> (its name, the counted records that indicate it)."""
    by_stix: dict[str, set[int]] = defaultdict(set)
    for entry in counted.values():
        by_stix[entry.stix_id].add(entry.record_id)
    relationship = IntelObject
    targets: dict[str, set[str]] = defaultdict(set)  # malware stix id -> indicator stix ids
    for chunk in _chunks(sorted(by_stix)):
        for (content,) in session.execute(
            select(relationship.content).where(
                relationship.stix_type == "relationship",
                relationship.status == "validated",
                sharing_service.readable_condition(issuer, relationship),
                relationship.content["relationship_type"].as_string() == "indicates",
                relationship.content["source_ref"].as_string().in_(chunk),
            )
        ):
            target, source = content.get("target_ref"), content.get("source_ref")
            if isinstance(target, str) and isinstance(source, str):
                targets[target].add(source)
    # Records linked to a family: the malware the counted records indicate, and the counted
    # records themselves when they name one.
    linked: dict[int, set[int]] = defaultdict(set)  # linked record id -> counted record ids
    for chunk in _chunks(sorted(targets)):
        for malware_id, stix_id in session.execute(
            select(IntelObject.id, IntelObject.stix_id).where(
                IntelObject.stix_id.in_(chunk),
                IntelObject.status == "validated",
                sharing_service.readable_condition(issuer, IntelObject),
            )
        ):
            for source in targets[stix_id]:
                linked[malware_id] |= by_stix[source]
    for record_id in counted:
        linked[record_id].add(record_id)
    found: dict[int, set[int]] = defaultdict(set)  # family head entry -> counted records
    for chunk in _chunks(sorted(linked)):
        for linked_id, entry_id, family_id in session.execute(
            select(RecordKnowledge.intel_object_id, KnowledgeEntry.id, KnowledgeEntry.family_id)
            .join(KnowledgeEntry, KnowledgeEntry.id == RecordKnowledge.entry_id)
            .where(
                RecordKnowledge.intel_object_id.in_(chunk),
                KnowledgeEntry.kind == KnowledgeKind.MALWARE.value,
            )
        ):
            found[family_id or entry_id] |= linked[linked_id]
    names = dict(
        session.execute(
            select(KnowledgeEntry.id, KnowledgeEntry.name).where(
                KnowledgeEntry.id.in_(sorted(found))
            )
        ).all()
    )
    return {head: (names[head], ids) for head, ids in found.items() if ids}


# --------------------------------------------------------------------------- building


def _iso(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _weeks(since: datetime, until: datetime) -> list[datetime]:
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    start -= timedelta(days=start.weekday())
    weeks = []
    while start < until:
        weeks.append(start)
        start += timedelta(days=7)
    return weeks


def _top(figures: list[Figure]) -> list[Figure]:
    figures.sort(key=lambda f: (-(f.value or 0), f.label))
    return figures[:TOP]


@dataclass
class Built:
    sections: dict[str, list[Figure]]
    headline: dict[str, Figure]
    map_counts: dict[str, int]
    country_names: dict[str, str]
    tlp: Tlp
    handling: dict[str, bool]


def build(
    *,
    session: Session,
    issuer: Actor,
    scope: Scope,
    since: datetime,
    until: datetime,
    counted: dict[int, Counted],
) -> Built:
    base = {
        "scope": scope.kind.value,
        "scope_code": scope.code,
        "since": _iso(since),
        "until": _iso(until),
    }
    what = (
        f"validated records the issuer may read, reporting in [{base['since']}, {base['until']}) "
        f"an observable that is not noise, {scope.describe()}"
    )
    all_records = set(counted)
    observables = set().union(*(c.observables for c in counted.values())) if counted else set()
    headline = {
        "records": Figure(
            "records", "Records counted", len(all_records), all_records, f"Count of {what}.", base
        )
    }

    trend = []
    by_week: dict[datetime, set[int]] = defaultdict(set)
    for entry in counted.values():
        day = datetime(entry.first.year, entry.first.month, entry.first.day, tzinfo=UTC)
        by_week[day - timedelta(days=day.weekday())].add(entry.record_id)
    for week in _weeks(since, until):
        ids = by_week.get(week, set())
        label = week.strftime("%Y-%m-%d")
        trend.append(
            Figure(
                f"week-{label}",
                f"Week of {label}",
                len(ids),
                ids,
                f"Count of {what}, whose first such occurrence is in the week (Monday, UTC) "
                f"starting {label}.",
                {**base, "week_start": label},
            )
        )

    by_group: dict[str, set[int]] = defaultdict(set)
    for entry in counted.values():
        by_group[entry.group].add(entry.record_id)
    types = [
        Figure(
            f"type-{key}",
            groups_table.get(key).title,
            len(by_group[key]),
            by_group[key],
            f"Count of {what}, in the threat group {key!r} (product.groups: the first group of "
            "the record's observables).",
            {**base, "threat_group": key},
        )
        for key in groups_table.GROUP_KEYS
        if key in by_group
    ]

    family_figures = [
        Figure(
            f"family-{head}",
            name,
            len(ids),
            ids,
            f"Count of {what}, that indicate (a validated STIX relationship the issuer may read) "
            f"a malware record linked to the reference family {name!r} (knowledge entry "
            f"{head}), or name it themselves.",
            {**base, "knowledge_entry": head, "family": name},
        )
        for head, (name, ids) in families(session, issuer, counted).items()
    ]

    hosting = product_service.networks(session, observables)
    by_network: dict[str, set[int]] = defaultdict(set)
    for entry in counted.values():
        for observable_id in entry.observables:
            if observable_id in hosting:
                by_network[hosting[observable_id]].add(entry.record_id)
    network_figures = _top(
        [
            Figure(
                "",
                name,
                len(ids),
                ids,
                f"Count of {what}, with an observable whose current AS enrichment names the AS "
                f"organisation {name!r}.",
                {**base, "as_organisation": name},
            )
            for name, ids in by_network.items()
        ]
    )
    for rank, figure in enumerate(network_figures, start=1):
        figure.figure_id = f"network-{rank}"

    attributed = attributed_countries(session, observables)
    by_country: dict[str, set[int]] = defaultdict(set)
    for entry in counted.values():
        for observable_id in entry.observables:
            for code in attributed.get(observable_id, ()):
                by_country[code].add(entry.record_id)
    country_names = dict(
        session.execute(
            select(Country.iso2, Country.name).where(Country.iso2.in_(sorted(by_country)))
        ).all()
    )
    country_figures = sorted(
        (
            Figure(
                f"country-{code}",
                country_names.get(code, code),
                len(ids),
                ids,
                f"Count of {what}, with an observable attributed "
                f"({', '.join(product_service.CAR_REASONS)}) to {code}.",
                {**base, "country": code},
            )
            for code, ids in by_country.items()
        ),
        key=lambda f: (-(f.value or 0), f.label),
    )

    reaction_countries, reaction_providers = _reaction(
        session=session,
        issuer=issuer,
        scope=scope,
        networks=[f.label for f in network_figures],
        base=base,
        since=since,
        until=until,
    )

    labels = {
        label.id: label
        for label in session.scalars(
            select(SharingLabel).where(SharingLabel.id.in_({c.label_id for c in counted.values()}))
        )
    }
    tlp = max((Tlp(label.tlp) for label in labels.values()), key=lambda t: t.rank, default=None)
    handling = {flag: any(getattr(label, flag) for label in labels.values()) for flag in _HANDLING}
    return Built(
        sections={
            "trend": trend,
            "types": types,
            "families": _top(family_figures),
            "networks": network_figures,
            "countries": country_figures,
            "reaction_countries": reaction_countries,
            "reaction_providers": reaction_providers,
        },
        headline=headline,
        map_counts={
            f.figure_id.removeprefix("country-"): int(f.value or 0) for f in country_figures
        },
        country_names=country_names,
        tlp=tlp or Tlp.AMBER,
        handling=handling,
    )


def _reaction(
    *,
    session: Session,
    issuer: Actor,
    scope: Scope,
    networks: list[str],
    base: dict[str, Any],
    since: datetime,
    until: datetime,
) -> tuple[list[Figure], list[Figure]]:
    """Reaction-time figures from the product statistics: the products about the period."""
    countries = [
        stats
        for stats in product_service.country_stats(
            session=session, actor=issuer, since=since, until=until
        )
        if scope.kind == AssessmentScope.GLOBAL or stats.country in scope.countries
    ]
    countries.sort(key=lambda s: (-s.items, s.country))
    countries = countries[:TOP]
    wanted = set(networks)
    providers = [
        stats
        for stats in product_service.provider_stats(
            session=session, actor=issuer, since=since, until=until
        )
        if stats.as_organisation in wanted
    ]
    # The records behind them: those of the items of the products the statistics read.
    item_rows = session.execute(
        select(ProductItem.intel_object_id, ProductItem.observable_id, Product.country_code)
        .join(Product, Product.id == ProductItem.product_id)
        .where(
            sharing_service.readable_condition(issuer, Product),
            *product_service.covering(since, until),
        )
    ).all()
    by_country: dict[str, set[int]] = defaultdict(set)
    for record_id, _, code in item_rows:
        if code is not None:
            by_country[str(code)].add(record_id)
    hosting = product_service.networks(session, (row[1] for row in item_rows)) if providers else {}
    by_network: dict[str, set[int]] = defaultdict(set)
    for record_id, observable_id, _ in item_rows:
        name = hosting.get(observable_id)
        if name in wanted:
            by_network[name].add(record_id)

    names = dict(
        session.execute(
            select(Country.iso2, Country.name).where(
                Country.iso2.in_([stats.country for stats in countries])
            )
        ).all()
    )
    stats_query = (
        "product.service.country_stats (products the issuer may read, about the period), for "
    )
    country_figures: list[Figure] = []
    for stats in countries:
        ids = by_country.get(stats.country, set())
        name = names.get(stats.country, stats.country)
        params = {**base, "country": stats.country, "source": "product.service.country_stats"}
        about = f"{stats_query}{stats.country}"
        country_figures += [
            Figure(
                f"reaction-{stats.country}-products",
                f"{name}: products delivered",
                stats.products,
                ids,
                f"Products delivered to {stats.country}: {about}.",
                params,
            ),
            Figure(
                f"reaction-{stats.country}-ack",
                f"{name}: median acknowledgement latency (hours)",
                stats.median_ack_hours,
                ids,
                f"Median hours from issue to acknowledgement over the {stats.acknowledged} "
                f"acknowledged products: {about}.",
                params,
                basis=(stats.acknowledged,),
                unit="h",
            ),
            Figure(
                f"reaction-{stats.country}-items",
                f"{name}: indicators reported",
                stats.items,
                ids,
                f"Indicators in the products of {stats.country}: {about}.",
                params,
            ),
            Figure(
                f"reaction-{stats.country}-takedown",
                f"{name}: takedown rate",
                stats.takedown_rate,
                ids,
                f"Items taken down ({stats.taken_down}) over items ({stats.items}): {about}.",
                params,
                basis=(stats.taken_down, stats.items),
                unit="%",
            ),
        ]
    provider_figures: list[Figure] = []
    for rank, provider in enumerate(providers[:TOP], start=1):
        ids = by_network.get(provider.as_organisation, set())
        params = {
            **base,
            "as_organisation": provider.as_organisation,
            "source": "product.service.provider_stats",
        }
        about = (
            "product.service.provider_stats (products about the period), for "
            f"{provider.as_organisation!r}"
        )
        provider_figures += [
            Figure(
                f"provider-{rank}-items",
                f"{provider.as_organisation}: indicators reported",
                provider.items,
                ids,
                f"Product items hosted by the network: {about}.",
                params,
            ),
            Figure(
                f"provider-{rank}-takedown",
                f"{provider.as_organisation}: median time to takedown (hours)",
                provider.median_takedown_hours,
                ids,
                f"Median hours from the product's issue to the first 'taken down' over the "
                f"{provider.taken_down} items taken down: {about}.",
                params,
                basis=(provider.taken_down,),
                unit="h",
            ),
        ]
    return country_figures, provider_figures


def apply_suppression(built: Built, k: int | None) -> None:
    """Fill in each figure's text; with k, suppress small cells (see `suppress_partition`)."""
    everything = [*built.headline.values(), *(f for s in built.sections.values() for f in s)]
    for figure in everything:
        figure.text = _text(figure.value, figure.unit)
    if k is None:
        return
    suppress_counts(list(built.headline.values()), k)
    suppress_partition(built.sections["trend"], k)
    suppress_partition(built.sections["types"], k)
    for key in ("families", "networks", "countries"):
        suppress_counts(built.sections[key], k)
        # Withheld entries go last, by name: their order would rank the hidden figures.
        built.sections[key].sort(key=lambda f: (f.suppressed is not None, -(f.value or 0), f.label))
    for key in ("reaction_countries", "reaction_providers"):
        for figure in built.sections[key]:
            if figure.basis:
                suppress_derived(figure, k)
            else:
                suppress_counts([figure], k)


# --------------------------------------------------------------------------- issuing


def _issuer_org(session: Session, actor: Actor) -> Organisation:
    if actor.org_id is None:
        raise ValidationFailed(
            "assessments are issued by an organisation (the hub); act as one of its analysts",
            field="org",
        )
    org = session.get(Organisation, actor.org_id)
    assert org is not None
    if org.kind != OrgKind.HUB.value:
        raise ValidationFailed("threat assessments are issued by the hub", field="org")
    return org


def issue_assessment(*, session: Session, actor: Actor, assessment_in: AssessmentIssue) -> Product:
    """Issue a threat assessment into the product register, with the trace of every figure.

    Audited; each call is a new version for its issuer, scope and period."""
    actor.require(Permission.PRODUCT_REPORT_ISSUE)
    issuer = _issuer_org(session, actor)
    since = as_period_bound(assessment_in.since)
    until = as_period_bound(assessment_in.until) if assessment_in.until is not None else utcnow()
    if until <= since:
        raise ValidationFailed("until must be after since", field="until")
    scope = resolve_scope(session=session, assessment_in=assessment_in)
    internal = assessment_in.audience == AssessmentAudience.HUB
    k = None if internal else get_settings().small_cell_k

    counted = collect(session=session, issuer=actor, scope=scope, since=since, until=until)
    built = build(
        session=session, issuer=actor, scope=scope, since=since, until=until, counted=counted
    )
    apply_suppression(built, k)

    if internal:
        tlp = built.tlp
        labels_in = LabelsIn(
            tlp=tlp, audience=Audience.ORGANISATIONS, recipients=[issuer.slug], **built.handling
        )
    else:
        tlp = assessment_in.tlp or Tlp.AMBER
        labels_in = LabelsIn(
            tlp=tlp,
            audience=_AUDIENCES[assessment_in.audience],
            recipients=assessment_in.recipients,
            audience_region=assessment_in.audience_region,
            **built.handling,
        )
    label = sharing_service.resolve(session=session, owner=issuer, labels_in=labels_in)

    records = built.headline["records"]
    title = (
        "Global threat assessment"
        if scope.kind == AssessmentScope.GLOBAL
        else f"Threat assessment: {scope.name}"
    )
    document: dict[str, Any] = {
        "kind": ProductKind.ASSESSMENT.value,
        "title": title,
        "scope": {"kind": scope.kind.value, "code": scope.code, "name": scope.name},
        "period": {"since": _iso(since), "until": _iso(until)},
        "issuer": {"slug": issuer.slug, "name": issuer.name},
        "audience": {
            "kind": assessment_in.audience.value,
            "recipients": sorted(assessment_in.recipients),
            "region": label.audience_region,
        },
        "tlp": tlp.value,
        "handling": built.handling,
        "suppression": {"k": k, "applied": k is not None},
        "summary": {
            "scope": scope.kind.value,
            "scope_code": scope.code,
            "records": records.text,
            "suppressed": k is not None,
        },
        "headline": {key: f.as_document() for key, f in built.headline.items()},
        "sections": {
            key: [f.as_document() for f in figures] for key, figures in built.sections.items()
        },
        "map": {
            "counts": {
                code: n
                for code, n in built.map_counts.items()
                if f"country-{code}" not in _withheld(built.sections["countries"])
            },
            "suppressed": sorted(
                f.figure_id.removeprefix("country-")
                for f in built.sections["countries"]
                if f.suppressed
            ),
            "names": built.country_names,
        },
    }
    scope_key = scope.kind.value if scope.code is None else f"{scope.kind.value}:{scope.code}"
    latest = session.scalar(
        select(Product.version)
        .where(
            Product.kind == ProductKind.ASSESSMENT.value,
            Product.scope == scope_key,
            Product.recipient_org_id == issuer.id,
            Product.period_start == since,
            Product.period_end == until,
        )
        .order_by(Product.version.desc())
        .limit(1)
    )
    product = Product(
        kind=ProductKind.ASSESSMENT.value,
        scope=scope_key,
        version=(latest or 0) + 1,
        country_code=scope.code if scope.kind == AssessmentScope.COUNTRY else None,
        recipient_org_id=issuer.id,
        period_start=since,
        period_end=until,
        tlp=tlp.value,
        label_id=label.id,
        document=document,
        content_hash=content_hash(document),
        # Readers beyond the hub see this number: not when the total itself is withheld.
        item_count=0 if records.suppressed else len(counted),
        issued_at=utcnow(),
        issued_by=actor.label,
        issued_by_org_id=issuer.id,
    )
    session.add(product)
    session.flush()
    _store_traces(session, product, [*built.headline.values(), *_all(built)])
    audit_service.record(
        session=session,
        actor=actor,
        action="product.issue",
        target_type="product",
        target_id=product.id,
        details={
            "kind": product.kind,
            "version": product.version,
            "scope": scope.kind.value,
            "scope_code": scope.code,
            "audience": assessment_in.audience.value,
            "period": [_iso(since), _iso(until)],
            "records": len(counted),
            "tlp": tlp.value,
            "small_cell_k": k,
            "content_hash": product.content_hash,
        },
    )
    return product


def _withheld(figures: Sequence[Figure]) -> set[str]:
    return {f.figure_id for f in figures if f.suppressed}


def _all(built: Built) -> list[Figure]:
    return [f for figures in built.sections.values() for f in figures]


def _store_traces(session: Session, product: Product, figures: Sequence[Figure]) -> None:
    rows = [
        ProductFigure(
            product_id=product.id,
            figure_id=f.figure_id,
            label=f.label[:300],
            query=f.query,
            parameters=f.parameters,
            value=f.value,
            record_count=len(f.records),
        )
        for f in figures
    ]
    session.add_all(rows)
    session.flush()
    links = [
        {"figure_pk": row.id, "intel_object_id": record_id}
        for row, f in zip(rows, figures, strict=True)
        for record_id in sorted(f.records)
    ]
    for chunk in _chunks(links, 5000):
        session.execute(insert(ProductFigureRecord), list(chunk))


# --------------------------------------------------------------------------- reading


def get_or_raise(*, session: Session, actor: Actor, product_id: int) -> Product:
    """An assessment the actor may read; anything else (a CAR too) is 'not found'."""
    product = product_service.get_or_raise(session=session, actor=actor, product_id=product_id)
    if product.kind != ProductKind.ASSESSMENT.value:
        raise NotFound(f"no assessment {product_id}", field="product_id")
    return product


def is_issuer(actor: Actor, product: Product) -> bool:
    """The hub that issued it reads the traces (the record ids are its working material)."""
    return actor.can(Permission.PRODUCT_REPORT_ISSUE) and actor.org_id == product.issued_by_org_id


def figure_trace(
    *,
    session: Session,
    actor: Actor,
    product_id: int,
    figure_id: str,
    limit: int = 100,
    offset: int = 0,
) -> FigureTraceRead:
    """Where a figure comes from: its query, parameters, value and a page of its record ids.
    For the issuing hub's analysts only (others: 403 without the permission, else 404)."""
    actor.require(Permission.PRODUCT_REPORT_ISSUE)
    product = get_or_raise(session=session, actor=actor, product_id=product_id)
    if not is_issuer(actor, product):
        raise NotFound(f"no assessment {product_id}", field="product_id")
    row = session.scalars(
        select(ProductFigure).where(
            ProductFigure.product_id == product.id, ProductFigure.figure_id == figure_id
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"assessment {product.id} has no figure {figure_id!r}", field="figure_id")
    ids = session.scalars(
        select(ProductFigureRecord.intel_object_id)
        .where(ProductFigureRecord.figure_pk == row.id)
        .order_by(ProductFigureRecord.intel_object_id)
        .limit(limit)
        .offset(offset)
    ).all()
    return FigureTraceRead(
        product_id=product.id,
        figure_id=row.figure_id,
        label=row.label,
        query=row.query,
        parameters=row.parameters,
        value=row.value,
        record_count=row.record_count,
        record_ids=list(ids),
        limit=limit,
        offset=offset,
    )
